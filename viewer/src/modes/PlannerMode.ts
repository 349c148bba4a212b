/**
 * Planner mode (`/#/planner/:slug`): planning scenarios and their edits — list, create, add a
 * building by drawing its footprint on the ground with a height, raise or remove a picked
 * building — the comparison with the baseline (`/api/analysis/scenario`), and the sun: a date
 * and time slider moves a shadow-casting sun placed by the server (`/api/analysis/sun` for the
 * view's centre), with the server's shadow polygons and a sun-hours heatmap as overlays when
 * the server offers those analyses ("not available" otherwise).
 *
 * The scenario is shown as Project mode shows a project: the baseline minus what it hides
 * (its tileset's `extras.hides`) plus its own tileset `scenario-{slug}`, reloaded after each
 * edit (the server rebuilds it before answering).
 */
import { Line, BufferGeometry, LineBasicMaterial, Raycaster, Vector2, Vector3 } from 'three';
import type { AppContext, TwinMode } from '../app/AppContext';
import { BUILDINGS } from '../app/BaseScene';
import { explain } from '../core/ApiClient';
import { localInstant, ScenarioApi, type ScenarioEdits } from '../core/ScenarioApi';
import { BUILDING_STYLES, hex, UniformStyle } from '../core/Styling';
import { findCollection, GeoOverlay, heatColour } from '../three/GeoOverlay';
import { ShadowSun } from '../three/ShadowSun';
import type { TilesetLayer } from '../three/TilesetLayer';
import type { PickResult } from '../three/TwinViewer';
import { h } from '../ui/Shell';

const AFTER_BASE = 'planner-baseline';
const PROPOSED = new UniformStyle('scenario', 'Scenario buildings', hex('#e8743b'));
const METRICS: Array<[string, string, string]> = [
  ['floor_area_baseline', 'Floor area replaced or removed', 'm²'],
  ['floor_area_scenario', 'Floor area of the scenario', 'm²'],
  ['floor_area_delta', 'Floor area added', 'm²'],
  ['dwellings_estimate', 'Dwellings (estimate)', ''],
];

export class PlannerMode implements TwinMode {
  readonly name = 'planner';
  readonly title = 'Planner';
  readonly route = '/planner/:slug?';
  private ctx: AppContext | null = null;
  private api: ScenarioApi | null = null;
  private slug: string | null = null;
  private layer: TilesetLayer | null = null;
  private baseline: TilesetLayer | null = null;
  private sun: ShadowSun | null = null;
  private shadows: GeoOverlay | null = null;
  private heat: GeoOverlay | null = null;
  private drawing: Vector3[] | null = null;
  private sketch: Line | null = null;
  private picked: number | null = null;
  private version = 0;
  private sunTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly onCanvasClick = (e: MouseEvent) => this.drawClick(e);

  async enter(ctx: AppContext, params: Record<string, string>): Promise<void> {
    this.ctx = ctx;
    this.api = new ScenarioApi(ctx.api);
    const { shell } = ctx;
    const scenarios = await this.api.list();
    this.slug = scenarios.find((s) => s.slug === params.slug)?.slug ?? scenarios[0]?.slug ?? null;
    if (this.slug && params.slug !== this.slug) history.replaceState(null, '', `#/planner/${encodeURIComponent(this.slug)}`);
    document.body.dataset.scenario = this.slug ?? '';

    const list = h('ul', { id: 'scenario-list', class: 'results' },
      ...scenarios.map((s) => h('li', {}, h('a', { href: `#/planner/${encodeURIComponent(s.slug)}`, 'aria-current': s.slug === this.slug ? 'true' : undefined, text: `${s.name} (${s.added} added, ${s.raised} raised, ${s.removed} removed)` }))),
    ); // prettier-ignore
    const slugIn = h('input', { id: 'scenario-slug', type: 'text', placeholder: 'new-scenario', 'aria-label': 'New scenario slug', pattern: '[a-z0-9][a-z0-9\\-]*' });
    const nameIn = h('input', { id: 'scenario-name', type: 'text', placeholder: 'Name', 'aria-label': 'New scenario name' });
    const create = h('form', { id: 'scenario-create' }, slugIn, nameIn, h('button', { type: 'submit', text: 'Create scenario' }));
    create.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.act(async () => {
        await this.api!.create(slugIn.value.trim(), nameIn.value.trim());
        ctx.go(`#/planner/${encodeURIComponent(slugIn.value.trim())}`);
      });
    });

    const heightIn = h('input', { id: 'edit-height', type: 'number', min: 1, max: 999, step: 0.5, value: 20, 'aria-label': 'Height (m)' });
    const edits = h('div', { id: 'scenario-edits' });
    const tools = h('div', { id: 'edit-tools', class: 'row' },
      this.button('draw-start', 'Draw a building', () => this.startDrawing()),
      this.button('draw-finish', 'Add it', () => void this.finishDrawing(Number(heightIn.value))),
      this.button('raise-go', 'Raise picked', () => void this.edit((s, id) => this.api!.raise(s, id, Number(heightIn.value)))),
      this.button('remove-go', 'Remove picked', () => void this.edit((s, id) => this.api!.removeBuilding(s, id))),
    ); // prettier-ignore
    const picked = h('output', { id: 'picked', text: 'Click a building to raise or remove it; draw a footprint on the ground to add one.' });
    const metrics = h('dl', { id: 'metrics' });

    const today = new Date();
    const day = h('input', { id: 'sun-date', type: 'date', value: `${today.getFullYear()}-06-21`, 'aria-label': 'Date' });
    const time = h('input', { id: 'sun-time', type: 'range', min: 0, max: 1430, step: 10, value: 14 * 60, 'aria-label': 'Time of day' });
    const sunOut = h('output', { id: 'sun-readout' });
    const schedule = () => {
      clearTimeout(this.sunTimer);
      this.sunTimer = setTimeout(() => void this.updateSun(day.value, Number(time.value), sunOut), 60);
    };
    day.addEventListener('input', schedule);
    time.addEventListener('input', schedule);
    const overlayOut = h('output', { id: 'overlay-status' });
    const shadowBox = h('input', { id: 'overlay-shadows', type: 'checkbox' });
    const heatBox = h('input', { id: 'overlay-sunhours', type: 'checkbox' });
    shadowBox.addEventListener('change', () => void this.overlays(day.value, Number(time.value), shadowBox.checked, heatBox.checked, overlayOut));
    heatBox.addEventListener('change', () => void this.overlays(day.value, Number(time.value), shadowBox.checked, heatBox.checked, overlayOut));

    shell.setTools(
      h('h2', { text: 'Planner: scenarios' }),
      list,
      create,
      this.slug ? h('h3', { text: `Scenario ${this.slug}` }) : h('p', { class: 'notice', text: 'No scenario yet: create one.' }),
      this.slug ? h('div', {}, h('label', { class: 'field' }, 'Height (m) ', heightIn), tools, picked, edits) : null,
      this.slug ? h('h3', { text: 'Compared with today' }) : null,
      this.slug ? metrics : null,
      h('h3', { text: 'Sun and shadows' }),
      h('label', { class: 'field' }, 'Date ', day),
      h('label', { class: 'field' }, 'Time ', time),
      sunOut,
      h('label', { class: 'field' }, shadowBox, ' Shadow polygons (server)'),
      h('label', { class: 'field' }, heatBox, ' Sun-hours heatmap (server)'),
      overlayOut,
    );
    this.sun = new ShadowSun(ctx.viewer);
    this.shadows = new GeoOverlay(ctx.viewer, 'planner-shadows');
    this.heat = new GeoOverlay(ctx.viewer, 'planner-sunhours', 0.4);
    ctx.viewer.renderer.domElement.addEventListener('click', this.onCanvasClick);
    await this.updateSun(day.value, Number(time.value), sunOut);
    if (this.slug) {
      await this.reload();
      await this.refreshEdits(edits, metrics);
    }
  }

  private button(id: string, text: string, fn: () => void): HTMLButtonElement {
    const b = h('button', { id, type: 'button', text });
    b.addEventListener('click', fn);
    return b;
  }

  /** Run an action; say what went wrong in the shell's message line. */
  private async act(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.ctx?.shell.message(explain(err), 'error');
      document.body.dataset.plannerError = explain(err);
    }
  }

  /** (Re)load the scenario's tileset and the baseline without what it hides. */
  private async reload(): Promise<void> {
    const ctx = this.ctx!;
    const name = `scenario-${this.slug}`;
    this.version++;
    if (this.layer) ctx.viewer.removeTileset(this.layer.name);
    if (this.baseline) ctx.viewer.removeTileset(this.baseline.name);
    this.layer = null;
    // an empty scenario has no tileset yet (the catalog lists the built ones)
    if ((await ctx.base.refreshCatalog()).some((e) => e.name === name)) {
      this.layer = ctx.viewer.addTileset({ name, url: `${ctx.base.tilesetUrl(name)}?v=${Date.now()}`, style: PROPOSED, headers: () => ctx.api.headers() });
      try {
        await this.layer.ready;
      } catch (err) {
        ctx.shell.message(`The scenario's buildings did not load: ${explain(err)}`, 'warning');
      }
    }
    const extras = (this.layer?.tiles.rootTileset as { extras?: { hides?: { ids?: number[] } } } | null)?.extras;
    const hidden = new Set((extras?.hides?.ids ?? []).map(Number));
    this.baseline = ctx.viewer.addTileset({ name: AFTER_BASE, url: ctx.base.tilesetUrl(BUILDINGS), style: BUILDING_STYLES[0], headers: () => ctx.api.headers() });
    this.baseline.style.setFilter((p) => !hidden.has(Number(p.id)));
    ctx.base.buildings?.setVisible(false);
    document.body.dataset.hidden = [...hidden].sort((a, b) => a - b).join(',');
    document.body.dataset.scenarioVersion = String(this.version);
    ctx.viewer.invalidate(true);
  }

  private async refreshEdits(edits: HTMLElement | null = null, metrics: HTMLElement | null = null): Promise<void> {
    const out = edits ?? document.getElementById('scenario-edits');
    const dl = metrics ?? document.getElementById('metrics');
    if (!this.slug || !out || !dl) return;
    const e: ScenarioEdits = await this.api!.get(this.slug);
    out.replaceChildren(
      h('p', { text: `${e.added.length} added, ${e.raised.length} raised, ${e.removed.length} removed` }),
      h('ul', { class: 'results' },
        ...e.added.map((a) => h('li', { text: `+ ${a.name ?? 'building'} ${a.id}: ${a.height} m, ${a.footprint_area} m²` })),
        ...e.raised.map((r) => h('li', { text: `↑ building ${r.replaces} to ${r.height} m` })),
        ...e.removed.map((id) => h('li', { text: `− building ${id}` })),
      ),
    ); // prettier-ignore
    dl.replaceChildren(h('dt', { text: 'Comparing…' }));
    const doc = await this.api!.analysis<Record<string, unknown>>('scenario', { scenario: this.slug });
    if (!doc) {
      dl.replaceChildren(h('dt', { text: 'The comparison is not available on this server.' }));
      return;
    }
    const fmt = (v: unknown) => (typeof v === 'number' ? Math.round(v).toLocaleString('en') : '–');
    dl.replaceChildren(...METRICS.flatMap(([k, label, unit]) => [h('dt', { text: label }), h('dd', { 'data-key': k, text: `${fmt(doc[k])} ${unit}`.trim() })]));
    const p = doc.dwellings_parameters as Record<string, unknown> | undefined;
    if (p) dl.append(h('dd', { class: 'note', text: `at ${p.dwelling_size_m2} m² a dwelling, ${Number(p.residential_share) * 100}% of residential floor area` }));
    dl.dataset.delta = String(doc.floor_area_delta);
  }

  private async edit(fn: (slug: string, id: number) => Promise<unknown>): Promise<void> {
    await this.act(async () => {
      if (!this.slug) throw new Error('Create or choose a scenario first.');
      if (this.picked === null) throw new Error('Click a building first.');
      await fn(this.slug, this.picked);
      this.picked = null;
      await this.reload();
      await this.refreshEdits();
    });
  }

  private startDrawing(): void {
    this.drawing = [];
    document.body.dataset.drawing = '0';
    this.ctx?.shell.message('Click the corners of the footprint on the ground, then "Add it".', 'info');
  }

  /** A click on the ground while drawing adds a corner (the ground, not a roof). */
  private drawClick(e: MouseEvent): void {
    if (!this.drawing || !this.ctx) return;
    const v = this.ctx.viewer;
    const r = v.renderer.domElement.getBoundingClientRect();
    const ndc = new Vector2(((e.clientX - r.left) / r.width) * 2 - 1, -((e.clientY - r.top) / r.height) * 2 + 1);
    const ray = new Raycaster();
    ray.setFromCamera(ndc, v.camera);
    const p = v.groundAlong(ray.ray);
    if (!p) return;
    this.drawing.push(p);
    document.body.dataset.drawing = String(this.drawing.length);
    if (this.sketch) v.overlay.remove(this.sketch);
    const pts = [...this.drawing, this.drawing[0]].map((q) => q.clone().setY(q.y + 0.5));
    this.sketch = new Line(new BufferGeometry().setFromPoints(pts), new LineBasicMaterial({ color: '#e8743b' }));
    v.overlay.add(this.sketch);
    v.invalidate(true);
  }

  private async finishDrawing(height: number): Promise<void> {
    await this.act(async () => {
      const pts = this.drawing ?? [];
      if (!this.slug) throw new Error('Create or choose a scenario first.');
      if (pts.length < 3) throw new Error('Click at least three corners of the footprint on the ground first.');
      const ring = pts.map((p) => {
        const g = this.ctx!.viewer.geodetic(p);
        return [g[0], g[1]] as [number, number];
      });
      this.drawing = null;
      if (this.sketch) this.ctx!.viewer.overlay.remove(this.sketch);
      this.sketch = null;
      await this.api!.addFootprint(this.slug, ring, height);
      delete document.body.dataset.drawing;
      await this.reload();
      await this.refreshEdits();
    });
  }

  /** The sun for the view's centre at that local time, from the server. */
  private async updateSun(day: string, minutes: number, out: HTMLElement): Promise<void> {
    const v = this.ctx?.viewer;
    if (!v?.frame || !this.sun) return;
    const [lon, lat] = v.geodetic(v.controls.target);
    const at = localInstant(day, minutes);
    await this.act(async () => {
      const s = await this.api!.sun(lon, lat, at);
      this.sun!.setSun(s.azimuth, s.apparent_elevation);
      out.textContent = `${at}: sun at azimuth ${s.azimuth.toFixed(1)}°, elevation ${s.apparent_elevation.toFixed(1)}°${s.apparent_elevation <= 0 ? ' (night: no shadows)' : ''}`;
      Object.assign(document.body.dataset, { sunAt: at, sunAzimuth: String(s.azimuth), sunElevation: String(s.apparent_elevation), sunLon: String(lon), sunLat: String(lat) });
    });
    const shadows = (document.getElementById('overlay-shadows') as HTMLInputElement | null)?.checked ?? false;
    const heat = (document.getElementById('overlay-sunhours') as HTMLInputElement | null)?.checked ?? false;
    if (shadows || heat) await this.overlays(day, minutes, shadows, heat, document.getElementById('overlay-status')!);
  }

  /** The server's shadow polygons and sun-hours heatmap, or "not available". */
  private async overlays(day: string, minutes: number, shadows: boolean, heat: boolean, out: HTMLElement): Promise<void> {
    const said: string[] = [];
    const scenario = this.slug ?? undefined;
    await this.act(async () => {
      this.shadows?.clear();
      this.heat?.clear();
      if (shadows) {
        const doc = await this.api!.analysis('shadows', { at: localInstant(day, minutes), scenario });
        const fc = findCollection(doc);
        if (!doc) said.push('Shadow polygons: not available on this server.');
        else said.push(`Shadow polygons: ${fc ? this.shadows!.show(fc, () => heatColour(0, 1).setRGB(0.1, 0.1, 0.2), 0.45) : 0}.`);
      }
      if (heat) {
        const doc = await this.api!.analysis('sunhours', { date: day, scenario });
        const fc = findCollection(doc);
        if (!doc) said.push('Sun-hours heatmap: not available on this server.');
        else if (fc) {
          const max = Math.max(1, ...fc.features.map((f) => Number(f.properties?.sun_hours ?? 0)));
          said.push(`Sun-hours heatmap: ${this.heat!.show(fc, (p) => heatColour(Number(p.sun_hours ?? 0), max), 0.7)} cells.`);
        }
      }
    });
    out.textContent = said.join(' ');
    out.dataset.state = said.some((s) => s.includes('not available')) ? 'unavailable' : 'shown';
  }

  onPick(_ctx: AppContext, hit: PickResult | null): boolean {
    if (this.drawing) return true; // a corner, not a selection
    const id = hit?.feature?.className === 'building' ? Number(hit.feature.props.id) : null;
    this.picked = id;
    const out = document.getElementById('picked');
    if (out) out.textContent = id === null ? 'No building picked.' : `Building ${id} picked (${hit?.layer === this.layer?.name ? 'of the scenario' : 'existing'}).`;
    document.body.dataset.picked = id === null ? '' : String(id);
    return false;
  }

  exit(ctx: AppContext): void {
    clearTimeout(this.sunTimer);
    ctx.viewer.renderer.domElement.removeEventListener('click', this.onCanvasClick);
    if (this.layer) ctx.viewer.removeTileset(this.layer.name);
    if (this.baseline) ctx.viewer.removeTileset(this.baseline.name);
    if (this.sketch) ctx.viewer.overlay.remove(this.sketch);
    this.sun?.dispose();
    this.shadows?.dispose();
    this.heat?.dispose();
    this.layer = this.baseline = this.sun = this.shadows = this.heat = this.sketch = null;
    this.drawing = null;
    this.picked = null;
    ctx.base.buildings?.setVisible(true);
    for (const k of ['scenario', 'hidden', 'scenarioVersion', 'drawing', 'picked', 'sunAt', 'sunAzimuth', 'sunElevation', 'sunLon', 'sunLat', 'plannerError']) delete document.body.dataset[k];
  }

  dispose(): void {
    this.ctx = null;
  }
}
