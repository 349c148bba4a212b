/**
 * The signed-in account: a bearer token kept in sessionStorage (gone when the tab closes)
 * and the principal the server resolves it to.
 */
import { type ApiClient, ApiError, type Principal } from './ApiClient';

const KEY = 'twin.token';
export const ANONYMOUS: Principal = { name: null, role: 'citizen', anonymous: true };
const AGENT_ROLES = new Set(['agent', 'planner', 'operator', 'admin']);

export class Session extends EventTarget {
  principal: Principal = ANONYMOUS;

  constructor(private readonly storage: Storage = sessionStorage) {
    super();
  }

  get token(): string | null {
    return this.storage.getItem(KEY);
  }

  /** True for roles that may see agent-only layers (buried networks). */
  get isAgent(): boolean {
    return AGENT_ROLES.has(this.principal.role);
  }

  /** Check a token with the server, keep it if it is valid; throws ApiError otherwise. */
  async signIn(api: ApiClient, token: string): Promise<Principal> {
    const trimmed = token.trim();
    const previous = this.token;
    this.storage.setItem(KEY, trimmed);
    try {
      this.principal = await api.me();
    } catch (err) {
      if (previous) this.storage.setItem(KEY, previous);
      else this.storage.removeItem(KEY);
      throw err;
    }
    this.dispatchEvent(new Event('change'));
    return this.principal;
  }

  signOut(): void {
    this.storage.removeItem(KEY);
    this.principal = ANONYMOUS;
    this.dispatchEvent(new Event('change'));
  }

  /** Resolve a stored token at start-up; a stale one is dropped (not an error). */
  async restore(api: ApiClient): Promise<Principal> {
    try {
      this.principal = await api.me();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        this.storage.removeItem(KEY);
        this.principal = ANONYMOUS;
      } else {
        throw err;
      }
    }
    this.dispatchEvent(new Event('change'));
    return this.principal;
  }
}
