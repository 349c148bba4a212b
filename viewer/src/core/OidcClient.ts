/**
 * OpenID Connect sign-in for the viewer, a public client: the authorization code flow with
 * PKCE (S256), through panva's oauth4webapi rather than hand-written protocol code.
 *
 * The issuer, client id and scopes come from the twin (GET /api/auth/config); the provider's
 * endpoints from its discovery document. What the flow must remember across the redirect to
 * the provider (PKCE verifier, state, nonce, the page to come back to) is kept in
 * sessionStorage, the only store that survives that navigation and no other tab can read; it
 * is removed as soon as the answer comes back, whether the answer is good or not.
 *
 * The redirect URI is the viewer's own address (origin + path, no query, no fragment):
 * register exactly that at the provider.
 */
import * as oauth from 'oauth4webapi';

export interface SignInConfig {
  issuer: string;
  client_id: string;
  scopes: string[];
  role_claim: string;
}

/** What a sign-in (or a refresh) gives: the bearer for the twin and how long it lasts. */
export interface TokenSet {
  accessToken: string;
  /** epoch milliseconds; null when the provider did not say */
  expiresAt: number | null;
  refreshToken: string | null;
  /** the ID token: proof of the sign-in for the viewer, and the hint that ends it */
  idToken: string | null;
}

/** A sign-in that cannot go on, in words for the person (shown in the sign-in dialog). */
export class SignInError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignInError';
  }
}

const PENDING = 'twin.oidc.pending';

interface Pending {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  issuer: string;
}

/** Plain http is refused by oauth4webapi, rightly; a provider on the loopback address (a
 * developer's Keycloak, the tests' issuer) is the one exception, as RFC 8252 makes it. */
export function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

/** Does this address carry an authorization answer (a code or an error, with a state)? */
export function isCallback(url: URL): boolean {
  const q = url.searchParams;
  return q.has('state') && (q.has('code') || q.has('error'));
}

function why(err: unknown): string {
  if (err instanceof oauth.ResponseBodyError) {
    const description = err.cause?.error_description;
    return typeof description === 'string' ? `${err.error}: ${description}` : err.error;
  }
  if (err instanceof oauth.AuthorizationResponseError) {
    return err.error_description ? `${err.error}: ${err.error_description}` : err.error;
  }
  return err instanceof Error ? err.message : String(err);
}

export class OidcClient {
  private server: oauth.AuthorizationServer | null = null;

  constructor(
    readonly config: SignInConfig,
    readonly redirectUri: string,
    private readonly storage: Storage = sessionStorage,
  ) {}

  private get client(): oauth.Client {
    return { client_id: this.config.client_id };
  }

  private get options(): { [oauth.allowInsecureRequests]: boolean } {
    return { [oauth.allowInsecureRequests]: isLoopbackHttp(new URL(this.config.issuer)) };
  }

  /** The provider's metadata, read once from its discovery document and checked. */
  async discover(): Promise<oauth.AuthorizationServer> {
    if (this.server) return this.server;
    const issuer = new URL(this.config.issuer);
    let response: Response;
    try {
      response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...this.options });
    } catch (err) {
      throw new SignInError(`The identity provider at ${issuer.origin} does not answer (${why(err)}). Try again later, or sign in with a token.`);
    }
    let server: oauth.AuthorizationServer;
    try {
      server = await oauth.processDiscoveryResponse(issuer, response);
    } catch (err) {
      throw new SignInError(`The identity provider's discovery document at ${issuer.href} is not usable (${why(err)}): check TWIN_OIDC_ISSUER.`);
    }
    if (!server.authorization_endpoint || !server.token_endpoint) {
      throw new SignInError('The identity provider publishes no authorization or token endpoint: it cannot sign the viewer in.');
    }
    if (new URL(server.token_endpoint).origin !== issuer.origin) {
      throw new SignInError(`The identity provider's token endpoint (${server.token_endpoint}) is not on the issuer's origin ${issuer.origin}, the only one the viewer may reach.`);
    }
    const methods = server.code_challenge_methods_supported;
    if (methods && !methods.includes('S256')) {
      throw new SignInError('The identity provider does not offer PKCE with S256, which the viewer requires.');
    }
    this.server = server;
    return server;
  }

  /** Where to send the browser to sign in; remembers what the answer will be checked with. */
  async authorizationUrl(returnTo: string): Promise<URL> {
    const server = await this.discover();
    const verifier = oauth.generateRandomCodeVerifier();
    const pending: Pending = {
      state: oauth.generateRandomState(),
      nonce: oauth.generateRandomNonce(),
      verifier,
      returnTo,
      issuer: this.config.issuer,
    };
    const url = new URL(server.authorization_endpoint!);
    const q = url.searchParams;
    q.set('response_type', 'code');
    q.set('client_id', this.config.client_id);
    q.set('redirect_uri', this.redirectUri);
    q.set('scope', this.config.scopes.join(' '));
    q.set('state', pending.state);
    q.set('nonce', pending.nonce);
    q.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
    q.set('code_challenge_method', 'S256');
    this.storage.setItem(PENDING, JSON.stringify(pending));
    return url;
  }

  /**
   * Finish a sign-in from the address the provider sent the browser back to: the state must
   * be this tab's, the code is exchanged with the PKCE verifier, the ID token's nonce must be
   * this tab's. Throws SignInError saying which check failed.
   */
  async complete(url: URL): Promise<{ tokens: TokenSet; returnTo: string }> {
    const raw = this.storage.getItem(PENDING);
    this.storage.removeItem(PENDING); // one answer per request, good or bad
    const pending = raw ? (JSON.parse(raw) as Pending) : null;
    if (!pending || pending.issuer !== this.config.issuer) {
      throw new SignInError('This sign-in answer does not belong to a sign-in started in this tab (or it was used already). Sign in again.');
    }
    const server = await this.discover();
    let params: URLSearchParams;
    try {
      params = oauth.validateAuthResponse(server, this.client, url, pending.state);
    } catch (err) {
      if (err instanceof oauth.AuthorizationResponseError) {
        throw new SignInError(`The identity provider did not sign you in (${why(err)}).`);
      }
      throw new SignInError(`The sign-in answer does not match the request this tab sent (${why(err)}). Sign in again.`);
    }
    let response: Response;
    try {
      response = await oauth.authorizationCodeGrantRequest(server, this.client, oauth.None(), params, this.redirectUri, pending.verifier, this.options);
    } catch (err) {
      throw new SignInError(`The identity provider's token endpoint does not answer (${why(err)}).`);
    }
    try {
      const result = await oauth.processAuthorizationCodeResponse(server, this.client, response, {
        expectedNonce: pending.nonce,
        requireIdToken: true,
      });
      return { tokens: tokenSet(result), returnTo: pending.returnTo };
    } catch (err) {
      throw new SignInError(`The identity provider's answer was refused (${why(err)}). Sign in again.`);
    }
  }

  /**
   * Where to send the browser to end the provider's own session too (RP-initiated logout),
   * coming back to the viewer; null when the provider offers no end-session endpoint. Without
   * the ID token (after a reload) the provider may ask the person to confirm.
   */
  async logoutUrl(idToken: string | null): Promise<URL | null> {
    const server = await this.discover();
    if (!server.end_session_endpoint) return null;
    const url = new URL(server.end_session_endpoint);
    url.searchParams.set('client_id', this.config.client_id);
    url.searchParams.set('post_logout_redirect_uri', this.redirectUri);
    if (idToken) url.searchParams.set('id_token_hint', idToken);
    return url;
  }

  /** New tokens for a refresh token; throws SignInError when the provider says no. */
  async refresh(refreshToken: string): Promise<TokenSet> {
    const server = await this.discover();
    try {
      const response = await oauth.refreshTokenGrantRequest(server, this.client, oauth.None(), refreshToken, this.options);
      const result = await oauth.processRefreshTokenResponse(server, this.client, response);
      return tokenSet(result, refreshToken);
    } catch (err) {
      throw new SignInError(`The identity provider did not renew the sign-in (${why(err)}).`);
    }
  }
}

function tokenSet(result: oauth.TokenEndpointResponse, previousRefresh: string | null = null): TokenSet {
  return {
    idToken: result.id_token ?? null,
    accessToken: result.access_token,
    expiresAt: typeof result.expires_in === 'number' ? Date.now() + result.expires_in * 1000 : null,
    // a provider that does not rotate refresh tokens answers without one: keep the old one
    refreshToken: result.refresh_token ?? previousRefresh,
  };
}
