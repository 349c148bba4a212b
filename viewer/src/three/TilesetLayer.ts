import { TilesRenderer } from '3d-tiles-renderer';
import { GLTFExtensionsPlugin } from '3d-tiles-renderer/plugins';
import { Box3, Matrix4, Vector3 } from 'three';
import { type CacheLimits, compareTiles } from '../core/StreamingPolicy';
import type { FeatureStyle } from '../core/Styling';
import { AuthHeadersPlugin } from './plugins/AuthHeadersPlugin';
import { FeatureStylePlugin } from './plugins/FeatureStylePlugin';
import { LambertMaterialPlugin } from './plugins/LambertMaterialPlugin';

export interface TilesetLayerOptions {
  name: string;
  url: string;
  style: FeatureStyle | null;
  headers: () => Record<string, string>;
  /** screen-space error target in pixels at rest (lower = more detail) */
  errorTarget?: number;
  /** the bounded tile cache and how many tiles may be parsed at once (TwinViewer sets them) */
  cache?: CacheLimits;
  parseJobs?: number;
}

/** Resting screen-space error target (pixels) when a layer names none. */
export const DEFAULT_ERROR_TARGET = 16;
/** share of the error target taken off tiles a few kilometres away (errorFalloff) */
const HORIZON_FALLOFF = 0.75;

/**
 * One streamed 3D Tiles 1.1 tileset: a TilesRenderer with the twin's plugins (glTF metadata
 * extensions, bearer headers, Lambert materials, feature styling). Its group lives in ECEF; the viewer puts it
 * under the local frame.
 */
export class TilesetLayer {
  readonly tiles: TilesRenderer;
  readonly style: FeatureStylePlugin;
  readonly auth: AuthHeadersPlugin;
  readonly ready: Promise<void>;
  /** bytes of tile content fetched (JSON + GLB), for the loading bar and the bench */
  bytes = 0;
  failed: Error | null = null;
  /** the error target at rest; TwinViewer raises the live one while the camera moves */
  readonly restErrorTarget: number;

  constructor(readonly opts: TilesetLayerOptions) {
    const tiles = new TilesRenderer(opts.url);
    this.tiles = tiles;
    this.restErrorTarget = opts.errorTarget ?? DEFAULT_ERROR_TARGET;
    tiles.errorTarget = this.restErrorTarget;
    // far tiles seen at a grazing angle (a street-level or low-flight view of a city) need
    // more error to refine: their blocks are squashed on screen, and numerous
    tiles.errorFalloff = this.restErrorTarget * HORIZON_FALLOFF;
    tiles.errorFalloffDensity = 2e-4;
    // the cache and the queues are shared by every layer (3d-tiles-renderer's defaults):
    // bounded, and ordered by what is most wrong on screen
    if (opts.cache) Object.assign(tiles.lruCache, opts.cache);
    tiles.downloadQueue.priorityCallback = compareTiles;
    tiles.parseQueue.priorityCallback = compareTiles;
    if (opts.parseJobs) tiles.parseQueue.maxJobs = opts.parseJobs;
    // fetch what the view needs, not every ancestor and sibling of it: what is on screen
    // stays drawn until its replacement has arrived, so nothing blinks, and a city's first
    // view costs the tiles it shows
    tiles.loadAncestors = false;
    tiles.loadSiblings = false;
    this.auth = new AuthHeadersPlugin(opts.headers);
    this.style = new FeatureStylePlugin(opts.style);
    tiles.registerPlugin(this.auth);
    tiles.registerPlugin(new GLTFExtensionsPlugin({ metadata: true, rtc: true, autoDispose: false }));
    tiles.registerPlugin(new LambertMaterialPlugin());
    tiles.registerPlugin(this.style);
    tiles.registerPlugin(new ByteCounterPlugin((n) => (this.bytes += n)));
    tiles.group.name = `tileset:${opts.name}`;
    this.ready = new Promise((resolve, reject) => {
      tiles.addEventListener('load-root-tileset', () => resolve());
      tiles.addEventListener('load-error', (e: { tile: unknown; error: Error }) => {
        if (!e.tile || e.tile === tiles.root) {
          this.failed = e.error;
          reject(e.error);
        }
      });
    });
    this.ready.catch(() => undefined);
  }

  get name(): string {
    return this.opts.name;
  }

  /** The ECEF corners of the root's oriented bounding box (after ready). */
  corners(): Vector3[] {
    const box = new Box3();
    const m = new Matrix4();
    if (!this.tiles.getOrientedBoundingBox(box, m)) return [];
    const out: Vector3[] = [];
    for (const x of [box.min.x, box.max.x])
      for (const y of [box.min.y, box.max.y])
        for (const z of [box.min.z, box.max.z]) out.push(new Vector3(x, y, z).applyMatrix4(m));
    return out;
  }

  setVisible(v: boolean): void {
    this.tiles.group.visible = v;
  }

  dispose(): void {
    this.tiles.group.removeFromParent();
    this.tiles.dispose();
  }
}

/** Counts response bytes by wrapping fetch (a plugin hook that returns null falls through). */
class ByteCounterPlugin {
  readonly name = 'TWIN_BYTE_COUNTER';
  readonly priority = 100;
  constructor(private readonly add: (n: number) => void) {}
  async fetchData(url: string, options: RequestInit): Promise<Response> {
    const res = await fetch(url, options);
    const len = Number(res.headers.get('content-length') ?? 0);
    if (len) this.add(len);
    else {
      const buf = await res.clone().arrayBuffer();
      this.add(buf.byteLength);
    }
    return res;
  }
  dispose(): void {}
}
