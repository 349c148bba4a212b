/**
 * WebXR (immersive-vr): the Enter VR button, street-level placement, teleport and fly
 * locomotion, controller rays that pick features, and the attribute panel in the scene.
 * The tiles renderers get the XR camera every frame (see TwinViewer.updateTiles).
 */
import {
  BufferGeometry,
  CanvasTexture,
  Float32BufferAttribute,
  Group,
  Line,
  LineBasicMaterial,
  Mesh,
  MeshBasicMaterial,
  PlaneGeometry,
  Quaternion,
  Raycaster,
  SRGBColorSpace,
  Vector3,
  type XRTargetRaySpace,
} from 'three';
import { formatValue } from '../ui/Shell';
import type { PickResult, TwinViewer } from './TwinViewer';

export interface XRPanelContent {
  title: string;
  props: Record<string, unknown>;
}

export class XRController extends EventTarget {
  session: XRSession | null = null;
  supported = false;
  /** what the in-scene panel shows (tests read it) */
  panel: XRPanelContent | null = null;
  picks = 0;
  xrFrames = 0;
  onPick: (hit: PickResult | null) => void = () => undefined;
  private readonly controllers: XRTargetRaySpace[] = [];
  private readonly panelMesh: Mesh;
  private readonly panelCanvas = document.createElement('canvas');
  private readonly panelTexture: CanvasTexture;
  private readonly raycaster = new Raycaster();
  private saved: { pos: Vector3; target: Vector3 } | null = null;
  private readonly inputs = new Map<XRTargetRaySpace, XRInputSource>();

  constructor(
    private readonly viewer: TwinViewer,
    private readonly button: HTMLButtonElement,
  ) {
    super();
    this.panelCanvas.width = 512;
    this.panelCanvas.height = 384;
    this.panelTexture = new CanvasTexture(this.panelCanvas);
    this.panelTexture.colorSpace = SRGBColorSpace;
    this.panelMesh = new Mesh(
      new PlaneGeometry(0.8, 0.6),
      new MeshBasicMaterial({ map: this.panelTexture, transparent: true, depthTest: false }),
    );
    this.panelMesh.renderOrder = 1000;
    this.panelMesh.visible = false;
    this.panelMesh.name = 'xr-panel';
    viewer.rig.add(this.panelMesh);

    for (const i of [0, 1]) {
      const c = viewer.renderer.xr.getController(i);
      const ray = new Line(
        new BufferGeometry().setAttribute('position', new Float32BufferAttribute([0, 0, 0, 0, 0, -30], 3)),
        new LineBasicMaterial({ color: '#ffe14d' }),
      );
      ray.name = 'ray';
      c.add(ray);
      c.addEventListener('connected', (e: { data?: XRInputSource }) => {
        if (e.data) this.inputs.set(c, e.data);
      });
      c.addEventListener('disconnected', () => this.inputs.delete(c));
      c.addEventListener('select', () => this.select(c));
      c.addEventListener('squeeze', () => this.teleport(c));
      viewer.rig.add(c);
      this.controllers.push(c);
    }
    viewer.onBeforeRender((dt) => this.locomotion(dt));
    button.addEventListener('click', () => void (this.session ? this.session.end() : this.enter()));
    void this.detect();
  }

  async detect(): Promise<boolean> {
    try {
      this.supported = !!navigator.xr && (await navigator.xr.isSessionSupported('immersive-vr'));
    } catch {
      this.supported = false;
    }
    this.button.hidden = !this.supported;
    return this.supported;
  }

  /** Start an immersive-vr session, standing at street level where the view looks. */
  async enter(): Promise<void> {
    if (!navigator.xr) throw new Error('WebXR is not available in this browser');
    const session = await navigator.xr.requestSession('immersive-vr', {
      optionalFeatures: ['local-floor', 'bounded-floor'],
    });
    const v = this.viewer;
    this.saved = { pos: v.camera.position.clone(), target: v.controls.target.clone() };
    v.controls.enabled = false;
    // stand on the ground under the point the view looked at
    const t = v.controls.target;
    v.rig.position.set(t.x, 0, t.z);
    v.camera.position.set(0, 1.6, 0);
    v.camera.near = 0.05; // hands, the panel and the ray are within a metre
    v.camera.updateProjectionMatrix();
    await v.renderer.xr.setSession(session);
    this.session = session;
    this.button.textContent = 'Exit VR';
    document.body.classList.add('in-xr');
    session.addEventListener('end', () => this.exited());
    this.dispatchEvent(new Event('start'));
  }

  private exited(): void {
    const v = this.viewer;
    this.session = null;
    this.button.textContent = 'Enter VR';
    document.body.classList.remove('in-xr');
    v.rig.position.set(0, 0, 0);
    v.rig.quaternion.identity();
    if (this.saved) v.lookAt(this.saved.pos, this.saved.target);
    v.controls.enabled = true;
    v.resize();
    this.dispatchEvent(new Event('end'));
  }

  /** Stand at a local point (teleport), at street level. */
  standAt(p: Vector3): void {
    this.viewer.rig.position.set(p.x, p.y, p.z);
    this.viewer.invalidate();
  }

  rayOf(c: XRTargetRaySpace): Raycaster {
    this.raycaster.setFromXRController(c);
    return this.raycaster;
  }

  private select(c: XRTargetRaySpace): void {
    const hit = this.viewer.pickRay(this.rayOf(c), (o) => o.name !== 'ray' && o.name !== 'xr-panel');
    this.picks++;
    if (hit && !hit.feature && hit.object.userData.ground) {
      this.standAt(hit.point);
      return;
    }
    this.onPick(hit);
  }

  private teleport(c: XRTargetRaySpace): void {
    const hit = this.viewer.pickRay(this.rayOf(c), (o) => o.name !== 'ray' && o.name !== 'xr-panel');
    if (hit) this.standAt(hit.point);
  }

  /** Thumbsticks: right stick walks/strafes where the head looks, left stick flies up/down. */
  private locomotion(dt: number): void {
    if (!this.session) return;
    this.xrFrames++;
    const { dir: fwd } = this.head();
    fwd.y = 0;
    if (fwd.lengthSq() < 1e-6) fwd.set(0, 0, -1);
    fwd.normalize();
    const right = new Vector3(-fwd.z, 0, fwd.x);
    for (const [, src] of this.inputs) {
      const axes = src.gamepad?.axes;
      if (!axes || axes.length < 4) continue;
      const speed = 6; // m/s, a brisk cycling pace
      if (src.handedness === 'left') {
        this.viewer.rig.position.y -= axes[3] * speed * dt;
      } else {
        this.viewer.rig.position.addScaledVector(fwd, -axes[3] * speed * dt);
        this.viewer.rig.position.addScaledVector(right, axes[2] * speed * dt);
      }
    }
  }

  /** Show attributes on a panel floating in front of the user. */
  showPanel(content: XRPanelContent | null): void {
    this.panel = content;
    if (!content) {
      this.panelMesh.visible = false;
      return;
    }
    const ctx = this.panelCanvas.getContext('2d')!;
    const W = this.panelCanvas.width;
    const H = this.panelCanvas.height;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = 'rgba(18, 24, 33, 0.88)';
    ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = '#ffe14d';
    ctx.font = 'bold 30px sans-serif';
    ctx.fillText(content.title, 20, 42);
    ctx.font = '22px sans-serif';
    let y = 84;
    for (const [k, val] of Object.entries(content.props)) {
      if (val === null || val === undefined || val === '' || y > H - 12) continue;
      ctx.fillStyle = '#9fb3c8';
      ctx.fillText(k.replace(/_/g, ' '), 20, y);
      ctx.fillStyle = '#ffffff';
      ctx.fillText(formatValue(val), 230, y);
      y += 30;
    }
    this.panelTexture.needsUpdate = true;
    // in front of the head, slightly below eye level, facing the user
    const { pos: headPos, dir } = this.head();
    dir.y = 0;
    if (dir.lengthSq() < 1e-6) dir.set(0, 0, -1);
    dir.normalize();
    const world = headPos.clone().addScaledVector(dir, 1.3).add(new Vector3(0, -0.25, 0));
    this.panelMesh.position.copy(this.viewer.rig.worldToLocal(world));
    this.panelMesh.lookAt(headPos);
    this.panelMesh.visible = true;
    this.viewer.invalidate();
  }

  /**
   * The head's world pose. The XR camera has no parent: three.js writes its matrixWorld
   * (rig included) each frame, and getWorldPosition() would recompute it without the rig.
   */
  head(): { pos: Vector3; dir: Vector3 } {
    const m = this.viewer.renderer.xr.getCamera().matrixWorld;
    const pos = new Vector3().setFromMatrixPosition(m);
    const q = new Quaternion().setFromRotationMatrix(m);
    return { pos, dir: new Vector3(0, 0, -1).applyQuaternion(q).normalize() };
  }

  get controllerObjects(): Group[] {
    return this.controllers;
  }
}
