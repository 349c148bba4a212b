/**
 * GeoJSON draped on the ground (each vertex at the terrain's height): the server's shadow polygons (dark,
 * translucent) and a sun-hours heatmap (points or polygons coloured by their `sun_hours`).
 * Coordinates are lon/lat (RFC 7946), as the analyses answer by default.
 */
import { Color, DoubleSide, Group, Mesh, MeshBasicMaterial, Shape, ShapeGeometry, Vector2 } from 'three';
import type { TwinViewer } from './TwinViewer';

type Ring = number[][];
interface Feature {
  geometry: { type: string; coordinates: unknown } | null;
  properties?: Record<string, unknown> | null;
}
export interface FeatureCollection {
  type: 'FeatureCollection';
  features: Feature[];
}

/** The first FeatureCollection in an analysis' answer (the answer itself, or one of its keys). */
export function findCollection(doc: unknown): FeatureCollection | null {
  if (!doc || typeof doc !== 'object') return null;
  const d = doc as Record<string, unknown>;
  if (d.type === 'FeatureCollection' && Array.isArray(d.features)) return d as unknown as FeatureCollection;
  for (const v of Object.values(d)) {
    const found = v && typeof v === 'object' && !Array.isArray(v) ? findCollection(v) : null;
    if (found) return found;
  }
  return null;
}

function polygons(g: Feature['geometry']): Ring[][] {
  if (!g) return [];
  if (g.type === 'Polygon') return [g.coordinates as Ring[]];
  if (g.type === 'MultiPolygon') return g.coordinates as Ring[][];
  if (g.type === 'Point') {
    const [x, y] = g.coordinates as number[];
    const d = 0.000009; // about a metre
    return [[[[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d]]]];
  }
  return [];
}

/** Blue (little sun) to yellow (a lot), over 0..max hours. */
export function heatColour(hours: number, max: number): Color {
  const t = Math.min(1, Math.max(0, hours / (max || 1)));
  return new Color().setHSL(0.62 - 0.48 * t, 0.85, 0.35 + 0.25 * t);
}

export class GeoOverlay {
  readonly group = new Group();

  constructor(private readonly viewer: TwinViewer, name: string, private readonly lift = 0.3) {
    this.group.name = name;
    viewer.overlay.add(this.group);
  }

  clear(): void {
    for (const c of [...this.group.children]) {
      const m = c as Mesh;
      m.geometry.dispose();
      (m.material as MeshBasicMaterial).dispose();
      this.group.remove(c);
    }
    this.viewer.invalidate(true);
  }

  /** Draw the collection; `colour(props)` gives each feature's colour. Returns the count. */
  show(fc: FeatureCollection, colour: (p: Record<string, unknown>) => Color, opacity: number): number {
    this.clear();
    const toLocal = ([lon, lat]: number[]) => {
      const p = this.viewer.local(lon, lat, this.viewer.frame!.height);
      return new Vector2(p.x, -p.z);
    };
    let n = 0;
    for (const f of fc.features) {
      for (const poly of polygons(f.geometry)) {
        if (!poly.length || poly[0].length < 3) continue;
        const shape = new Shape(poly[0].map(toLocal));
        shape.holes = poly.slice(1).map((r) => new Shape(r.map(toLocal)));
        const geom = new ShapeGeometry(shape);
        geom.rotateX(-Math.PI / 2);
        const pos = geom.getAttribute('position');
        for (let i = 0; i < pos.count; i++) pos.setY(i, this.viewer.groundY(pos.getX(i), pos.getZ(i)) + this.lift);
        geom.computeBoundingSphere();
        const mat = new MeshBasicMaterial({ color: colour(f.properties ?? {}), transparent: true, opacity, depthWrite: false, side: DoubleSide });
        this.group.add(new Mesh(geom, mat));
        n++;
      }
    }
    this.viewer.invalidate(true);
    return n;
  }

  dispose(): void {
    this.clear();
    this.viewer.overlay.remove(this.group);
  }
}
