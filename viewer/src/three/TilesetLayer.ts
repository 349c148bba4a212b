import { TilesRenderer } from '3d-tiles-renderer';
import { GLTFExtensionsPlugin } from '3d-tiles-renderer/plugins';
import { Box3, Matrix4, Vector3 } from 'three';
import type { FeatureStyle } from '../core/Styling';
import { AuthHeadersPlugin } from './plugins/AuthHeadersPlugin';
import { FeatureStylePlugin } from './plugins/FeatureStylePlugin';

export interface TilesetLayerOptions {
  name: string;
  url: string;
  style: FeatureStyle | null;
  headers: () => Record<string, string>;
  /** screen-space error target in pixels (lower = more detail) */
  errorTarget?: number;
}

/**
 * One streamed 3D Tiles 1.1 tileset: a TilesRenderer with the twin's plugins (glTF metadata
 * extensions, bearer headers, feature styling). Its group lives in ECEF; the viewer puts it
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

  constructor(readonly opts: TilesetLayerOptions) {
    const tiles = new TilesRenderer(opts.url);
    this.tiles = tiles;
    tiles.errorTarget = opts.errorTarget ?? 8;
    this.auth = new AuthHeadersPlugin(opts.headers);
    this.style = new FeatureStylePlugin(opts.style);
    tiles.registerPlugin(this.auth);
    tiles.registerPlugin(new GLTFExtensionsPlugin({ metadata: true, rtc: true, autoDispose: false }));
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
