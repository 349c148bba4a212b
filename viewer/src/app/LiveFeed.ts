/**
 * What the Live and Operations modes share: the registry's devices, their live values from
 * `/ws/live`, the open alerts, and the pins in the 3D view. Live follows the camera's
 * footprint (a new `subscribe` with its bbox when the view moved, at most one a second and
 * always the last one); Operations follows every device. Alerts come from `GET /api/alerts`
 * at start and from the feed's `alert` messages after.
 *
 * Events: `change` (detail: the ids of the devices that changed, or null for all), `status`.
 */
import { Raycaster, Vector3 } from 'three';
import { ApiError } from '../core/ApiClient';
import { LiveClient, liveUrl, type LiveStatus } from '../core/LiveClient';
import { type Alert, type BBox, type DeviceDoc, type DeviceState, footprintMoved, type LiveItem, LiveState, present } from '../core/LiveState';
import { viewFootprint } from '../three/Footprint';
import { LiveMarkers, type Pin } from '../three/LiveMarkers';
import type { AppContext } from './AppContext';

const SUBSCRIBE_EVERY_MS = 1000;

export class LiveFeed extends EventTarget {
  readonly state = new LiveState();
  readonly markers = new LiveMarkers();
  readonly client: LiveClient;
  footprint: BBox | null = null;
  /** false when the server has no alerts API (an older twin) */
  alertsAvailable = true;
  /** which device types are drawn (all when empty) */
  hiddenTypes = new Set<string>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private unhookFrame: (() => void) | null = null;
  private lastSubscribe = 0;
  private readonly surface = new Map<string, number>();
  private readonly names = new Map<string, Promise<string | null>>();

  constructor(
    private readonly ctx: AppContext,
    private readonly follow: 'view' | 'all',
  ) {
    super();
    this.client = new LiveClient(liveUrl(ctx.api.baseUrl), () => ctx.session.token);
    this.client.addEventListener('snapshot', (e) => this.onItems((e as CustomEvent<LiveItem[]>).detail, true));
    this.client.addEventListener('delta', (e) => this.onItems((e as CustomEvent<LiveItem[]>).detail, false));
    this.client.addEventListener('alert', (e) => {
      const a = (e as CustomEvent<Alert>).detail;
      this.state.applyAlert(a);
      this.refreshPins([a.device_id]);
      this.emit([a.device_id]);
    });
    this.client.addEventListener('status', (e) => this.dispatchEvent(new CustomEvent('status', { detail: (e as CustomEvent<LiveStatus>).detail })));
    this.client.addEventListener('error', (e) => ctx.shell.message(`Live feed: ${(e as CustomEvent<string>).detail}`, 'warning'));
  }

  async start(): Promise<void> {
    const { viewer } = this.ctx;
    viewer.overlay.add(this.markers.group);
    this.unhookFrame = viewer.onBeforeRender(() => {
      if (this.markers.fitDistance(viewer.camera.position.distanceTo(viewer.controls.target))) viewer.invalidate();
    });
    await Promise.all([this.loadRegistry(), this.loadAlerts()]);
    this.refreshPins(null);
    this.client.start(this.subscription());
    this.lastSubscribe = performance.now();
    if (this.follow === 'view') this.timer = setInterval(() => this.followView(), 400);
  }

  /** The account changed: what it may see changed, so everything is fetched again. */
  async restart(): Promise<void> {
    await Promise.all([this.loadRegistry(), this.loadAlerts()]);
    this.refreshPins(null);
    this.client.restart();
    this.emit(null);
  }

  async loadRegistry(): Promise<void> {
    const { devices } = await this.ctx.api.json<{ devices: DeviceDoc[] }>('/api/devices');
    this.state.setRegistry(devices);
  }

  /** The alerts not yet resolved: open and acknowledged ones (up to 1000 of each). */
  async loadAlerts(): Promise<void> {
    try {
      const [open, acked] = await Promise.all(
        ['open', 'acknowledged'].map((state) => this.ctx.api.json<Alert[]>(`/api/alerts?state=${state}&limit=1000`)),
      );
      this.state.setAlerts([...open, ...acked]);
      this.alertsAvailable = true;
    } catch (err) {
      // a twin without rules has no such route
      if (err instanceof ApiError && [401, 403, 404].includes(err.status)) {
        this.alertsAvailable = err.status !== 404;
        this.state.setAlerts([]);
      } else throw err;
    }
  }

  /** Acknowledge or resolve an alert; the state follows the server's answer. */
  async act(alert: Alert, action: 'ack' | 'resolve'): Promise<Alert> {
    const after = await this.ctx.api.post<Alert>(`/api/alerts/${encodeURIComponent(String(alert.id))}/${action}`);
    this.state.applyAlert(after);
    this.refreshPins([after.device_id]);
    this.emit([after.device_id]);
    return after;
  }

  /** The name of the feature a device is bound to (a bus stop's), fetched once. */
  featureName(d: DeviceState): Promise<string | null> {
    let p = this.names.get(d.id);
    if (!p) {
      p = d.layer && d.featureId !== null
        ? this.ctx.api
            .json<{ properties?: { name?: string | null } }>(`/collections/${encodeURIComponent(d.layer)}/items/${d.featureId}`)
            .then((f) => f.properties?.name ?? null, () => null)
        : Promise.resolve(null);
      this.names.set(d.id, p);
    }
    return p;
  }

  device(id: string): DeviceState | undefined {
    return this.state.devices.get(id);
  }

  /** Local point of a device on the ground, or null when it has no location. */
  localOf(d: DeviceState): Vector3 | null {
    if (d.lon === null || d.lat === null || !this.ctx.viewer.frame) return null;
    return this.ctx.viewer.onGround(d.lon, d.lat);
  }

  /** Fly the view to a device, seen from above at a street's distance. */
  flyTo(d: DeviceState): void {
    const p = this.localOf(d);
    if (!p) return;
    p.y = this.surfaceAt(d, p);
    const r = 45;
    this.ctx.viewer.lookAt(p.clone().add(new Vector3(-0.3 * r, 0.8 * r, 0.6 * r)), p, true);
  }

  refreshPins(ids: string[] | null): void {
    const alerting = new Set(this.state.openAlerts().map((a) => a.device_id));
    const pin = (d: DeviceState): Pin | null => {
      const at = this.localOf(d);
      if (!at) return null;
      at.y = this.surfaceAt(d, at);
      return { id: d.id, at, color: present(d, alerting.has(d.id)).color, alert: alerting.has(d.id), height: d.layer === 'buildings' ? 4 : 6 };
    };
    if (ids === null) {
      const pins = [...this.state.devices.values()]
        .filter((d) => !this.hiddenTypes.has(d.type) && d.status !== 'quarantined')
        .sort((a, b) => a.id.localeCompare(b.id))
        .map(pin)
        .filter((p): p is Pin => p !== null);
      this.markers.setPins(pins);
    } else {
      const pins = ids.map((id) => this.state.devices.get(id)).filter((d): d is DeviceState => !!d).map(pin).filter((p): p is Pin => p !== null);
      this.markers.update(pins);
    }
    this.ctx.viewer.invalidate();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.client.stop();
    this.unhookFrame?.();
    this.unhookFrame = null;
    this.markers.dispose();
  }

  private subscription(): { bbox?: BBox } {
    if (this.follow === 'all') return {};
    this.footprint = viewFootprint(this.ctx.viewer);
    return this.footprint ? { bbox: this.footprint } : {};
  }

  private followView(): void {
    const next = viewFootprint(this.ctx.viewer);
    if (!next || !footprintMoved(this.footprint, next)) return;
    if (performance.now() - this.lastSubscribe < SUBSCRIBE_EVERY_MS) return; // the next tick sends the latest
    this.footprint = next;
    this.lastSubscribe = performance.now();
    this.client.subscribe({ bbox: next });
    this.emit(null);
  }

  private onItems(items: LiveItem[], snapshot: boolean): void {
    const before = this.state.devices.size;
    const changed = snapshot ? this.state.applySnapshot(items) : this.state.applyDelta(items);
    if (snapshot || this.state.devices.size !== before) this.refreshPins(null);
    else this.refreshPins([...changed]);
    this.emit(snapshot ? null : [...changed]);
  }

  /**
   * Height of what stands at a device (a roof for a classroom sensor), found once by a ray
   * cast down through the tiles; the street (0) when nothing is loaded there yet.
   */
  private surfaceAt(d: DeviceState, p: Vector3): number {
    const known = this.surface.get(d.id);
    if (known !== undefined) return known;
    if (d.layer !== 'buildings') return p.y;
    const ray = new Raycaster(new Vector3(p.x, p.y + 800, p.z), new Vector3(0, -1, 0));
    const hit = this.ctx.viewer.pickRay(ray, (o) => !isMarker(o, this.markers.group));
    const y = hit && hit.layer ? Math.max(p.y, hit.point.y) : null;
    if (y !== null) this.surface.set(d.id, y);
    return y ?? p.y;
  }

  private emit(ids: string[] | null): void {
    this.dispatchEvent(new CustomEvent('change', { detail: ids }));
  }
}

function isMarker(o: { parent: unknown }, group: unknown): boolean {
  let cur = o as { parent: unknown } | null;
  while (cur) {
    if (cur === group) return true;
    cur = cur.parent as { parent: unknown } | null;
  }
  return false;
}
