/**
 * Underground (field agents): buried networks at their depth under a translucent ground,
 * coloured by type, filtered by network, picked for their attributes. Anonymous users and
 * citizens are told it needs an agent account, and no network tile is requested.
 */
import { Vector3 } from 'three';
import type { AppContext, TwinMode } from '../app/AppContext';
import { NetworkOverlay } from '../app/NetworkOverlay';
import { explain } from '../core/ApiClient';
import { h } from '../ui/Shell';

export class UndergroundMode implements TwinMode {
  readonly name = 'underground';
  readonly title = 'Underground';
  readonly route = '/underground';
  private overlay: NetworkOverlay | null = null;

  async enter(ctx: AppContext): Promise<void> {
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
    this.overlay = new NetworkOverlay(ctx);
    let nets: string[] = [];
    try {
      nets = await this.overlay.show();
    } catch (err) {
      shell.message(explain(err), 'error');
    }
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
    shell.setTools(
      h('h2', { text: 'Underground networks' }),
      nets.length ? filters : h('p', { class: 'notice', text: 'No network tileset on this server yet: build them with `twin tiles build`.' }),
      h('label', { class: 'field' }, 'Ground opacity ', ground),
      h('p', { class: 'hint', text: 'Pick a pipe or cable to read its network, diameter, material, depth, install year and operator. Depths are cover depths below the ground.' }),
    );
    shell.setLegend('Networks', this.overlay.legend());
    document.body.dataset.underground = nets.length ? 'shown' : 'empty';
    // a lower, closer view so the depth reads
    const r = Math.min(ctx.base.radius, 70);
    ctx.viewer.lookAt(new Vector3(-0.3 * r, 0.5 * r, 0.75 * r), new Vector3(0, -2, 0), true);
  }

  onSession(ctx: AppContext): void {
    this.exit(ctx);
    void this.enter(ctx);
  }

  exit(_ctx: AppContext): void {
    this.overlay?.hide();
    this.overlay = null;
    delete document.body.dataset.underground;
  }

  dispose(): void {}
}
