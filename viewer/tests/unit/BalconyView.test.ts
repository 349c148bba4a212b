import { describe, expect, it } from 'vitest';
import { bearing } from '../../src/modes/BalconyView';

describe('bearing', () => {
  it('is degrees clockwise from true north', () => {
    expect(bearing([24.94, 60.17], [24.94, 60.18])).toBeCloseTo(0, 6);
    expect(bearing([24.94, 60.17], [24.95, 60.17])).toBeCloseTo(90, 6);
    expect(bearing([24.94, 60.17], [24.94, 60.16])).toBeCloseTo(180, 6);
    expect(bearing([24.94, 60.17], [24.93, 60.17])).toBeCloseTo(270, 6);
  });
  it('shrinks longitude by the cosine of the latitude', () => {
    // at 60°N a degree of longitude is half a degree of latitude: 1° east and 0.5° north is NE
    expect(bearing([0, 60], [1e-4, 60 + 0.5e-4])).toBeCloseTo(45, 1);
  });
});
