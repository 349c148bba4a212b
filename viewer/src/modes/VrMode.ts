/**
 * VR: enter an immersive-vr session at street level, walk (right stick), fly up and down
 * (left stick), teleport (trigger on the ground, or squeeze), pick with the controller ray
 * and read the attributes on a panel in the scene. Agents can take the networks along.
 */
import type { AppContext, TwinMode } from '../app/AppContext';
import { NetworkOverlay } from '../app/NetworkOverlay';
import { explain } from '../core/ApiClient';
import { h } from '../ui/Shell';

export class VrMode implements TwinMode {
  readonly name = 'vr';
  readonly title = 'VR';
  readonly route = '/vr';
  private overlay: NetworkOverlay | null = null;

  async enter(ctx: AppContext): Promise<void> {
    const { shell, xr, session } = ctx;
    const supported = await xr.detect();
    const enter = h('button', { id: 'vr-enter', type: 'button', disabled: !supported, text: 'Enter VR' });
    enter.addEventListener('click', () => void xr.enter().catch((err) => shell.message(explain(err), 'error')));
    const under = h('input', { id: 'vr-underground', type: 'checkbox', disabled: !session.isAgent });
    under.addEventListener('change', () => void this.toggleUnderground(ctx, under.checked));
    shell.setTools(
      h('h2', { text: 'Virtual reality' }),
      h('p', {
        text: supported
          ? 'Put on the headset and enter VR: you stand at street level, at real scale.'
          : 'No WebXR headset found in this browser. Open this page in the headset\'s browser (it is served by the twin, no internet needed).',
      }),
      enter,
      h('label', { class: 'check' }, under, session.isAgent ? ' Show the underground networks' : ' Underground networks (agent account needed)'),
      h('ul', { class: 'hint' },
        h('li', { text: 'Trigger: pick a feature (its attributes float in front of you), or teleport when pointing at the ground.' }),
        h('li', { text: 'Squeeze: teleport where the ray points.' }),
        h('li', { text: 'Right stick: walk; left stick: fly up and down.' }),
      ),
    );
    document.body.dataset.vr = supported ? 'supported' : 'unsupported';
  }

  private async toggleUnderground(ctx: AppContext, on: boolean): Promise<void> {
    if (on) {
      this.overlay ??= new NetworkOverlay(ctx);
      try {
        await this.overlay.show();
        ctx.shell.setLegend('Networks', this.overlay.legend());
        document.body.dataset.underground = 'shown';
      } catch (err) {
        ctx.shell.message(explain(err), 'error');
      }
    } else {
      this.overlay?.hide();
      ctx.shell.setLegend(null);
      delete document.body.dataset.underground;
    }
  }

  exit(ctx: AppContext): void {
    this.overlay?.hide();
    this.overlay = null;
    void ctx.xr.session?.end();
    delete document.body.dataset.vr;
    delete document.body.dataset.underground;
  }

  dispose(): void {}
}
