/**
 * A flat ground built in the browser from the twin's own `ground` collection (streets,
 * footways, parks, water): polygons are triangulated, lines become ribbons of their width.
 * Used when the server has no ground tileset; nothing comes from outside the twin.
 */
import {
  BufferGeometry,
  Float32BufferAttribute,
  Group,
  Mesh,
  MeshLambertMaterial,
  ShapeUtils,
  Vector2,
} from 'three';
import type { LocalFrame } from '../core/Geodesy';

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

const KINDS: Record<string, { color: string; lift: number; width: number }> = {
  water: { color: '#7fb2e5', lift: 0.05, width: 4 },
  park: { color: '#a8d08d', lift: 0.1, width: 3 },
  grass: { color: '#a8d08d', lift: 0.1, width: 3 },
  square: { color: '#d9d2c3', lift: 0.15, width: 3 },
  street: { color: '#8c8f94', lift: 0.2, width: 7 },
  road: { color: '#8c8f94', lift: 0.2, width: 7 },
  footway: { color: '#cdbf9f', lift: 0.25, width: 2.5 },
  pedestrian: { color: '#d6ccb4', lift: 0.18, width: 4 },
  path: { color: '#cdbf9f', lift: 0.25, width: 1.5 },
  parking: { color: '#a3a5a8', lift: 0.16, width: 3 },
  cycleway: { color: '#c98f7f', lift: 0.25, width: 2.5 },
  rail: { color: '#6d6258', lift: 0.22, width: 3 },
};
const OTHER = { color: '#c4c0b6', lift: 0.12, width: 3 };

export function kindStyle(kind: unknown): { color: string; lift: number; width: number } {
  const k = String(kind ?? '').toLowerCase();
  for (const [name, s] of Object.entries(KINDS)) if (k.includes(name)) return s;
  return OTHER;
}

interface Buckets {
  [color: string]: { positions: number[]; lift: number };
}

export class GroundLayer {
  readonly group = new Group();
  readonly materials: MeshLambertMaterial[] = [];
  featureCount = 0;

  constructor(
    private readonly frame: LocalFrame,
    features: GeoFeature[],
    /** half-size of the base plane in metres around the frame origin */
    extent = 800,
  ) {
    this.group.name = 'ground';
    this.group.userData.pickable = true;
    const buckets: Buckets = {};
    for (const f of features) {
      if (!f.geometry) continue;
      const style = kindStyle(f.properties.kind);
      const b = (buckets[style.color] ??= { positions: [], lift: style.lift });
      const width = Number(f.properties.width_m) > 0 ? Number(f.properties.width_m) : style.width;
      this.addGeometry(f.geometry, b.positions, width, style.lift);
      this.featureCount++;
    }
    // the base plane: the ground of the district, slightly below everything
    const base: number[] = [];
    const e = extent;
    const corners = [
      [-e, -e], [e, -e], [e, e], [-e, e],
    ].map(([x, z]) => [x, -0.05, z]);
    const [a, b, c, d] = corners;
    base.push(...a, ...c, ...b, ...a, ...d, ...c);
    this.group.add(this.mesh(base, '#d9d5cc', 0));
    for (const [color, bucket] of Object.entries(buckets)) {
      if (bucket.positions.length) this.group.add(this.mesh(bucket.positions, color, bucket.lift));
    }
  }

  private mesh(positions: number[], color: string, order: number): Mesh {
    faceUp(positions);
    const g = new BufferGeometry();
    g.setAttribute('position', new Float32BufferAttribute(positions, 3));
    const normals = new Float32Array(positions.length);
    for (let i = 1; i < normals.length; i += 3) normals[i] = 1;
    g.setAttribute('normal', new Float32BufferAttribute(normals, 3));
    g.computeBoundingSphere();
    const m = new MeshLambertMaterial({
      color,
      polygonOffset: true,
      polygonOffsetFactor: -order * 4,
      polygonOffsetUnits: -order * 4,
      side: 2,
    });
    this.materials.push(m);
    const mesh = new Mesh(g, m);
    mesh.renderOrder = -10 + order;
    mesh.userData.pickable = true;
    mesh.userData.ground = true;
    return mesh;
  }

  /** Local point of a CRS84 position, the ground's own height kept when it has one. */
  private p(pos: Position, lift: number): [number, number, number] {
    const h = pos.length > 2 && Number.isFinite(pos[2]) ? pos[2] : this.frame.height;
    const l = this.frame.geodeticToLocal(pos[0], pos[1], h);
    return [l[0], l[1] + lift, l[2]];
  }

  private addGeometry(g: Geometry, out: number[], width: number, lift: number): void {
    switch (g.type) {
      case 'Polygon':
        this.polygon(g.coordinates as Position[][], out, lift);
        break;
      case 'MultiPolygon':
        for (const poly of g.coordinates as Position[][][]) this.polygon(poly, out, lift);
        break;
      case 'LineString':
        this.ribbon(g.coordinates as Position[], out, width, lift);
        break;
      case 'MultiLineString':
        for (const line of g.coordinates as Position[][]) this.ribbon(line, out, width, lift);
        break;
      case 'GeometryCollection':
        for (const sub of (g as unknown as { geometries: Geometry[] }).geometries) this.addGeometry(sub, out, width, lift);
        break;
      default:
        break; // points: nothing to draw on the ground
    }
  }

  private polygon(rings: Position[][], out: number[], lift: number): void {
    if (!rings.length) return;
    const local = rings.map((r) => r.map((pos) => this.p(pos, lift)));
    const flat = local.map((r) => {
      const pts = r.map((q) => new Vector2(q[0], q[2]));
      if (pts.length > 1 && pts[0].equals(pts[pts.length - 1])) pts.pop();
      return pts;
    });
    const all = local.flatMap((r) => {
      const q = [...r];
      if (q.length > 1 && q[0][0] === q[q.length - 1][0] && q[0][2] === q[q.length - 1][2]) q.pop();
      return q;
    });
    const tris = ShapeUtils.triangulateShape(flat[0], flat.slice(1));
    for (const t of tris) for (const i of t) out.push(...all[i]);
  }

  private ribbon(line: Position[], out: number[], width: number, lift: number): void {
    const pts = line.map((pos) => this.p(pos, lift));
    const hw = width / 2;
    for (let i = 0; i + 1 < pts.length; i++) {
      const a = pts[i];
      const b = pts[i + 1];
      const dx = b[0] - a[0];
      const dz = b[2] - a[2];
      const len = Math.hypot(dx, dz);
      if (len < 1e-3) continue;
      const nx = (-dz / len) * hw;
      const nz = (dx / len) * hw;
      const a1 = [a[0] + nx, a[1], a[2] + nz];
      const a2 = [a[0] - nx, a[1], a[2] - nz];
      const b1 = [b[0] + nx, b[1], b[2] + nz];
      const b2 = [b[0] - nx, b[1], b[2] - nz];
      out.push(...a1, ...b1, ...a2, ...a2, ...b1, ...b2);
    }
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
    for (const m of this.materials) m.dispose();
  }
}

/** Reorder each triangle so it faces up (+y): lighting then treats every face alike. */
export function faceUp(p: number[]): void {
  for (let i = 0; i + 8 < p.length; i += 9) {
    const ux = p[i + 3] - p[i];
    const uz = p[i + 5] - p[i + 2];
    const vx = p[i + 6] - p[i];
    const vz = p[i + 8] - p[i + 2];
    // y of the cross product u x v
    if (uz * vx - ux * vz < 0) {
      for (let k = 0; k < 3; k++) {
        const t = p[i + 3 + k];
        p[i + 3 + k] = p[i + 6 + k];
        p[i + 6 + k] = t;
      }
    }
  }
}
