import { describe, expect, it } from 'vitest';
import { niceTicks, timeTicks } from '../../src/core/ChartScale';

describe('chart scales', () => {
  it('nice value ticks cover the range in steps of 1, 2 or 5 × 10^k', () => {
    const t = niceTicks(412, 1618, 4);
    expect(t.step).toBe(500);
    expect(t.ticks).toEqual([0, 500, 1000, 1500, 2000]);
    expect(niceTicks(0, 1, 5).step).toBe(0.2);
  });

  it('a flat series still gets a range', () => {
    const t = niceTicks(36, 36);
    expect(t.min).toBeLessThan(36);
    expect(t.max).toBeGreaterThan(36);
  });

  it('time ticks fall on round steps', () => {
    const from = Date.parse('2026-12-01T10:07:00Z');
    const to = Date.parse('2026-12-01T16:07:00Z');
    const t = timeTicks(from, to, 5);
    expect(t.step).toBe(3 * 3600e3);
    expect(t.ticks.map((x) => new Date(x).toISOString())).toEqual(['2026-12-01T12:00:00.000Z', '2026-12-01T15:00:00.000Z']);
  });
});
