/**
 * The signed-in account: a bearer token kept in sessionStorage (gone when the tab closes)
 * and the principal the server resolves it to. What a role may see is the server's rule
 * (`sees` from GET /api/me): the viewer keeps no role table of its own.
 */
import { type ApiClient, ApiError, type Principal } from './ApiClient';

const KEY = 'twin.token';
/** Before the server has answered, assume only what is public by definition. */
export const ANONYMOUS: Principal = { name: null, role: 'citizen', anonymous: true, sees: ['public'] };

export class Session extends EventTarget {
  principal: Principal = ANONYMOUS;

  constructor(private readonly storage: Storage = sessionStorage) {
    super();
  }

  get token(): string | null {
    return this.storage.getItem(KEY);
  }

  /** May this account see data of the given visibility (`public`, `agent`, `confidential`)? */
  sees(visibility: string): boolean {
    return (this.principal.sees ?? []).includes(visibility);
  }

  /** True when the account may see agent-only layers (buried networks). */
  get isAgent(): boolean {
    return this.sees('agent');
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
