/** Small planar polygon helpers (x, y pairs), renderer-agnostic. */

export type XY = [number, number];

export function outerRing(geometry: { type: string; coordinates: unknown } | null): XY[] {
  if (!geometry) return [];
  if (geometry.type === 'Polygon') return ((geometry.coordinates as number[][][])[0] ?? []).map((p) => [p[0], p[1]]);
  if (geometry.type === 'MultiPolygon') {
    // the largest part
    let best: XY[] = [];
    for (const poly of geometry.coordinates as number[][][][]) {
      const ring = (poly[0] ?? []).map((p) => [p[0], p[1]] as XY);
      if (Math.abs(area(ring)) > Math.abs(area(best))) best = ring;
    }
    return best;
  }
  return [];
}

export function area(ring: XY[]): number {
  let a = 0;
  for (let i = 0; i < ring.length; i++) {
    const [x1, y1] = ring[i];
    const [x2, y2] = ring[(i + 1) % ring.length];
    a += x1 * y2 - x2 * y1;
  }
  return a / 2;
}

export function centroid(ring: XY[]): XY {
  const a = area(ring);
  if (Math.abs(a) < 1e-12) {
    const n = ring.length || 1;
    return [ring.reduce((s, p) => s + p[0], 0) / n, ring.reduce((s, p) => s + p[1], 0) / n];
  }
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < ring.length; i++) {
    const [x1, y1] = ring[i];
    const [x2, y2] = ring[(i + 1) % ring.length];
    const f = x1 * y2 - x2 * y1;
    cx += (x1 + x2) * f;
    cy += (y1 + y2) * f;
  }
  return [cx / (6 * a), cy / (6 * a)];
}

/** A point surely inside the ring: middle of the widest span on the centroid's row. */
export function interiorPoint(ring: XY[]): XY {
  const c = centroid(ring);
  const y = c[1];
  const xs: number[] = [];
  for (let i = 0; i < ring.length; i++) {
    const [x1, y1] = ring[i];
    const [x2, y2] = ring[(i + 1) % ring.length];
    if ((y1 <= y && y2 > y) || (y2 <= y && y1 > y)) xs.push(x1 + ((y - y1) / (y2 - y1)) * (x2 - x1));
  }
  xs.sort((a, b) => a - b);
  let best: XY = c;
  let width = -1;
  for (let i = 0; i + 1 < xs.length; i += 2) {
    if (xs[i + 1] - xs[i] > width) {
      width = xs[i + 1] - xs[i];
      best = [(xs[i] + xs[i + 1]) / 2, y];
    }
  }
  return best;
}

/** Closest point of the ring's edges to p. */
export function closestOnRing(ring: XY[], p: XY): XY {
  let best: XY = ring[0] ?? p;
  let d2 = Infinity;
  for (let i = 0; i < ring.length; i++) {
    const a = ring[i];
    const b = ring[(i + 1) % ring.length];
    const dx = b[0] - a[0];
    const dy = b[1] - a[1];
    const len2 = dx * dx + dy * dy;
    const t = len2 > 0 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
    const q: XY = [a[0] + t * dx, a[1] + t * dy];
    const e = (q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2;
    if (e < d2) {
      d2 = e;
      best = q;
    }
  }
  return best;
}
