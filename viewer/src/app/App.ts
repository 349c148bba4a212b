/**
 * Wires the shell: session, API client, 3D viewer, XR, the mode registry and the hash router.
 * Picking (click/tap without drag, or a controller select) goes to the active mode first,
 * then to the default handler that shows the feature's attributes.
 */
import { Vector2 } from 'three';
import { ApiClient, ApiError, explain, UnreachableError } from '../core/ApiClient';
import { ModeRegistry, parseHash } from '../core/ModeRegistry';
import { isCallback, OidcClient, SignInError } from '../core/OidcClient';
import { Session } from '../core/Session';
import type { PickResult } from '../three/TwinViewer';
import { TwinViewer } from '../three/TwinViewer';
import { XRController } from '../three/XRController';
import { Shell } from '../ui/Shell';
import type { AppContext, TwinMode } from './AppContext';
import { BaseScene } from './BaseScene';

export const DEFAULT_ROUTE = '#/explore';

export class App {
  readonly ctx: AppContext;
  readonly registry = new ModeRegistry<AppContext>();
  active: TwinMode | null = null;
  activeParams: Record<string, string> = {};
  /** resolves when the current mode has entered (tests wait on it) */
  entered: Promise<void> = Promise.resolve();
  /** 'loading' | 'ready' | 'error': the page's state for people and tests */
  state = 'loading';
  private routeSeq = 0;
  private oidc: OidcClient | null = null;

  constructor(root: HTMLElement, modes: TwinMode[]) {
    const shell = new Shell(root);
    const session = new Session();
    const api = new ApiClient(location.origin + '/', () => session.token);
    const viewer = new TwinViewer(shell.view);
    const base = new BaseScene(api, viewer, shell);
    const xr = new XRController(viewer, shell.vrButton);
    this.ctx = { api, session, viewer, shell, base, xr, go: (hash) => (location.hash = hash) };
    for (const m of modes) this.registry.register(m);

    shell.onSignIn = async (token) => {
      await session.signIn(api, token);
    };
    shell.onSignOut = () => void this.signOut();
    session.addEventListener('expired', () => shell.message('Your sign-in expired: sign in again to see what your account may see.', 'warning'));
    session.addEventListener('renew-failed', (e) => {
      const until = new Date(session.expiresAt ?? Date.now()).toLocaleTimeString();
      shell.message(`${(e as CustomEvent<string>).detail} You stay signed in until ${until}.`, 'warning');
    });
    session.addEventListener('change', () => void this.sessionChanged());
    xr.onPick = (hit) => this.handlePick(hit, true);
    this.installPointerPicking();
    viewer.addEventListener('frame', () => shell.progress(viewer.loadProgress()));
    let lastTileError = 0;
    viewer.addEventListener('tile-error', (e) => {
      const { layer, error } = (e as CustomEvent<{ layer: string; error: Error }>).detail;
      if (performance.now() - lastTileError < 5000) return;
      lastTileError = performance.now();
      const down = error instanceof TypeError; // fetch() rejects with a TypeError when offline
      shell.message(
        down
          ? `The twin server stopped answering while loading ${layer}: check that it is running, then reload.`
          : `Some ${layer} tiles could not be loaded (${error.message}).`,
        down ? 'error' : 'warning',
      );
    });
    viewer.renderer.domElement.addEventListener('keydown', (e) => {
      if (e.key === '+' || e.key === '=') viewer.zoom(0.8);
      else if (e.key === '-' || e.key === '_') viewer.zoom(1.25);
      else if (e.key === 'Home' || e.key === 'h') base.home();
      else return;
      e.preventDefault();
    });
    window.addEventListener('hashchange', () => void this.route());
  }

  async start(): Promise<void> {
    const { session, shell } = this.ctx;
    shell.progress(0.02);
    try {
      await this.signInAtStart();
      shell.setUser(session.principal);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!location.hash || location.hash === '#' || location.hash === '#/') {
      history.replaceState(null, '', DEFAULT_ROUTE);
    }
    await this.route();
  }

  /**
   * Offer the provider's sign-in when the twin names one; finish a sign-in the provider sent
   * the browser back from (the code leaves the address bar first); else resume the tab's token.
   */
  private async signInAtStart(): Promise<void> {
    const { api, session, shell } = this.ctx;
    const config = await api.authConfig();
    const oidc = config ? new OidcClient(config, location.origin + location.pathname) : null;
    const renew = oidc ? (refreshToken: string) => oidc.refresh(refreshToken) : null;
    this.oidc = oidc;
    if (oidc && config) {
      shell.offerProvider(config.issuer);
      shell.onProviderSignIn = async () => {
        const returnTo = location.hash.startsWith('#/') ? location.hash : DEFAULT_ROUTE;
        location.assign((await oidc.authorizationUrl(returnTo)).href);
      };
    }
    const here = new URL(location.href);
    if (!isCallback(here)) {
      await session.restore(api, renew);
      return;
    }
    history.replaceState(null, '', location.pathname + DEFAULT_ROUTE);
    if (!oidc) {
      shell.signInError(new SignInError('This twin offers no sign-in with an identity provider: paste a token instead.'));
      await session.restore(api);
      return;
    }
    try {
      const { tokens, returnTo } = await oidc.complete(here);
      await session.signInWith(api, tokens, renew);
      if (returnTo.startsWith('#/')) history.replaceState(null, '', location.pathname + returnTo);
    } catch (err) {
      if (!(err instanceof SignInError || err instanceof ApiError)) throw err;
      shell.signInError(err instanceof ApiError ? new Error(explain(err)) : err);
      await session.restore(api, renew);
    }
  }

  /**
   * Forget the tokens; after an OpenID Connect sign-in, end the provider's session too, so
   * the next person on a shared tablet meets the provider's form, not the last account.
   */
  private async signOut(): Promise<void> {
    const { session, shell } = this.ctx;
    const fromProvider = session.via === 'oidc';
    const idToken = session.idToken;
    session.signOut();
    if (!fromProvider || !this.oidc) return;
    try {
      const url = await this.oidc.logoutUrl(idToken);
      if (url) location.assign(url.href);
    } catch (err) {
      shell.message(`Signed out of the twin, but not of the identity provider: ${explain(err)}`, 'warning');
    }
  }

  private fail(err: unknown): void {
    this.state = 'error';
    document.body.dataset.state = 'error';
    const unreachable = err instanceof UnreachableError;
    this.ctx.shell.message(explain(err), unreachable ? 'error' : 'warning');
    this.ctx.shell.progress(1);
  }

  private navItems() {
    return this.registry
      .list()
      .filter((m) => m.inNav !== false)
      .map((m) => ({ name: m.name, title: m.title, href: this.registry.href(m.name) }));
  }

  async route(): Promise<void> {
    const seq = ++this.routeSeq;
    const { path } = parseHash(location.hash);
    const match = this.registry.match(path);
    const { shell } = this.ctx;
    if (!match) {
      shell.message(`No page ${path}: showing Explore.`, 'warning');
      location.hash = DEFAULT_ROUTE;
      return;
    }
    const mode = match.mode as TwinMode;
    if (this.active) {
      this.active.exit(this.ctx);
      shell.setTools();
      shell.setLegend(null);
      shell.showAttributes('', null);
    }
    this.active = mode;
    this.activeParams = match.params;
    shell.setModes(this.navItems(), mode.name);
    document.body.dataset.mode = mode.name;
    document.body.dataset.state = 'loading';
    this.state = 'loading';
    if (this.ctx.shell.messageBox.classList.contains('error')) shell.message(null);
    this.entered = (async () => {
      try {
        await this.ctx.base.ensure();
        if (seq !== this.routeSeq) return;
        await mode.enter(this.ctx, match.params);
        if (seq !== this.routeSeq) return;
        this.state = 'ready';
        document.body.dataset.state = 'ready';
      } catch (err) {
        if (seq === this.routeSeq) this.fail(err);
      }
    })();
    await this.entered;
  }

  private async sessionChanged(): Promise<void> {
    this.ctx.shell.setUser(this.ctx.session.principal);
    await this.ctx.base.refreshCatalog().catch(() => undefined);
    for (const l of this.ctx.viewer.layers.values()) l.auth.refresh();
    if (this.active?.onSession) this.active.onSession(this.ctx);
    else if (this.active) await this.route();
  }

  handlePick(hit: PickResult | null, inXR = false): void {
    const mode = this.active;
    if (mode?.onPick?.(this.ctx, hit)) return;
    defaultPick(this.ctx, hit, inXR);
  }

  private installPointerPicking(): void {
    const el = this.ctx.viewer.renderer.domElement;
    let down: { x: number; y: number; t: number } | null = null;
    el.addEventListener('pointerdown', (e) => {
      el.focus({ preventScroll: true }); // arrow keys move the view once it was touched
      down = { x: e.clientX, y: e.clientY, t: performance.now() };
    });
    el.addEventListener('pointerup', (e) => {
      if (!down) return;
      const moved = Math.hypot(e.clientX - down.x, e.clientY - down.y);
      const quick = performance.now() - down.t < 600;
      down = null;
      if (moved > 6 || !quick || e.button !== 0) return;
      const r = el.getBoundingClientRect();
      const ndc = new Vector2(((e.clientX - r.left) / r.width) * 2 - 1, -((e.clientY - r.top) / r.height) * 2 + 1);
      this.handlePick(this.ctx.viewer.pick(ndc));
    });
  }
}

const TITLES: Record<string, string> = {
  building: 'Building',
  network_segment: 'Network segment',
  network_node: 'Network node',
  furniture: 'Street furniture',
};

/** Show the picked feature's metadata, highlight it; clear on empty ground. */
export function defaultPick(ctx: AppContext, hit: PickResult | null, inXR = false): void {
  const { shell, viewer, xr } = ctx;
  for (const l of viewer.layers.values()) l.style.setSelected(null);
  if (!hit?.feature) {
    shell.showAttributes('', null);
    if (inXR) xr.showPanel(null);
    return;
  }
  const f = hit.feature;
  const title = TITLES[f.className] ?? f.className;
  const layer = hit.layer ? viewer.layers.get(hit.layer) : undefined;
  if (typeof f.props.id === 'number') layer?.style.setSelected(f.props.id);
  const props = displayProps(f.props);
  const note = f.props.synthetic === true ? 'Generated, not surveyed: never dig on it without a survey.' : undefined;
  shell.showAttributes(`${title} ${f.props.id ?? ''}`.trim(), props, note);
  shell.info.dataset.layer = hit.layer ?? '';
  shell.info.dataset.featureId = String(f.props.id ?? '');
  if (inXR || xr.session) xr.showPanel({ title: `${title} ${f.props.id ?? ''}`, props });
}

/**
 * Properties worth showing. 3d-tiles-renderer turns a metadata `noData` value into the type's
 * default (0) when the schema gives no `default`, so 0 means "unknown" for these.
 */
const ZERO_IS_UNKNOWN = new Set(['levels', 'year_built', 'install_year', 'diameter_mm', 'scenario_id', 'replaces_id', 'heading', 'height']);

export function displayProps(props: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) {
    if (v === -1 || v === '' || v === null || v === undefined) continue;
    if (v === 0 && ZERO_IS_UNKNOWN.has(k)) continue;
    out[k] = v;
  }
  return out;
}
