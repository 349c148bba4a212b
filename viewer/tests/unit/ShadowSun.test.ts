import { describe, expect, it } from 'vitest';
import { localInstant } from '../../src/core/ScenarioApi';
import { sunVector } from '../../src/three/ShadowSun';

describe('sunVector', () => {
  it('points to the sun in the local frame (x east, y up, z south)', () => {
    const south = sunVector(180, 30);
    expect(south.x).toBeCloseTo(0, 9);
    expect(south.y).toBeCloseTo(0.5, 9);
    expect(south.z).toBeCloseTo(Math.cos(Math.PI / 6), 9);
    const east = sunVector(90, 0);
    expect(east.x).toBeCloseTo(1, 9);
    expect(east.z).toBeCloseTo(0, 9);
    expect(sunVector(0, 0).z).toBeCloseTo(-1, 9); // north is -z
    expect(sunVector(237, 41).length()).toBeCloseTo(1, 9);
  });
});

describe('localInstant', () => {
  it('writes the day and time with the offset of that moment', () => {
    const at = localInstant('2026-06-21', 9 * 60 + 30);
    expect(at).toMatch(/^2026-06-21T09:30:00[+-]\d\d:\d\d$/);
    const t = new Date(at);
    expect(t.getHours()).toBe(9);
    expect(t.getMinutes()).toBe(30);
  });
});
