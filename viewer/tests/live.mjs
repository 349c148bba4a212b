// Browser checks of the Live and Operations modes (run by tests/test_viewer_live.py).
//
//   TWIN_URL=... TWIN_{CITIZEN,AGENT,OPERATOR,ADMIN}_TOKEN=... node tests/live.mjs [--only NAME]
//
// A check changes the picture the way a sensor would, by posting an observation to
// /api/ingest (the admin's token), and waits for the browser to show it through /ws/live.
import { resolve } from 'node:path';
import { assert, assertNoErrors, canvasStats, openPage, runChecks, waitReady, waitTilesIdle } from './browser.mjs';

const BASE = (process.env.TWIN_URL ?? 'http://127.0.0.1:8765').replace(/\/$/, '');
const TOKENS = Object.fromEntries(['citizen', 'agent', 'operator', 'admin'].map((r) => [r, process.env[`TWIN_${r.toUpperCase()}_TOKEN`] ?? '']));
const SHOTS = resolve(process.env.TWIN_SCREENSHOTS ?? 'docs/screenshots');

async function api(path, token = '', init = {}) {
  const res = await fetch(BASE + path, { ...init, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** An observation, as a sensor's integration sends it. */
async function ingest(device, metric, value) {
  return api('/api/ingest', TOKENS.admin, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ device, metric, value, at: new Date().toISOString() }),
  });
}

async function shot(page, name) {
  await page.screenshot({ path: resolve(SHOTS, `${name}.png`) });
}

/** The active mode's live feed, read in the page. */
const FEED = 'window.__twin.app.active.feed';

async function waitLive(page) {
  await page.waitForSelector('[data-status=live]', { timeout: 20000 });
  // the snapshot came: devices in view have values
  await page.waitForFunction((f) => {
    const feed = window.__twin.app.active.feed;
    return feed && [...feed.state.devices.values()].some((d) => d.metrics.size > 0);
  }, FEED, { timeout: 20000 });
}

/** Screen point of a device's pin head (CSS pixels in the canvas), or null off screen. */
async function pinOnScreen(page, id) {
  return page.evaluate(({ f, id }) => {
    const feed = window.__twin.app.active.feed;
    const v = window.__twin.viewer;
    const p = feed.markers.headOf(id);
    if (!p) return null;
    v.scene.updateMatrixWorld();
    const q = p.clone().project(v.camera);
    if (Math.abs(q.x) > 0.95 || Math.abs(q.y) > 0.95 || q.z > 1) return null;
    const c = v.renderer.domElement;
    return { x: ((q.x + 1) / 2) * c.clientWidth, y: ((1 - q.y) / 2) * c.clientHeight };
  }, { f: FEED, id });
}

async function flyToDevice(page, id) {
  await page.evaluate(({ f, id }) => {
    const feed = window.__twin.app.active.feed;
    const v = window.__twin.viewer;
    const p = feed.localOf(feed.device(id));
    const Vec = p.constructor;
    v.lookAt(new Vec(p.x - 20, p.y + 55, p.z + 45), p);
  }, { f: FEED, id });
  await page.waitForTimeout(300);
  await waitTilesIdle(page);
}

async function clickAt(page, pt) {
  const box = await page.locator('canvas.twin-canvas').boundingBox();
  await page.mouse.click(box.x + pt.x, box.y + pt.y);
}

const checks = {};

checks.live = async (browser) => {
  const { page, errors } = await openPage(browser, { token: TOKENS.agent });
  await page.goto(`${BASE}/#/live`);
  await waitReady(page);
  await waitLive(page);
  await waitTilesIdle(page);
  const inView = await page.evaluate(() => Number(document.body.dataset.liveDevices));
  assert(inView > 10, `only ${inView} devices in the overview`);
  const summary = await page.$$eval('#live-summary li', (li) => li.map((l) => l.textContent));
  assert(summary.some((t) => /Parking bay: \d+ free of \d+/.test(t)), `no parking summary: ${summary}`);
  await shot(page, 'live');

  // a bay changes: the pin's colour and the summary follow, without a reload
  const bay = await page.evaluate((f) => {
    const feed = window.__twin.app.active.feed;
    const d = feed.state.within(feed.footprint).find((x) => x.type === 'parking' && x.metrics.has('occupied'));
    return d && { id: d.id, occupied: d.metrics.get('occupied').value, color: feed.markers.colorOf(d.id) };
  }, FEED);
  assert(bay, 'no parking bay with a value in view');
  await flyToDevice(page, bay.id);
  const pt = await pinOnScreen(page, bay.id);
  assert(pt, `the pin of ${bay.id} is off screen`);
  await clickAt(page, pt);
  const opened = await page.waitForFunction((id) => document.querySelector('#info')?.dataset.deviceId === id, bay.id, { timeout: 5000 }).then(() => true, () => false);
  if (!opened) {
    const why = await page.evaluate(({ f, pt }) => {
      const v = window.__twin.viewer;
      const c = v.renderer.domElement;
      const hit = v.pick({ x: (pt.x / c.clientWidth) * 2 - 1, y: -(pt.y / c.clientHeight) * 2 + 1 });
      return { hit: hit && { layer: hit.layer, name: hit.object.name, type: hit.object.type, instance: hit.instanceId, device: window.__twin.app.active.feed.markers.deviceAt(hit.object, hit.instanceId) }, info: document.querySelector('#info')?.dataset.deviceId };
    }, { f: FEED, pt });
    throw new Error(`a click on the pin of ${bay.id} at ${JSON.stringify(pt)} opened nothing: ${JSON.stringify(why)}`);
  }
  await page.waitForFunction(() => Number(document.querySelector('#device-chart')?.dataset.points) > 1, null, { timeout: 10000 });
  // and what it is bound to: the parking space it lies on, from the Features API
  const { devices } = await api('/api/devices', TOKENS.agent);
  const doc = devices.find((d) => d.id === bay.id);
  await page.waitForSelector(`#device-feature[data-feature="${doc.layer}:${doc.feature_id}"]`, { timeout: 5000 });
  const kind = await page.textContent('#device-feature tr[data-key=kind] td');
  assert(kind === 'parking_space', `the bay's bound feature is a ${kind}`);
  const flipped = bay.occupied >= 0.5 ? 0 : 1;
  const sent = Date.now();
  await ingest(bay.id, 'occupied', flipped);
  await page.waitForFunction(({ f, id, v }) => window.__twin.app.active.feed.device(id)?.metrics.get('occupied')?.value === v, { f: FEED, id: bay.id, v: flipped }, { timeout: 15000 });
  const latency = Date.now() - sent; // POST to the pin's new state in the page (polled every frame)
  const after = await page.evaluate(({ f, id }) => window.__twin.app.active.feed.markers.colorOf(id), { f: FEED, id: bay.id });
  assert(JSON.stringify(after) !== JSON.stringify(bay.color), `the pin of ${bay.id} kept its colour`);
  await page.waitForFunction((v) => document.querySelector('#device-state tr[data-key=occupied] td')?.textContent === String(v), flipped, { timeout: 5000 });
  const state = await page.textContent('#device-state .state-line');
  assert(state.includes(flipped ? 'taken' : 'free'), `the panel says ${state}`);
  await page.waitForTimeout(400);
  await page.evaluate(() => document.querySelector('#info').scrollIntoView());
  await shot(page, 'live-device');

  // the subscription follows the camera: a moved view sends a new bbox
  const before = await page.evaluate((f) => ({ n: window.__twin.app.active.feed.client.subscriptions, bbox: window.__twin.app.active.feed.footprint }), FEED);
  await page.evaluate(() => window.__twin.ctx.base.home(false));
  await page.waitForFunction(({ f, n }) => window.__twin.app.active.feed.client.subscriptions > n, { f: FEED, n: before.n }, { timeout: 5000 });
  const moved = await page.evaluate((f) => window.__twin.app.active.feed.footprint, FEED);
  assert(JSON.stringify(moved) !== JSON.stringify(before.bbox), 'the footprint did not change with the view');

  assertNoErrors(errors, 'live');
  return { devices_in_view: inView, bay: bay.id, ingest_to_pin_ms: latency };
};

/** Push the flood gauge over its rule's threshold; the alert the rule opened (the server's). */
async function raiseAlert(page) {
  const gauge = await page.evaluate((f) => [...window.__twin.app.active.feed.state.devices.values()].find((d) => d.type === 'flood_gauge')?.id, FEED);
  assert(gauge, 'the demo has no flood gauge');
  await ingest(gauge, 'stage_m', 2.4);
  const deadline = Date.now() + 20000;
  for (;;) {
    const open = await api(`/api/alerts?device=${encodeURIComponent(gauge)}&state=open`, TOKENS.operator);
    if (open.length) return open[0];
    assert(Date.now() < deadline, `no alert opened for ${gauge} at 2.4 m`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

checks.alerts = async (browser) => {
  // Live, as an agent: a rule's alert appears in view and is acknowledged there
  const { page, errors } = await openPage(browser, { token: TOKENS.agent });
  await page.goto(`${BASE}/#/live`);
  await waitReady(page);
  await waitLive(page);
  const alert = await raiseAlert(page);
  await page.waitForSelector(`#live-alerts li[data-alert="${alert.id}"]`, { timeout: 15000 });
  const pin = await page.evaluate(({ id }) => window.__twin.app.active.feed.markers.colorOf(id), { id: alert.device_id });
  assert(pin && pin[0] > 0.7 && pin[1] < 0.3, `the alerting gauge's pin is ${pin}`);
  await page.click(`#live-alerts li[data-alert="${alert.id}"] button[data-action=ack]`);
  await page.waitForSelector(`#live-alerts li[data-alert="${alert.id}"][data-state=acknowledged]`, { timeout: 10000 });
  const stored = (await api(`/api/alerts?device=${encodeURIComponent(alert.device_id)}`, TOKENS.operator)).find((a) => String(a.id) === String(alert.id));
  assert(stored?.acknowledged_by === 'live-agent', `the server has ${JSON.stringify(stored)}`);
  await shot(page, 'live-alert');
  assertNoErrors(errors, 'alerts (live)');
  await page.context().close();

  // Operations, as an operator: the acknowledged alert, the rules, then resolved
  const ops = await openPage(browser, { token: TOKENS.operator });
  const p2 = ops.page;
  await p2.goto(`${BASE}/#/ops`);
  await waitReady(p2);
  await p2.waitForFunction(() => document.body.dataset.ops === 'shown', null, { timeout: 20000 });
  await p2.waitForSelector(`#ops-alerts li[data-alert="${alert.id}"][data-state=acknowledged]`, { timeout: 15000 });
  const rules = await p2.$$eval('#ops-rules-table tbody tr', (r) => r.map((x) => ({ name: x.dataset.rule, firing: Number(x.dataset.firing) })));
  assert(rules.some((r) => r.firing > 0), `no rule firing in ${JSON.stringify(rules)}`);
  await p2.click(`#ops-alerts li[data-alert="${alert.id}"] button.link`);
  await p2.waitForFunction((id) => document.querySelector('#info')?.dataset.deviceId === id, alert.device_id, { timeout: 5000 });
  await p2.waitForTimeout(900);
  await waitTilesIdle(p2);
  await p2.evaluate(() => (document.querySelector('#panel').scrollTop = 0)); // counts and alerts
  await shot(p2, 'ops');
  await p2.click(`#ops-alerts li[data-alert="${alert.id}"] button[data-action=resolve]`);
  await p2.waitForFunction((id) => !document.querySelector(`#ops-alerts li[data-alert="${id}"]`), alert.id, { timeout: 10000 });
  const after = (await api(`/api/alerts?device=${encodeURIComponent(alert.device_id)}`, TOKENS.operator)).find((a) => String(a.id) === String(alert.id));
  assert(after?.state === 'resolved', `the alert is ${after?.state}`);
  assertNoErrors(ops.errors, 'alerts (ops)');
  return { alert: alert.id, rules: rules.map((r) => r.name) };
};

checks.live_phone = async (browser) => {
  const { page, errors } = await openPage(browser, { viewport: { width: 390, height: 800 }, touch: true });
  await page.goto(`${BASE}/#/live`);
  await waitReady(page);
  await waitLive(page);
  await waitTilesIdle(page);
  const s = await canvasStats(page);
  assert(s.std > 6, 'the phone view looks blank');
  const canvas = await page.locator('canvas.twin-canvas').boundingBox();
  assert(canvas.width >= 380, `on a phone the view is ${canvas.width}px wide`);
  await page.tap('#menu');
  await page.waitForTimeout(400);
  const summary = await page.locator('#live-summary').boundingBox();
  assert(summary && summary.y < 800, 'the live summary is not on screen in the sheet');
  await shot(page, 'live-phone');
  assertNoErrors(errors, 'live (phone)');
  return {};
};

checks.ops = async (browser) => {
  const { page, errors } = await openPage(browser, { token: TOKENS.operator });
  await page.goto(`${BASE}/#/ops`);
  await waitReady(page);
  await page.waitForFunction(() => document.body.dataset.ops === 'shown', null, { timeout: 20000 });
  assert((await page.evaluate(() => location.hash)) === '#/ops', 'an operator was sent away from #/ops');
  await page.waitForSelector('#ops-status[data-status=live]', { timeout: 20000 });
  const { devices } = await api('/api/devices', TOKENS.operator);
  const rows = await page.$$eval('#ops-table tbody tr', (r) => r.length);
  assert(rows === Math.min(200, devices.length), `${rows} rows for ${devices.length} devices`);
  const layers = await page.$$eval('#ops-count-layer .chip', (c) => c.map((x) => x.textContent));
  assert(layers.length >= 2, `counts by layer: ${layers}`);
  // filters: one type, then one state
  await page.fill('#ops-filter-text', 'lamp');
  await page.waitForFunction(() => [...document.querySelectorAll('#ops-table tbody tr')].every((r) => r.dataset.device.startsWith('lamp')));
  const lamps = await page.$$eval('#ops-table tbody tr', (r) => r.map((x) => x.dataset.device));
  assert(lamps.length === devices.filter((d) => d.id.includes('lamp') || d.type.includes('lamp')).length, `lamp filter shows ${lamps.length}`);
  await page.fill('#ops-filter-text', '');
  // a click flies the 3D view to the device and opens it
  const target = devices.find((d) => d.type === 'flood_gauge') ?? devices[0];
  const t0 = await page.evaluate(() => window.__twin.viewer.controls.target.toArray());
  await page.click(`#ops-table tbody tr[data-device="${target.id}"]`);
  await page.waitForFunction((id) => document.querySelector('#info')?.dataset.deviceId === id, target.id, { timeout: 5000 });
  await page.waitForTimeout(900);
  const [near, t1] = await page.evaluate(({ f, id }) => {
    const feed = window.__twin.app.active.feed;
    const p = feed.localOf(feed.device(id));
    const t = window.__twin.viewer.controls.target;
    return [Math.hypot(p.x - t.x, p.z - t.z), t.toArray()];
  }, { f: FEED, id: target.id });
  assert(near < 2, `the view looks ${near.toFixed(1)} m from ${target.id} (target ${t0} -> ${t1})`);
  await waitTilesIdle(page);
  await shot(page, 'ops-devices');
  // the phone layout of the control tower
  await page.setViewportSize({ width: 390, height: 800 });
  await page.waitForTimeout(500);
  if (!(await page.evaluate(() => document.querySelector('#app').classList.contains('panel-open')))) await page.click('#menu');
  await page.waitForTimeout(500);
  await page.evaluate(() => document.querySelector('#ops-devices').scrollIntoView());
  const table = await page.locator('#ops-devices .table-wrap').boundingBox();
  assert(table && table.width <= 390 && table.y >= 0 && table.y + 120 < 800, `on a phone the device table is at ${JSON.stringify(table)}`);
  await shot(page, 'ops-phone');
  assertNoErrors(errors, 'ops');
  return { rows };
};

checks.ops_admin = async (browser) => {
  const stray = `stray-${Date.now()}`;
  await ingest(stray, 'temperature', 4.5); // unknown: quarantined
  const { page, errors } = await openPage(browser, { token: TOKENS.admin });
  await page.goto(`${BASE}/#/ops`);
  await waitReady(page);
  await page.waitForFunction(() => document.body.dataset.ops === 'shown', null, { timeout: 20000 });
  await page.waitForSelector(`#quarantine-list li[data-device="${stray}"]`);
  await page.click(`#quarantine-list button[data-adopt="${stray}"]`);
  await page.waitForFunction((id) => !document.querySelector(`#quarantine-list li[data-device="${id}"]`), stray, { timeout: 10000 });
  const d = await api(`/api/devices/${stray}`, TOKENS.admin);
  assert(d.status === 'active', `after adoption ${stray} is ${d.status}`);
  await page.waitForSelector(`#ops-table tbody tr[data-device="${stray}"]`);
  assertNoErrors(errors, 'ops (admin)');
  return { adopted: stray };
};

checks.ops_denied = async (browser) => {
  const out = {};
  for (const [who, token] of [['citizen', TOKENS.citizen], ['anonymous', '']]) {
    const { page, errors, requests } = await openPage(browser, { token });
    await page.goto(`${BASE}/#/ops`);
    await waitReady(page, { idle: false });
    await page.waitForSelector('#ops-denied');
    const text = await page.textContent('#ops-denied');
    assert(/operator/.test(text), `${who}: the refusal does not say an operator account is needed: ${text}`);
    assert((await page.evaluate(() => location.hash)) === '#/ops', `${who} was sent away`);
    const asked = requests.filter((u) => /\/api\/(alerts|rules)|\/ws\/live/.test(u));
    assert(asked.length === 0, `${who}: the denied page still asked ${asked}`);
    if (who === 'citizen') await shot(page, 'ops-denied');
    assertNoErrors(errors, `ops (${who})`);
    out[who] = text;
    await page.context().close();
  }
  return out;
};

await runChecks(checks);
