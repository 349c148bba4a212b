/**
 * The signed-in account: a bearer token kept in sessionStorage (gone when the tab closes)
 * and the principal the server resolves it to. What a role may see is the server's rule
 * (`sees` from GET /api/me): the viewer keeps no role table of its own.
 *
 * Two kinds of token, one bearer: a pasted CLI token (`twin_…`, valid until revoked), or an
 * OpenID Connect access token (a JWT that expires). For the latter the session keeps its
 * expiry beside it and acts before the server would refuse it: it renews it with the refresh
 * token when the provider gave one, else signs out cleanly and says why (event `expired`).
 * The refresh token is kept in memory only, never in storage: it is the long-lived secret,
 * and losing it on a reload costs one more sign-in at most; the short-lived access token in
 * sessionStorage keeps a reload signed in until it expires. The ID token stays in memory too.
 */
import { type ApiClient, ApiError, type Principal } from './ApiClient';
import type { TokenSet } from './OidcClient';

const KEY = 'twin.token';
const EXPIRES = 'twin.token.expires';
/** Before the server has answered, assume only what is public by definition. */
export const ANONYMOUS: Principal = { name: null, role: 'citizen', anonymous: true, sees: ['public'] };

/** When to renew a token of a given lifetime: 30 s before it ends, or at 3/4 of a short one. */
export function renewDelay(lifetimeMs: number): number {
  return Math.max(lifetimeMs - 30_000, lifetimeMs * 0.75);
}

/** When to give up on a token that cannot be renewed: just before the server would refuse it. */
export function expiryDelay(lifetimeMs: number): number {
  return Math.max(0, lifetimeMs - Math.min(5_000, lifetimeMs * 0.1));
}

export type Renew = (refreshToken: string) => Promise<TokenSet>;

export class Session extends EventTarget {
  principal: Principal = ANONYMOUS;
  /** how the current token came: pasted, or from the OpenID Connect provider */
  via: 'token' | 'oidc' | null = null;
  /** how many times the access token was renewed (tests and the status line read it) */
  renewals = 0;
  /** the ID token of an OpenID Connect sign-in, in memory only (the provider's logout hint) */
  idToken: string | null = null;
  private refreshToken: string | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private renew: Renew | null = null;

  constructor(private readonly storage: Storage = sessionStorage) {
    super();
  }

  get token(): string | null {
    return this.storage.getItem(KEY);
  }

  /** epoch milliseconds at which the token stops being accepted; null: not known to expire */
  get expiresAt(): number | null {
    const v = this.storage.getItem(EXPIRES);
    return v ? Number(v) : null;
  }

  /** May this account see data of the given visibility (`public`, `agent`, `confidential`)? */
  sees(visibility: string): boolean {
    return (this.principal.sees ?? []).includes(visibility);
  }

  /** True when the account may see agent-only layers (buried networks). */
  get isAgent(): boolean {
    return this.sees('agent');
  }

  /** Check a pasted token with the server, keep it if it is valid; throws ApiError otherwise. */
  async signIn(api: ApiClient, token: string): Promise<Principal> {
    await this.adopt(api, token.trim(), null);
    this.disarm();
    this.via = 'token';
    this.refreshToken = null;
    this.dispatchEvent(new Event('change'));
    return this.principal;
  }

  /**
   * Keep the tokens of an OpenID Connect sign-in, once the twin accepts the access token;
   * `renew` turns the refresh token into new tokens before the access token expires.
   */
  async signInWith(api: ApiClient, tokens: TokenSet, renew: Renew | null): Promise<Principal> {
    await this.adopt(api, tokens.accessToken, tokens.expiresAt);
    this.via = 'oidc';
    this.refreshToken = tokens.refreshToken;
    this.idToken = tokens.idToken;
    this.renew = renew;
    this.schedule(api);
    this.dispatchEvent(new Event('change'));
    return this.principal;
  }

  signOut(): void {
    this.clear();
    this.dispatchEvent(new Event('change'));
  }

  /** Resolve a stored token at start-up; a stale one is dropped (not an error). */
  async restore(api: ApiClient, renew: Renew | null = null): Promise<Principal> {
    const expires = this.expiresAt;
    if (expires !== null && expires <= Date.now()) this.clear();
    try {
      this.principal = await api.me(); // anonymous too: the server says what citizens see
      if (this.token) {
        this.via = expires !== null ? 'oidc' : 'token';
        this.renew = renew;
        this.schedule(api);
      }
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) throw err;
      this.clear();
    }
    this.dispatchEvent(new Event('change'));
    return this.principal;
  }

  private async adopt(api: ApiClient, token: string, expiresAt: number | null): Promise<void> {
    const previous = [this.storage.getItem(KEY), this.storage.getItem(EXPIRES)] as const;
    this.storage.setItem(KEY, token);
    if (expiresAt === null) this.storage.removeItem(EXPIRES);
    else this.storage.setItem(EXPIRES, String(expiresAt));
    try {
      this.principal = await api.me();
    } catch (err) {
      restore(this.storage, KEY, previous[0]);
      restore(this.storage, EXPIRES, previous[1]);
      throw err;
    }
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private clear(): void {
    this.disarm();
    this.storage.removeItem(KEY);
    this.storage.removeItem(EXPIRES);
    this.refreshToken = null;
    this.idToken = null;
    this.via = null;
    this.principal = ANONYMOUS;
  }

  /** Arm the one timer: renew the token when it can be, else end the session at expiry. */
  private schedule(api: ApiClient): void {
    this.disarm();
    const expires = this.expiresAt;
    if (expires === null) return;
    const left = expires - Date.now();
    const refresh = this.refreshToken;
    const renew = this.renew;
    if (refresh && renew) {
      this.timer = setTimeout(() => void this.renewNow(api, renew, refresh), renewDelay(left));
    } else {
      this.timer = setTimeout(() => this.expire('the sign-in expired'), expiryDelay(left));
    }
  }

  private async renewNow(api: ApiClient, renew: Renew, refresh: string): Promise<void> {
    const token = this.token;
    try {
      const tokens = await renew(refresh);
      if (this.token !== token) return; // signed out or in again meanwhile
      await this.adopt(api, tokens.accessToken, tokens.expiresAt);
      this.refreshToken = tokens.refreshToken;
      this.idToken = tokens.idToken ?? this.idToken;
      this.renewals++;
      this.schedule(api);
      this.dispatchEvent(new Event('change')); // layers pick up the new bearer
    } catch (err) {
      if (this.token !== token) return;
      // not renewed: keep what is left of the token, then end cleanly
      this.refreshToken = null;
      this.schedule(api);
      this.dispatchEvent(new CustomEvent('renew-failed', { detail: err instanceof Error ? err.message : String(err) }));
    }
  }

  private expire(reason: string): void {
    this.clear();
    this.dispatchEvent(new CustomEvent('expired', { detail: reason }));
    this.dispatchEvent(new Event('change'));
  }
}

function restore(storage: Storage, key: string, value: string | null): void {
  if (value === null) storage.removeItem(key);
  else storage.setItem(key, value);
}
