/**
 * Underground (field agents): buried networks at their depth under a translucent ground,
 * coloured by type or by renewal score (twin analyse ageing), filtered by network, picked for
 * their attributes, and the dig tool (DigPanel). Anonymous users and citizens are told it
 * needs an agent account, and no network tile is requested.
 */
import { Vector3 } from 'three';
import type { AppContext, TwinMode } from '../app/AppContext';
import { DigPanel } from '../app/DigPanel';
import { NetworkOverlay } from '../app/NetworkOverlay';
import { explain } from '../core/ApiClient';
import { type FeatureStyle, NETWORK_STYLE, RENEWAL_STYLE } from '../core/Styling';
import type { PickResult } from '../three/TwinViewer';
import { h } from '../ui/Shell';

const COLOURINGS: FeatureStyle[] = [NETWORK_STYLE, RENEWAL_STYLE];

export class UndergroundMode implements TwinMode {
  readonly name = 'underground';
  readonly title = 'Underground';
  readonly route = '/underground';
  private overlay: NetworkOverlay | null = null;
  private dig: DigPanel | null = null;
  /** bumped by every enter and exit: an enter overtaken while it waited stops there */
  private generation = 0;

  async enter(ctx: AppContext): Promise<void> {
    this.teardown(); // entered again without an exit (a session change): start clean
    const generation = ++this.generation;
    const { shell, session } = ctx;
    if (!session.isAgent) {
      const signIn = h('button', { id: 'underground-signin', type: 'button', text: 'Sign in as an agent' });
      signIn.addEventListener('click', () => shell.openSignIn());
      const who = session.principal.anonymous ? 'You are not signed in.' : `Your role is ${session.principal.role}.`;
      shell.setTools(
        h('h2', { text: 'Underground networks' }),
        h('p', { id: 'underground-denied', class: 'notice', text: `The buried networks are shown to field agents only: this mode needs an agent account. ${who}` }),
        signIn,
      );
      document.body.dataset.underground = 'denied';
      return;
    }
    document.body.dataset.underground = 'loading';
    shell.setTools(h('h2', { text: 'Underground networks' }), h('p', { class: 'muted', text: 'Loading networks…' }));
    const overlay = new NetworkOverlay(ctx);
    this.overlay = overlay;
    let nets: string[] = [];
    try {
      nets = await overlay.show();
    } catch (err) {
      shell.message(explain(err), 'error');
    }
    // the account changed (or the mode was left) meanwhile: a newer enter owns the page
    if (generation !== this.generation) return;
    const filters = h('fieldset', { id: 'network-filter' }, h('legend', { text: 'Networks' }));
    for (const n of nets) {
      const cb = h('input', { type: 'checkbox', checked: true, 'data-network': n, id: `net-${n}` });
      cb.addEventListener('change', () => this.overlay?.setNetworkVisible(n, cb.checked));
      filters.append(h('label', { class: 'check', for: `net-${n}` }, cb, ` ${n.replace(/_/g, ' ')}`));
    }
    const ground = h('input', { type: 'range', id: 'ground-opacity', min: 0, max: 100, value: 35, 'aria-label': 'Ground opacity' });
    ground.addEventListener('input', () => {
      ctx.base.ground?.setOpacity(Number(ground.value) / 100);
      ctx.viewer.invalidate();
    });
    const colour = h('select', { id: 'network-colour', 'aria-label': 'Colour networks by' });
    for (const st of COLOURINGS) colour.append(h('option', { value: st.id, text: st.title }));
    colour.addEventListener('change', () => this.colourBy(ctx, COLOURINGS.find((st) => st.id === colour.value) ?? NETWORK_STYLE));
    this.dig = new DigPanel(ctx);
    shell.setTools(
      h('h2', { text: 'Underground networks' }),
      nets.length ? filters : h('p', { class: 'notice', text: 'No network tileset on this server yet: build them with `twin tiles build`.' }),
      h('label', { class: 'field' }, 'Colour by ', colour),
      h('label', { class: 'field' }, 'Ground opacity ', ground),
      h('p', { class: 'hint', text: 'Pick a pipe or cable to read its network, diameter, material, depth, install year and operator. Depths are cover depths below the ground.' }),
      this.dig.el,
    );
    shell.setLegend('Networks', this.overlay.legend());
    document.body.dataset.underground = nets.length ? 'shown' : 'empty';
    // a lower, closer view so the depth reads
    const r = Math.min(ctx.base.radius, 70);
    const g = ctx.viewer.groundY(0, 0);
    ctx.viewer.lookAt(new Vector3(-0.3 * r, g + 0.5 * r, 0.75 * r), new Vector3(0, g - 2, 0), true);
  }

  private colourBy(ctx: AppContext, style: FeatureStyle): void {
    if (!this.overlay) return;
    if (style === NETWORK_STYLE) {
      this.overlay.setStyle(NETWORK_STYLE);
      ctx.shell.setLegend('Networks', this.overlay.legend());
    } else {
      this.overlay.setStyle(style);
      ctx.shell.setLegend(`Networks by ${style.title.toLowerCase()}`, style.legend());
    }
    document.body.dataset.networkColour = style.id;
  }

  onPick(_ctx: AppContext, hit: PickResult | null): boolean {
    if (!this.dig?.drawing) return false;
    if (hit) this.dig.addCorner(hit.point);
    return true;
  }

  onSession(ctx: AppContext): void {
    this.exit(ctx);
    void this.enter(ctx);
  }

  exit(_ctx: AppContext): void {
    this.teardown();
  }

  private teardown(): void {
    this.generation++;
    this.overlay?.hide();
    this.overlay = null;
    this.dig?.dispose();
    this.dig = null;
    delete document.body.dataset.underground;
    delete document.body.dataset.networkColour;
  }

  dispose(): void {}
}
