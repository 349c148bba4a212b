import { Vector3 } from 'three';
import { describe, expect, it } from 'vitest';
import { ribbon } from '../../src/modes/TourMode';

describe('the tour route ribbon', () => {
  it('is two triangles per segment, as wide as asked, flat on the walk', () => {
    const pts = [new Vector3(0, 1, 0), new Vector3(10, 1, 0), new Vector3(10, 1, 20)];
    const out = ribbon(pts, 3);
    expect(out.length).toBe(2 * 6 * 3); // 2 segments x 2 triangles x 3 vertices x xyz
    const ys = out.filter((_, i) => i % 3 === 1);
    expect(new Set(ys)).toEqual(new Set([1]));
    // first segment runs along x: its corners are 1.5 m either side in z
    const zs = out.slice(0, 18).filter((_, i) => i % 3 === 2);
    expect(Math.max(...zs) - Math.min(...zs)).toBeCloseTo(3);
  });

  it('skips repeated points', () => {
    expect(ribbon([new Vector3(), new Vector3(), new Vector3(5, 0, 0)], 2).length).toBe(18);
  });
});
