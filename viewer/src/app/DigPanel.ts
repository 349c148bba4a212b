/**
 * The dig tool of Underground mode: draw the dig's outline on the ground (one click per
 * corner), set its depth, ask the server (`POST /api/analysis/dig`, the same analysis as
 * `twin analyse dig`), then see the conflicts listed and highlighted at their depth, with
 * links to the HTML and PDF reports. The polygon goes to the server in lon/lat (RFC 7946),
 * from the viewer's local frame.
 */
import type { Vector3 } from 'three';
import { Vector3 as V3 } from 'three';
import { explain } from '../core/ApiClient';
import { NETWORK_COLORS } from '../core/Styling';
import { DigOutline } from '../three/DigOutline';
import { h } from '../ui/Shell';
import type { AppContext } from './AppContext';

export interface DigConflict {
  source_id: string;
  element: string;
  network: string;
  depth_m: number;
  diameter_mm: number | null;
  material: string | null;
  operator: string | null;
  location_class: string;
  distance_m: number;
  investigations: boolean;
  geometry: { type: string; coordinates: number[] | number[][] };
}

interface DigResult {
  conflicts: DigConflict[];
  count: number;
  investigations_needed: number;
  files?: Record<string, string>;
}

export class DigPanel {
  readonly outline = new DigOutline();
  drawing = false;
  private readonly blobs: string[] = [];
  readonly el: HTMLElement;
  private readonly list = h('ol', { id: 'dig-conflicts', class: 'results' });
  private readonly status = h('p', { id: 'dig-status', class: 'muted', text: 'Draw the dig: click its corners on the ground.' });
  private readonly depth = h('input', { id: 'dig-depth', type: 'number', min: 0.1, max: 30, step: 0.1, value: 1.5, 'aria-label': 'Dig depth (m)' });
  private readonly reports = h('p', { id: 'dig-reports' });
  private readonly drawBtn = h('button', { id: 'dig-draw', type: 'button', 'aria-pressed': 'false', text: 'Draw a dig' });

  constructor(private readonly ctx: AppContext) {
    ctx.viewer.overlay.add(this.outline.group);
    const check = h('button', { id: 'dig-check', type: 'button', text: 'Check the dig' });
    const clear = h('button', { id: 'dig-clear', type: 'button', class: 'ghost', text: 'Clear' });
    this.drawBtn.addEventListener('click', () => this.setDrawing(!this.drawing));
    check.addEventListener('click', () => void this.check());
    clear.addEventListener('click', () => this.clear());
    this.el = h(
      'fieldset',
      { id: 'dig-panel' },
      h('legend', { text: 'Dig tool (DT-DICT)' }),
      h('div', { class: 'row' }, this.drawBtn, clear),
      h('label', { class: 'field' }, 'Depth (m) ', this.depth),
      check,
      this.status,
      this.list,
      this.reports,
    );
  }

  setDrawing(on: boolean): void {
    this.drawing = on;
    this.drawBtn.setAttribute('aria-pressed', String(on));
  }

  /** a click on the scene while drawing: one more corner */
  addCorner(p: Vector3): void {
    this.outline.add(p);
    this.status.textContent = `${this.outline.corners.length} corner(s); ${this.outline.corners.length >= 3 ? 'check the dig, or add corners.' : 'add at least 3.'}`;
    this.ctx.viewer.invalidate();
  }

  /** the outline as an RFC 7946 Polygon (lon/lat), closed */
  polygon(): { type: 'Polygon'; coordinates: number[][][] } | null {
    const frame = this.ctx.viewer.frame;
    if (!frame || this.outline.corners.length < 3) return null;
    const ring = this.outline.corners.map((c) => {
      const g = frame.localToGeodetic([c.x, c.y, c.z]);
      return [Number(g[0].toFixed(8)), Number(g[1].toFixed(8))];
    });
    ring.push(ring[0]);
    return { type: 'Polygon', coordinates: [ring] };
  }

  async check(): Promise<void> {
    const polygon = this.polygon();
    if (!polygon) {
      this.status.textContent = 'Give the dig at least 3 corners first.';
      return;
    }
    const body = { polygon, depth: Number(this.depth.value) };
    this.el.dataset.request = JSON.stringify(body);
    this.el.dataset.state = 'checking';
    this.status.textContent = 'Checking…';
    try {
      const doc = await this.ctx.api.post<DigResult>('/api/analysis/dig', body);
      this.show(doc);
      this.el.dataset.state = 'done';
    } catch (err) {
      this.status.textContent = explain(err);
      this.el.dataset.state = 'error';
    }
  }

  private show(doc: DigResult): void {
    this.setDrawing(false);
    this.status.textContent = doc.count
      ? `${doc.count} network element(s) within their uncertainty band; ${doc.investigations_needed} need complementary investigations.`
      : 'No buried network within its uncertainty band of this dig.';
    this.list.replaceChildren(
      ...doc.conflicts.map((c) =>
        h(
          'li',
          { 'data-source-id': c.source_id, 'data-network': c.network, class: c.investigations ? 'warn' : '' },
          `${c.network.replace(/_/g, ' ')} ${c.element} ${c.source_id}: ${c.distance_m.toFixed(2)} m, depth ${c.depth_m} m, class ${c.location_class}` +
            (c.diameter_mm ? `, DN ${c.diameter_mm}` : '') +
            (c.material ? `, ${c.material}` : '') +
            (c.operator ? ` (${c.operator})` : '') +
            (c.investigations ? ' — investigate on site first' : ''),
        ),
      ),
    );
    this.highlight(doc.conflicts);
    void this.links(doc.files ?? {});
  }

  private highlight(conflicts: DigConflict[]): void {
    const frame = this.ctx.viewer.frame;
    if (!frame) return;
    // the twin's heights are ellipsoidal, as the tiles draw them (tiles/frames.py)
    const local = (p: number[]) => new V3(...frame.geodeticToLocal(p[0], p[1], p[2] ?? 0));
    const items = conflicts.map((c) => ({
      points: c.geometry.type === 'Point' ? [local(c.geometry.coordinates as number[])] : (c.geometry.coordinates as number[][]).map(local),
      color: NETWORK_COLORS[c.network] ?? ([1, 1, 1] as [number, number, number]),
    }));
    this.outline.showConflicts(items);
    this.el.dataset.highlighted = String(items.length);
    this.ctx.viewer.invalidate();
  }

  /** the reports need the bearer token: fetched, then offered as blob links */
  private async links(files: Record<string, string>): Promise<void> {
    this.revoke();
    const out: Array<HTMLElement | string> = [];
    for (const [name, label] of [
      ['dig.pdf', 'PDF report'],
      ['dig.html', 'HTML report'],
    ]) {
      if (!files[name]) continue;
      try {
        const res = await this.ctx.api.fetch(files[name]);
        const url = URL.createObjectURL(await res.blob());
        this.blobs.push(url);
        out.push(h('a', { id: `dig-report-${name.split('.')[1]}`, href: url, download: name, text: label }), ' ');
      } catch (err) {
        out.push(h('span', { class: 'error', text: `${label}: ${explain(err)}` }));
      }
    }
    this.reports.replaceChildren(...out);
  }

  private revoke(): void {
    for (const u of this.blobs.splice(0)) URL.revokeObjectURL(u);
  }

  clear(): void {
    this.outline.clear();
    this.list.replaceChildren();
    this.reports.replaceChildren();
    this.revoke();
    delete this.el.dataset.state;
    this.status.textContent = 'Draw the dig: click its corners on the ground.';
    this.ctx.viewer.invalidate();
  }

  dispose(): void {
    this.clear();
    this.outline.dispose();
  }
}
