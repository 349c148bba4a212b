/**
 * A shadow-casting sun for the planner: a DirectionalLight whose direction comes from the
 * server's sun position (azimuth from true north, apparent elevation), and whose shadow camera
 * is fitted, every frame, to the whole area the view shows — not to a box around the camera
 * target. CesiumJS users report shadows vanishing when the caster is off-screen or far away:
 * here the orthographic shadow frustum spans every ground point the view frustum reaches (up to
 * `maxDistance`), raised by `casterHeight` so that a tower outside the view still casts into it.
 */
import { DirectionalLight, type Light, type Object3D, PCFSoftShadowMap, Plane, Ray, Vector2, Vector3 } from 'three';
import type { TwinViewer } from './TwinViewer';

/** Local frame: x east, y up, z south. The unit vector towards the sun. */
export function sunVector(azimuthDeg: number, elevationDeg: number): Vector3 {
  const az = (azimuthDeg * Math.PI) / 180;
  const el = (elevationDeg * Math.PI) / 180;
  return new Vector3(Math.sin(az) * Math.cos(el), Math.sin(el), -Math.cos(az) * Math.cos(el));
}

/** NDC points whose rays bound (and sample) the view: corners, edge middles, centre. */
const SAMPLES: Array<[number, number]> = [];
for (const x of [-1, -0.5, 0, 0.5, 1]) for (const y of [-1, -0.5, 0, 0.5, 1]) SAMPLES.push([x, y]);

export interface ShadowFit {
  left: number;
  right: number;
  top: number;
  bottom: number;
  near: number;
  far: number;
  /** the ground points (local frame) the fit covers */
  ground: Array<[number, number, number]>;
}

export class ShadowSun {
  readonly light: DirectionalLight;
  direction = new Vector3(0, 1, 0);
  lastFit: ShadowFit | null = null;
  /** the ground's lowest and highest heights in the frame (m): the terrain's, else 0 */
  groundY = 0;
  groundTop = 0;
  maxDistance = 3000;
  casterHeight = 120;
  private readonly dimmed: Array<[Light, number]> = [];
  private readonly offFrame: () => void;

  constructor(private readonly viewer: TwinViewer) {
    const light = new DirectionalLight('#fff3dc', 2.8);
    light.castShadow = true;
    light.shadow.mapSize.set(2048, 2048);
    light.shadow.bias = -0.0004;
    light.shadow.normalBias = 0.6;
    light.shadow.camera.up.set(0, 0, -1); // north: never parallel to a sun above the horizon
    light.name = 'planner-sun';
    this.light = light;
    const { terrain, frame } = viewer;
    if (terrain && frame) {
      // the view's rays meet the ground somewhere between the terrain's lowest and highest
      this.groundY = frame.geodeticToLocal(frame.lon, frame.lat, terrain.min)[1];
      this.groundTop = frame.geodeticToLocal(frame.lon, frame.lat, terrain.max)[1];
    }
    viewer.renderer.shadowMap.enabled = true;
    viewer.renderer.shadowMap.type = PCFSoftShadowMap;
    // the scene's fixed sun casts no shadow: dim it while this one shines, and the sky's
    // light too, or the shadows would be too faint to read
    viewer.scene.traverse((o: Object3D) => {
      const l = o as Light & { isDirectionalLight?: boolean; isHemisphereLight?: boolean };
      if (l.isDirectionalLight || l.isHemisphereLight) {
        this.dimmed.push([l, l.intensity]);
        l.intensity = l.isDirectionalLight ? 0.1 : l.intensity * 0.55;
      }
    });
    viewer.scene.add(light, light.target);
    this.offFrame = viewer.onBeforeRender(() => this.update());
  }

  setSun(azimuthDeg: number, elevationDeg: number): void {
    this.direction = sunVector(azimuthDeg, elevationDeg);
    this.light.visible = elevationDeg > 0; // night: no sun, no shadow
    this.viewer.invalidate(true);
  }

  /** Every mesh casts and receives (tiles stream in: new meshes are caught here). */
  private enableShadows(): void {
    this.viewer.scene.traverse((o: Object3D) => {
      const m = o as Object3D & { isMesh?: boolean };
      if (m.isMesh && !m.castShadow) {
        m.castShadow = true;
        m.receiveShadow = true;
      }
    });
  }

  /** The ground points the view reaches: its sample rays met with the ground's lowest and
   * highest planes (a ray meets the terrain between the two; the fit's box, convex, holds
   * the segment), or `maxDistance` along the ray for rays above the horizon. */
  visibleGround(): Vector3[] {
    const cam = this.viewer.camera;
    cam.updateMatrixWorld();
    const eye = cam.getWorldPosition(new Vector3());
    const out: Vector3[] = [];
    const levels = this.groundTop > this.groundY ? [this.groundY, this.groundTop] : [this.groundY];
    for (const level of levels) {
      const plane = new Plane(new Vector3(0, 1, 0), -level);
      for (const [x, y] of SAMPLES) {
        const p = new Vector3(x, y, 0.5).unproject(cam);
        const ray = new Ray(eye, p.sub(eye).normalize());
        const hit = ray.intersectPlane(plane, new Vector3());
        const far = hit && hit.distanceTo(eye) <= this.maxDistance ? hit : ray.at(this.maxDistance, new Vector3());
        far.y = level;
        out.push(far);
      }
      out.push(new Vector3(eye.x, level, eye.z));
    }
    return out;
  }

  update(): void {
    if (!this.light.visible) return;
    this.enableShadows();
    const ground = this.visibleGround();
    const pts = [...ground, ...ground.map((g) => g.clone().setY(g.y + this.casterHeight))];
    const centre = pts.reduce((a, b) => a.add(b), new Vector3()).multiplyScalar(1 / pts.length);
    const cam = this.light.shadow.camera;
    const span = pts.reduce((m, p) => Math.max(m, p.distanceTo(centre)), 0);
    this.light.position.copy(centre).addScaledVector(this.direction, span + 200);
    this.light.target.position.copy(centre);
    this.light.updateMatrixWorld();
    this.light.target.updateMatrixWorld();
    cam.position.copy(this.light.position);
    cam.lookAt(centre);
    cam.updateMatrixWorld();
    let [l, r, b, t, n, f] = [Infinity, -Infinity, Infinity, -Infinity, Infinity, -Infinity];
    for (const p of pts) {
      const q = p.clone().applyMatrix4(cam.matrixWorldInverse);
      l = Math.min(l, q.x);
      r = Math.max(r, q.x);
      b = Math.min(b, q.y);
      t = Math.max(t, q.y);
      n = Math.min(n, -q.z);
      f = Math.max(f, -q.z);
    }
    const pad = 2;
    Object.assign(cam, { left: l - pad, right: r + pad, bottom: b - pad, top: t + pad, near: Math.max(0.5, n - 50), far: f + 50 });
    cam.updateProjectionMatrix();
    this.lastFit = {
      left: cam.left,
      right: cam.right,
      top: cam.top,
      bottom: cam.bottom,
      near: cam.near,
      far: cam.far,
      ground: ground.map((g) => [g.x, g.y, g.z]),
    };
  }

  /** Are these local points inside the shadow camera's frustum (tests call it)? */
  covers(points: Array<[number, number, number]>): boolean {
    const cam = this.light.shadow.camera;
    return points.every(([x, y, z]) => {
      const q = new Vector3(x, y, z).applyMatrix4(cam.matrixWorldInverse);
      const ndc = new Vector2((2 * (q.x - cam.left)) / (cam.right - cam.left) - 1, (2 * (q.y - cam.bottom)) / (cam.top - cam.bottom) - 1);
      return Math.abs(ndc.x) <= 1 && Math.abs(ndc.y) <= 1 && -q.z >= cam.near && -q.z <= cam.far;
    });
  }

  dispose(): void {
    this.offFrame();
    this.viewer.scene.remove(this.light, this.light.target);
    this.light.dispose();
    for (const [l, i] of this.dimmed) l.intensity = i;
    this.viewer.renderer.shadowMap.enabled = false;
    this.viewer.invalidate(true);
  }
}
