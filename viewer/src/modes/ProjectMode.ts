/**
 * Project preview (citizens): list urban projects, see the district before and after (toggle,
 * swipe or side by side) and "stand on my balcony": choose a building and a floor, and the
 * camera stands at that window, looking towards the project.
 *
 * "After" is the baseline buildings minus those the project replaces or removes (listed in
 * the project tileset's `extras.hides`) plus the project's own tileset `project-{slug}`.
 */
import { Vector3 } from 'three';
import type { AppContext, TwinMode } from '../app/AppContext';
import { BUILDINGS } from '../app/BaseScene';
import { explain } from '../core/ApiClient';
import { type BuildingFeature, BuildingSearch } from '../core/BuildingSearch';
import { centroid, closestOnRing, outerRing, type XY } from '../core/Polygon';
import { BUILDING_STYLES, hex, UniformStyle } from '../core/Styling';
import type { TilesetLayer } from '../three/TilesetLayer';
import type { PickResult } from '../three/TwinViewer';
import { h } from '../ui/Shell';
import { BalconyView, bearing } from './BalconyView';

export type CompareChoice = 'before' | 'after' | 'swipe' | 'side';
/** eye height above the floor, metres */
export const EYE_HEIGHT = 1.5;
/** storey height used when a building has no level count */
export const DEFAULT_STOREY = 3.0;
const AFTER_BASE = 'buildings-after';
const PROPOSED = new UniformStyle('proposed', 'Proposed buildings', hex('#f39c52'));

interface ProjectFeature {
  id: string | number;
  geometry: { type: string; coordinates: unknown } | null;
  properties: { slug?: string; name?: string; description?: string; status?: string };
}

/** Where the balcony camera stands (pure: the test recomputes it the same way). */
export function balconyHeight(props: Record<string, unknown>, floor: number): { eye: number; storey: number; floors: number } {
  const base = Number(props.base_z ?? 0);
  const height = Number(props.height ?? 0);
  const levels = Number(props.levels ?? -1);
  const floors = levels > 0 ? levels : Math.max(1, Math.floor(height / DEFAULT_STOREY));
  const storey = levels > 0 ? height / levels : DEFAULT_STOREY;
  return { eye: base + floor * storey + EYE_HEIGHT, storey, floors };
}

export class ProjectMode implements TwinMode {
  readonly name = 'project';
  readonly title = 'Projects';
  readonly route = '/project/:slug?';
  choice: CompareChoice = 'after';
  private after: TilesetLayer | null = null;
  private afterBase: TilesetLayer | null = null;
  private site: XY | null = null;
  private search: BuildingSearch | null = null;
  private building: BuildingFeature | null = null;
  private ctx: AppContext | null = null;
  private divider: HTMLElement | null = null;
  private view: BalconyView | null = null;
  private slug: string | null = null;

  async enter(ctx: AppContext, params: Record<string, string>): Promise<void> {
    this.ctx = ctx;
    this.search ??= new BuildingSearch(ctx.api);
    const { api, shell, base } = ctx;
    const page = await api.json<{ features: ProjectFeature[] }>('/collections/projects/items?limit=100');
    const projects = page.features;
    if (!projects.length) {
      shell.setTools(h('h2', { text: 'Urban projects' }), h('p', { class: 'notice', text: 'No urban project is open for preview.' }));
      return;
    }
    const slugOf = (p: ProjectFeature) => String(p.properties.slug ?? p.id);
    const project = projects.find((p) => slugOf(p) === params.slug) ?? projects[0];
    const slug = slugOf(project);
    if (params.slug !== slug) history.replaceState(null, '', `#/project/${encodeURIComponent(slug)}`);
    document.body.dataset.project = slug;
    this.slug = slug;
    this.view?.dispose();
    this.view = new BalconyView(api, shell.view);

    const list = h(
      'ul',
      { id: 'project-list', class: 'results' },
      ...projects.map((p) =>
        h('li', {}, h('a', { href: `#/project/${encodeURIComponent(slugOf(p))}`, 'aria-current': p === project ? 'true' : undefined, text: p.properties.name ?? slugOf(p) })),
      ),
    );
    const compare = h('div', { id: 'compare', class: 'segmented', role: 'radiogroup', 'aria-label': 'Compare' });
    for (const [value, text] of [['before', 'Before'], ['after', 'After'], ['swipe', 'Swipe'], ['side', 'Side by side']] as const) {
      const b = h('button', { type: 'button', id: `compare-${value}`, role: 'radio', 'aria-checked': String(value === this.choice), text });
      b.addEventListener('click', () => this.setChoice(value));
      compare.append(b);
    }
    const slider = h('input', { id: 'swipe-slider', type: 'range', min: 5, max: 95, value: 50, 'aria-label': 'Swipe position' });
    slider.addEventListener('input', () => this.setSplit(Number(slider.value) / 100));
    this.divider = this.makeDivider(ctx, slider);

    const bInput = h('input', { id: 'balcony-building', type: 'text', inputmode: 'numeric', placeholder: 'Building id (or click one)', 'aria-label': 'Building' });
    const floorSel = h('select', { id: 'balcony-floor', 'aria-label': 'Floor' }, h('option', { value: '0', text: 'Ground floor' }));
    const go = h('button', { id: 'balcony-go', type: 'submit', text: 'Stand on my balcony' });
    const out = h('output', { id: 'balcony-result' });
    const summary = h('div', { id: 'balcony-summary', 'aria-live': 'polite' });
    const form = h('form', { id: 'balcony' }, h('label', { class: 'field' }, 'Building ', bInput), h('label', { class: 'field' }, 'Floor ', floorSel), go, out, summary);
    bInput.addEventListener('change', () => void this.chooseBuilding(bInput.value, floorSel));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void (async () => {
        if (!this.building || String(this.building.id) !== bInput.value.trim()) await this.chooseBuilding(bInput.value, floorSel);
        await this.balcony(Number(floorSel.value || 0), out);
      })();
    });

    shell.setTools(
      h('h2', { text: project.properties.name ?? slug }),
      project.properties.description ? h('p', { text: project.properties.description }) : null,
      list,
      h('h3', { text: 'Before / after' }),
      compare,
      h('label', { class: 'field swipe-only' }, 'Swipe ', slider),
      h('h3', { text: 'Stand on my balcony' }),
      form,
    );

    // the site, the project's buildings, and the baseline without what they replace
    const ring = outerRing(project.geometry);
    this.site = ring.length ? centroid(ring) : null;
    await base.refreshCatalog();
    const name = base.entry(`project-${slug}`) ? `project-${slug}` : base.catalog.find((e) => e.name.startsWith('scenario-'))?.name;
    if (!name) {
      shell.message(`No tileset for project ${slug} yet: build it with \`twin tiles build\`.`, 'warning');
      return;
    }
    try {
      this.after = base.addTileset(name, PROPOSED);
      await this.after.ready;
    } catch (err) {
      shell.message(`The project's buildings did not load: ${explain(err)}`, 'warning');
      this.after = null;
      return;
    }
    const extras = (this.after.tiles.rootTileset as { extras?: { hides?: { ids?: number[] } } } | null)?.extras;
    const hidden = new Set((extras?.hides?.ids ?? []).map(Number));
    this.afterBase = ctx.viewer.addTileset({
      name: AFTER_BASE,
      url: base.tilesetUrl(BUILDINGS),
      style: BUILDING_STYLES[0],
      headers: () => api.headers(),
    });
    this.afterBase.style.setFilter((p) => !hidden.has(Number(p.id)));
    document.body.dataset.hidden = String(hidden.size);
    this.setChoice(this.choice);
    // frame the project's own buildings (their tileset's bounding volume)
    const frame = ctx.viewer.frame!;
    const pts = this.after.corners().map((p) => new Vector3(...frame.ecefToLocal([p.x, p.y, p.z])));
    if (pts.length) {
      const c = pts.reduce((a, b) => a.add(b), new Vector3()).multiplyScalar(1 / pts.length);
      const r = Math.max(...pts.map((p) => Math.hypot(p.x - c.x, p.z - c.z)));
      c.y = ctx.viewer.groundY(c.x, c.z);
      ctx.viewer.overview(c, Math.max(90, r * 2.2), false);
    } else if (this.site) {
      ctx.viewer.overview(ctx.viewer.onGround(this.site[0], this.site[1]), 160, false);
    }
  }

  /** The line on the view between before (left) and after (right): drag it to swipe. */
  private makeDivider(ctx: AppContext, slider: HTMLInputElement): HTMLElement {
    const line = h(
      'div',
      { id: 'swipe-line', hidden: true, role: 'separator', 'aria-label': 'Drag to compare' },
      h('span', { class: 'tag left', text: 'Before' }),
      h('span', { class: 'grip', text: '⇔' }),
      h('span', { class: 'tag right', text: 'After' }),
    );
    let dragging = false;
    line.addEventListener('pointerdown', (e) => {
      dragging = true;
      line.setPointerCapture(e.pointerId);
    });
    line.addEventListener('pointermove', (e) => {
      if (!dragging) return;
      const r = ctx.shell.view.getBoundingClientRect();
      const split = Math.min(0.95, Math.max(0.05, (e.clientX - r.left) / r.width));
      slider.value = String(Math.round(split * 100));
      this.setSplit(split);
    });
    line.addEventListener('pointerup', () => (dragging = false));
    ctx.shell.view.append(line);
    return line;
  }

  private setSplit(split: number): void {
    this.ctx?.viewer.setCompare({ split });
    if (this.divider) this.divider.style.left = `${split * 100}%`;
  }

  setChoice(choice: CompareChoice): void {
    const ctx = this.ctx;
    if (!ctx) return;
    this.choice = choice;
    document.body.dataset.compare = choice;
    document.querySelectorAll('#compare [role=radio]').forEach((b) => b.setAttribute('aria-checked', String(b.id === `compare-${choice}`)));
    const before = ctx.base.buildings;
    const afterNames = [AFTER_BASE, this.after?.name].filter((n): n is string => !!n);
    if (this.divider) {
      this.divider.hidden = choice !== 'swipe' && choice !== 'side';
      this.divider.classList.toggle('fixed', choice === 'side');
      this.divider.style.left = choice === 'side' ? '50%' : `${ctx.viewer.compare.split * 100}%`;
    }
    if (choice === 'swipe' || choice === 'side') {
      ctx.viewer.setCompare({ mode: choice, left: [BUILDINGS], right: afterNames });
    } else {
      ctx.viewer.setCompare({ mode: 'off' });
      before?.setVisible(choice === 'before');
      this.afterBase?.setVisible(choice === 'after');
      this.after?.setVisible(choice === 'after');
    }
    ctx.viewer.invalidate();
  }

  private async chooseBuilding(id: string, floorSel: HTMLSelectElement): Promise<void> {
    const f = id.trim() ? await this.search!.byId(id.trim()) : null;
    this.building = f;
    const out = document.getElementById('balcony-result');
    if (!f) {
      if (out) out.textContent = id.trim() ? `No building ${id}.` : '';
      return;
    }
    const { floors } = balconyHeight(f.properties, 0);
    floorSel.replaceChildren(
      ...Array.from({ length: floors }, (_, i) => h('option', { value: String(i), text: i === 0 ? 'Ground floor' : `Floor ${i}` })),
    );
    floorSel.value = String(Math.min(floors - 1, Math.max(0, floors - 2)));
  }

  /** Put the camera at the chosen floor's window of the building, looking at the project. */
  async balcony(floor: number, out: HTMLElement): Promise<void> {
    const ctx = this.ctx!;
    const f = this.building;
    if (!f) {
      out.textContent = 'Choose a building first (type its id or click it).';
      return;
    }
    const ring = outerRing(f.geometry);
    if (!ring.length) return;
    const v = ctx.viewer;
    const { eye, storey } = balconyHeight(f.properties, floor);
    const toLocal = ([lon, lat]: XY) => {
      const p = v.local(lon, lat, eye);
      return [p.x, p.z] as XY;
    };
    const local = ring.map(toLocal);
    const c = centroid(local);
    const target: XY = this.site ? toLocal(this.site) : [c[0], c[1] - 100];
    const q = closestOnRing(local, target);
    let dir: XY = [target[0] - q[0], target[1] - q[1]];
    let len = Math.hypot(dir[0], dir[1]);
    if (len < 1) {
      dir = [q[0] - c[0], q[1] - c[1]];
      len = Math.hypot(dir[0], dir[1]) || 1;
    }
    dir = [dir[0] / len, dir[1] / len];
    // a step outside the wall, at eye height above the chosen floor
    const ground = v.geodetic(new Vector3(q[0] + dir[0] * 0.8, 0, q[1] + dir[1] * 0.8));
    const pos = v.local(ground[0], ground[1], eye);
    const look = v.geodetic(new Vector3(pos.x + dir[0] * 40, 0, pos.z + dir[1] * 40));
    const lookAt = v.local(look[0], look[1], eye);
    v.lookAt(pos, lookAt, false);
    ctx.base.buildings?.style.setSelected(Number(f.id));
    out.textContent = `Floor ${floor} of building ${f.id}: eye at ${eye.toFixed(1)} m (storey ${storey.toFixed(2)} m). Use Before / After to compare the view.`;
    out.dataset.eye = eye.toFixed(3);
    document.body.dataset.balcony = eye.toFixed(3);
    // the server's panoramas, sky-view factor and blocked shares from where the camera stands
    const summary = document.getElementById('balcony-summary');
    const heading = bearing([ground[0], ground[1]], [look[0], look[1]]);
    if (!summary || !this.view) return;
    const res = await this.view.show({ building: Number(f.id), floor, heading, scenario: this.slug ?? undefined }, summary);
    if (res) {
      // stand where the server looked from (the same rule; a shared wall moves it along)
      const at = v.local(res.eye.lon, res.eye.lat, res.eye_z);
      v.lookAt(at, at.clone().add(lookAt.clone().sub(pos)), false);
    }
  }

  onPick(ctx: AppContext, hit: PickResult | null): boolean {
    const id = hit?.feature?.className === 'building' ? hit.feature.props.id : undefined;
    if (id !== undefined) {
      const input = document.getElementById('balcony-building') as HTMLInputElement | null;
      const sel = document.getElementById('balcony-floor') as HTMLSelectElement | null;
      if (input && sel && hit?.layer !== this.after?.name) {
        input.value = String(id);
        void this.chooseBuilding(String(id), sel);
      }
    }
    void ctx;
    return false; // the attributes are shown as usual
  }

  exit(ctx: AppContext): void {
    ctx.viewer.setCompare({ mode: 'off' });
    this.divider?.remove();
    this.divider = null;
    this.view?.dispose();
    this.view = null;
    if (this.after) ctx.viewer.removeTileset(this.after.name);
    if (this.afterBase) ctx.viewer.removeTileset(this.afterBase.name);
    this.after = null;
    this.afterBase = null;
    this.building = null;
    ctx.base.buildings?.setVisible(true);
    ctx.base.buildings?.style.setSelected(null);
    for (const k of ['project', 'compare', 'balcony', 'hidden']) delete document.body.dataset[k];
  }

  dispose(): void {
    this.ctx = null;
  }
}
