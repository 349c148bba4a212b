import { describe, expect, it } from 'vitest';
import { adaptDetailScale, adaptPixelRatio, cacheLimits, compareTiles, motionErrorTarget, type TileLike } from '../../src/core/StreamingPolicy';

const tile = (t: TileLike['traversal'], depth = 0): TileLike => ({ traversal: t, internal: { depthFromRenderedParent: depth } });

/** What a PriorityQueue runs first: items sort ascending and it pops from the end. */
const first = (tiles: TileLike[]) => [...tiles].sort(compareTiles).at(-1);

describe('compareTiles', () => {
  it('runs tiles the view uses before speculative ones, then those in the frustum', () => {
    const used = tile({ used: true, inFrustum: false, error: 1, distanceFromCamera: 900 });
    const spec = tile({ used: false, inFrustum: true, error: 50, distanceFromCamera: 10 });
    expect(first([spec, used])).toBe(used);
    const inside = tile({ used: true, inFrustum: true, error: 1, distanceFromCamera: 900 });
    expect(first([used, inside])).toBe(inside);
  });

  it('runs the largest screen-space error first, then the nearest, then the shallowest', () => {
    const coarse = tile({ used: true, inFrustum: true, error: 40, distanceFromCamera: 3000 });
    const fine = tile({ used: true, inFrustum: true, error: 9, distanceFromCamera: 100 });
    expect(first([fine, coarse])).toBe(coarse);
    const near = tile({ used: true, inFrustum: true, error: 9, distanceFromCamera: 50 });
    expect(first([fine, near])).toBe(near);
    const parent = tile({ used: true, inFrustum: true, error: 9, distanceFromCamera: 50 }, 0);
    const child = tile({ used: true, inFrustum: true, error: 9, distanceFromCamera: 50 }, 2);
    expect(first([child, parent])).toBe(parent);
  });

  it('honours an explicit priority (lower value first) and leaves non-tiles alone', () => {
    const urgent: TileLike = { ...tile({ used: false }), priority: -1 };
    expect(first([tile({ used: true, inFrustum: true, error: 99 }), urgent])).toBe(urgent);
    expect(compareTiles({}, {})).toBe(0);
  });
});

describe('cacheLimits', () => {
  it('is bounded, and smaller on small devices and software GL', () => {
    const big = cacheLimits(16, false);
    const small = cacheLimits(2, false);
    const soft = cacheLimits(16, true);
    for (const l of [big, small, soft]) {
      expect(l.minSize).toBeLessThan(l.maxSize);
      expect(l.minBytesSize).toBeLessThan(l.maxBytesSize);
    }
    expect(small.maxBytesSize).toBeLessThan(big.maxBytesSize);
    expect(soft.maxBytesSize).toBeLessThan(big.maxBytesSize);
    expect(cacheLimits(undefined, false).maxBytesSize).toBeGreaterThan(0);
  });
});

describe('motionErrorTarget', () => {
  it('is the resting target at rest and grows with the speed of the view, up to a cap', () => {
    expect(motionErrorTarget(16, 0, 100)).toBe(16);
    const slow = motionErrorTarget(16, 10, 100);
    const fast = motionErrorTarget(16, 400, 100);
    expect(slow).toBeGreaterThanOrEqual(16);
    expect(fast).toBeGreaterThan(slow);
    expect(motionErrorTarget(16, 1e6, 100)).toBeCloseTo(16 * 4);
    expect(motionErrorTarget(16, Number.NaN, 100)).toBe(16);
  });

  it('counts speed relative to height: the same speed slides less from higher up', () => {
    expect(motionErrorTarget(16, 100, 1000)).toBeLessThan(motionErrorTarget(16, 100, 50));
  });
});

describe('adaptDetailScale', () => {
  it('rises while moving frames are slow, falls back when they are fast, resets at rest', () => {
    let s = 1;
    for (let i = 0; i < 100; i++) s = adaptDetailScale(s, 60, true);
    expect(s).toBeCloseTo(3);
    const high = s;
    s = adaptDetailScale(s, 30, true);
    expect(s).toBe(high); // inside the budget: hold
    for (let i = 0; i < 100; i++) s = adaptDetailScale(s, 10, true);
    expect(s).toBe(1);
    expect(adaptDetailScale(2.5, 60, false)).toBe(1);
  });
});

describe('adaptPixelRatio', () => {
  it('sheds pixels on frames that miss 30 fps while moving, down to a floor, and wins them back', () => {
    let r = 1;
    r = adaptPixelRatio(r, 1, 40, true);
    expect(r).toBeLessThan(1);
    for (let i = 0; i < 100; i++) r = adaptPixelRatio(r, 1, 60, true);
    expect(r).toBeCloseTo(0.35);
    const low = r;
    expect(adaptPixelRatio(r, 1, 28, true)).toBe(low); // between the thresholds: hold
    for (let i = 0; i < 100; i++) r = adaptPixelRatio(r, 1, 12, true);
    expect(r).toBe(1);
  });

  it('is the full ratio at rest, whatever the frames', () => {
    expect(adaptPixelRatio(0.4, 2, 80, false)).toBe(2);
    expect(adaptPixelRatio(2, 2, 10, true)).toBe(2);
  });
});
