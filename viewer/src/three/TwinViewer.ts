/**
 * The three.js / WebXR binding: renderer, camera rig, controls, tilesets, ground, picking and
 * the render loop. Everything is drawn in a local y-up metric frame (x east, y up, z south)
 * centred on the district, so float32 geometry is precise and WebXR's floor is the street.
 */
import {
  AmbientLight,
  Color,
  DirectionalLight,
  Group,
  HemisphereLight,
  Matrix4,
  type Object3D,
  PerspectiveCamera,
  Raycaster,
  Scene,
  SRGBColorSpace,
  Vector2,
  Vector3,
  WebGLRenderer,
} from 'three';
import { MapControls } from 'three/examples/jsm/controls/MapControls.js';
import { ecefToGeodetic, LocalFrame, type Vec3 } from '../core/Geodesy';
import { adaptDetailScale, adaptPixelRatio, cacheLimits, motionErrorTarget } from '../core/StreamingPolicy';
import { featureAt, type PickedFeature } from './FeatureData';
import { TilesetLayer, type TilesetLayerOptions } from './TilesetLayer';

export interface PickResult {
  point: Vector3; // local frame
  feature: PickedFeature | null;
  layer: string | null;
  object: Object3D;
}

export type CompareMode = 'off' | 'swipe' | 'side';

export interface CompareState {
  mode: CompareMode;
  /** 0..1 position of the swipe line or the split */
  split: number;
  left: string[];
  right: string[];
}

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
  /** smoothed camera speed (m/s in the local frame): raises the error target while moving */
  private speed = 0;
  private readonly lastEye = new Vector3();
  /** frame-time feedback on the error target while moving (StreamingPolicy.adaptDetailScale) */
  detailScale = 1;
  private animation: { from: Vector3; to: Vector3; tFrom: Vector3; tTo: Vector3; t0: number; ms: number } | null = null;

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

    this.scene.background = new Color('#cfe3f3');
    this.camera = new PerspectiveCamera(55, 1, 0.1, 30000);
    this.camera.position.set(0, 300, 400);
    this.rig.add(this.camera);
    this.scene.add(this.rig, this.ecefRoot, this.overlay);
    this.ecefRoot.matrixAutoUpdate = false;

    const hemi = new HemisphereLight('#ffffff', '#8d8a80', 1.6);
    const sun = new DirectionalLight('#fff6e5', 1.8);
    sun.position.set(-300, 600, 200);
    this.scene.add(hemi, sun, new AmbientLight('#ffffff', 0.25));

    this.controls = new MapControls(this.camera, this.renderer.domElement);
    this.controls.enableDamping = true;
    this.controls.dampingFactor = 0.12;
    this.controls.screenSpacePanning = false;
    this.controls.maxDistance = 8000;
    this.controls.minDistance = 2;
    this.controls.maxPolarAngle = Math.PI * 0.92; // may look up from below (underground)
    this.controls.listenToKeyEvents(this.renderer.domElement as unknown as HTMLElement); // keys when the view has focus, not while typing
    this.controls.keyPanSpeed = 25;
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
    this.camera.getWorldPosition(this.lastEye);
    this.speed = 0;
    this.detailScale = 1;
  }

  lookAt(position: Vector3, target: Vector3, animate = false): void {
    if (animate) {
      this.animation = {
        from: this.camera.position.clone(),
        to: position.clone(),
        tFrom: this.controls.target.clone(),
        tTo: target.clone(),
        t0: performance.now(),
        ms: 700,
      };
    } else {
      this.animation = null;
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
    raycaster.params.Line = { threshold: 0.6 };
    this.scene.updateMatrixWorld();
    const targets: Object3D[] = [];
    for (const l of this.layers.values()) if (l.tiles.group.visible) targets.push(l.tiles.group);
    for (const c of this.overlay.children) if (c.visible && c.userData.pickable) targets.push(c);
    const hits = raycaster.intersectObjects(targets, true);
    for (const hit of hits) {
      if (filter && !filter(hit.object)) continue;
      if (!isVisible(hit.object)) continue;
      const feature = featureAt(hit);
      // a translucent ground lets the ray through to what lies below (underground mode)
      const mat = (hit.object as { material?: { transparent?: boolean; opacity?: number } }).material;
      if (!feature && mat?.transparent && (mat.opacity ?? 1) < 0.99 && hit !== hits[hits.length - 1]) continue;
      const layer = this.layerOf(hit.object);
      if (feature && layer) {
        const l = this.layers.get(layer);
        if (l && !l.style.isShown(feature.props)) continue; // filtered out
      }
      if (!feature && (hit.object as { material?: { opacity?: number } }).material?.opacity === 0) continue;
      return { point: hit.point.clone(), feature, layer, object: hit.object };
    }
    return null;
  }

  layerOf(o: Object3D): string | null {
    let cur: Object3D | null = o;
    while (cur) {
      if (cur.name.startsWith('tileset:')) return cur.name.slice('tileset:'.length);
      cur = cur.parent;
    }
    return null;
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
    if (this.animation) {
      const a = this.animation;
      const k = Math.min(1, (performance.now() - a.t0) / a.ms);
      const e = k < 0.5 ? 2 * k * k : 1 - (-2 * k + 2) ** 2 / 2;
      this.camera.position.lerpVectors(a.from, a.to, e);
      this.controls.target.lerpVectors(a.tFrom, a.tTo, e);
      if (k >= 1) this.animation = null;
      this.invalidate(true);
    }
    for (const fn of this.beforeRender) fn(dt);
    if (!xr && this.controls.enabled) this.controls.update(dt);
    const loading = [...this.layers.values()].some((l) => l.tiles.loadProgress < 1 && !l.failed);
    if (!xr) this.adaptResolution(performance.now());
    this.adaptErrorTargets(dt, xr);
    if (!this.dirty && !xr && !loading && this.frames > 0) return;
    this.scene.updateMatrixWorld();
    this.updateTiles(xr);
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
    if (this.firstFrameAt !== null && this.completeAt === null && !loading && this.atRest()) this.completeAt = performance.now();
    this.dispatchEvent(new Event('frame'));
  }

  /** Less detail while the view slides fast (StreamingPolicy.motionErrorTarget). */
  private adaptErrorTargets(dt: number, xr: boolean): void {
    const eye = this.camera.getWorldPosition(new Vector3());
    const moved = this.frames > 0 && dt > 0 ? eye.distanceTo(this.lastEye) / dt : 0;
    this.lastEye.copy(eye);
    this.speed = xr ? 0 : 0.7 * this.speed + 0.3 * moved;
    if (this.speed < 0.5) this.speed = 0;
    this.detailScale = adaptDetailScale(this.detailScale, this.frameMs, this.speed > 0);
    for (const l of this.layers.values()) {
      const target = motionErrorTarget(l.restErrorTarget, this.speed, eye.y) * this.detailScale;
      if (target !== l.tiles.errorTarget) l.tiles.errorTarget = target;
      if (target !== l.restErrorTarget) this.dirty = true; // keep going until back at rest
    }
  }

  /** Every layer at its resting error target (nothing raised for motion or slow frames). */
  private atRest(): boolean {
    for (const l of this.layers.values()) if (l.tiles.errorTarget !== l.restErrorTarget) return false;
    return true;
  }

  private updateTiles(xr: boolean): void {
    const xrCam = this.renderer.xr.getCamera();
    if (xr) this.renderer.xr.updateCamera(this.camera);
    for (const l of this.layers.values()) {
      const t = l.tiles;
      if (xr) {
        if (!t.hasCamera(xrCam)) {
          t.deleteCamera(this.camera);
          t.setCamera(xrCam);
        }
        const left = xrCam.cameras[0];
        if (left) t.setResolution(xrCam, left.viewport.z, left.viewport.w);
      } else if (!t.hasCamera(this.camera)) {
        t.deleteCamera(xrCam);
        t.setCamera(this.camera);
        t.setResolutionFromRenderer(this.camera, this.renderer);
      }
      if (t.group.visible || this.compareUses(l.name)) t.update();
    }
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
    const size = r.getSize(new Vector2());
    const split = Math.round(size.x * c.split);
    const saved = new Map([...this.layers].map(([n, l]) => [n, l.tiles.group.visible]));
    const show = (names: string[], other: string[]) => {
      for (const n of other) this.layers.get(n)?.setVisible(false);
      for (const n of names) this.layers.get(n)?.setVisible(true);
    };
    r.setScissorTest(true);
    if (c.mode === 'swipe') {
      show(c.left, c.right);
      r.setViewport(0, 0, size.x, size.y);
      r.setScissor(0, 0, split, size.y);
      r.render(this.scene, this.camera);
      show(c.right, c.left);
      r.setScissor(split, 0, size.x - split, size.y);
      r.render(this.scene, this.camera);
    } else {
      const half = Math.floor(size.x / 2);
      show(c.left, c.right);
      r.setViewport(0, 0, half, size.y);
      r.setScissor(0, 0, half, size.y);
      r.render(this.scene, this.camera);
      show(c.right, c.left);
      r.setViewport(half, 0, size.x - half, size.y);
      r.setScissor(half, 0, size.x - half, size.y);
      r.render(this.scene, this.camera);
      r.setViewport(0, 0, size.x, size.y);
    }
    r.setScissorTest(false);
    for (const [n, v] of saved) this.layers.get(n)?.setVisible(v);
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

/** True when WebGL runs on a software rasteriser (SwiftShader, llvmpipe). */
export function isSoftwareGL(): boolean {
  try {
    const gl = document.createElement('canvas').getContext('webgl2');
    if (!gl) return true;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    const name = String(ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return /swiftshader|llvmpipe|softpipe|software/i.test(name);
  } catch {
    return false;
  }
}

function isVisible(o: Object3D): boolean {
  let cur: Object3D | null = o;
  while (cur) {
    if (!cur.visible) return false;
    cur = cur.parent;
  }
  return true;
}

export const IDENTITY = new Matrix4();
