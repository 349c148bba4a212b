/**
 * What the Live and Operations modes know of the devices: the registry's devices (where they
 * are, what they are), their latest value per metric from `/ws/live`, and the open alerts.
 * Pure (no DOM, no three.js), so the merging of snapshots, deltas and alerts is unit-tested;
 * `present` says once, for every mode, how a device's state reads (label, colour, level).
 */

/** One device of `GET /api/devices`. */
export interface DeviceDoc {
  id: string;
  protocol: string;
  type: string;
  external_id?: string | null;
  status: string;
  visibility: string;
  layer: string | null;
  feature_id: number | null;
  last_seen: string | null;
  location: { type: string; coordinates: number[] } | null;
}

/** One item of a `/ws/live` snapshot or delta. */
export interface LiveItem {
  device_id: string;
  metric: string;
  value: number;
  unit?: string | null;
  quality?: string | null;
  at: string;
  layer?: string | null;
  type?: string | null;
  lon?: number | null;
  lat?: number | null;
}

/** An alert, as `GET /api/alerts` and the `alert` messages give it. */
export interface Alert {
  id: number | string;
  rule: string;
  device_id: string;
  state: string;
  severity: string;
  message: string;
  value: number | null;
  opened_at: string | null;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
  resolved_at: string | null;
  layer?: string | null;
  lon?: number | null;
  lat?: number | null;
}

export interface DeviceState {
  id: string;
  type: string;
  layer: string | null;
  protocol: string | null;
  externalId: string | null;
  status: string;
  featureId: number | null;
  lon: number | null;
  lat: number | null;
  lastSeen: string | null;
  /** latest value per metric */
  metrics: Map<string, LiveItem>;
}

export type Level = 'ok' | 'warn' | 'alarm' | 'off' | 'unknown';

export interface Presentation {
  label: string;
  level: Level;
  /** 0..1 RGB */
  color: [number, number, number];
}

export const LEVEL_COLORS: Record<Level, [number, number, number]> = {
  ok: [0.18, 0.62, 0.3],
  warn: [0.95, 0.62, 0.05],
  alarm: [0.84, 0.15, 0.13],
  off: [0.3, 0.33, 0.38],
  unknown: [0.62, 0.65, 0.7],
};

/** bus stops are places, not states: their own colour (their departures are in the panel) */
export const BUS_STOP_COLOR: [number, number, number] = [0.15, 0.42, 0.85];

/** Open, or acknowledged but not resolved: still something to look at. */
export function isOpen(a: Alert): boolean {
  return a.state !== 'resolved' && !a.resolved_at;
}

export class LiveState {
  readonly devices = new Map<string, DeviceState>();
  readonly alerts = new Map<string, Alert>();

  /** The registry's devices (positions, types): kept values stay, unknown devices go. */
  setRegistry(docs: DeviceDoc[]): void {
    const seen = new Set<string>();
    for (const d of docs) {
      seen.add(d.id);
      const c = d.location?.coordinates;
      const cur = this.ensure(d.id);
      cur.type = d.type;
      cur.layer = d.layer;
      cur.protocol = d.protocol;
      cur.externalId = d.external_id ?? null;
      cur.status = d.status;
      cur.featureId = d.feature_id;
      cur.lastSeen = later(cur.lastSeen, d.last_seen);
      if (c && c.length >= 2) [cur.lon, cur.lat] = c;
    }
    for (const id of [...this.devices.keys()]) if (!seen.has(id)) this.devices.delete(id);
  }

  /** A snapshot: the latest values of what the subscription covers (it replaces them). */
  applySnapshot(items: LiveItem[]): Set<string> {
    for (const d of this.devices.values()) d.metrics.clear();
    return this.applyDelta(items);
  }

  /** Newer values; the ids of the devices they changed. An older value never wins. */
  applyDelta(items: LiveItem[]): Set<string> {
    const changed = new Set<string>();
    for (const it of items) {
      if (!it || typeof it.device_id !== 'string' || typeof it.metric !== 'string') continue;
      const d = this.ensure(it.device_id);
      const prev = d.metrics.get(it.metric);
      if (prev && Date.parse(prev.at) > Date.parse(it.at)) continue;
      d.metrics.set(it.metric, it);
      if (it.type) d.type = it.type;
      if (it.layer !== undefined && it.layer !== null) d.layer = it.layer;
      if (typeof it.lon === 'number' && typeof it.lat === 'number') {
        d.lon = it.lon;
        d.lat = it.lat;
      }
      d.lastSeen = later(d.lastSeen, it.at);
      changed.add(d.id);
    }
    return changed;
  }

  /** An alert opened, acknowledged or resolved; resolved ones leave the open list. */
  applyAlert(a: Alert): void {
    const key = String(a.id);
    if (isOpen(a)) this.alerts.set(key, a);
    else this.alerts.delete(key);
  }

  setAlerts(list: Alert[]): void {
    this.alerts.clear();
    for (const a of list) this.applyAlert(a);
  }

  openAlerts(): Alert[] {
    return [...this.alerts.values()].sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || String(b.opened_at).localeCompare(String(a.opened_at)));
  }

  alertsOf(deviceId: string): Alert[] {
    return this.openAlerts().filter((a) => a.device_id === deviceId);
  }

  /** The devices within a bbox [w, s, e, n] (all located ones when bbox is null). */
  within(bbox: BBox | null): DeviceState[] {
    return [...this.devices.values()].filter((d) => d.lon !== null && d.lat !== null && (!bbox || inBBox(bbox, d.lon, d.lat)));
  }

  private ensure(id: string): DeviceState {
    let d = this.devices.get(id);
    if (!d) {
      d = { id, type: 'unknown', layer: null, protocol: null, externalId: null, status: 'active', featureId: null, lon: null, lat: null, lastSeen: null, metrics: new Map() };
      this.devices.set(id, d);
    }
    return d;
  }
}

export type BBox = [number, number, number, number];

export function inBBox(b: BBox, lon: number, lat: number): boolean {
  return lon >= b[0] && lon <= b[2] && lat >= b[1] && lat <= b[3];
}

function later(a: string | null, b: string | null): string | null {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(b) > Date.parse(a) ? b : a;
}

/** geodata.vocab.SEVERITIES, least to most severe */
const SEVERITIES = ['info', 'warning', 'major', 'critical'];
export function severityRank(s: string): number {
  return SEVERITIES.indexOf(s);
}

function num(d: DeviceState, metric: string): number | null {
  const v = d.metrics.get(metric)?.value;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * How a device's state reads, by its type: a parking bay free or taken, a lamp off, dimmed or
 * on, a gauge's level, CO2 against the classroom guidance (1000 / 1500 ppm), fine particles
 * against the WHO daily guideline (15 / 45 µg/m³). An open alert makes any device an alarm.
 */
export function present(d: DeviceState, alerting = false): Presentation {
  const p = presentValue(d);
  if (alerting && p.level !== 'alarm') return { ...p, level: 'alarm', color: LEVEL_COLORS.alarm };
  return p;
}

function mk(label: string, level: Level): Presentation {
  return { label, level, color: LEVEL_COLORS[level] };
}

function presentValue(d: DeviceState): Presentation {
  switch (d.type) {
    case 'parking': {
      const v = num(d, 'occupied');
      if (v === null) return mk('no reading yet', 'unknown');
      return v >= 0.5 ? mk('taken', 'alarm') : mk('free', 'ok');
    }
    case 'lamp': {
      const v = num(d, 'power');
      if (v === null) return mk('no reading yet', 'unknown');
      if (v < 1) return mk('off', 'off');
      return v < 30 ? mk(`dimmed · ${round(v)} W`, 'warn') : mk(`on · ${round(v)} W`, 'ok');
    }
    case 'flood_gauge': {
      const v = num(d, 'stage_m');
      if (v === null) return mk('no reading yet', 'unknown');
      const level: Level = v >= 1.2 ? 'alarm' : v >= 0.8 ? 'warn' : 'ok';
      return mk(`level ${v.toFixed(2)} m`, level);
    }
    case 'co2': {
      const v = num(d, 'co2');
      if (v === null) return mk('no reading yet', 'unknown');
      return mk(`CO₂ ${round(v)} ppm`, v >= 1500 ? 'alarm' : v >= 1000 ? 'warn' : 'ok');
    }
    case 'air_quality': {
      const pm = num(d, 'pm2_5');
      const no2 = num(d, 'no2');
      if (pm === null && no2 === null) return mk('no reading yet', 'unknown');
      const level: Level = pm !== null && pm >= 45 ? 'alarm' : pm !== null && pm >= 15 ? 'warn' : 'ok';
      const parts = [pm !== null ? `PM2.5 ${round(pm)}` : null, no2 !== null ? `NO₂ ${round(no2)}` : null].filter(Boolean);
      return mk(`${parts.join(' · ')} µg/m³`, level);
    }
    case 'camera': {
      const v = num(d, 'online');
      if (v === null) return mk('no reading yet', 'unknown');
      return v >= 0.5 ? mk('online', 'ok') : mk('offline', 'alarm');
    }
    case 'pressure': {
      const v = num(d, 'pressure_bar');
      if (v === null) return mk('no reading yet', 'unknown');
      return mk(`${v.toFixed(2)} bar`, v < 2 ? 'warn' : 'ok');
    }
    case 'bus_stop':
      return { label: 'bus stop', level: 'ok', color: BUS_STOP_COLOR };
    default: {
      const first = [...d.metrics.values()].sort((a, b) => a.metric.localeCompare(b.metric))[0];
      if (!first) return mk('no reading yet', 'unknown');
      return mk(`${first.metric} ${round(first.value)}${first.unit ? ` ${first.unit}` : ''}`, 'ok');
    }
  }
}

function round(v: number): string {
  return Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}

/** Counts by a key (layer, status, type) in a stable order, for the control tower's tallies. */
export function countBy<T>(items: Iterable<T>, key: (t: T) => string): Array<[string, number]> {
  const out = new Map<string, number>();
  for (const it of items) out.set(key(it), (out.get(key(it)) ?? 0) + 1);
  return [...out].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** The GTFS feed and stop of a bus-stop device (`external_id` is `FEED:STOP_ID`). */
export function busStop(d: { protocol: string | null; externalId: string | null }): { feed: string; stop: string } | null {
  if (d.protocol !== 'gtfs' || !d.externalId) return null;
  const i = d.externalId.indexOf(':');
  return i > 0 ? { feed: d.externalId.slice(0, i), stop: d.externalId.slice(i + 1) } : null;
}

/**
 * Whether a new view footprint is worth a new subscription: it moved by more than a fraction
 * of its size, or grew or shrank by as much.
 */
export function footprintMoved(prev: BBox | null, next: BBox, fraction = 0.15): boolean {
  if (!prev) return true;
  const w = Math.max(1e-6, prev[2] - prev[0]);
  const h = Math.max(1e-6, prev[3] - prev[1]);
  return (
    Math.abs(next[0] - prev[0]) > fraction * w ||
    Math.abs(next[2] - prev[2]) > fraction * w ||
    Math.abs(next[1] - prev[1]) > fraction * h ||
    Math.abs(next[3] - prev[3]) > fraction * h
  );
}
