/**
 * What every mode stands on: the buildings tileset, the ground from the twin's own data and
 * the local frame centred on the district. Loaded once, shared by the modes.
 */
import { Vector3 } from 'three';
import { type ApiClient, ApiError, explain } from '../core/ApiClient';
import { LocalFrame } from '../core/Geodesy';
import { BUILDING_STYLES, type FeatureStyle } from '../core/Styling';
import { Terrain, type TerrainGrid } from '../core/Terrain';
import { type GeoFeature, GroundLayer } from '../three/GroundLayer';
import type { TilesetLayer } from '../three/TilesetLayer';
import type { TwinViewer } from '../three/TwinViewer';
import type { Shell } from '../ui/Shell';
import { listTilesets, type TilesetEntry } from './Catalog';

export const BUILDINGS = 'buildings';
/**
 * Half-size of the base plane around the frame origin (m): a district and its surroundings.
 * Not the city's radius: a plane under a whole city would fill the sky of its overview; a
 * city's ground comes from its ground tileset.
 */
const GROUND_HALF_SIZE = 1000;
/** heights along the terrain grid's longer side: 257 nodes put a node every ~10 m over a
 * district, and cost ~130k triangles */
const TERRAIN_GRID = 257;

export class BaseScene {
  catalog: TilesetEntry[] = [];
  buildings: TilesetLayer | null = null;
  ground: GroundLayer | null = null;
  radius = 400;
  centre = new Vector3();
  private loading: Promise<void> | null = null;

  constructor(
    private readonly api: ApiClient,
    private readonly viewer: TwinViewer,
    private readonly shell: Shell,
  ) {}

  /** The server's tileset list for the current account (refreshed on demand). */
  async refreshCatalog(): Promise<TilesetEntry[]> {
    try {
      this.catalog = await listTilesets(this.api);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) this.catalog = [];
      else throw err;
    }
    return this.catalog;
  }

  entry(name: string): TilesetEntry | undefined {
    return this.catalog.find((e) => e.name === name);
  }

  tilesetUrl(name: string): string {
    return this.api.url(this.entry(name)?.url ?? `/tiles/${encodeURIComponent(name)}/tileset.json`);
  }

  addTileset(name: string, style: FeatureStyle | null, errorTarget?: number): TilesetLayer {
    return this.viewer.addTileset({
      name,
      url: this.tilesetUrl(name),
      style,
      headers: () => this.api.headers(),
      errorTarget,
    });
  }

  ensure(): Promise<void> {
    this.loading ??= this.load().catch((err) => {
      this.loading = null;
      throw err;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    this.shell.progress(0.05);
    await this.refreshCatalog();
    const hasBuildings = this.catalog.length === 0 || !!this.entry(BUILDINGS);
    let homed = false;
    if (hasBuildings) {
      const layer = this.addTileset(BUILDINGS, BUILDING_STYLES[0]);
      try {
        await layer.ready;
        this.buildings = layer;
        const frame = this.viewer.frameFromLayer(layer);
        if (frame) {
          // the camera goes to the overview with the frame, before the ground loads: tiles
          // stream from the first frame on, and any the default camera asked for would be
          // fetched for nothing (at city scale, a megabyte of buildings near the centre)
          this.viewer.setFrame(frame);
          this.radius = this.viewer.layerRadius(layer);
          this.home(false);
          homed = true;
        }
      } catch (err) {
        this.viewer.removeTileset(BUILDINGS);
        this.shell.message(
          `No buildings tileset (${explain(err)}): build it with \`twin tiles build\`.`,
          'warning',
        );
      }
    } else {
      this.shell.message('The server has no buildings tileset yet: build it with `twin tiles build`.', 'warning');
    }
    await this.loadGround();
    if (!this.viewer.frame) throw new Error('the twin has no buildings and no ground to show yet: load the demo with `twin demo`');
    if (!homed) this.home(false); // framed on the ground: the overview now
  }

  private async loadGround(): Promise<void> {
    // a ground tileset when the server has one, else the ground built from the features
    if (this.entry('ground') && this.viewer.frame) {
      const layer = this.addTileset('ground', null);
      try {
        await layer.ready;
        return;
      } catch {
        this.viewer.removeTileset('ground');
      }
    }
    const features: GeoFeature[] = [];
    try {
      let offset = 0;
      for (;;) {
        const page = await this.api.json<{ features: GeoFeature[]; numberMatched?: number }>(
          `/collections/ground/items?limit=5000&offset=${offset}`,
        );
        features.push(...page.features);
        offset += page.features.length;
        if (!page.features.length || page.features.length < 5000) break;
      }
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
    }
    if (!this.viewer.frame) {
      const f = frameFromFeatures(features);
      if (f) this.viewer.setFrame(f);
    }
    if (!this.viewer.frame) return;
    this.viewer.terrain = await this.loadTerrain();
    this.ground = new GroundLayer(this.viewer.frame, features, GROUND_HALF_SIZE, this.viewer.terrain);
    this.viewer.overlay.add(this.ground.group);
    this.viewer.invalidate();
  }

  /** The twin's terrain, or null when it has none (the ground is then flat). */
  private async loadTerrain(): Promise<Terrain | null> {
    try {
      return new Terrain(await this.api.json<TerrainGrid>(`/api/terrain?size=${TERRAIN_GRID}`));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  /** The overview of the district. */
  home(animate = true): void {
    this.viewer.overview(this.centre, this.radius, animate);
  }
}

function frameFromFeatures(features: GeoFeature[]): LocalFrame | null {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  let minZ = Infinity;
  const visit = (c: unknown): void => {
    if (Array.isArray(c) && typeof c[0] === 'number') {
      minX = Math.min(minX, c[0]);
      maxX = Math.max(maxX, c[0]);
      minY = Math.min(minY, c[1]);
      maxY = Math.max(maxY, c[1]);
      if (typeof c[2] === 'number') minZ = Math.min(minZ, c[2]);
    } else if (Array.isArray(c)) c.forEach(visit);
  };
  for (const f of features) visit(f.geometry?.coordinates);
  if (!Number.isFinite(minX)) return null;
  return new LocalFrame((minX + maxX) / 2, (minY + maxY) / 2, Number.isFinite(minZ) ? minZ : 0);
}
