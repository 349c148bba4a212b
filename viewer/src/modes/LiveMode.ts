/**
 * Live (everyone, each seeing what the access rule lets them): the devices of the visible
 * area as pins coloured by their state (parking bays free or taken, lamps on, dimmed or off,
 * flood gauges' levels, air quality, classroom CO2), next departures at the bus stops in
 * view, and the open alerts. The subscription follows the camera (see LiveFeed). A pick on a
 * pin opens the device: its chart, its bound feature, its alerts.
 */
import type { AppContext, TwinMode } from '../app/AppContext';
import { alertList, DevicePanel, departureList, typeTitle } from '../app/DevicePanel';
import { LiveFeed } from '../app/LiveFeed';
import { explain } from '../core/ApiClient';
import type { LiveStatus } from '../core/LiveClient';
import { BUS_STOP_COLOR, busStop, type DeviceState, inBBox, LEVEL_COLORS, present } from '../core/LiveState';
import type { PickResult } from '../three/TwinViewer';
import { h } from '../ui/Shell';

const KINDS = ['parking', 'bus_stop', 'lamp', 'flood_gauge', 'air_quality', 'co2', 'camera', 'pressure'];
const DEPARTURES_EVERY_MS = 30_000;
const STOPS_SHOWN = 4;

export class LiveMode implements TwinMode {
  readonly name = 'live';
  readonly title = 'Live';
  readonly route = '/live';
  private feed: LiveFeed | null = null;
  private panel: DevicePanel | null = null;
  private summary: HTMLElement | null = null;
  private alerts: HTMLElement | null = null;
  private stops: HTMLElement | null = null;
  private status: HTMLElement | null = null;
  private stopsTimer: ReturnType<typeof setInterval> | null = null;
  private stopsShown = '';

  async enter(ctx: AppContext): Promise<void> {
    const feed = new LiveFeed(ctx, 'view');
    this.feed = feed;
    this.panel = new DevicePanel(ctx, feed);
    this.status = h('p', { id: 'live-status', class: 'muted', 'data-status': 'connecting', text: 'Connecting to the live feed…' });
    this.summary = h('ul', { id: 'live-summary', class: 'results' });
    this.alerts = h('div', { id: 'live-alerts' });
    this.stops = h('div', { id: 'live-stops' });
    const kinds = h('fieldset', { id: 'live-kinds' }, h('legend', { text: 'Show' }));
    for (const k of KINDS) {
      const cb = h('input', { type: 'checkbox', checked: !feed.hiddenTypes.has(k), id: `kind-${k}`, 'data-kind': k });
      cb.addEventListener('change', () => {
        if (cb.checked) feed.hiddenTypes.delete(k);
        else feed.hiddenTypes.add(k);
        feed.refreshPins(null);
        this.render(ctx);
      });
      kinds.append(h('label', { class: 'check inline', for: `kind-${k}` }, cb, ` ${typeTitle(k)}`));
    }
    ctx.shell.setTools(
      h('h2', { text: 'Live' }),
      this.status,
      this.summary,
      this.alerts,
      this.stops,
      kinds,
      h('p', { class: 'hint', text: 'What the sensors in view say now; it follows the camera. Pick a pin for its history and what it is bound to.' }),
    );
    ctx.shell.setLegend('Device state', [
      { label: 'normal · free · on', color: LEVEL_COLORS.ok },
      { label: 'watch · dimmed', color: LEVEL_COLORS.warn },
      { label: 'alarm · taken · alert', color: LEVEL_COLORS.alarm },
      { label: 'off', color: LEVEL_COLORS.off },
      { label: 'no reading', color: LEVEL_COLORS.unknown },
      { label: 'bus stop', color: BUS_STOP_COLOR },
    ]);
    feed.addEventListener('change', (e) => {
      const ids = (e as CustomEvent<string[] | null>).detail;
      this.render(ctx);
      this.panel?.refresh(ids);
    });
    feed.addEventListener('status', (e) => this.setStatus((e as CustomEvent<LiveStatus>).detail));
    try {
      await feed.start();
    } catch (err) {
      ctx.shell.message(explain(err), 'error');
    }
    this.render(ctx);
    this.stopsTimer = setInterval(() => void this.loadStops(ctx, true), DEPARTURES_EVERY_MS);
    document.body.dataset.live = 'started';
  }

  private setStatus(s: LiveStatus): void {
    if (!this.status) return;
    this.status.dataset.status = s;
    this.status.textContent = {
      connecting: 'Connecting to the live feed…',
      live: 'Live: values arrive as the sensors send them.',
      closed: 'The live feed is down: reconnecting…',
      refused: 'The live feed refused this account.',
    }[s];
  }

  private visible(): DeviceState[] {
    const feed = this.feed!;
    return feed.state.within(feed.footprint).filter((d) => !feed.hiddenTypes.has(d.type) && d.status !== 'quarantined');
  }

  private render(ctx: AppContext): void {
    const feed = this.feed;
    if (!feed || !this.summary || !this.alerts) return;
    const inView = this.visible();
    const byType = new Map<string, DeviceState[]>();
    for (const d of inView) byType.set(d.type, [...(byType.get(d.type) ?? []), d]);
    this.summary.replaceChildren(
      ...[...byType]
        .sort((a, b) => KINDS.indexOf(a[0]) - KINDS.indexOf(b[0]))
        .map(([type, list]) => h('li', { 'data-kind': type }, h('strong', { text: `${typeTitle(type)}: ` }), summarise(type, list))),
    );
    if (!inView.length) this.summary.append(h('li', { class: 'muted', text: 'No device you may see in this view: zoom out or move.' }));
    const bbox = feed.footprint;
    const open = feed.state.openAlerts().filter((a) => {
      const d = feed.device(a.device_id);
      return !bbox || !d || d.lon === null || d.lat === null || inBBox(bbox, d.lon, d.lat);
    });
    this.alerts.replaceChildren(
      h('h3', { text: `Open alerts (${open.length})` }),
      !feed.alertsAvailable
        ? h('p', { class: 'muted', text: 'This twin has no alert rules yet.' })
        : open.length
            ? alertList(ctx, feed, open, (a) => this.pickDevice(ctx, a.device_id, true))
            : h('p', { class: 'muted', text: 'None in view.' }),
    );
    void this.loadStops(ctx, false);
    document.body.dataset.liveDevices = String(inView.length);
  }

  /** Next departures at the bus stops nearest the view's centre (again every 30 s). */
  private async loadStops(ctx: AppContext, force: boolean): Promise<void> {
    const feed = this.feed;
    const box = this.stops;
    if (!feed || !box) return;
    const b = feed.footprint;
    const cx = b ? (b[0] + b[2]) / 2 : 0;
    const cy = b ? (b[1] + b[3]) / 2 : 0;
    const stops = this.visible()
      .filter((d) => busStop(d))
      .sort((p, q) => Math.hypot(p.lon! - cx, p.lat! - cy) - Math.hypot(q.lon! - cx, q.lat! - cy))
      .slice(0, STOPS_SHOWN);
    const key = stops.map((s) => s.id).join(',');
    if (!force && key === this.stopsShown) return;
    this.stopsShown = key;
    if (!stops.length) {
      box.replaceChildren();
      return;
    }
    const items = await Promise.all(
      stops.map(async (d) => {
        const s = busStop(d)!;
        const name = await feed.featureName(d);
        const title = h('button', { type: 'button', class: 'link', text: name ?? `Stop ${s.stop}` });
        title.addEventListener('click', () => this.pickDevice(ctx, d.id, true));
        try {
          const deps = await ctx.api.json<Parameters<typeof departureList>[0]>(`/api/stops/${encodeURIComponent(s.stop)}/next?feed=${encodeURIComponent(s.feed)}&limit=3`);
          return h('li', { 'data-stop': s.stop }, title, departureList(deps));
        } catch (err) {
          return h('li', { 'data-stop': s.stop }, title, h('p', { class: 'muted', text: explain(err) }));
        }
      }),
    );
    if (this.stops !== box || this.stopsShown !== key) return;
    box.replaceChildren(h('h3', { text: 'Next departures' }), h('ul', { class: 'results stops' }, ...items));
  }

  private pickDevice(ctx: AppContext, id: string, fly: boolean): void {
    const d = this.feed?.device(id);
    if (!d) return;
    if (fly) this.feed!.flyTo(d);
    this.panel?.show(id);
    ctx.shell.info.dataset.layer = 'live';
  }

  onPick(ctx: AppContext, hit: PickResult | null): boolean {
    const id = hit ? this.feed?.markers.deviceAt(hit.object, hit.instanceId) : null;
    if (!id) {
      this.panel?.close();
      return false;
    }
    this.pickDevice(ctx, id, false);
    return true;
  }

  onSession(ctx: AppContext): void {
    void this.feed?.restart().catch((err) => ctx.shell.message(explain(err), 'error'));
  }

  exit(_ctx: AppContext): void {
    if (this.stopsTimer !== null) clearInterval(this.stopsTimer);
    this.stopsTimer = null;
    this.panel?.close();
    this.feed?.stop();
    this.feed = null;
    this.panel = null;
    this.stopsShown = '';
    delete document.body.dataset.live;
    delete document.body.dataset.liveDevices;
  }

  dispose(): void {}
}

/** One line per kind: how many bays are free, lamps on, the highest level or CO2. */
function summarise(type: string, list: DeviceState[]): string {
  const levels = list.map((d) => present(d));
  const count = (lvl: string) => levels.filter((p) => p.level === lvl).length;
  const read = list.filter((d) => d.metrics.size > 0);
  const max = (metric: string) => Math.max(...read.map((d) => d.metrics.get(metric)?.value ?? -Infinity));
  switch (type) {
    case 'parking':
      return `${count('ok')} free of ${list.length}`;
    case 'lamp':
      return `${count('ok')} on, ${count('warn')} dimmed, ${count('off')} off`;
    case 'flood_gauge':
      return read.length ? `highest level ${max('stage_m').toFixed(2)} m` : 'no reading yet';
    case 'co2':
      return read.length ? `highest ${Math.round(max('co2'))} ppm, ${count('warn') + count('alarm')} rooms to air` : 'no reading yet';
    case 'air_quality':
      return read.length ? `PM2.5 up to ${max('pm2_5').toFixed(1)} µg/m³` : 'no reading yet';
    case 'camera':
      return `${count('ok')} online of ${list.length}`;
    case 'bus_stop':
      return `${list.length} in view`;
    default:
      return `${list.length}, ${read.length} reporting`;
  }
}
