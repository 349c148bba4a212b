/**
 * Explore (everyone): fly around, search a building, pick anything to read its metadata,
 * style buildings by height, usage or age with a legend, measure distances and heights.
 */
import type { AppContext, TwinMode } from '../app/AppContext';
import { focusBuilding } from '../app/focus';
import { explain } from '../core/ApiClient';
import { BuildingSearch, label } from '../core/BuildingSearch';
import { BUILDING_STYLES, type FeatureStyle } from '../core/Styling';
import { MeasureTool } from '../three/MeasureTool';
import type { PickResult } from '../three/TwinViewer';
import { h } from '../ui/Shell';

const FURNITURE = 'furniture';

export class ExploreMode implements TwinMode {
  readonly name = 'explore';
  readonly title = 'Explore';
  readonly route = '/explore';
  private search: BuildingSearch | null = null;
  private measureTool: MeasureTool | null = null;
  private measuring = false;
  private style: FeatureStyle = BUILDING_STYLES[0];

  enter(ctx: AppContext): void {
    this.search ??= new BuildingSearch(ctx.api);
    const { shell, viewer } = ctx;
    this.measureTool = new MeasureTool();
    viewer.overlay.add(this.measureTool.group);

    const input = h('input', { id: 'search-input', type: 'search', placeholder: 'Building id, name or address', 'aria-label': 'Search a building' });
    const results = h('ul', { id: 'search-results', class: 'results' });
    const form = h('form', { id: 'search', role: 'search' }, input, h('button', { type: 'submit', text: 'Search' }));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.runSearch(ctx, input.value, results);
    });

    const select = h('select', { id: 'style-select', 'aria-label': 'Colour buildings by' });
    for (const s of BUILDING_STYLES) select.append(h('option', { value: s.id, text: s.title, selected: s.id === this.style.id }));
    select.addEventListener('change', () => this.setStyle(ctx, BUILDING_STYLES.find((s) => s.id === select.value)!));

    const measureBtn = h('button', { id: 'measure', type: 'button', 'aria-pressed': 'false', text: 'Measure' });
    const measureOut = h('output', { id: 'measure-result', text: 'Click two points.' });
    measureOut.hidden = true;
    measureBtn.addEventListener('click', () => {
      this.measuring = !this.measuring;
      measureBtn.setAttribute('aria-pressed', String(this.measuring));
      measureOut.hidden = !this.measuring;
      measureOut.textContent = 'Click two points.';
      if (!this.measuring) this.measureTool?.clear();
      viewer.invalidate();
    });
    const furniture = h('input', { id: 'show-furniture', type: 'checkbox', checked: !!ctx.viewer.layers.get(FURNITURE) });
    furniture.disabled = !ctx.base.entry(FURNITURE);
    furniture.addEventListener('change', () => this.showFurniture(ctx, furniture.checked));
    const home = h('button', { id: 'home', type: 'button', class: 'ghost', text: 'Overview' });
    home.addEventListener('click', () => ctx.base.home());

    shell.setTools(
      h('h2', { text: 'Explore' }),
      form,
      results,
      h('label', { class: 'field' }, 'Colour by ', select),
      h('label', { class: 'check' }, furniture, ' Street furniture (lamps, benches, trees…)'),
      h('div', { class: 'row' }, measureBtn, home),
      measureOut,
      h('p', { class: 'hint', text: 'Drag to pan, right-drag or two fingers to turn, wheel or pinch to zoom, arrow keys to move, + and − to zoom, H for the overview. Click a building to read its attributes.' }),
    );
    this.setStyle(ctx, this.style);
  }

  private showFurniture(ctx: AppContext, on: boolean): void {
    if (on && !ctx.viewer.layers.get(FURNITURE)) ctx.base.addTileset(FURNITURE, null);
    if (!on) ctx.viewer.removeTileset(FURNITURE);
  }

  private setStyle(ctx: AppContext, style: FeatureStyle): void {
    this.style = style;
    ctx.base.buildings?.style.setStyle(style);
    ctx.shell.setLegend(style.attribute ? `Buildings by ${style.title.toLowerCase()}` : null, style.legend());
    document.body.dataset.style = style.id;
  }

  private async runSearch(ctx: AppContext, q: string, list: HTMLElement): Promise<void> {
    list.replaceChildren(h('li', { class: 'muted', text: 'Searching…' }));
    try {
      const found = await this.search!.search(q);
      if (!found.length) {
        list.replaceChildren(h('li', { class: 'muted', text: `No building matches “${q}”.` }));
        return;
      }
      list.replaceChildren(
        ...found.map((f) => {
          const b = h('button', { type: 'button', class: 'link', 'data-id': String(f.id), text: label(f) });
          b.addEventListener('click', () => this.show(ctx, f));
          return h('li', {}, b);
        }),
      );
      if (found.length === 1 || String(found[0].id) === q.trim()) this.show(ctx, found[0]);
    } catch (err) {
      list.replaceChildren(h('li', { class: 'error', text: explain(err) }));
    }
  }

  private show(ctx: AppContext, f: import('../core/BuildingSearch').BuildingFeature): void {
    focusBuilding(ctx, f);
    const id = Number(f.id);
    ctx.base.buildings?.style.setSelected(id);
    ctx.shell.showAttributes(`Building ${f.id}`, f.properties, 'From the Features API. Click the building for its tile metadata.');
    ctx.shell.info.dataset.featureId = String(f.id);
    ctx.shell.info.dataset.layer = 'collections/buildings';
  }

  onPick(ctx: AppContext, hit: PickResult | null): boolean {
    if (!this.measuring || !this.measureTool) return false;
    if (!hit) return true;
    const m = this.measureTool.add(hit.point);
    const out = document.getElementById('measure-result');
    if (out) {
      out.textContent = m
        ? `Distance ${m.direct.toFixed(1)} m · horizontal ${m.horizontal.toFixed(1)} m · height ${m.vertical >= 0 ? '+' : ''}${m.vertical.toFixed(1)} m`
        : 'First point set: click the second.';
      if (m) {
        out.dataset.direct = m.direct.toFixed(3);
        out.dataset.horizontal = m.horizontal.toFixed(3);
        out.dataset.vertical = m.vertical.toFixed(3);
      }
    }
    ctx.viewer.invalidate();
    return true;
  }

  exit(ctx: AppContext): void {
    this.measuring = false;
    this.measureTool?.dispose();
    this.measureTool = null;
    ctx.base.buildings?.style.setStyle(BUILDING_STYLES[0]);
    ctx.base.buildings?.style.setSelected(null);
    delete document.body.dataset.style;
  }

  dispose(): void {
    this.search = null;
  }
}
