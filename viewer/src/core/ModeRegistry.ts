import type { Mode, RouteMatch } from './Mode';

/** Modes registered by name; routes matched in registration order. */
export class ModeRegistry<Ctx> {
  private readonly modes = new Map<string, Mode<Ctx>>();

  register(mode: Mode<Ctx>): this {
    if (this.modes.has(mode.name)) throw new Error(`mode ${mode.name} is already registered`);
    if (!mode.route.startsWith('/')) throw new Error(`mode ${mode.name}: route must start with /`);
    this.modes.set(mode.name, mode);
    return this;
  }

  get(name: string): Mode<Ctx> | undefined {
    return this.modes.get(name);
  }

  list(): Mode<Ctx>[] {
    return [...this.modes.values()];
  }

  /** The mode whose route matches `path` (`/project/new-block`), with its parameters. */
  match(path: string): RouteMatch<Ctx> | null {
    const parts = splitPath(path);
    for (const mode of this.modes.values()) {
      const pattern = splitRoute(mode.route);
      if (parts.length > pattern.length) continue;
      const params: Record<string, string> = {};
      const ok = pattern.every((seg, i) => {
        const optional = seg.endsWith('?');
        if (i >= parts.length) return optional;
        if (seg.startsWith(':')) {
          params[seg.slice(1).replace(/\?$/, '')] = decodeURIComponent(parts[i]);
          return true;
        }
        return seg.replace(/\?$/, '') === parts[i];
      });
      if (ok) return { mode, params };
    }
    return null;
  }

  /** Build the hash of a mode's route with parameters filled in. */
  href(name: string, params: Record<string, string> = {}): string {
    const mode = this.modes.get(name);
    if (!mode) throw new Error(`no mode ${name}`);
    const path = splitRoute(mode.route)
      .map((seg) => (seg.startsWith(':') ? encodeURIComponent(params[seg.slice(1).replace(/\?$/, '')] ?? '') : seg))
      .filter((seg) => seg.length > 0)
      .join('/');
    return `#/${path}`;
  }

  disposeAll(): void {
    for (const m of this.modes.values()) m.dispose();
    this.modes.clear();
  }
}

/** Segments of a route pattern (`?` marks an optional segment there, not a query). */
function splitRoute(route: string): string[] {
  return route.split('/').filter((s) => s.length > 0);
}

export function splitPath(path: string): string[] {
  return path.split('?')[0].split('/').filter((s) => s.length > 0);
}

/** `#/project/x?floor=3` -> `{ path: '/project/x', query: {floor: '3'} }` */
export function parseHash(hash: string): { path: string; query: Record<string, string> } {
  const h = hash.replace(/^#/, '') || '/';
  const [path, qs = ''] = h.split('?');
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(qs)) query[k] = v;
  return { path: path.startsWith('/') ? path : `/${path}`, query };
}
