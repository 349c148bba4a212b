/**
 * One device in the attribute panel: its state, its latest value per metric, its history as a
 * chart (`GET /api/devices/{id}/history`), the feature it is bound to (highlighted in the 3D
 * view), the next departures when it is a bus stop, and its open alerts with the actions the
 * account may take. `refresh` redraws what a new value changes (the chart at most every 3 s).
 */
import { explain } from '../core/ApiClient';
import { type Alert, busStop, type DeviceState, present } from '../core/LiveState';
import { toCss } from '../core/Styling';
import { type Bucket, drawChart } from '../ui/DeviceChart';
import { formatValue, h } from '../ui/Shell';
import type { AppContext } from './AppContext';
import type { LiveFeed } from './LiveFeed';

const PERIODS: Array<[string, number, string]> = [
  ['6 h', 6 * 3600e3, '5m'],
  ['24 h', 24 * 3600e3, '15m'],
  ['7 days', 7 * 86400e3, '2h'],
];
const CHART_EVERY_MS = 3000;

interface Departure {
  trip_id: string;
  route_id: string | null;
  time: number;
  delay: number | null;
  status: string;
}

export class DevicePanel {
  deviceId: string | null = null;
  private metric = '';
  private period = 1;
  private lastChart = 0;
  private chartTimer: ReturnType<typeof setTimeout> | null = null;
  private stateBox: HTMLElement | null = null;
  private alertsBox: HTMLElement | null = null;
  private canvas: HTMLCanvasElement | null = null;

  constructor(
    private readonly ctx: AppContext,
    private readonly feed: LiveFeed,
  ) {}

  show(id: string): void {
    const d = this.feed.device(id);
    if (!d) return;
    this.deviceId = id;
    const metrics = [...d.metrics.keys()].sort();
    if (!metrics.includes(this.metric)) this.metric = metrics[0] ?? defaultMetric(d.type);
    this.stateBox = h('div', { id: 'device-state' });
    this.alertsBox = h('div', { id: 'device-alerts' });
    this.canvas = h('canvas', { id: 'device-chart', 'aria-label': `History of ${id}` });
    const metricSel = h('select', { id: 'chart-metric', 'aria-label': 'Metric' });
    for (const m of new Set([...metrics, this.metric])) if (m) metricSel.append(h('option', { value: m, text: m, selected: m === this.metric }));
    metricSel.addEventListener('change', () => {
      this.metric = metricSel.value;
      void this.loadChart();
    });
    const periodSel = h('select', { id: 'chart-period', 'aria-label': 'Period' });
    PERIODS.forEach(([label], i) => periodSel.append(h('option', { value: String(i), text: label, selected: i === this.period })));
    periodSel.addEventListener('change', () => {
      this.period = Number(periodSel.value);
      void this.loadChart();
    });
    const bound = h('div', { id: 'device-feature' });
    const extra = h('div', { id: 'device-departures' });
    const fly = h('button', { type: 'button', class: 'ghost', id: 'device-fly', text: 'Show in 3D' });
    fly.addEventListener('click', () => this.feed.flyTo(d));
    this.ctx.shell.showDetail(
      `${typeTitle(d.type)} ${id}`,
      this.stateBox,
      h('div', { class: 'row chart-controls' }, metricSel, periodSel, fly),
      this.canvas,
      this.alertsBox,
      bound,
      extra,
    );
    this.ctx.shell.info.dataset.deviceId = id;
    this.ctx.shell.info.scrollIntoView({ block: 'start' }); // what was asked for, in sight
    this.renderState(d);
    this.renderAlerts();
    void this.loadChart();
    void this.loadFeature(d, bound);
    const stop = busStop(d);
    if (stop) void this.loadDepartures(stop.feed, stop.stop, extra);
  }

  /** New values arrived for some devices (null: any). */
  refresh(ids: string[] | null): void {
    const id = this.deviceId;
    if (!id || (ids && !ids.includes(id)) || !this.ctx.shell.info.isConnected || this.ctx.shell.info.dataset.deviceId !== id) return;
    const d = this.feed.device(id);
    if (!d) return;
    this.renderState(d);
    this.renderAlerts();
    if (this.chartTimer !== null) return;
    const wait = Math.max(0, CHART_EVERY_MS - (performance.now() - this.lastChart));
    this.chartTimer = setTimeout(() => {
      this.chartTimer = null;
      void this.loadChart();
    }, wait);
  }

  close(): void {
    this.deviceId = null;
    if (this.chartTimer !== null) clearTimeout(this.chartTimer);
    this.chartTimer = null;
    for (const l of this.ctx.viewer.layers.values()) l.style.setSelected(null);
  }

  private renderState(d: DeviceState): void {
    if (!this.stateBox) return;
    const alerting = this.feed.state.alertsOf(d.id).length > 0;
    const p = present(d, alerting);
    const rows: Record<string, unknown> = { state: p.label, type: d.type, protocol: d.protocol, status: d.status, 'last seen': d.lastSeen ? new Date(d.lastSeen).toLocaleString() : 'never' };
    for (const [m, it] of [...d.metrics].sort()) rows[m] = `${formatValue(it.value)}${it.unit && it.unit !== '1' ? ` ${it.unit}` : ''}`;
    this.stateBox.dataset.level = p.level;
    this.stateBox.replaceChildren(
      h('p', { class: 'state-line' }, h('span', { class: 'swatch', style: `background:${toCss(p.color)}` }), ` ${p.label}`),
      h('table', { id: 'attributes' }, ...Object.entries(rows).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => h('tr', { 'data-key': k }, h('th', { text: k }), h('td', { text: String(v) })))),
    );
  }

  private renderAlerts(): void {
    const box = this.alertsBox;
    const id = this.deviceId;
    if (!box || !id) return;
    const list = this.feed.state.alertsOf(id);
    box.replaceChildren(...(list.length ? [h('h3', { text: 'Open alerts' }), alertList(this.ctx, this.feed, list)] : []));
  }

  private async loadChart(): Promise<void> {
    const id = this.deviceId;
    const canvas = this.canvas;
    if (!id || !canvas) return;
    canvas.hidden = !this.metric; // a bus stop measures nothing: its departures say it all
    if (!this.metric) return;
    this.lastChart = performance.now();
    const [, span, bucket] = PERIODS[this.period];
    const to = new Date();
    const from = new Date(to.getTime() - span);
    const q = new URLSearchParams({ metric: this.metric, from: from.toISOString(), to: to.toISOString(), bucket });
    try {
      const doc = await this.ctx.api.json<{ buckets: Bucket[] }>(`/api/devices/${encodeURIComponent(id)}/history?${q}`);
      if (this.deviceId !== id) return;
      const unit = this.feed.device(id)?.metrics.get(this.metric)?.unit ?? '';
      drawChart(canvas, doc.buckets, unit === '1' ? '' : unit);
      canvas.dataset.loaded = String(Date.now());
    } catch (err) {
      canvas.replaceWith(h('p', { class: 'error', id: 'device-chart', text: explain(err) }));
    }
  }

  private async loadFeature(d: DeviceState, box: HTMLElement): Promise<void> {
    if (!d.layer || d.featureId === null) return;
    const select = () => {
      const tiles = this.ctx.viewer.layers.get(d.layer === 'cameras' ? 'furniture' : (d.layer ?? ''));
      for (const l of this.ctx.viewer.layers.values()) l.style.setSelected(l === tiles ? d.featureId : null);
      this.ctx.viewer.invalidate();
    };
    select();
    try {
      const f = await this.ctx.api.json<{ properties: Record<string, unknown> }>(`/collections/${encodeURIComponent(d.layer)}/items/${d.featureId}`);
      const p = f.properties ?? {};
      const keep = ['name', 'kind', 'usage', 'height', 'levels', 'network', 'source_id'].filter((k) => p[k] !== null && p[k] !== undefined && p[k] !== '');
      box.replaceChildren(
        h('h3', { text: `Bound to ${d.layer} ${d.featureId}` }),
        h('table', { class: 'mini' }, ...keep.map((k) => h('tr', { 'data-key': k }, h('th', { text: k }), h('td', { text: formatValue(p[k]) })))),
      );
      box.dataset.feature = `${d.layer}:${d.featureId}`;
    } catch (err) {
      box.replaceChildren(h('p', { class: 'muted', text: `Bound to ${d.layer} ${d.featureId} (${explain(err)})` }));
    }
  }

  private async loadDepartures(feed: string, stop: string, box: HTMLElement): Promise<void> {
    try {
      const deps = await this.ctx.api.json<Departure[]>(`/api/stops/${encodeURIComponent(stop)}/next?feed=${encodeURIComponent(feed)}&limit=6`);
      box.replaceChildren(h('h3', { text: 'Next departures' }), departureList(deps));
    } catch (err) {
      box.replaceChildren(h('p', { class: 'muted', text: `Next departures: ${explain(err)}` }));
    }
  }
}

export function departureList(deps: Departure[]): HTMLElement {
  if (!deps.length) return h('p', { class: 'muted', text: 'No departure in the timetable soon.' });
  return h(
    'ul',
    { class: 'results departures' },
    ...deps.map((d) => {
      const t = new Date(d.time * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      const late = d.delay ? ` (${d.delay > 0 ? '+' : ''}${Math.round(d.delay / 60)} min)` : '';
      return h('li', { 'data-status': d.status }, `${t} · ${d.route_id ?? d.trip_id}${late}${d.status === 'realtime' ? ' · live' : ''}`);
    }),
  );
}

/** Alerts with Acknowledge and Resolve buttons (the server decides who may). */
export function alertList(ctx: AppContext, feed: LiveFeed, list: Alert[], onPick?: (a: Alert) => void): HTMLElement {
  const mayAct = !ctx.session.principal.anonymous && ctx.session.principal.role !== 'citizen';
  return h(
    'ul',
    { class: 'alerts' },
    ...list.map((a) => {
      const li = h('li', { 'data-alert': String(a.id), 'data-state': a.state, 'data-severity': a.severity });
      const what = h('button', { type: 'button', class: 'link', text: `${a.severity} · ${a.device_id}: ${a.message || a.rule}` });
      what.addEventListener('click', () => onPick?.(a));
      li.append(what, h('span', { class: 'muted', text: ` ${a.state}${a.acknowledged_by ? ` by ${a.acknowledged_by}` : ''} · ${a.opened_at ? new Date(a.opened_at).toLocaleTimeString() : ''}` }));
      if (mayAct) {
        const row = h('div', { class: 'row' });
        for (const [action, label] of [['ack', 'Acknowledge'], ['resolve', 'Resolve']] as const) {
          if (action === 'ack' && a.acknowledged_at) continue;
          const b = h('button', { type: 'button', class: 'ghost small', 'data-action': action, text: label });
          b.addEventListener('click', async () => {
            b.disabled = true;
            try {
              await feed.act(a, action);
            } catch (err) {
              ctx.shell.message(explain(err), 'error');
              b.disabled = false;
            }
          });
          row.append(b);
        }
        li.append(row);
      }
      return li;
    }),
  );
}

const TYPE_TITLES: Record<string, string> = {
  parking: 'Parking bay',
  lamp: 'Street lamp',
  flood_gauge: 'Flood gauge',
  co2: 'Classroom CO₂',
  air_quality: 'Air quality',
  camera: 'Camera',
  pressure: 'Water pressure',
  bus_stop: 'Bus stop',
};

export function typeTitle(t: string): string {
  return TYPE_TITLES[t] ?? t.replace(/_/g, ' ');
}

function defaultMetric(type: string): string {
  return { parking: 'occupied', lamp: 'power', flood_gauge: 'stage_m', co2: 'co2', air_quality: 'pm2_5', camera: 'online', pressure: 'pressure_bar' }[type] ?? '';
}
