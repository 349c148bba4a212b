import { describe, expect, it } from 'vitest';
import { ApiClient, ApiError, explain, UnreachableError } from '../../src/core/ApiClient';
import { Session } from '../../src/core/Session';

class MemoryStorage implements Storage {
  private m = new Map<string, string>();
  get length() { return this.m.size; }
  clear() { this.m.clear(); }
  getItem(k: string) { return this.m.get(k) ?? null; }
  key(i: number) { return [...this.m.keys()][i] ?? null; }
  removeItem(k: string) { this.m.delete(k); }
  setItem(k: string, v: string) { this.m.set(k, v); }
}

function fakeApi(me: () => Promise<unknown>): ApiClient {
  const api = new ApiClient('http://twin.test/', () => null);
  (api as unknown as { me: () => Promise<unknown> }).me = me;
  return api;
}

describe('Session', () => {
  it('keeps a token the server accepts', async () => {
    const s = new Session(new MemoryStorage());
    await s.signIn(fakeApi(async () => ({ name: 'ana', role: 'agent', anonymous: false, sees: ['public', 'agent'] })), ' twin_a_b ');
    expect(s.token).toBe('twin_a_b');
    expect(s.isAgent).toBe(true);
    s.signOut();
    expect(s.token).toBeNull();
    expect(s.isAgent).toBe(false);
  });

  it('drops a token the server refuses', async () => {
    const s = new Session(new MemoryStorage());
    await expect(s.signIn(fakeApi(async () => { throw new ApiError(401, 'unknown token', '/api/me'); }), 'twin_x_y')).rejects.toThrow(/unknown/);
    expect(s.token).toBeNull();
  });

  it('treats citizens as not agents', async () => {
    const s = new Session(new MemoryStorage());
    await s.signIn(fakeApi(async () => ({ name: 'cit', role: 'citizen', anonymous: false, sees: ['public'] })), 'twin_c_d');
    expect(s.isAgent).toBe(false);
    expect(s.sees('public')).toBe(true);
  });

  it('follows what the server says a role sees, not the role name', async () => {
    const s = new Session(new MemoryStorage());
    // a role the viewer has never heard of, allowed agent data by the server
    await s.signIn(fakeApi(async () => ({ name: 'i', role: 'inspector', anonymous: false, sees: ['public', 'agent'] })), 'twin_i_j');
    expect(s.isAgent).toBe(true);
    expect(s.sees('confidential')).toBe(false);
    // and an agent whose server grants nothing beyond public is not treated as one
    await s.signIn(fakeApi(async () => ({ name: 'a', role: 'agent', anonymous: false, sees: ['public'] })), 'twin_a_b');
    expect(s.isAgent).toBe(false);
  });

  it('starts anonymous with public data only', () => {
    const s = new Session(new MemoryStorage());
    expect(s.principal.anonymous).toBe(true);
    expect(s.sees('public')).toBe(true);
    expect(s.isAgent).toBe(false);
  });
});

describe('explain', () => {
  it('says what went wrong in words', () => {
    expect(explain(new UnreachableError('http://twin.test/api/me', null))).toMatch(/does not answer/);
    expect(explain(new ApiError(401, 'sign in', '/x'))).toMatch(/Sign-in needed/);
    expect(explain(new ApiError(403, 'no', '/x'))).toMatch(/Not allowed/);
  });
});
