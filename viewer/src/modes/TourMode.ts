/**
 * Tour (tourists, people with reduced mobility): the walking circuits of the `routes`
 * collection, one at a time (`/#/tour/{slug}`): its route drawn on the ground, a card per
 * point of interest in visiting order (click to fly there), the bus stops near the way with
 * their next departures, an accessible toggle (the wheelchair profile: no steps, slope at most
 * 5 %, kerbs at most 2 cm, width at least 1.40 m) and the GPX track to download.
 *
 * The walk itself comes from `POST /api/analysis/circuit` with the circuit's stops, so the
 * accessible toggle re-plans it; when no accessible walk exists the server's answer names the
 * steps, kerbs, slopes or widths in the way, and this mode shows it.
 */
import {
  BufferGeometry,
  CylinderGeometry,
  DoubleSide,
  Float32BufferAttribute,
  Group,
  Mesh,
  MeshBasicMaterial,
  Vector3,
} from 'three';
import type { AppContext, TwinMode } from '../app/AppContext';
import { ApiError, explain } from '../core/ApiClient';
import { h } from '../ui/Shell';

interface RouteFeature {
  id: string | number;
  properties: { slug?: string; name?: string; stops?: number[] | string; accessible?: boolean };
}

interface Stop {
  id: number;
  name: string | null;
  kind: string;
  lonlat: [number, number];
  leg_m: number;
  along_m: number;
  arrival_s: number;
}

interface BusStop {
  name: string | null;
  distance_m: number;
  lonlat: [number, number];
  next?: Array<{ route_id: string | null; time: number; status: string }>;
}

export interface CircuitResult {
  length_m: number;
  duration_s: number;
  geometry_lonlat: { type: 'LineString'; coordinates: Array<[number, number]> };
  stops: Stop[];
  bus_stops: BusStop[];
  step_free: boolean;
  steps: number;
  unknown: Record<string, { length_m: number }>;
  files?: Record<string, string>;
}

/** the route's ribbon: width (m) and lift above the ground (m) */
const RIBBON_WIDTH = 3;
const LIFT = 0.6;

/** A flat ribbon along local points (y up), as triangles. Pure: the unit test counts them. */
export function ribbon(points: Vector3[], width: number): number[] {
  const out: number[] = [];
  const w = width / 2;
  for (let i = 0; i + 1 < points.length; i++) {
    const a = points[i];
    const b = points[i + 1];
    const dx = b.x - a.x;
    const dz = b.z - a.z;
    const len = Math.hypot(dx, dz);
    if (len < 1e-6) continue;
    const nx = (-dz / len) * w;
    const nz = (dx / len) * w;
    const q = [
      [a.x + nx, a.y, a.z + nz], [a.x - nx, a.y, a.z - nz],
      [b.x - nx, b.y, b.z - nz], [b.x + nx, b.y, b.z + nz],
    ];
    out.push(...q[0], ...q[1], ...q[2], ...q[0], ...q[2], ...q[3]);
  }
  return out;
}

function minutes(seconds: number): string {
  return `${Math.max(1, Math.round(seconds / 60))} min`;
}

export class TourMode implements TwinMode {
  readonly name = 'tour';
  readonly title = 'Tour';
  readonly route = '/tour/:slug?';
  accessible = false;
  private group: Group | null = null;
  private gpxUrl: string | null = null;

  async enter(ctx: AppContext, params: Record<string, string>): Promise<void> {
    const { api, shell } = ctx;
    document.body.dataset.tour = 'loading';
    const page = await api.json<{ features: RouteFeature[] }>('/collections/routes/items?limit=100');
    const circuits = page.features;
    if (!circuits.length) {
      shell.setTools(h('h2', { text: 'Walking tours' }), h('p', { class: 'notice', text: 'No walking circuit yet: load the demo with `twin demo`.' }));
      document.body.dataset.tour = 'empty';
      return;
    }
    const slugOf = (r: RouteFeature) => String(r.properties.slug ?? r.id);
    const known = circuits.map(slugOf);
    const circuit = params.slug ? circuits.find((r) => slugOf(r) === params.slug) : circuits[0];
    if (!circuit) {
      shell.setTools(
        h('h2', { text: 'Walking tours' }),
        h('p', { id: 'tour-unknown', class: 'notice', text: `No circuit "${params.slug}". The twin has: ${known.join(', ')}.` }),
        this.list(circuits, null, slugOf),
      );
      document.body.dataset.tour = 'unknown';
      return;
    }
    const slug = slugOf(circuit);
    if (params.slug !== slug) history.replaceState(null, '', `#/tour/${encodeURIComponent(slug)}`);
    document.body.dataset.tourSlug = slug;
    const toggle = h('input', { id: 'tour-accessible', type: 'checkbox', checked: this.accessible });
    const summary = h('output', { id: 'tour-summary' });
    const cards = h('ol', { id: 'tour-stops', class: 'results' });
    const buses = h('ul', { id: 'tour-buses', class: 'results' });
    const gpx = h('button', { id: 'tour-gpx', type: 'button', text: 'Download GPX' });
    gpx.disabled = true;
    gpx.addEventListener('click', () => void this.download(ctx, slug));
    toggle.addEventListener('change', () => {
      this.accessible = toggle.checked;
      void this.plan(ctx, circuit, summary, cards, buses, gpx);
    });
    shell.setTools(
      h('h2', { text: circuit.properties.name ?? slug }),
      this.list(circuits, circuit, slugOf),
      h('label', { class: 'check', for: 'tour-accessible' }, toggle, ' Accessible (wheelchair: no steps, slope ≤ 5 %, kerbs ≤ 2 cm, width ≥ 1.40 m)'),
      summary,
      gpx,
      h('h3', { text: 'Stops' }),
      cards,
      h('h3', { text: 'Bus stops on the way' }),
      buses,
    );
    await this.plan(ctx, circuit, summary, cards, buses, gpx);
  }

  private list(circuits: RouteFeature[], current: RouteFeature | null, slugOf: (r: RouteFeature) => string): HTMLElement {
    return h(
      'ul',
      { id: 'tour-list', class: 'results' },
      ...circuits.map((r) =>
        h('li', {}, h('a', { href: `#/tour/${encodeURIComponent(slugOf(r))}`, 'aria-current': r === current ? 'true' : undefined, text: r.properties.name ?? slugOf(r) })),
      ),
    );
  }

  /** Ask the server for the walk through the circuit's stops, then draw and list it. */
  private async plan(ctx: AppContext, circuit: RouteFeature, summary: HTMLElement, cards: HTMLElement, buses: HTMLElement, gpx: HTMLButtonElement): Promise<void> {
    const raw = circuit.properties.stops ?? [];
    const pois = (typeof raw === 'string' ? JSON.parse(raw) : raw) as number[];
    document.body.dataset.tour = 'loading';
    this.clear(ctx);
    gpx.disabled = true;
    cards.replaceChildren();
    buses.replaceChildren();
    let result: CircuitResult;
    try {
      result = await ctx.api.post<CircuitResult>('/api/analysis/circuit', { pois, profile: this.accessible ? 'wheelchair' : 'foot' });
    } catch (err) {
      const blocked = err instanceof ApiError && err.status === 404;
      summary.textContent = blocked ? `No accessible walk: ${err.message}` : explain(err);
      summary.className = 'notice';
      document.body.dataset.tour = blocked ? 'blocked' : 'error';
      return;
    }
    summary.className = '';
    const unknown = Object.entries(result.unknown ?? {}).map(([k, v]) => `${k} unknown on ${Math.round(v.length_m)} m`);
    summary.textContent =
      `${(result.length_m / 1000).toFixed(2)} km, ${minutes(result.duration_s)}` +
      `${this.accessible ? ' in a wheelchair' : ' on foot'}, ${result.step_free ? 'step-free' : `${result.steps} staircase(s)`}` +
      (unknown.length ? ` (${unknown.join(', ')})` : '');
    for (const [i, s] of result.stops.entries()) {
      const card = h(
        'li',
        { class: 'card', 'data-poi': String(s.id) },
        h('strong', { text: `${i + 1}. ${s.name ?? `#${s.id}`}` }),
        h('div', { class: 'muted', text: `${s.kind.replace(/_/g, ' ')} · ${i ? `${Math.round(s.leg_m)} m from the last stop, ` : ''}${minutes(s.arrival_s)} in` }),
      );
      card.addEventListener('click', () => this.flyTo(ctx, s.lonlat));
      cards.append(card);
    }
    for (const b of result.bus_stops) {
      const next = (b.next ?? []).map((d) => `${d.route_id ?? ''} ${new Date(d.time * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`);
      buses.append(h('li', { text: `${b.name ?? 'Bus stop'} (${Math.round(b.distance_m)} m)${next.length ? `: ${next.join(', ')}` : ''}` }));
    }
    if (!result.bus_stops.length) buses.append(h('li', { class: 'muted', text: 'None within 100 m.' }));
    this.draw(ctx, result);
    this.gpxUrl = result.files?.['circuit.gpx'] ?? null;
    gpx.disabled = !this.gpxUrl;
    document.body.dataset.tour = 'shown';
  }

  private draw(ctx: AppContext, result: CircuitResult): void {
    const { viewer } = ctx;
    if (!viewer.frame) return;
    const pts = result.geometry_lonlat.coordinates.map(([lon, lat]) => viewer.onGround(lon, lat, LIFT));
    const group = new Group();
    group.name = 'tour-route';
    const geo = new BufferGeometry();
    geo.setAttribute('position', new Float32BufferAttribute(ribbon(pts, RIBBON_WIDTH), 3));
    const line = new Mesh(geo, new MeshBasicMaterial({ color: this.accessible ? '#1f78d1' : '#e4572e', depthTest: false, side: DoubleSide }));
    line.name = 'tour-line';
    line.renderOrder = 850;
    group.add(line);
    const pin = new CylinderGeometry(1.6, 1.6, 6, 16);
    const pinMat = new MeshBasicMaterial({ color: '#2e7d32', depthTest: false });
    for (const s of result.stops) {
      const m = new Mesh(pin, pinMat);
      m.position.copy(viewer.onGround(s.lonlat[0], s.lonlat[1], 3));
      m.renderOrder = 851;
      m.userData.poi = s.id;
      group.add(m);
    }
    group.userData.points = pts.length;
    viewer.overlay.add(group);
    this.group = group;
    // frame the whole walk from above, a little south
    const centre = pts.reduce((a, p) => a.add(p), new Vector3()).divideScalar(Math.max(1, pts.length));
    const r = Math.max(80, ...pts.map((p) => Math.hypot(p.x - centre.x, p.z - centre.z)));
    viewer.lookAt(new Vector3(centre.x, 1.4 * r, centre.z + 0.9 * r), centre, false);
    viewer.invalidate();
  }

  private flyTo(ctx: AppContext, [lon, lat]: [number, number]): void {
    const { viewer } = ctx;
    if (!viewer.frame) return;
    const p = viewer.onGround(lon, lat);
    viewer.lookAt(new Vector3(p.x + 40, p.y + 60, p.z + 60), p, true);
  }

  /** The GPX track through the API client (it carries the session's token), saved as a file. */
  private async download(ctx: AppContext, slug: string): Promise<void> {
    if (!this.gpxUrl) return;
    try {
      const res = await ctx.api.fetch(this.gpxUrl);
      const blob = await res.blob();
      const a = h('a', { href: URL.createObjectURL(blob), download: `${slug}${this.accessible ? '-accessible' : ''}.gpx` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    } catch (err) {
      ctx.shell.message(explain(err), 'error');
    }
  }

  private clear(ctx: AppContext): void {
    if (!this.group) return;
    for (const c of this.group.children) if (c instanceof Mesh) c.geometry.dispose();
    this.group.removeFromParent();
    this.group = null;
    ctx.viewer.invalidate();
  }

  exit(ctx: AppContext): void {
    this.clear(ctx);
    this.gpxUrl = null;
    delete document.body.dataset.tour;
    delete document.body.dataset.tourSlug;
  }

  dispose(): void {}
}
