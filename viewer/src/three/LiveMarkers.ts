/**
 * The devices as pins in the 3D view: one instanced mesh for the stems and one for the heads
 * (two draw calls however many devices), each head coloured by the device's state and grown
 * when it has an open alert. Pickable: a hit's instance id names the device.
 */
import { Color, CylinderGeometry, Group, InstancedMesh, Matrix4, MeshLambertMaterial, Quaternion, SphereGeometry, Vector3 } from 'three';

export interface Pin {
  id: string;
  /** local frame, on the surface */
  at: Vector3;
  color: [number, number, number];
  alert: boolean;
  /** how high the head stands over the surface (m) */
  height: number;
}

const HEAD = new SphereGeometry(1.6, 16, 10);
const STEM = new CylinderGeometry(0.18, 0.18, 1, 6).translate(0, 0.5, 0);

export class LiveMarkers {
  readonly group = new Group();
  private heads: InstancedMesh | null = null;
  private stems: InstancedMesh | null = null;
  private ids: string[] = [];
  private readonly index = new Map<string, number>();
  private pins = new Map<string, Pin>();
  /** how much pins are enlarged: they keep a readable size on screen from afar */
  private scale = 1;

  constructor() {
    this.group.name = 'live-markers';
    this.group.userData.pickable = true;
  }

  /** Replace the set of pins (rebuilds the meshes when the set of ids changed). */
  setPins(pins: Pin[]): void {
    const ids = pins.map((p) => p.id);
    const same = ids.length === this.ids.length && ids.every((id, i) => id === this.ids[i]);
    this.pins = new Map(pins.map((p) => [p.id, p]));
    if (!same) this.rebuild(ids);
    for (const p of pins) this.place(p);
    this.flush();
  }

  /** Recolour (and re-size) some pins in place. */
  update(pins: Pin[]): void {
    for (const p of pins) {
      if (!this.index.has(p.id)) continue;
      this.pins.set(p.id, p);
      this.place(p);
    }
    this.flush();
  }

  /**
   * Grow the pins with the viewing distance (m to what the camera looks at), so a pin stays
   * a few pixels wide in the district's overview and life-size in the street; true when
   * they were re-placed (the view must be drawn again).
   */
  fitDistance(distance: number): boolean {
    const s = Math.min(30, Math.max(1, distance / 150));
    if (Math.abs(s - this.scale) / this.scale < 0.08) return false;
    this.scale = s;
    for (const p of this.pins.values()) this.place(p);
    this.flush();
    return true;
  }

  /** Where a pin's head is drawn (local frame), or null. */
  headOf(id: string): Vector3 | null {
    const p = this.pins.get(id);
    return p ? new Vector3(p.at.x, p.at.y + p.height * this.scale, p.at.z) : null;
  }

  /** The device id of an instanced hit of these markers, or null. */
  deviceAt(object: unknown, instanceId: number | undefined): string | null {
    if (instanceId === undefined || (object !== this.heads && object !== this.stems)) return null;
    return this.ids[instanceId] ?? null;
  }

  colorOf(id: string): [number, number, number] | null {
    return this.pins.get(id)?.color ?? null;
  }

  private rebuild(ids: string[]): void {
    this.disposeMeshes();
    this.ids = ids;
    this.index.clear();
    ids.forEach((id, i) => this.index.set(id, i));
    const n = Math.max(1, ids.length);
    this.heads = new InstancedMesh(HEAD, new MeshLambertMaterial({ color: '#ffffff' }), n);
    this.stems = new InstancedMesh(STEM, new MeshLambertMaterial({ color: '#39424c' }), n);
    for (const m of [this.heads, this.stems]) {
      m.count = ids.length;
      m.userData.pickable = true;
      m.frustumCulled = false;
      this.group.add(m);
    }
  }

  private place(p: Pin): void {
    const i = this.index.get(p.id);
    if (i === undefined || !this.heads || !this.stems) return;
    const k = this.scale;
    const s = (p.alert ? 1.7 : 1) * k;
    const m = new Matrix4();
    m.compose(new Vector3(p.at.x, p.at.y + p.height * k, p.at.z), new Quaternion(), new Vector3(s, s, s));
    this.heads.setMatrixAt(i, m);
    this.heads.setColorAt(i, new Color(p.color[0], p.color[1], p.color[2]));
    m.compose(p.at, new Quaternion(), new Vector3(k, p.height * k, k));
    this.stems.setMatrixAt(i, m);
  }

  private flush(): void {
    for (const m of [this.heads, this.stems]) {
      if (!m) continue;
      m.instanceMatrix.needsUpdate = true;
      if (m.instanceColor) m.instanceColor.needsUpdate = true;
      m.computeBoundingSphere();
    }
  }

  private disposeMeshes(): void {
    for (const m of [this.heads, this.stems]) {
      if (!m) continue;
      this.group.remove(m);
      (m.material as MeshLambertMaterial).dispose();
      m.dispose();
    }
    this.heads = null;
    this.stems = null;
  }

  dispose(): void {
    this.disposeMeshes();
    this.group.removeFromParent();
  }
}
