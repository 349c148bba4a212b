/**
 * How the viewer streams a city-sized tileset: which tile to fetch first, how much to keep,
 * how much detail to ask for while the camera moves. Pure functions, no three.js, so they are
 * unit-tested; the three binding (TilesetLayer, TwinViewer) applies them to 3d-tiles-renderer.
 */

/** The fields of a 3d-tiles-renderer tile the priority looks at. */
export interface TileLike {
  traversal?: { used?: boolean; inFrustum?: boolean; error?: number; distanceFromCamera?: number };
  internal?: { depthFromRenderedParent?: number };
  priority?: number;
}

/**
 * Download and parse order, as a queue comparator (items that sort last run first):
 * tiles the current view uses, then tiles in the frustum, then the largest screen-space
 * error (what is most wrong on screen: a far-field block close by before a detail far away),
 * then the nearest, then the shallowest (a parent before the children that replace it).
 */
export function compareTiles(a: TileLike, b: TileLike): number {
  const pa = a.priority ?? 0;
  const pb = b.priority ?? 0;
  if (pa !== pb) return pa > pb ? -1 : 1;
  const ta = a.traversal;
  const tb = b.traversal;
  if (!ta || !tb) return 0;
  if (!!ta.used !== !!tb.used) return ta.used ? 1 : -1;
  if (!!ta.inFrustum !== !!tb.inFrustum) return ta.inFrustum ? 1 : -1;
  const ea = ta.error ?? 0;
  const eb = tb.error ?? 0;
  if (ea !== eb) return ea > eb ? 1 : -1;
  const da = ta.distanceFromCamera ?? 0;
  const db = tb.distanceFromCamera ?? 0;
  if (da !== db) return da > db ? -1 : 1;
  const ha = a.internal?.depthFromRenderedParent ?? 0;
  const hb = b.internal?.depthFromRenderedParent ?? 0;
  if (ha !== hb) return ha > hb ? -1 : 1;
  return 0;
}

export interface CacheLimits {
  /** tiles kept at least / at most (a loaded tile costs a few draw calls' worth of memory) */
  minSize: number;
  maxSize: number;
  /** geometry and metadata bytes kept at least / at most */
  minBytesSize: number;
  maxBytesSize: number;
}

const MB = 2 ** 20;

/**
 * A bounded tile cache: big enough to hold what one view draws plus a lap's worth of
 * neighbours, small enough that flying over a city for hours keeps memory flat. Phones and
 * headsets (little device memory) and software GL get the smaller budget.
 */
export function cacheLimits(deviceMemoryGB: number | undefined, softwareGL: boolean): CacheLimits {
  const gb = deviceMemoryGB ?? 4;
  const maxBytes = (softwareGL || gb < 4 ? 160 : gb < 8 ? 256 : 384) * MB;
  return { minSize: 300, maxSize: 600, minBytesSize: Math.round(maxBytes * 0.7), maxBytesSize: maxBytes };
}

/**
 * Screen-space error target while the camera moves: the faster the view slides (speed over
 * height, i.e. roughly screen heights a second), the less detail is fetched and drawn, up to
 * `maxBoost` times the resting target; at rest it is the resting target. What a moving eye
 * cannot see is not worth a frame, and the full detail comes back as soon as it stops.
 */
export function motionErrorTarget(rest: number, speed: number, height: number, maxBoost = 4): number {
  if (!(speed > 0)) return rest;
  const slide = speed / Math.max(height, 20);
  const boost = 1 + Math.min(maxBoost - 1, Math.max(0, slide - 0.05) * 1.5);
  return rest * boost;
}

/**
 * Frame-time feedback on the error target while the camera moves: frames slower than
 * `budgetMs` raise the scale (less detail, fewer triangles: what a software rasteriser pays
 * for), frames well inside it lower it back; at rest the scale is 1 (full detail for the
 * still view). Returns the next scale, between 1 and `max`.
 */
export function adaptDetailScale(scale: number, frameMs: number, moving: boolean, budgetMs = 33, max = 3): number {
  if (!moving) return 1;
  if (frameMs > budgetMs * 1.1) return Math.min(max, scale * 1.08);
  if (frameMs < budgetMs * 0.75) return Math.max(1, scale / 1.08);
  return scale;
}

/**
 * Pixel ratio while the camera moves: frames slower than `budgetMs` (30 fps) shed pixels,
 * down to `floor` of the full ratio (a software rasteriser pays per pixel; a moving eye does
 * not see the blur), frames well inside it win them back; at rest it is the full ratio. The
 * gap between the two thresholds keeps it from flapping (each change reallocates the
 * drawing buffer). Returns the next ratio.
 */
export function adaptPixelRatio(ratio: number, full: number, frameMs: number, moving: boolean, budgetMs = 33, floor = 0.35): number {
  if (!moving) return full;
  if (frameMs > budgetMs * 1.1) return Math.max(full * floor, ratio * 0.85);
  if (frameMs < budgetMs * 0.6) return Math.min(full, ratio / 0.85);
  return ratio;
}
