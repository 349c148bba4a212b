/**
 * The three.js / WebXR binding: renderer, camera rig, tilesets and the render loop, which draws
 * only when something changed. Everything is drawn in a local y-up metric frame (x east, y up,
 * z south) centred on the district, so float32 geometry is precise and WebXR's floor is the
 * street. Its parts live beside it: picking (Picking), comparison drawing (CompareRender),
 * motion-dependent detail (MotionDetail), XR tile cameras (XrTiles), camera flights
 * (CameraFlight), lights and controls (SceneSetup).
 */
import {
  Group,
  Matrix4,
  type Object3D,
  PerspectiveCamera,
  Plane,
  type Ray,
  Raycaster,
  Scene,
  SRGBColorSpace,
  Vector2,
  Vector3,
  WebGLRenderer,
} from 'three';
import type { MapControls } from 'three/examples/jsm/controls/MapControls.js';
import { ecefToGeodetic, LocalFrame, type Vec3 } from '../core/Geodesy';
import { adaptPixelRatio, cacheLimits } from '../core/StreamingPolicy';
import type { Terrain } from '../core/Terrain';
import { CameraFlight } from './CameraFlight';
import { type CompareState, renderCompare } from './CompareRender';
import { isSoftwareGL } from './gl';
import { atRest, MotionDetail } from './MotionDetail';
import { addSkyAndLights, mapControls } from './SceneSetup';
import { layerOf, pickAmong, type PickResult } from './Picking';
import { TilesetLayer, type TilesetLayerOptions } from './TilesetLayer';
import { updateTiles } from './XrTiles';

export type { CompareMode, CompareState } from './CompareRender';
export { isSoftwareGL } from './gl';
export type { PickResult } from './Picking';

export class TwinViewer extends EventTarget {
  readonly renderer: WebGLRenderer;
  readonly scene = new Scene();
  readonly camera: PerspectiveCamera;
  /** parent of the camera: moved for XR locomotion */
  readonly rig = new Group();
  /** ECEF content (tilesets) goes here; its matrix is ECEF -> local */
  readonly ecefRoot = new Group();
  /** local-frame overlays (ground, measurements, markers) */
  readonly overlay = new Group();
  readonly controls: MapControls;
  readonly layers = new Map<string, TilesetLayer>();
  frame: LocalFrame | null = null;
  /** the twin's terrain (`/api/terrain`), or null: the ground is then flat at the frame's height */
  terrain: Terrain | null = null;
  compare: CompareState = { mode: 'off', split: 0.5, left: [], right: [] };
  /** frames drawn (tests and bench read it) */
  frames = 0;
  firstFrameAt: number | null = null;
  /** when every tile of the first view was loaded and drawn (performance.now()) */
  completeAt: number | null = null;
  private dirty = true;
  /** the camera or the scene changed by the user: draw now even while loading */
  private dirtyByUser = true;
  private lastRender = 0;
  /** how long the last draw took (ms): while loading, draws are spaced by a multiple of it */
  renderMs = 0;
  readonly softwareGL: boolean;
  /** full-quality pixel ratio; lowered while the camera moves if frames are slow */
  readonly baseRatio: number;
  private lastUserChange = 0;
  /** smoothed time between animation frames (ms): what the GPU really takes */
  frameMs = 16;
  private readonly raycaster = new Raycaster();
  private readonly resizeObserver: ResizeObserver;
  private readonly beforeRender = new Set<(dt: number) => void>();
  private last = performance.now();
  /** raises the error target while the view slides fast (see MotionDetail) */
  private readonly motion = new MotionDetail();
  private flight: CameraFlight | null = null;

  constructor(readonly container: HTMLElement) {
    super();
    // a software GL (no GPU, or a blocked driver) gets no MSAA and one pixel per CSS pixel:
    // the view stays usable instead of drawing one frame a second
    this.softwareGL = isSoftwareGL();
    this.renderer = new WebGLRenderer({ antialias: !this.softwareGL, logarithmicDepthBuffer: !this.softwareGL });
    this.baseRatio = this.softwareGL ? 1 : Math.min(window.devicePixelRatio, 2);
    this.renderer.setPixelRatio(this.baseRatio);
    this.renderer.outputColorSpace = SRGBColorSpace;
    this.renderer.xr.enabled = true;
    this.renderer.xr.setReferenceSpaceType('local-floor');
    container.appendChild(this.renderer.domElement);
    this.renderer.domElement.classList.add('twin-canvas');
    this.renderer.domElement.tabIndex = 0;

    addSkyAndLights(this.scene);
    this.camera = new PerspectiveCamera(55, 1, 0.1, 30000);
    this.camera.position.set(0, 300, 400);
    this.rig.add(this.camera);
    this.scene.add(this.rig, this.ecefRoot, this.overlay);
    this.ecefRoot.matrixAutoUpdate = false;

    this.controls = mapControls(this.camera, this.renderer.domElement);
    this.controls.addEventListener('change', () => this.invalidate(true));

    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
    this.resize();
    this.renderer.setAnimationLoop((t, xrFrame) => this.loop(t, xrFrame));
  }

  /** Ask for a redraw (the loop renders only when something changed). */
  invalidate(byUser = false): void {
    this.dirty = true;
    if (byUser) {
      this.dirtyByUser = true;
      this.lastUserChange = performance.now();
    }
  }

  /**
   * Adaptive resolution: while the camera moves and frames miss 30 fps, draw fewer pixels
   * (StreamingPolicy.adaptPixelRatio); when it stops, draw once more at full resolution.
   */
  private adaptResolution(now: number): void {
    const ratio = this.renderer.getPixelRatio();
    const moving = now - this.lastUserChange < 300;
    const next = adaptPixelRatio(ratio, this.baseRatio, this.frameMs, moving);
    if (Math.abs(next - ratio) < 1e-3) return;
    this.renderer.setPixelRatio(next);
    const size = this.renderer.getSize(new Vector2());
    this.renderer.setSize(size.x, size.y, false);
    this.updateAspect();
    this.dirty = true;
  }

  onBeforeRender(fn: (dt: number) => void): () => void {
    this.beforeRender.add(fn);
    return () => this.beforeRender.delete(fn);
  }

  setFrame(frame: LocalFrame): void {
    this.frame = frame;
    this.ecefRoot.matrix.fromArray(frame.toLocal);
    this.ecefRoot.matrixWorldNeedsUpdate = true;
    this.invalidate(true);
  }

  /** Local frame point -> [lon, lat, ellipsoidal height]. */
  geodetic(p: Vector3): Vec3 {
    if (!this.frame) throw new Error('no frame yet');
    return this.frame.localToGeodetic([p.x, p.y, p.z]);
  }

  local(lon: number, lat: number, h: number): Vector3 {
    if (!this.frame) throw new Error('no frame yet');
    return new Vector3(...this.frame.geodeticToLocal(lon, lat, h));
  }

  /** Ellipsoidal height of the ground at lon/lat: the terrain's, else the frame's. */
  groundHeight(lon: number, lat: number): number {
    if (!this.frame) throw new Error('no frame yet');
    return this.terrain?.heightAt(lon, lat) ?? this.frame.height;
  }

  /** The local point on the ground at lon/lat, `lift` metres above it. */
  onGround(lon: number, lat: number, lift = 0): Vector3 {
    return this.local(lon, lat, this.groundHeight(lon, lat) + lift);
  }

  /** Local height (y) of the ground under the local point (x, z). */
  groundY(x: number, z: number): number {
    if (!this.frame) throw new Error('no frame yet');
    if (!this.terrain) return 0;
    const [lon, lat] = this.frame.localToGeodetic([x, 0, z]);
    return this.onGround(lon, lat).y;
  }

  /** Where a ray meets the ground (the terrain, else the plane y = 0), or null when it
   * never does. Fixed-point on the terrain's heights: meet the plane at the ground's height
   * under the last point, a few times (exact on flat ground, centimetres on a city's slopes). */
  groundAlong(ray: Ray): Vector3 | null {
    const plane = new Plane(new Vector3(0, 1, 0), 0);
    let hit = ray.intersectPlane(plane, new Vector3());
    for (let i = 0; hit && this.terrain && i < 4; i++) {
      plane.constant = -this.groundY(hit.x, hit.z);
      hit = ray.intersectPlane(plane, new Vector3()) ?? hit;
    }
    return hit;
  }

  addTileset(opts: TilesetLayerOptions): TilesetLayer {
    this.removeTileset(opts.name);
    const memory = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
    const layer = new TilesetLayer({ cache: cacheLimits(memory, this.softwareGL), parseJobs: this.softwareGL ? 2 : 4, ...opts });
    layer.tiles.setCamera(this.camera);
    layer.tiles.setResolutionFromRenderer(this.camera, this.renderer);
    for (const ev of ['needs-update', 'load-model', 'tiles-load-end', 'load-root-tileset', 'dispose-model']) {
      layer.tiles.addEventListener(ev, () => this.invalidate());
    }
    layer.tiles.addEventListener('load-error', (e: { error: Error; url: string | URL }) => {
      this.dispatchEvent(new CustomEvent('tile-error', { detail: { layer: opts.name, error: e.error, url: String(e.url) } }));
    });
    this.ecefRoot.add(layer.tiles.group);
    this.layers.set(opts.name, layer);
    this.invalidate();
    return layer;
  }

  removeTileset(name: string): void {
    const l = this.layers.get(name);
    if (!l) return;
    l.dispose();
    this.layers.delete(name);
    this.invalidate();
  }

  /** 0..1 over all layers still loading, 1 when idle. */
  loadProgress(): number {
    let sum = 0;
    let n = 0;
    for (const l of this.layers.values()) {
      if (l.failed || !l.tiles.group.visible) continue;
      sum += l.tiles.loadProgress;
      n++;
    }
    return n ? sum / n : 1;
  }

  /** Centre the local frame on a layer's bounding volume, at its lowest point. */
  frameFromLayer(layer: TilesetLayer): LocalFrame | null {
    const corners = layer.corners();
    if (!corners.length) return null;
    const c = corners.reduce((a, b) => a.add(b), new Vector3()).multiplyScalar(1 / corners.length);
    const [lon, lat] = ecefToGeodetic(c.x, c.y, c.z);
    const hmin = Math.min(...corners.map((p) => ecefToGeodetic(p.x, p.y, p.z)[2]));
    return new LocalFrame(lon, lat, hmin);
  }

  /** Horizontal radius of a layer in the local frame (metres). */
  layerRadius(layer: TilesetLayer): number {
    if (!this.frame) return 300;
    const pts = layer.corners().map((p) => this.frame!.ecefToLocal([p.x, p.y, p.z]));
    return Math.max(50, ...pts.map((p) => Math.hypot(p[0], p[2])));
  }

  /** An oblique overview of a region of radius r around a local point (not animated: a cut). */
  overview(target = new Vector3(), r = 300, animate = false): void {
    const pos = target.clone().add(new Vector3(-0.35 * r, 0.95 * r, 1.1 * r));
    this.lookAt(pos, target, animate);
    if (!animate) this.cut();
  }

  /**
   * The view cut to where the camera now is: no motion was seen on the way, so the next frame
   * starts at rest (full detail, no speed carried over). Without it a jump of kilometres reads
   * as a fast flight and the first view loads and completes at a raised error target.
   */
  cut(): void {
    this.motion.cut(this.camera.getWorldPosition(new Vector3()));
  }

  /** frame-time feedback on the error target while moving (StreamingPolicy.adaptDetailScale) */
  get detailScale(): number {
    return this.motion.detailScale;
  }

  lookAt(position: Vector3, target: Vector3, animate = false): void {
    if (animate) {
      this.flight = new CameraFlight(this.camera.position.clone(), position.clone(), this.controls.target.clone(), target.clone());
    } else {
      this.flight = null;
      this.camera.position.copy(position);
      this.controls.target.copy(target);
      this.controls.update();
    }
    this.invalidate(true);
  }

  /** Move the camera towards (factor < 1) or away from (factor > 1) what it looks at. */
  zoom(factor: number): void {
    const t = this.controls.target;
    const d = this.camera.position.clone().sub(t).multiplyScalar(factor);
    const len = Math.min(this.controls.maxDistance, Math.max(this.controls.minDistance, d.length()));
    this.camera.position.copy(t).add(d.setLength(len));
    this.controls.update();
    this.invalidate(true);
  }

  /** Raycast at normalised device coordinates, or along a given ray. */
  pick(ndc: Vector2, filter?: (o: Object3D) => boolean): PickResult | null {
    this.raycaster.setFromCamera(ndc, this.camera);
    return this.pickRay(this.raycaster, filter);
  }

  pickRay(raycaster: Raycaster, filter?: (o: Object3D) => boolean): PickResult | null {
    return pickAmong(raycaster, this.scene, this.layers, this.overlay, filter);
  }

  layerOf(o: Object3D): string | null {
    return layerOf(o);
  }

  /** Ellipsoidal height of the camera (the viewer's eye in XR). */
  cameraGeodetic(): Vec3 {
    const p = new Vector3();
    if (this.renderer.xr.isPresenting) p.setFromMatrixPosition(this.renderer.xr.getCamera().matrixWorld);
    else this.camera.getWorldPosition(p);
    return this.geodetic(p);
  }

  resize(): void {
    const w = Math.max(1, this.container.clientWidth);
    const h = Math.max(1, this.container.clientHeight);
    if (this.renderer.xr.isPresenting) return;
    this.renderer.setSize(w, h, false);
    this.renderer.domElement.style.width = `${w}px`;
    this.renderer.domElement.style.height = `${h}px`;
    this.updateAspect();
    this.invalidate(true);
  }

  private updateAspect(): void {
    const size = this.renderer.getSize(new Vector2());
    const side = this.compare.mode === 'side';
    this.camera.aspect = (side ? size.x / 2 : size.x) / size.y;
    this.camera.updateProjectionMatrix();
    for (const l of this.layers.values()) {
      if (side) l.tiles.setResolution(this.camera, size.x / 2, size.y);
      else l.tiles.setResolutionFromRenderer(this.camera, this.renderer);
    }
  }

  setCompare(state: Partial<CompareState>): void {
    const wasSide = this.compare.mode === 'side';
    this.compare = { ...this.compare, ...state };
    if (wasSide !== (this.compare.mode === 'side')) this.updateAspect();
    this.invalidate(true);
  }

  private loop(t: number, _xrFrame?: XRFrame): void {
    const dt = Math.min(0.1, (t - this.last) / 1000);
    if (this.frames > 0) this.frameMs = 0.8 * this.frameMs + 0.2 * Math.min(1000, t - this.last);
    this.last = t;
    const xr = this.renderer.xr.isPresenting;
    if (this.flight) {
      if (this.flight.step(this.camera.position, this.controls.target)) this.flight = null;
      this.invalidate(true);
    }
    for (const fn of this.beforeRender) fn(dt);
    if (!xr && this.controls.enabled) this.controls.update(dt);
    const loading = [...this.layers.values()].some((l) => l.tiles.loadProgress < 1 && !l.failed);
    if (!xr) this.adaptResolution(performance.now());
    const eye = this.camera.getWorldPosition(new Vector3());
    if (this.motion.update(eye, dt, this.frames === 0, xr, this.frameMs, this.layers.values())) this.dirty = true;
    if (!this.dirty && !xr && !loading && this.frames > 0) return;
    this.scene.updateMatrixWorld();
    updateTiles(this.renderer, this.camera, this.layers.values(), xr, (name) => this.compareUses(name));
    // while tiles stream in and nothing moves, draw a few times a second only: on a slow
    // GPU (or a software one) drawing every frame would starve parsing
    const now = performance.now();
    if (!xr && loading && !this.dirtyByUser && now - this.lastRender < Math.max(250, this.renderMs * 5)) return;
    this.dirty = false;
    this.dirtyByUser = false;
    this.lastRender = now;
    this.adaptNear(xr);
    this.render(xr);
    this.renderMs = performance.now() - now;
    this.frames++;
    if (this.firstFrameAt === null && [...this.layers.values()].some((l) => l.tiles.group.children.length > 0 && l.tiles.visibleTiles.size > 0)) {
      this.firstFrameAt = performance.now();
    }
    // complete: every tile of the view drawn at the resting error target (a view completed
    // while the target was raised would refine once more when the camera settles)
    if (this.firstFrameAt !== null && this.completeAt === null && !loading && atRest(this.layers.values())) this.completeAt = performance.now();
    this.dispatchEvent(new Event('frame'));
  }

  private compareUses(name: string): boolean {
    return this.compare.mode !== 'off' && (this.compare.left.includes(name) || this.compare.right.includes(name));
  }

  /** Draw now, in this task (tests read the canvas right after). */
  renderNow(): void {
    this.scene.updateMatrixWorld();
    this.adaptNear(this.renderer.xr.isPresenting);
    this.render(this.renderer.xr.isPresenting);
  }

  /** Without a logarithmic depth buffer, keep the near plane as far as the view allows. */
  private adaptNear(xr: boolean): void {
    if (!this.softwareGL || xr) return;
    const d = this.camera.position.distanceTo(this.controls.target);
    const near = Math.min(5, Math.max(0.1, d * 0.004));
    if (Math.abs(near - this.camera.near) > 1e-3) {
      this.camera.near = near;
      this.camera.updateProjectionMatrix();
    }
  }

  private render(xr: boolean): void {
    const r = this.renderer;
    const c = this.compare;
    if (xr || c.mode === 'off') {
      r.setScissorTest(false);
      r.render(this.scene, this.camera);
      return;
    }
    renderCompare(r, this.scene, this.camera, this.layers, c);
  }

  /** What the last frame drew (the bench reads it; draw calls are what SwiftShader pays for). */
  drawStats(): { calls: number; triangles: number; visible_tiles: number; cached_bytes: number; detail_scale: number } {
    let visible = 0;
    let cached = 0;
    for (const l of this.layers.values()) {
      visible += l.tiles.visibleTiles.size;
      cached = Math.max(cached, (l.tiles.lruCache as unknown as { cachedBytes: number }).cachedBytes);
    }
    const r = this.renderer.info.render;
    return { calls: r.calls, triangles: r.triangles, visible_tiles: visible, cached_bytes: cached, detail_scale: this.detailScale };
  }

  dispose(): void {
    this.renderer.setAnimationLoop(null);
    this.resizeObserver.disconnect();
    for (const name of [...this.layers.keys()]) this.removeTileset(name);
    this.controls.dispose();
    this.renderer.dispose();
  }
}

export const IDENTITY = new Matrix4();
