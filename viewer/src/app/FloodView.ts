/**
 * The operator's flood view (in Operations): pick a gauge and run the flood analysis for its
 * latest reading, or watch: when a gauge rule with a `flood` action fires, the extent arrives
 * on `/ws/live` (`{"type": "flood"}`) and is drawn at once. The extent is drawn over the 3D
 * city (FloodLayer); the summary gives the level, the flooded area, the deepest water, and
 * the buildings and roads under it.
 */
import { explain } from '../core/ApiClient';
import { type FloodExtent, FloodLayer } from '../three/FloodLayer';
import { h } from '../ui/Shell';
import type { AppContext } from './AppContext';
import type { LiveFeed } from './LiveFeed';

/** What the flood analysis (`POST /api/analysis/flood`) and the live message share. */
export interface FloodDoc {
  level_m: number;
  flooded_area_m2: number;
  max_depth_m: number;
  extent: FloodExtent;
  buildings: unknown[] | number;
  roads_cut: unknown[] | number;
  device_id?: string;
  rule?: string;
  at?: string;
  error?: string;
  gauge?: { device_id: string };
}

export class FloodView {
  readonly el: HTMLElement;
  layer: FloodLayer | null = null;
  private readonly select: HTMLSelectElement;
  private readonly summary: HTMLElement;
  private readonly onLive: (e: Event) => void;

  constructor(
    private readonly ctx: AppContext,
    private readonly feed: LiveFeed,
  ) {
    this.select = h('select', { id: 'flood-gauge', 'aria-label': 'Gauge' }) as HTMLSelectElement;
    const run = h('button', { id: 'flood-run', type: 'button', text: 'Flood from this gauge' });
    run.addEventListener('click', () => void this.run(this.select.value));
    const clear = h('button', { id: 'flood-clear', type: 'button', class: 'link', text: 'Clear' });
    clear.addEventListener('click', () => this.clear());
    this.summary = h('p', { id: 'flood-summary', class: 'muted', text: 'No flood drawn. A gauge rule with a flood action draws its extent here when it fires.' });
    this.el = h('div', { id: 'ops-flood' }, h('h3', { text: 'Flood' }), h('div', { class: 'row' }, this.select, run, clear), this.summary);
    this.onLive = (e) => this.show((e as CustomEvent<FloodDoc>).detail, 'live');
    feed.client.addEventListener('flood', this.onLive);
  }

  /** The gauges the feed knows, in the picker (called when the registry changes). */
  refresh(): void {
    const gauges = [...this.feed.state.devices.values()].filter((d) => d.type.includes('gauge')).map((d) => d.id).sort();
    const had = this.select.value;
    this.select.replaceChildren(...gauges.map((id) => h('option', { value: id, text: id })));
    if (gauges.includes(had)) this.select.value = had;
    this.el.dataset.gauges = String(gauges.length);
  }

  async run(gauge: string): Promise<void> {
    if (!gauge) return;
    document.body.dataset.flood = 'running';
    try {
      const doc = await this.ctx.api.post<FloodDoc>('/api/analysis/flood', { gauge });
      this.show(doc, 'asked');
    } catch (err) {
      document.body.dataset.flood = 'failed';
      this.summary.textContent = explain(err);
    }
  }

  show(doc: FloodDoc, origin: 'asked' | 'live'): void {
    const frame = this.ctx.viewer.frame;
    const count = (v: unknown[] | number) => (typeof v === 'number' ? v : v.length);
    const who = doc.device_id ?? doc.gauge?.device_id ?? '';
    if (doc.error) {
      this.summary.textContent = `${who}: ${doc.error}`;
      document.body.dataset.flood = 'failed';
      return;
    }
    this.layer?.dispose();
    this.layer = null;
    if (frame) {
      // the level is in the DEM's heights: the water's surface where the viewer has the DEM
      this.layer = new FloodLayer(frame, doc.extent, this.ctx.viewer.terrain ? doc.level_m : null);
      this.ctx.viewer.overlay.add(this.layer.group);
      this.ctx.viewer.invalidate();
    }
    const by = origin === 'live' ? `live, rule ${doc.rule ?? ''}` : 'asked';
    this.summary.className = 'flood';
    this.summary.dataset.area = String(doc.flooded_area_m2);
    this.summary.dataset.origin = origin;
    this.summary.textContent =
      `${who} (${by}): water at ${doc.level_m.toFixed(2)} m floods ${Math.round(doc.flooded_area_m2).toLocaleString('en')} m², ` +
      `deepest ${doc.max_depth_m.toFixed(2)} m; ${count(doc.buildings)} building(s), ${count(doc.roads_cut)} road(s) cut.`;
    document.body.dataset.flood = 'shown';
  }

  clear(): void {
    this.layer?.dispose();
    this.layer = null;
    this.ctx.viewer.invalidate();
    delete document.body.dataset.flood;
  }

  dispose(): void {
    this.feed.client.removeEventListener('flood', this.onLive);
    this.clear();
  }
}
