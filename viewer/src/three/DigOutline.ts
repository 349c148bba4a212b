/**
 * The dig tool's drawing: the outline being drawn on the ground (corners and a closed line)
 * and the conflicts the server found, as thick tubes (segments) and balls (nodes) at their
 * depth, in the local frame.
 */
import {
  BufferGeometry,
  Color,
  CurvePath,
  Group,
  LineBasicMaterial,
  LineCurve3,
  LineLoop,
  Mesh,
  MeshBasicMaterial,
  SphereGeometry,
  TubeGeometry,
  Vector3,
} from 'three';

export class DigOutline {
  readonly group = new Group();
  readonly corners: Vector3[] = [];
  private readonly outline = new Group();
  private readonly hits = new Group();
  private readonly cornerGeo = new SphereGeometry(0.5, 12, 8);
  private readonly cornerMat = new MeshBasicMaterial({ color: '#ff3b30', depthTest: false });
  private readonly lineMat = new LineBasicMaterial({ color: '#ff3b30', depthTest: false });

  constructor() {
    this.group.name = 'dig';
    this.group.renderOrder = 900;
    this.group.add(this.outline, this.hits);
  }

  add(p: Vector3): void {
    this.corners.push(p.clone());
    this.redraw();
  }

  private redraw(): void {
    clear(this.outline, this.cornerGeo);
    for (const c of this.corners) {
      const m = new Mesh(this.cornerGeo, this.cornerMat);
      m.position.copy(c);
      m.renderOrder = 901;
      this.outline.add(m);
    }
    if (this.corners.length >= 2) {
      const line = new LineLoop(new BufferGeometry().setFromPoints(this.corners), this.lineMat);
      line.renderOrder = 900;
      this.outline.add(line);
    }
  }

  /** Draw conflicts: polylines (several points) or nodes (one point), local frame. */
  showConflicts(items: { points: Vector3[]; color: [number, number, number] }[]): void {
    clear(this.hits);
    for (const it of items) {
      const mat = new MeshBasicMaterial({ color: new Color(...it.color), depthTest: false, transparent: true, opacity: 0.9 });
      if (it.points.length === 1) {
        const m = new Mesh(new SphereGeometry(0.6, 12, 8), mat);
        m.position.copy(it.points[0]);
        m.renderOrder = 902;
        this.hits.add(m);
        continue;
      }
      const path = new CurvePath<Vector3>();
      for (let i = 0; i + 1 < it.points.length; i++) path.add(new LineCurve3(it.points[i], it.points[i + 1]));
      const m = new Mesh(new TubeGeometry(path, Math.max(2, it.points.length * 2), 0.35, 6, false), mat);
      m.renderOrder = 902;
      this.hits.add(m);
    }
  }

  clear(): void {
    this.corners.length = 0;
    clear(this.outline, this.cornerGeo);
    clear(this.hits);
  }

  dispose(): void {
    this.clear();
    this.cornerGeo.dispose();
    this.cornerMat.dispose();
    this.lineMat.dispose();
    this.group.removeFromParent();
  }
}

/** Remove a group's children, disposing what they own (never the shared corner sphere). */
function clear(g: Group, shared?: BufferGeometry): void {
  for (const c of [...g.children]) {
    if ((c instanceof Mesh || c instanceof LineLoop) && c.geometry !== shared) c.geometry.dispose();
    c.removeFromParent();
  }
}
