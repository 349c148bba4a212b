/**
 * The ground, built in the browser from the twin's own data: a mesh on the terrain's grid
 * (`/api/terrain`; flat at the frame's height when the twin has no DEM) wearing one texture
 * in which the `ground` collection (streets, footways, parks, water) is painted: polygons
 * filled, lines stroked at their width. Painting instead of triangulating drapes every
 * feature exactly on the slope, whatever its size, and costs one draw call. Beyond the grid,
 * a plane at the terrain's lowest height. Nothing comes from outside the twin.
 */
import {
  BufferGeometry,
  CanvasTexture,
  Float32BufferAttribute,
  Group,
  LinearMipmapLinearFilter,
  Mesh,
  MeshLambertMaterial,
  Raycaster,
  SRGBColorSpace,
  Vector3,
} from 'three';
import type { LocalFrame } from '../core/Geodesy';
import { Terrain } from '../core/Terrain';

type Position = number[];
interface Geometry {
  type: string;
  coordinates: unknown;
}
export interface GeoFeature {
  id?: string | number;
  geometry: Geometry | null;
  properties: Record<string, unknown>;
}

/** colour, paint order (low first) and default width (m) of each ground kind */
const KINDS: Record<string, { color: string; order: number; width: number }> = {
  water: { color: '#7fb2e5', order: 1, width: 4 },
  park: { color: '#a8d08d', order: 2, width: 3 },
  grass: { color: '#a8d08d', order: 2, width: 3 },
  square: { color: '#d9d2c3', order: 3, width: 3 },
  street: { color: '#8c8f94', order: 6, width: 7 },
  road: { color: '#8c8f94', order: 6, width: 7 },
  footway: { color: '#cdbf9f', order: 8, width: 2.5 },
  pedestrian: { color: '#d6ccb4', order: 5, width: 4 },
  path: { color: '#cdbf9f', order: 8, width: 1.5 },
  parking: { color: '#a3a5a8', order: 4, width: 3 },
  cycleway: { color: '#c98f7f', order: 8, width: 2.5 },
  rail: { color: '#6d6258', order: 7, width: 3 },
};
const OTHER = { color: '#c4c0b6', order: 2, width: 3 };
const BASE_COLOUR = '#d9d5cc';
/** the texture's finest cell (m) and largest side (px) */
const TEXEL_M = 0.5;
const MAX_TEXTURE = 4096;
const M_PER_DEG_LAT = 110_574;
const M_PER_DEG_LON = 111_320;

export function kindStyle(kind: unknown): { color: string; order: number; width: number } {
  const k = String(kind ?? '').toLowerCase();
  for (const [name, s] of Object.entries(KINDS)) if (k.includes(name)) return s;
  return OTHER;
}

export class GroundLayer {
  readonly group = new Group();
  readonly materials: MeshLambertMaterial[] = [];
  featureCount = 0;
  /** the painted texture's size in pixels (tests read it) */
  readonly texture: { width: number; height: number };
  /** the draped mesh's triangles (tests read it) */
  readonly triangles: number;
  private readonly draped: Mesh;

  constructor(
    private readonly frame: LocalFrame,
    features: GeoFeature[],
    /** half-size (m) of the flat ground around the frame origin when there is no terrain */
    extent = 800,
    terrain: Terrain | null = null,
  ) {
    this.group.name = 'ground';
    this.group.userData.pickable = true;
    const t = terrain ?? flatTerrain(frame, extent);
    const canvas = this.paint(t.grid.bbox, features);
    this.texture = { width: canvas.width, height: canvas.height };
    const map = new CanvasTexture(canvas);
    map.colorSpace = SRGBColorSpace;
    map.minFilter = LinearMipmapLinearFilter;
    map.anisotropy = 8;
    const draped = this.drape(t, map);
    this.draped = draped;
    this.triangles = (draped.geometry.index?.count ?? 0) / 3;
    // beyond the grid: a plane under everything, as wide as the flat ground would be
    const e = Math.max(extent, 4000);
    const y = this.frame.geodeticToLocal(frame.lon, frame.lat, t.min)[1] - 0.3;
    const plane = new BufferGeometry();
    plane.setAttribute('position', new Float32BufferAttribute([-e, y, -e, -e, y, e, e, y, e, -e, y, -e, e, y, e, e, y, -e], 3));
    plane.setAttribute('normal', new Float32BufferAttribute([0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0], 3));
    this.group.add(this.mesh(plane, new MeshLambertMaterial({ color: BASE_COLOUR })), draped);
  }

  /** The grid's nodes in the local frame, two triangles per cell whose corners all have a
   * height, UVs over the painted lon/lat box. */
  private drape(t: Terrain, map: CanvasTexture): Mesh {
    const { width, height, heights } = t.grid;
    const positions = new Float32Array(width * height * 3);
    const uvs = new Float32Array(width * height * 2);
    for (let i = 0; i < width * height; i++) {
      const [lon, lat] = t.node(i);
      const p = this.frame.geodeticToLocal(lon, lat, heights[i] ?? t.min);
      positions.set(p, i * 3);
      uvs[i * 2] = (i % width) / (width - 1);
      uvs[i * 2 + 1] = 1 - Math.floor(i / width) / (height - 1);
    }
    const index: number[] = [];
    for (let r = 0; r + 1 < height; r++) {
      for (let c = 0; c + 1 < width; c++) {
        const a = r * width + c;
        const b = a + 1;
        const d = a + width;
        const e = d + 1;
        if (heights[a] === null || heights[b] === null || heights[d] === null || heights[e] === null) continue;
        index.push(a, d, b, b, d, e); // counter-clockwise seen from above (+y)
      }
    }
    const g = new BufferGeometry();
    g.setAttribute('position', new Float32BufferAttribute(positions, 3));
    g.setAttribute('uv', new Float32BufferAttribute(uvs, 2));
    g.setIndex(index);
    g.computeVertexNormals();
    g.computeBoundingSphere();
    const mesh = this.mesh(g, new MeshLambertMaterial({ map, polygonOffset: true, polygonOffsetFactor: -2, polygonOffsetUnits: -2 }));
    mesh.name = 'terrain';
    return mesh;
  }

  private mesh(g: BufferGeometry, m: MeshLambertMaterial): Mesh {
    m.side = 2;
    this.materials.push(m);
    const mesh = new Mesh(g, m);
    mesh.renderOrder = -10;
    mesh.receiveShadow = true;
    mesh.userData.pickable = true;
    mesh.userData.ground = true;
    return mesh;
  }

  /** The ground features painted on a canvas covering `bbox` (lon/lat), texels about square
   * in metres. */
  private paint(bbox: [number, number, number, number], features: GeoFeature[]): HTMLCanvasElement {
    const [lon0, lat0, lon1, lat1] = bbox;
    const cos = Math.cos(((lat0 + lat1) / 2) * (Math.PI / 180));
    const wide = (lon1 - lon0) * M_PER_DEG_LON * cos;
    const tall = (lat1 - lat0) * M_PER_DEG_LAT;
    // nothing to paint (a synthetic city): a texel as large as the ground, not 16 M of them
    const texel = features.length ? Math.max(TEXEL_M, Math.max(wide, tall) / MAX_TEXTURE) : Math.max(wide, tall);
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(2, Math.round(wide / texel));
    canvas.height = Math.max(2, Math.round(tall / texel));
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas to paint the ground on');
    ctx.fillStyle = BASE_COLOUR;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const sx = canvas.width / (lon1 - lon0);
    const sy = canvas.height / (lat1 - lat0);
    const px = (p: Position): [number, number] => [(p[0] - lon0) * sx, (lat1 - p[1]) * sy];
    const sorted = features
      .filter((f) => f.geometry)
      .map((f) => ({ f, s: kindStyle(f.properties.kind) }))
      .sort((a, b) => a.s.order - b.s.order);
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    for (const { f, s } of sorted) {
      const width = Number(f.properties.width_m) > 0 ? Number(f.properties.width_m) : s.width;
      ctx.fillStyle = s.color;
      ctx.strokeStyle = s.color;
      ctx.lineWidth = Math.max(1, width / texel);
      paintGeometry(ctx, f.geometry as Geometry, px);
      this.featureCount++;
    }
    return canvas;
  }

  /** Local height of the drawn ground under the local point (x, z), or null off it. */
  heightAt(x: number, z: number): number | null {
    const ray = new Raycaster(new Vector3(x, 1e4, z), new Vector3(0, -1, 0));
    const hit = ray.intersectObject(this.draped, false)[0];
    return hit ? hit.point.y : null;
  }

  setOpacity(opacity: number): void {
    for (const m of this.materials) {
      m.transparent = opacity < 1;
      m.opacity = opacity;
      m.depthWrite = opacity >= 1;
      m.needsUpdate = true;
    }
  }

  dispose(): void {
    this.group.removeFromParent();
    this.group.traverse((o) => (o as Mesh).geometry?.dispose());
    for (const m of this.materials) {
      m.map?.dispose();
      m.dispose();
    }
  }
}

function paintGeometry(ctx: CanvasRenderingContext2D, g: Geometry, px: (p: Position) => [number, number]): void {
  const ring = (r: Position[]) => {
    r.forEach((p, i) => (i ? ctx.lineTo(...px(p)) : ctx.moveTo(...px(p))));
    ctx.closePath();
  };
  const line = (l: Position[]) => {
    ctx.beginPath();
    l.forEach((p, i) => (i ? ctx.lineTo(...px(p)) : ctx.moveTo(...px(p))));
    ctx.stroke();
  };
  switch (g.type) {
    case 'Polygon':
      ctx.beginPath();
      (g.coordinates as Position[][]).forEach(ring);
      ctx.fill('evenodd');
      break;
    case 'MultiPolygon':
      for (const poly of g.coordinates as Position[][][]) {
        ctx.beginPath();
        poly.forEach(ring);
        ctx.fill('evenodd');
      }
      break;
    case 'LineString':
      line(g.coordinates as Position[]);
      break;
    case 'MultiLineString':
      (g.coordinates as Position[][]).forEach(line);
      break;
    case 'GeometryCollection':
      for (const sub of (g as unknown as { geometries: Geometry[] }).geometries) paintGeometry(ctx, sub, px);
      break;
    default:
      break; // points: nothing to paint
  }
}

/** A flat 2 x 2 grid at the frame's height over the square of half-size `extent`. */
function flatTerrain(frame: LocalFrame, extent: number): Terrain {
  const [lonW, latS] = frame.localToGeodetic([-extent, 0, extent]);
  const [lonE, latN] = frame.localToGeodetic([extent, 0, -extent]);
  const h = frame.height;
  return new Terrain({
    source: 'flat',
    synthetic: true,
    vertical_datum: 'unknown',
    resolution_m: 2 * extent,
    bbox: [lonW, latS, lonE, latN],
    width: 2,
    height: 2,
    heights: [h, h, h, h],
  });
}
