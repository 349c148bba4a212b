// Browser checks of the viewer's OpenID Connect sign-in, against the twin and the tests' own
// provider (tests/oidc_issuer.py, started by tests/test_viewer_browser.py): a person signs in
// on the provider's page and comes back an agent; a short-lived token is renewed, one without
// a refresh token ends cleanly; signing out ends the provider's session too; a forged answer (wrong state) is refused before any code
// exchange, and a replayed code is refused by the provider. Users: carla (agent, refresh
// tokens), dora (agent, none). Every check fails on a console error it did not expect.
import { assert, assertNoErrors, openPage, waitReady } from './browser.mjs';

async function signInConfig(base) {
  const res = await fetch(`${base}/api/auth/config`);
  const config = await res.json();
  assert(res.ok && config?.issuer, `the twin names no OpenID Connect provider: ${JSON.stringify(config)}`);
  return config;
}

/** From the viewer's sign-in dialog to the provider's page; its authorization request. */
async function toProvider(page, config) {
  await page.click('#signin-oidc');
  await page.waitForURL((u) => u.href.startsWith(`${config.issuer}/authorize`), { timeout: 15000 });
  await page.waitForSelector('#username');
  return new URL(page.url());
}

/** Sign in on the provider's page and wait to be back in the viewer, signed in. */
async function signInAs(page, base, user) {
  await page.fill('#username', user);
  await page.click('#login');
  await page.waitForURL((u) => u.href.startsWith(`${base}/`), { timeout: 15000 });
  await waitReady(page, { idle: false });
  await page.waitForFunction(() => document.querySelector('#user').dataset.signedIn === 'true', null, { timeout: 15000 });
}

const signedIn = (page) => page.evaluate(() => document.querySelector('#user').dataset.signedIn === 'true');
const stored = (page) => page.evaluate(() => Object.fromEntries(Object.entries(sessionStorage)));

export function oidcChecks({ base }) {
  const checks = {};

  checks.oidc_signin = async (browser) => {
    const config = await signInConfig(base);
    const { page, errors, requests } = await openPage(browser);
    await page.goto(`${base}/#/underground`);
    await waitReady(page);
    await page.waitForSelector('#underground-denied');
    assert(!requests.some((u) => /\/tiles\/network-/.test(u)), 'an anonymous viewer requested network tiles');

    await page.click('#underground-signin');
    const request = (await toProvider(page, config)).searchParams;
    assert(request.get('code_challenge_method') === 'S256' && /^[\w-]{43}$/.test(request.get('code_challenge') ?? ''), `no S256 PKCE challenge: ${request}`);
    assert(request.get('state') && request.get('nonce') && request.get('client_id') === config.client_id, `state, nonce or client missing: ${request}`);
    assert(request.get('redirect_uri') === `${base}/`, `redirect_uri ${request.get('redirect_uri')}`);
    await signInAs(page, base, 'carla');
    const back = new URL(page.url());
    assert(back.hash === '#/underground' && !back.search, `came back to ${page.url()} (the code must leave the address bar)`);
    const user = await page.textContent('#user');
    assert(/oidc:carla \(agent\)/.test(user), `the viewer shows ${user}`);
    await page.waitForFunction(() => document.body.dataset.underground === 'shown', null, { timeout: 30000 });
    assert(requests.some((u) => /\/tiles\/network-/.test(u)), 'no network tile requested after signing in');
    const keys = Object.keys(await stored(page)).sort();
    assert(JSON.stringify(keys) === JSON.stringify(['twin.token', 'twin.token.expires']), `sessionStorage holds ${keys}`);
    const first = await page.evaluate(() => window.__twin.ctx.session.token);
    assert(first.split('.').length === 3, 'the bearer is not the access token (a JWT)');

    // the provider's tokens last 12 s here: the viewer renews before the end, and stays an agent
    await page.waitForFunction(() => window.__twin.ctx.session.renewals >= 1, null, { timeout: 20000 });
    const renewed = await page.evaluate(() => window.__twin.ctx.session.token);
    assert(renewed !== first, 'the renewal kept the old token');
    const me = await (await fetch(`${base}/api/me`, { headers: { Authorization: `Bearer ${renewed}` } })).json();
    assert(me.role === 'agent' && me.name === 'oidc:carla', `the renewed token is ${JSON.stringify(me)}`);
    assert(await signedIn(page), 'signed out by the renewal');
    const renewals = await page.evaluate(() => window.__twin.ctx.session.renewals);

    // sign out: of the twin, and of the provider (its end-session endpoint), then back here
    const logout = page.waitForRequest((r) => r.url().startsWith(`${config.issuer}/logout`), { timeout: 15000 });
    await page.click('#user');
    const hint = new URL((await logout).url()).searchParams;
    assert(hint.get('post_logout_redirect_uri') === `${base}/` && hint.get('id_token_hint'), `logout asked as ${hint}`);
    await page.waitForURL(`${base}/#/explore`, { timeout: 15000 });
    await waitReady(page, { idle: false });
    assert((await page.textContent('#user')) === 'Sign in', 'still signed in after signing out');
    assert(!('twin.token' in (await stored(page))), 'the token stayed after signing out');
    // the provider forgot this browser: the next sign-in asks who is there
    await page.click('#user');
    await toProvider(page, config);
    assertNoErrors(errors, 'oidc sign-in');
    return { renewals };
  };

  checks.oidc_expiry = async (browser) => {
    const config = await signInConfig(base);
    const { page, errors, requests } = await openPage(browser);
    await page.goto(`${base}/#/explore`);
    await waitReady(page);
    await page.click('#user');
    await toProvider(page, config);
    await signInAs(page, base, 'dora');
    const left = await page.evaluate(() => window.__twin.ctx.session.expiresAt - Date.now());
    assert(left > 0 && left <= 12000, `the token ends in ${left} ms`);
    await page.waitForFunction(() => document.querySelector('#user').dataset.signedIn === 'false', null, { timeout: 20000 });
    const message = await page.textContent('#message');
    assert(/expired/.test(message), `signed out without saying why: ${message}`);
    assert(!('twin.token' in (await stored(page))), 'the expired token was kept');
    const grants = requests.filter((u) => u.startsWith(`${config.issuer}/token`));
    assert(grants.length === 1, `${grants.length} token requests for a sign-in without a refresh token`);
    assertNoErrors(errors, 'oidc expiry');
    return { lasted_ms: left };
  };

  checks.oidc_wrong_state = async (browser) => {
    const config = await signInConfig(base);
    const { page, errors, requests } = await openPage(browser);
    await page.goto(`${base}/#/explore`);
    await waitReady(page);
    await page.click('#user');
    const issued = (await toProvider(page, config)).searchParams;
    const iss = encodeURIComponent(config.issuer);
    // an answer this tab did not ask for: refused before the code is exchanged
    await page.goto(`${base}/?code=forged&state=not-${issued.get('state')}&iss=${iss}`);
    await waitReady(page, { idle: false });
    await page.waitForSelector('#signin-error:not([hidden])');
    const refused = await page.textContent('#signin-error');
    assert(/does not match the request this tab sent/.test(refused), `a wrong state gave: ${refused}`);
    assert(!(await signedIn(page)), 'signed in with a forged answer');
    assert(!requests.some((u) => u.startsWith(`${config.issuer}/token`)), 'a forged answer reached the token endpoint');
    assert(!new URL(page.url()).search, 'the forged code stayed in the address bar');
    assert(!('twin.oidc.pending' in (await stored(page))), 'the pending sign-in survived a wrong answer');

    // the right state with a code the provider never issued: the provider refuses the exchange
    await page.click('#signin-cancel');
    await page.click('#user');
    const second = (await toProvider(page, config)).searchParams;
    await page.goto(`${base}/?code=forged&state=${second.get('state')}&iss=${iss}`);
    await waitReady(page, { idle: false });
    await page.waitForSelector('#signin-error:not([hidden])');
    const denied = await page.textContent('#signin-error');
    assert(/invalid_grant/.test(denied), `a forged code gave: ${denied}`);
    assert(!(await signedIn(page)), 'signed in with a forged code');
    // the browser itself logs the provider's 400 for the forged code: that one is expected
    const expected = errors.findIndex((e) => /status of 400/.test(e));
    assertNoErrors(errors.filter((_, i) => i !== expected), 'oidc wrong state');
    return { refused, denied };
  };

  return checks;
}
