/**
 * The page around the 3D view: navigation between modes, the mode's tool panel, the
 * attribute panel, the legend, loading progress, messages and the sign-in form.
 * Plain DOM, no framework; every element has a stable id or data-testid for the tests.
 */
import type { Principal } from '../core/ApiClient';
import { type LegendEntry, toCss } from '../core/Styling';

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Array<Node | string | null | undefined>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export interface NavItem {
  name: string;
  title: string;
  href: string;
}

export class Shell {
  readonly root: HTMLElement;
  readonly view: HTMLElement;
  readonly nav: HTMLElement;
  readonly tools: HTMLElement;
  readonly info: HTMLElement;
  readonly legend: HTMLElement;
  readonly progressBar: HTMLElement;
  readonly messageBox: HTMLElement;
  readonly userButton: HTMLButtonElement;
  readonly vrButton: HTMLButtonElement;
  readonly dialog: HTMLDialogElement;
  private readonly panel: HTMLElement;
  onSignIn: (token: string) => Promise<void> = async () => undefined;
  /** set when the twin names an OpenID Connect provider (GET /api/auth/config) */
  onProviderSignIn: (() => Promise<void>) | null = null;
  onSignOut: () => void = () => undefined;

  constructor(parent: HTMLElement) {
    this.nav = h('nav', { id: 'modes', 'aria-label': 'Modes' });
    this.userButton = h('button', { id: 'user', type: 'button', class: 'ghost', text: 'Sign in' });
    this.vrButton = h('button', { id: 'enter-vr', type: 'button', hidden: true, text: 'Enter VR' });
    const menu = h('button', { id: 'menu', type: 'button', class: 'ghost', 'aria-label': 'Tools', text: '☰' });
    const header = h(
      'header',
      { id: 'topbar' },
      h('a', { id: 'brand', href: '#/explore', text: 'Urban twin' }),
      this.nav,
      h('span', { class: 'spacer' }),
      this.vrButton,
      this.userButton,
      menu,
    );
    this.view = h('main', { id: 'view' });
    this.progressBar = h('div', { id: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100 });
    this.messageBox = h('div', { id: 'message', role: 'status', hidden: true });
    this.tools = h('section', { id: 'tools', 'aria-label': 'Mode tools' });
    this.info = h('section', { id: 'info', 'aria-label': 'Attributes', hidden: true });
    this.legend = h('section', { id: 'legend', 'aria-label': 'Legend', hidden: true });
    this.panel = h('aside', { id: 'panel' }, this.tools, this.info);
    this.view.append(this.progressBar, this.messageBox, this.legend);
    this.dialog = this.signInDialog();
    this.root = h('div', { id: 'app' }, header, this.view, this.panel, this.dialog);
    parent.append(this.root);

    menu.addEventListener('click', () => this.root.classList.toggle('panel-open'));
    this.userButton.addEventListener('click', () => {
      if (this.userButton.dataset.signedIn === 'true') this.onSignOut();
      else this.openSignIn();
    });
  }

  private signInDialog(): HTMLDialogElement {
    const input = h('input', {
      id: 'token',
      name: 'token',
      type: 'password',
      autocomplete: 'off',
      placeholder: 'twin_…',
      required: true,
      'aria-label': 'Token',
    });
    const error = h('p', { id: 'signin-error', class: 'error', hidden: true });
    const provider = h('button', { type: 'button', id: 'signin-oidc', hidden: true, text: 'Sign in with your city account' });
    provider.addEventListener('click', async () => {
      error.hidden = true;
      provider.disabled = true;
      try {
        await this.onProviderSignIn?.(); // navigates away when it works
      } catch (err) {
        this.signInError(err);
      } finally {
        provider.disabled = false;
      }
    });
    const form = h(
      'form',
      { id: 'signin', method: 'dialog' },
      h('h2', { text: 'Sign in' }),
      provider,
      h('p', {
        id: 'signin-token-note',
        text: 'Paste the token an administrator created for you (`twin users add NAME --role agent`). It is kept for this browser tab only.',
      }),
      input,
      error,
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', class: 'ghost', id: 'signin-cancel', text: 'Cancel' }),
        h('button', { type: 'submit', id: 'signin-submit', text: 'Sign in' }),
      ),
    );
    const dialog = h('dialog', { id: 'signin-dialog' }, form);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.hidden = true;
      try {
        await this.onSignIn(input.value);
        input.value = '';
        dialog.close();
      } catch (err) {
        this.signInError(err);
      }
    });
    form.querySelector('#signin-cancel')!.addEventListener('click', () => dialog.close());
    return dialog;
  }

  openSignIn(): void {
    if (!this.dialog.open) this.dialog.showModal();
    (this.dialog.querySelector('#token') as HTMLInputElement).focus();
  }

  /** Offer the provider's sign-in beside the token field, named after the provider's host. */
  offerProvider(issuer: string): void {
    const button = this.dialog.querySelector('#signin-oidc') as HTMLButtonElement;
    button.hidden = false;
    button.title = `Sign in at ${new URL(issuer).host}`;
    this.dialog.querySelector('#signin-token-note')!.textContent = 'Or paste a token an administrator created for you (`twin users add NAME --role agent`). It is kept for this browser tab only.';
  }

  /** Open the sign-in dialog showing why the last sign-in failed. */
  signInError(err: unknown): void {
    const error = this.dialog.querySelector('#signin-error') as HTMLElement;
    error.textContent = err instanceof Error ? err.message : String(err);
    error.hidden = false;
    if (!this.dialog.open) this.dialog.showModal();
  }

  setUser(p: Principal): void {
    const signedIn = !p.anonymous;
    this.userButton.dataset.signedIn = String(signedIn);
    this.userButton.textContent = signedIn ? `${p.name} (${p.role}) · Sign out` : 'Sign in';
    this.userButton.title = signedIn ? 'Sign out' : 'Sign in';
  }

  setModes(items: NavItem[], active: string | null): void {
    this.nav.replaceChildren(
      ...items.map((m) =>
        h('a', { href: m.href, 'data-mode': m.name, 'aria-current': m.name === active ? 'page' : undefined, text: m.title }),
      ),
    );
    this.root.dataset.mode = active ?? '';
  }

  setTools(...children: Array<Node | null>): void {
    this.tools.replaceChildren(...children.filter((c): c is Node => c !== null));
  }

  showAttributes(title: string, props: Record<string, unknown> | null, note?: string): void {
    if (!props) {
      this.info.hidden = true;
      this.info.replaceChildren();
      return;
    }
    const rows = Object.entries(props)
      .filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v]) => h('tr', { 'data-key': k }, h('th', { text: k.replace(/_/g, ' ') }), h('td', { text: formatValue(v) })));
    const close = h('button', { type: 'button', class: 'ghost close', 'aria-label': 'Close', text: '×' });
    close.addEventListener('click', () => this.showAttributes('', null));
    this.info.replaceChildren(h('div', { class: 'row' }, h('h2', { text: title }), close));
    if (note) this.info.append(h('p', { class: 'note', text: note }));
    this.info.append(h('table', { id: 'attributes' }, ...rows));
    this.info.hidden = false;
    this.root.classList.add('panel-open');
  }

  /** The attribute panel with content a mode builds (a device, its chart, its alerts). */
  showDetail(title: string, ...children: Array<Node | null>): void {
    const close = h('button', { type: 'button', class: 'ghost close', 'aria-label': 'Close', text: '×' });
    close.addEventListener('click', () => this.showAttributes('', null));
    this.info.replaceChildren(h('div', { class: 'row' }, h('h2', { text: title }), close), ...children.filter((c): c is Node => c !== null));
    this.info.hidden = false;
    this.root.classList.add('panel-open');
  }

  setLegend(title: string | null, entries: LegendEntry[] = []): void {
    if (!title) {
      this.legend.hidden = true;
      return;
    }
    this.legend.replaceChildren(
      h('h3', { text: title }),
      h(
        'ul',
        {},
        ...entries.map((e) => h('li', {}, h('span', { class: 'swatch', style: `background:${toCss(e.color)}` }), e.label)),
      ),
    );
    this.legend.hidden = false;
  }

  progress(p: number): void {
    const pct = Math.round(Math.max(0, Math.min(1, p)) * 100);
    this.progressBar.style.width = `${pct}%`;
    this.progressBar.setAttribute('aria-valuenow', String(pct));
    this.progressBar.classList.toggle('done', pct >= 100);
  }

  message(text: string | null, kind: 'info' | 'error' | 'warning' = 'info'): void {
    if (!text) {
      this.messageBox.hidden = true;
      return;
    }
    this.messageBox.className = kind;
    this.messageBox.textContent = text;
    this.messageBox.hidden = false;
  }
}

export function formatValue(v: unknown): string {
  if (typeof v === 'number') {
    if (v === -1) return '—';
    return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
  }
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (v && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
