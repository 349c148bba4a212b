/**
 * A flood extent over the 3D city: the GeoJSON polygons the flood analysis returns (CRS84),
 * triangulated and drawn as translucent water with their outlines. Water is flat: the surface
 * lies at the flood's level (`level`, the DEM's heights), where the extent says the ground is
 * below it; the ground rising through it is the extent's edge. Without a level, the water is
 * drawn `lift` above the frame's flat ground.
 */
import {
  BufferGeometry,
  Float32BufferAttribute,
  Group,
  LineBasicMaterial,
  LineSegments,
  Mesh,
  MeshBasicMaterial,
  ShapeUtils,
  Vector2,
} from 'three';
import type { LocalFrame } from '../core/Geodesy';

type Ring = number[][];
export interface FloodExtent {
  type: string;
  features: { geometry: { type: string; coordinates: unknown } | null }[];
}

export class FloodLayer {
  readonly group = new Group();
  /** triangles drawn (tests read it) */
  triangles = 0;
  private readonly fill = new MeshBasicMaterial({ color: '#2f7fd8', transparent: true, opacity: 0.55, depthWrite: false, side: 2 });
  private readonly edge = new LineBasicMaterial({ color: '#0b4f9c' });

  constructor(
    private readonly frame: LocalFrame,
    extent: FloodExtent,
    private readonly level: number | null = null,
    private readonly lift = 0.6,
  ) {
    this.group.name = 'flood';
    const tris: number[] = [];
    const edges: number[] = [];
    for (const f of extent.features) {
      const g = f.geometry;
      if (!g) continue;
      const polys = g.type === 'Polygon' ? [g.coordinates as Ring[]] : g.type === 'MultiPolygon' ? (g.coordinates as Ring[][]) : [];
      for (const rings of polys) this.polygon(rings, tris, edges);
    }
    this.triangles = tris.length / 9;
    const mesh = new BufferGeometry();
    mesh.setAttribute('position', new Float32BufferAttribute(tris, 3));
    mesh.computeBoundingSphere();
    const water = new Mesh(mesh, this.fill);
    water.renderOrder = 5;
    const line = new BufferGeometry();
    line.setAttribute('position', new Float32BufferAttribute(edges, 3));
    this.group.add(water, new LineSegments(line, this.edge));
  }

  private local(pos: number[]): [number, number, number] {
    if (this.level !== null) return this.frame.geodeticToLocal(pos[0], pos[1], this.level + 0.05);
    const l = this.frame.geodeticToLocal(pos[0], pos[1], this.frame.height);
    return [l[0], this.lift, l[2]];
  }

  private polygon(rings: Ring[], tris: number[], edges: number[]): void {
    const local = rings.map((r) => {
      const pts = r.map((p) => this.local(p));
      if (pts.length > 1) pts.pop(); // GeoJSON rings repeat their first point
      return pts;
    });
    if (!local.length || local[0].length < 3) return;
    const flat = local.map((r) => r.map((q) => new Vector2(q[0], q[2])));
    const all = local.flat();
    for (const t of ShapeUtils.triangulateShape(flat[0], flat.slice(1))) for (const i of t) tris.push(...all[i]);
    for (const r of local) {
      for (let i = 0; i < r.length; i++) edges.push(...r[i], ...r[(i + 1) % r.length]);
    }
  }

  dispose(): void {
    this.group.removeFromParent();
    this.group.traverse((o) => (o as Mesh).geometry?.dispose());
    this.fill.dispose();
    this.edge.dispose();
  }
}
