import { describe, expect, it } from 'vitest';
import { area, centroid, closestOnRing, interiorPoint, outerRing, type XY } from '../../src/core/Polygon';

const square: XY[] = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]];
// an L whose centroid lies outside it
const ell: XY[] = [[0, 0], [10, 0], [10, 1], [1, 1], [1, 10], [0, 10], [0, 0]];

function inside(p: XY, ring: XY[]): boolean {
  let c = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) c = !c;
  }
  return c;
}

describe('Polygon', () => {
  it('computes area and centroid', () => {
    expect(area(square)).toBeCloseTo(100);
    expect(centroid(square)).toEqual([5, 5]);
  });

  it('finds a point inside a concave ring', () => {
    expect(inside(centroid(ell), ell)).toBe(false);
    expect(inside(interiorPoint(ell), ell)).toBe(true);
  });

  it('finds the closest point on the ring', () => {
    expect(closestOnRing(square, [5, -3])).toEqual([5, 0]);
    expect(closestOnRing(square, [20, 20])).toEqual([10, 10]);
  });

  it('takes the largest part of a multipolygon', () => {
    const ring = outerRing({ type: 'MultiPolygon', coordinates: [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [square]] });
    expect(ring).toHaveLength(5);
  });
});
