/** Distance and height between two picked points, drawn as a line with end markers. */
import { BufferGeometry, Group, Line, LineBasicMaterial, Mesh, MeshBasicMaterial, SphereGeometry, type Vector3 } from 'three';

export interface Measurement {
  /** straight-line distance, metres */
  direct: number;
  /** horizontal distance, metres */
  horizontal: number;
  /** height difference (second minus first), metres */
  vertical: number;
}

export function measure(a: Vector3, b: Vector3): Measurement {
  // local frame: y is up
  return {
    direct: a.distanceTo(b),
    horizontal: Math.hypot(b.x - a.x, b.z - a.z),
    vertical: b.y - a.y,
  };
}

export class MeasureTool {
  readonly group = new Group();
  points: Vector3[] = [];
  private readonly marker = new SphereGeometry(0.6, 12, 8);
  private readonly markerMat = new MeshBasicMaterial({ color: '#ff3b6b', depthTest: false });
  private readonly lineMat = new LineBasicMaterial({ color: '#ff3b6b', depthTest: false });

  constructor() {
    this.group.name = 'measure';
    this.group.renderOrder = 900;
  }

  /** Add a point; returns the measurement once two points are set (a third starts over). */
  add(p: Vector3): Measurement | null {
    if (this.points.length >= 2) this.clear();
    this.points.push(p.clone());
    const m = new Mesh(this.marker, this.markerMat);
    m.position.copy(p);
    m.renderOrder = 901;
    this.group.add(m);
    if (this.points.length === 2) {
      const line = new Line(new BufferGeometry().setFromPoints(this.points), this.lineMat);
      line.renderOrder = 900;
      this.group.add(line);
      return measure(this.points[0], this.points[1]);
    }
    return null;
  }

  clear(): void {
    this.points = [];
    for (const c of [...this.group.children]) {
      if (c instanceof Line) c.geometry.dispose();
      c.removeFromParent();
    }
  }

  dispose(): void {
    this.clear();
    this.group.removeFromParent();
    this.marker.dispose();
    this.markerMat.dispose();
    this.lineMat.dispose();
  }
}
