/**
 * HTTP access to the twin: every request carries the session's bearer token, and failures
 * become typed errors the shell can explain (server unreachable, sign-in needed, denied).
 */
import type { SignInConfig } from './OidcClient';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly url: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The server did not answer at all (network down, server stopped). */
export class UnreachableError extends Error {
  constructor(readonly url: string, cause: unknown) {
    super(`the twin server at ${new URL(url, globalThis.location?.href ?? url).origin} does not answer`);
    this.name = 'UnreachableError';
    this.cause = cause;
  }
}

export interface Principal {
  name: string | null;
  role: string;
  anonymous: boolean;
  /** The visibilities this caller may see, as the server's access rule says (GET /api/me). */
  sees: string[];
}

export type TokenSource = () => string | null;

export class ApiClient {
  /** counts bytes of JSON/binary bodies read through this client (for the bench). */
  bytesRead = 0;

  constructor(
    readonly baseUrl: string,
    private readonly token: TokenSource,
  ) {}

  url(path: string): string {
    return new URL(path, this.baseUrl).toString();
  }

  headers(): Record<string, string> {
    const t = this.token();
    return t ? { Authorization: `Bearer ${t}` } : {};
  }

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const url = this.url(path);
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers: { ...this.headers(), ...(init.headers ?? {}) } });
    } catch (err) {
      throw new UnreachableError(url, err);
    }
    if (!res.ok) {
      throw new ApiError(res.status, await errorMessage(res), url);
    }
    return res;
  }

  async json<T = unknown>(path: string): Promise<T> {
    const res = await this.fetch(path, { headers: { Accept: 'application/json, application/geo+json' } });
    const text = await res.text();
    this.bytesRead += text.length;
    return JSON.parse(text) as T;
  }

  /** POST a JSON body (or none); the answer's JSON. */
  async post<T = unknown>(path: string, body?: unknown): Promise<T> {
    const init: RequestInit = { method: 'POST', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { ...init.headers, 'Content-Type': 'application/json' };
    }
    const res = await this.fetch(path, init);
    const text = await res.text();
    return (text ? JSON.parse(text) : null) as T;
  }

  me(): Promise<Principal> {
    return this.json<Principal>('/api/me');
  }

  /** The OpenID Connect provider to sign in with, or null: pasted tokens only. */
  authConfig(): Promise<SignInConfig | null> {
    return this.json<SignInConfig | null>('/api/auth/config');
  }
}

async function errorMessage(res: Response): Promise<string> {
  try {
    const body = await res.json();
    const detail = body?.detail ?? body?.description ?? body?.message;
    if (typeof detail === 'string') return detail;
    if (detail) return JSON.stringify(detail);
  } catch {
    /* not JSON */
  }
  return `${res.status} ${res.statusText}`;
}

/** A short sentence for a person, whatever went wrong. */
export function explain(err: unknown): string {
  if (err instanceof UnreachableError) {
    return `${err.message}. Check that \`twin serve\` is running and reload.`;
  }
  if (err instanceof ApiError) {
    if (err.status === 401) return `Sign-in needed: ${err.message}`;
    if (err.status === 403) return `Not allowed for your account: ${err.message}`;
    return `The server answered ${err.status}: ${err.message}`;
  }
  return err instanceof Error ? err.message : String(err);
}
