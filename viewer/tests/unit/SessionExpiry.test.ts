import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError } from '../../src/core/ApiClient';
import { isCallback, isLoopbackHttp, type TokenSet } from '../../src/core/OidcClient';
import { expiryDelay, renewDelay, Session } from '../../src/core/Session';

class MemoryStorage implements Storage {
  private m = new Map<string, string>();
  get length() { return this.m.size; }
  clear() { this.m.clear(); }
  getItem(k: string) { return this.m.get(k) ?? null; }
  key(i: number) { return [...this.m.keys()][i] ?? null; }
  removeItem(k: string) { this.m.delete(k); }
  setItem(k: string, v: string) { this.m.set(k, v); }
}

const AGENT = { name: 'oidc:carla', role: 'agent', anonymous: false, sees: ['public', 'agent'] };

/** An API whose /api/me accepts the tokens in `valid`. */
function api(storage: Storage, valid: Set<string>): ApiClient {
  const client = new ApiClient('http://twin.test/', () => storage.getItem('twin.token'));
  (client as unknown as { me: () => Promise<unknown> }).me = async () => {
    if (!valid.has(storage.getItem('twin.token') ?? '')) throw new ApiError(401, 'expired', '/api/me');
    return AGENT;
  };
  return client;
}

const tokens = (access: string, seconds: number, refresh: string | null): TokenSet => ({
  accessToken: access,
  expiresAt: Date.now() + seconds * 1000,
  refreshToken: refresh,
  idToken: null,
});

describe('Session with OpenID Connect tokens', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('renews before expiry with the refresh token, which never reaches storage', async () => {
    const storage = new MemoryStorage();
    const s = new Session(storage);
    const renew = vi.fn(async (rt: string) => tokens(`a-${rt}`, 300, `${rt}+`));
    await s.signInWith(api(storage, new Set(['a1', 'a-r1'])), tokens('a1', 300, 'r1'), renew);
    expect(s.via).toBe('oidc');
    expect([...Array(storage.length).keys()].map((i) => storage.getItem(storage.key(i)!))).not.toContain('r1');
    await vi.advanceTimersByTimeAsync(269_000);
    expect(renew).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(2_000); // 30 s before the end
    expect(renew).toHaveBeenCalledWith('r1');
    expect(s.token).toBe('a-r1');
    expect(s.renewals).toBe(1);
    expect(s.isAgent).toBe(true);
  });

  it('signs out cleanly at expiry without a refresh token, saying so', async () => {
    const storage = new MemoryStorage();
    const s = new Session(storage);
    const expired = vi.fn();
    s.addEventListener('expired', expired);
    await s.signInWith(api(storage, new Set(['a1'])), tokens('a1', 60, null), null);
    await vi.advanceTimersByTimeAsync(54_000);
    expect(s.isAgent).toBe(true);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(expired).toHaveBeenCalledOnce();
    expect(s.token).toBeNull();
    expect(s.principal.anonymous).toBe(true);
    expect(storage.length).toBe(0);
  });

  it('keeps the rest of the token when the provider will not renew, then ends', async () => {
    const storage = new MemoryStorage();
    const s = new Session(storage);
    const failed = vi.fn();
    s.addEventListener('renew-failed', failed);
    const renew = async (): Promise<TokenSet> => { throw new Error('invalid_grant'); };
    await s.signInWith(api(storage, new Set(['a1'])), tokens('a1', 100, 'r1'), renew);
    await vi.advanceTimersByTimeAsync(76_000);
    expect(failed).toHaveBeenCalledOnce();
    expect(s.token).toBe('a1');
    await vi.advanceTimersByTimeAsync(25_000);
    expect(s.token).toBeNull();
  });

  it('drops an expired token at start-up without asking the server', async () => {
    const storage = new MemoryStorage();
    storage.setItem('twin.token', 'a1');
    storage.setItem('twin.token.expires', String(Date.now() - 1));
    const s = new Session(storage);
    await s.restore(api(storage, new Set(['a1'])));
    expect(s.principal.anonymous).toBe(true);
    expect(storage.length).toBe(0);
  });

  it('a pasted token after an OpenID Connect one stops the expiry timer', async () => {
    const storage = new MemoryStorage();
    const s = new Session(storage);
    const client = api(storage, new Set(['a1', 'twin_x_y']));
    await s.signInWith(client, tokens('a1', 60, null), null);
    await s.signIn(client, 'twin_x_y');
    await vi.advanceTimersByTimeAsync(120_000);
    expect(s.token).toBe('twin_x_y');
    expect(s.expiresAt).toBeNull();
  });
});

describe('timing and address rules', () => {
  it('renews 30 s before the end, or at 3/4 of a short token', () => {
    expect(renewDelay(300_000)).toBe(270_000);
    expect(renewDelay(12_000)).toBe(9_000);
    expect(expiryDelay(60_000)).toBe(55_000);
    expect(expiryDelay(10_000)).toBe(9_000);
  });

  it('knows an authorization answer and the loopback exception', () => {
    expect(isCallback(new URL('http://t/?code=c&state=s'))).toBe(true);
    expect(isCallback(new URL('http://t/?error=access_denied&state=s'))).toBe(true);
    expect(isCallback(new URL('http://t/?code=c'))).toBe(false);
    expect(isLoopbackHttp(new URL('http://127.0.0.1:8080/realms/x'))).toBe(true);
    expect(isLoopbackHttp(new URL('http://id.example/'))).toBe(false);
    expect(isLoopbackHttp(new URL('https://127.0.0.1/'))).toBe(false);
  });
});
