// Browser check of the operator's flood view (run by tests/test_viewer_flood.py).
//
//   TWIN_URL=... TWIN_OPERATOR_TOKEN=... TWIN_ADMIN_TOKEN=... node tests/flood.mjs [--only flood]
//
// The demo's flood gauge is pushed over its red level the way its integration would (an
// observation to /api/ingest); the rule's flood action runs the flood and the extent reaches
// the Operations page through /ws/live, where it is drawn over the city. Then the operator
// asks for the same flood by hand; both agree with the API.
import { resolve } from 'node:path';
import { assert, assertNoErrors, canvasPixels, diffFraction, openPage, runChecks, waitReady, waitTilesIdle } from './browser.mjs';

const BASE = (process.env.TWIN_URL ?? 'http://127.0.0.1:8765').replace(/\/$/, '');
const TOKENS = { operator: process.env.TWIN_OPERATOR_TOKEN ?? '', admin: process.env.TWIN_ADMIN_TOKEN ?? '' };
const SHOTS = resolve(process.env.TWIN_SCREENSHOTS ?? 'docs/screenshots');
const GAUGE = 'flood-gauge-1';
const STAGE = 2.6;

async function api(path, token = '', init = {}) {
  const res = await fetch(BASE + path, { ...init, headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(init.headers ?? {}) } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Share of pixels bluer after than before (the water drawn over the city). */
function bluer(a, b) {
  let n = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i += 4) {
    if (b[i + 2] - b[i] > a[i + 2] - a[i] + 25) n++;
  }
  return n / (a.length / 4);
}

const checks = {};

checks.flood = async (browser) => {
  const { page, errors } = await openPage(browser, { token: TOKENS.operator });
  await page.goto(`${BASE}/#/ops`);
  await waitReady(page);
  await page.waitForFunction(() => document.body.dataset.ops === 'shown', null, { timeout: 20000 });
  await page.waitForSelector('#ops-status[data-status=live]', { timeout: 20000 });
  const gauges = await page.$$eval('#flood-gauge option', (o) => o.map((x) => x.value));
  assert(gauges.includes(GAUGE), `the flood view lists ${gauges}`);
  // a top view over the gauge, so the water is in the picture
  await page.evaluate((id) => {
    const feed = window.__twin.app.active.feed;
    const v = window.__twin.viewer;
    const p = feed.localOf(feed.device(id));
    const Vec = p.constructor;
    v.lookAt(new Vec(p.x, p.y + 420, p.z + 160), p);
  }, GAUGE);
  await waitTilesIdle(page);
  const before = await canvasPixels(page);

  // the gauge reads 2.6 m: flood-red (1.5 m) fires, its flood action streams the extent
  const t0 = Date.now();
  await api('/api/ingest', TOKENS.admin, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ device: GAUGE, metric: 'stage_m', value: STAGE, at: new Date().toISOString() }),
  });
  await page.waitForSelector('#flood-summary[data-origin=live]', { timeout: 30000 });
  const liveMs = Date.now() - t0;
  const liveArea = Number(await page.getAttribute('#flood-summary', 'data-area'));
  const text = await page.textContent('#flood-summary');
  assert(/flood-(red|orange)/.test(text) && text.includes(GAUGE), `the summary says ${text}`);
  const asked = await api('/api/analysis/flood', TOKENS.operator, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ gauge: GAUGE }),
  });
  assert(Math.abs(asked.level_m - (-0.25 + STAGE)) < 1e-9, `the level is ${asked.level_m}`);
  assert(asked.flooded_area_m2 > 0 && Math.abs(asked.flooded_area_m2 - liveArea) < 1e-6, `live ${liveArea} m², API ${asked.flooded_area_m2} m² from ${JSON.stringify(asked.source)} (terrain ${JSON.stringify(asked.terrain)})`);
  const triangles = await page.evaluate(() => window.__twin.app.active.flood.layer?.triangles ?? 0);
  assert(triangles > 0, 'no water drawn');
  await page.waitForTimeout(300);
  const after = await canvasPixels(page);
  const changed = diffFraction(before, after);
  const blue = bluer(before, after);
  assert(blue > 0.01 && changed > 0.01, `the water changed ${(100 * changed).toFixed(1)}% of the view, ${(100 * blue).toFixed(1)}% bluer`);
  await page.evaluate(() => (document.querySelector('#ops-flood').scrollIntoView()));
  await page.screenshot({ path: resolve(SHOTS, 'ops-flood.png') });

  // by hand: the same flood, asked from the panel
  await page.click('#flood-clear');
  await page.waitForFunction(() => !document.body.dataset.flood);
  await page.selectOption('#flood-gauge', GAUGE);
  await page.click('#flood-run');
  await page.waitForSelector('#flood-summary[data-origin=asked]', { timeout: 30000 });
  const askedArea = Number(await page.getAttribute('#flood-summary', 'data-area'));
  assert(askedArea === asked.flooded_area_m2, `asked ${askedArea} m², API ${asked.flooded_area_m2} m²`);
  assertNoErrors(errors, 'flood');
  return { area_m2: liveArea, buildings: asked.buildings.length, roads_cut: asked.roads_cut.length, ingest_to_extent_ms: liveMs, view_bluer: blue };
};

await runChecks(checks);
