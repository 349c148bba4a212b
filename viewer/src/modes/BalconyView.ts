/**
 * The balcony's results from the server (`POST /api/analysis/balcony`): the panoramas before
 * and after side by side over the 3D view, the sky-view factor in both definitions and the
 * share of the sky and of the view the project blocks, for where the balcony camera stands.
 *
 * The camera's building, floor and heading (degrees clockwise from true north) are sent: the
 * server places the eye by the same rule (twin/analysis/eye.py), stepping along the facade
 * when the wall facing the project is shared with a neighbour, and answers with where it
 * stood, so the mode moves the camera there and the 3D view matches the panoramas.
 */
import { type ApiClient, explain } from '../core/ApiClient';
import { h } from '../ui/Shell';

interface Side {
  svf_cos: number;
  svf_solid_angle: number;
  pois_visible: { source_id: string; name: string | null }[];
}

export interface BalconyResult {
  before: Side;
  after: Side;
  blocked_hemisphere_share: number;
  blocked_view_share: number;
  eye_z: number;
  eye: { lon: number; lat: number; z: number };
  view_field: { horizontal_deg: number; vertical_deg: number };
  files: Record<string, string>;
}

/** A building's floor and the heading (degrees clockwise from true north). */
export interface BalconyAsk {
  building: number;
  floor: number;
  heading: number;
  scenario?: string;
}

/** Panorama width asked of the server (height is half). */
export const PANORAMA_WIDTH = 1024;

/** True bearing (degrees clockwise from north) between two nearby lon/lat points. */
export function bearing(from: [number, number], to: [number, number]): number {
  const k = Math.cos((from[1] * Math.PI) / 180);
  const deg = (Math.atan2((to[0] - from[0]) * k, to[1] - from[1]) * 180) / Math.PI;
  return ((deg % 360) + 360) % 360;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

export class BalconyView {
  readonly el: HTMLElement;
  private urls: string[] = [];

  constructor(
    private readonly api: ApiClient,
    parent: HTMLElement,
  ) {
    this.el = h('section', { id: 'balcony-panoramas', hidden: true, 'aria-label': 'Balcony view before and after' });
    parent.append(this.el);
  }

  /** Ask the server and show its answer; the summary goes into `summary` too. */
  async show(ask: BalconyAsk, summary: HTMLElement): Promise<BalconyResult | null> {
    document.body.dataset.balconyView = 'loading';
    summary.textContent = 'Computing the view before and after…';
    let res: BalconyResult;
    try {
      res = await this.api.post<BalconyResult>('/api/analysis/balcony', { ...ask, width: PANORAMA_WIDTH });
    } catch (err) {
      summary.textContent = `No balcony view: ${explain(err)}`;
      document.body.dataset.balconyView = 'error';
      return null;
    }
    const [before, after] = await Promise.all([this.image(res.files['before.png']), this.image(res.files['after.png'])]);
    const fov = `${res.view_field.horizontal_deg}° × ${res.view_field.vertical_deg}°`;
    const lost = res.before.pois_visible.filter((p) => !res.after.pois_visible.some((q) => q.source_id === p.source_id));
    const close = h('button', { type: 'button', class: 'small close', 'aria-label': 'Close the panoramas', text: '×' });
    close.addEventListener('click', () => (this.el.hidden = true));
    this.el.replaceChildren(
      close,
      h('figure', {}, h('img', { id: 'balcony-before', src: before, alt: 'Panorama before' }), h('figcaption', { text: `Before: sky-view factor ${res.before.svf_cos.toFixed(3)}` })),
      h('figure', {}, h('img', { id: 'balcony-after', src: after, alt: 'Panorama after' }), h('figcaption', { text: `After: sky-view factor ${res.after.svf_cos.toFixed(3)}` })),
    );
    this.el.hidden = false;
    const lines = [
      h('p', { id: 'balcony-svf', text: `Sky-view factor ${res.before.svf_cos.toFixed(3)} → ${res.after.svf_cos.toFixed(3)} (cos-weighted), ${res.before.svf_solid_angle.toFixed(3)} → ${res.after.svf_solid_angle.toFixed(3)} (solid angle).` }),
      h('p', { id: 'balcony-blocked', text: `The project fills ${pct(res.blocked_hemisphere_share)} of the sky's hemisphere and ${pct(res.blocked_view_share)} of the view (${fov} around the heading).` }),
    ];
    if (lost.length) lines.push(h('p', { text: `No longer seen: ${lost.map((p) => p.name ?? p.source_id).join(', ')}.` }));
    summary.replaceChildren(...lines);
    await Promise.all([...this.el.querySelectorAll('img')].map((img) => img.decode().catch(() => undefined)));
    Object.assign(document.body.dataset, { balconyView: 'ready', balconyEye: res.eye_z.toFixed(3), balconyBlocked: String(res.blocked_view_share) });
    return res;
  }

  /** A file of the result as an object URL (fetched with the caller's token). */
  private async image(path: string): Promise<string> {
    const blob = await (await this.api.fetch(path)).blob();
    const url = URL.createObjectURL(blob);
    this.urls.push(url);
    return url;
  }

  dispose(): void {
    this.el.remove();
    for (const u of this.urls) URL.revokeObjectURL(u);
    this.urls = [];
    for (const k of ['balconyView', 'balconyEye', 'balconyBlocked']) delete document.body.dataset[k];
  }
}
