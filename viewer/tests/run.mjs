// Browser tests of the viewer against a running twin (started by tests/test_viewer_browser.py).
//
//   TWIN_URL=http://127.0.0.1:PORT TWIN_AGENT_TOKEN=twin_... node tests/run.mjs [--only NAME,...]
//
// Each check drives Debian's Chromium (headless, WebGL through SwiftShader), asserts what a
// person would see (non-blank image from pixel statistics, attributes in the panel, camera
// height) and saves a screenshot to docs/screenshots/. Prints one line per check and a last
// line "N passed, N failed"; exits 1 when a check failed.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert, assertNoErrors, canvasPixels, canvasStats, diffFraction, openPage, runChecks, waitReady, waitTilesIdle } from './browser.mjs';
import { oidcChecks } from './oidc.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.TWIN_URL ?? 'http://127.0.0.1:8765').replace(/\/$/, '');
const TOKEN = process.env.TWIN_AGENT_TOKEN ?? '';
const SHOTS = resolve(process.env.TWIN_SCREENSHOTS ?? resolve(HERE, '../../docs/screenshots'));
mkdirSync(SHOTS, { recursive: true });

async function api(path, token = '') {
  const res = await fetch(BASE + path, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

async function assertRendered(page, what) {
  const s = await canvasStats(page);
  assert(s.std > 6 && s.colours > 12, `${what}: the canvas looks blank (std ${s.std.toFixed(1)}, ${s.colours} colours)`);
  return s;
}

async function shot(page, name) {
  const path = resolve(SHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** Rows of the attribute panel as {key: text}. */
async function panelRows(page) {
  return page.$$eval('#attributes tr', (rows) =>
    Object.fromEntries(rows.map((r) => [r.dataset.key, r.querySelector('td').textContent])),
  );
}

function close(a, b, tol = 0.02) {
  return Math.abs(Number(a) - Number(b)) <= tol * Math.max(1, Math.abs(Number(b)));
}

async function clickCanvas(page, x, y) {
  const box = await page.locator('canvas.twin-canvas').boundingBox();
  await page.mouse.click(box.x + x, box.y + y);
}

/** Screen points of features of a layer, found by probing picks at projected vertices. */
async function findFeatureOnScreen(page, layerPrefix, className, max = 60) {
  return page.evaluate(
    ({ layerPrefix, className, max }) => {
      const v = window.__twin.viewer;
      const canvas = v.renderer.domElement;
      const out = [];
      const Vec = v.camera.position.constructor;
      v.scene.updateMatrixWorld();
      for (const [name, layer] of v.layers) {
        if (!name.startsWith(layerPrefix)) continue;
        layer.tiles.group.traverse((o) => {
          if (out.length >= max || !o.geometry || !o.userData.meshFeatures) return;
          const pos = o.geometry.getAttribute('position');
          const step = Math.max(1, Math.floor(pos.count / 8));
          for (let i = 0; i < pos.count && out.length < max; i += step) {
            const p = new Vec().fromBufferAttribute(pos, i).applyMatrix4(o.matrixWorld).project(v.camera);
            if (Math.abs(p.x) > 0.9 || Math.abs(p.y) > 0.9 || p.z > 1) continue;
            const hit = v.pick({ x: p.x, y: p.y });
            if (hit?.feature?.className === className) {
              out.push({
                x: ((p.x + 1) / 2) * canvas.clientWidth,
                y: ((1 - p.y) / 2) * canvas.clientHeight,
                id: hit.feature.props.id,
                world: [hit.point.x, hit.point.y, hit.point.z],
              });
            }
          }
        });
      }
      return out;
    },
    { layerPrefix, className, max },
  );
}

// -- the checks ------------------------------------------------------------------------------
const checks = {};

checks.explore = async (browser) => {
  const { context, page, errors } = await openPage(browser);
  // where the camera was at each tile content fetch: the first view fetches for its own
  // camera only, not for the default one it had before the overview
  await context.addInitScript(() => {
    const eyes = (window.__glbFetchEyes = []);
    const fetch0 = window.fetch;
    window.fetch = function (input, init) {
      if (/\.glb(\?|$)/.test(String(input?.url ?? input))) eyes.push(window.__twin?.viewer?.camera.position.toArray() ?? null);
      return fetch0.call(this, input, init);
    };
  });
  await page.goto(`${BASE}/#/explore`);
  await waitReady(page);
  assert((await page.evaluate(() => document.body.dataset.state)) === 'ready', 'explore did not become ready');
  const fetches = await page.evaluate(() => {
    const home = window.__twin.viewer.camera.position;
    return window.__glbFetchEyes.map((e) => (e ? Math.hypot(e[0] - home.x, e[1] - home.y, e[2] - home.z) : -1));
  });
  assert(fetches.length > 0, 'the first view fetched no tile content');
  const stray = fetches.filter((d) => !(d >= 0 && d < 1));
  assert(stray.length === 0, `${stray.length} of ${fetches.length} tile fetches of the first view were made away from its camera (m off: ${stray.slice(0, 5).map((d) => d.toFixed(0)).join(', ')})`);
  await assertRendered(page, 'explore overview');
  await shot(page, 'explore');

  // search a building by id, then pick it on screen: the panel shows its tile metadata
  const fc = await api('/collections/buildings/items?limit=200');
  const candidates = fc.features.filter((f) => f.properties.levels > 0 && f.properties.height > 6);
  candidates.sort((a, b) => b.properties.height - a.properties.height);
  const b = candidates[0] ?? fc.features[0];
  assert(b, 'the demo has no building');
  await page.fill('#search-input', String(b.id));
  await page.click('#search button[type=submit]');
  await page.waitForSelector(`#info:not([hidden])`);
  await page.waitForTimeout(900); // the camera flight
  await waitTilesIdle(page);
  const box = await page.locator('canvas.twin-canvas').boundingBox();
  await clickCanvas(page, box.width / 2, box.height / 2);
  await page.waitForFunction(() => document.querySelector('#info h2')?.textContent.startsWith('Building') && document.querySelector('#info')?.dataset.layer === 'buildings', null, { timeout: 5000 });
  const rows = await panelRows(page);
  const stored = b.properties;
  assert(String(rows.id) === String(b.id), `picked building ${rows.id}, expected ${b.id}`);
  for (const k of ['height', 'base_z']) assert(close(rows[k], stored[k]), `${k}: panel ${rows[k]} vs Features API ${stored[k]}`);
  for (const k of ['levels', 'usage', 'name']) {
    if (stored[k] !== null && stored[k] !== undefined && stored[k] !== '') assert(String(rows[k]) === String(stored[k]), `${k}: panel ${rows[k]} vs Features API ${stored[k]}`);
  }
  await shot(page, 'explore-pick');

  // style by height: legend and a different image
  const before = await canvasPixels(page);
  await page.selectOption('#style-select', 'height');
  await page.waitForSelector('#legend:not([hidden]) li');
  await waitTilesIdle(page);
  const after = await canvasPixels(page);
  assert(diffFraction(before, after) > 0.005, 'styling by height changed nothing on screen');
  await page.click('#home');
  await page.waitForTimeout(900);
  await waitTilesIdle(page);
  await shot(page, 'explore-height');

  // measure between two points of the view
  await page.click('#measure');
  await clickCanvas(page, box.width * 0.4, box.height * 0.6);
  await clickCanvas(page, box.width * 0.6, box.height * 0.62);
  const direct = Number(await page.$eval('#measure-result', (o) => o.dataset.direct ?? 'NaN'));
  assert(direct > 1, `measure gave ${direct}`);
  await page.click('#measure');

  // street furniture (instanced trees, lamps, benches) streams in on demand
  if (await page.isEnabled('#show-furniture')) {
    await page.check('#show-furniture');
    await waitTilesIdle(page);
    const loaded = await page.evaluate(() => window.__twin.viewer.layers.get('furniture')?.tiles.stats.loaded ?? 0);
    assert(loaded > 0, 'no furniture tile loaded');
  }
  assertNoErrors(errors, 'explore');
  return { building: b.id, measured_m: direct };
};

checks.unreachable = async (browser) => {
  const { page } = await openPage(browser);
  await page.route('**/api/me', (r) => r.abort('connectionrefused'));
  await page.goto(`${BASE}/#/explore`);
  await page.waitForFunction(() => document.body.dataset.state === 'error', null, { timeout: 15000 });
  const text = await page.textContent('#message');
  assert(/does not answer/.test(text), `message was: ${text}`);
  return { message: text };
};

checks.phone = async (browser) => {
  const { page, errors } = await openPage(browser, { viewport: { width: 390, height: 800 }, touch: true });
  await page.goto(`${BASE}/#/explore`);
  await waitReady(page);
  await assertRendered(page, 'phone');
  const canvas = await page.locator('canvas.twin-canvas').boundingBox();
  assert(canvas.width >= 380, `on a phone the view is ${canvas.width}px wide`);
  // open the tools sheet, find a building, close the sheet, tap the building
  await page.tap('#menu');
  await page.waitForTimeout(400);
  await shot(page, 'phone');
  const fc = await api('/collections/buildings/items?limit=100');
  const b = fc.features.filter((f) => f.properties.height > 10).sort((x, y) => y.properties.height - x.properties.height)[0] ?? fc.features[0];
  await page.fill('#search-input', String(b.id));
  await page.tap('#search button[type=submit]');
  await page.waitForSelector('#info:not([hidden])');
  await page.tap('#menu');
  await page.waitForTimeout(900);
  await waitTilesIdle(page);
  await page.touchscreen.tap(canvas.x + canvas.width / 2, canvas.y + canvas.height / 2);
  await page.waitForFunction((id) => document.querySelector('#info')?.dataset.layer === 'buildings' && document.querySelector('#info').dataset.featureId === String(id), b.id, { timeout: 5000 });
  assertNoErrors(errors, 'phone');
  return { tapped: b.id };
};

checks.underground_anonymous = async (browser) => {
  const { page, errors, requests } = await openPage(browser);
  await page.goto(`${BASE}/#/underground`);
  await waitReady(page);
  await page.waitForSelector('#underground-denied');
  const text = await page.textContent('#underground-denied');
  assert(/agent/.test(text), 'the refusal does not say an agent account is needed');
  await page.waitForTimeout(500);
  const net = requests.filter((u) => /\/tiles\/network-/.test(u));
  assert(net.length === 0, `anonymous user requested network tiles: ${net.slice(0, 2)}`);
  await shot(page, 'underground-anonymous');
  assertNoErrors(errors, 'underground (anonymous)');
  return { network_requests: net.length };
};

checks.underground_agent = async (browser) => {
  assert(TOKEN, 'TWIN_AGENT_TOKEN is not set');
  const { page, errors, requests } = await openPage(browser);
  await page.goto(`${BASE}/#/explore`);
  await waitReady(page);
  // sign in through the form, as a person would: a wrong token first, then the real one
  await page.click('#user');
  await page.fill('#token', 'twin_000000000000_not-a-valid-secret');
  await page.click('#signin-submit');
  await page.waitForSelector('#signin-error:not([hidden])');
  const refused = await page.textContent('#signin-error');
  assert(/token/i.test(refused), `a wrong token gave: ${refused}`);
  assert((await page.evaluate(() => sessionStorage.getItem('twin.token'))) === null, 'a refused token was kept');
  await page.fill('#token', TOKEN);
  await page.click('#signin-submit');
  await page.waitForFunction(() => document.querySelector('#user').dataset.signedIn === 'true');
  await page.click('#modes a[data-mode=underground]');
  await page.waitForFunction(() => ['shown', 'empty'].includes(document.body.dataset.underground), null, { timeout: 30000 });
  assert((await page.evaluate(() => document.body.dataset.underground)) === 'shown', 'no network tileset was shown to the agent');
  await waitTilesIdle(page);
  await assertRendered(page, 'underground');
  assert(requests.some((u) => /\/tiles\/network-/.test(u)), 'no network tile requested for the agent');
  const legend = await page.$$eval('#legend li', (li) => li.map((l) => l.textContent.trim()));
  assert(legend.length > 0, 'no legend');
  await shot(page, 'underground');

  let spots = await findFeatureOnScreen(page, 'network-', 'network_segment', 5);
  assert(spots.length > 0, 'no pipe is visible on screen');
  // come closer, as a person would zoom on a street, then pick a pipe there
  await page.evaluate((w) => {
    const v = window.__twin.viewer;
    const Vec = v.camera.position.constructor;
    v.lookAt(new Vec(w[0] - 9, w[1] + 11, w[2] + 13), new Vec(w[0], w[1], w[2]));
  }, spots[0].world);
  await waitTilesIdle(page);
  spots = await findFeatureOnScreen(page, 'network-', 'network_segment', 5);
  assert(spots.length > 0, 'no pipe is visible on screen after zooming');
  await clickCanvas(page, spots[0].x, spots[0].y);
  await page.waitForFunction(() => document.querySelector('#info h2')?.textContent.startsWith('Network segment'), null, { timeout: 5000 });
  const rows = await panelRows(page);
  const stored = (await api(`/collections/networks/items/${rows.id}`, TOKEN)).properties;
  for (const k of ['network', 'material', 'operator']) {
    if (stored[k]) assert(String(rows[k]) === String(stored[k]), `${k}: panel ${rows[k]} vs API ${stored[k]}`);
  }
  for (const k of ['depth_m', 'diameter_mm', 'install_year']) {
    if (stored[k] !== null && stored[k] !== undefined) assert(close(rows[k], stored[k]), `${k}: panel ${rows[k]} vs API ${stored[k]}`);
  }
  await shot(page, 'underground-pick');

  // filter: hide every network but the picked one
  const boxes = await page.$$('#network-filter input[type=checkbox]');
  for (const cb of boxes) {
    if ((await cb.getAttribute('data-network')) !== rows.network) await cb.uncheck();
  }
  await waitTilesIdle(page);
  // the browser itself logs the refused /api/me of the wrong token (401): that one is expected
  const first401 = errors.findIndex((e) => /status of 401/.test(e));
  assertNoErrors(errors.filter((_, i) => i !== first401), 'underground (agent)');
  return { pipe: rows.id, network: rows.network, networks: legend };
};

checks.project = async (browser) => {
  const { page, errors } = await openPage(browser);
  const projects = await api('/collections/projects/items?limit=10');
  assert(projects.features.length > 0, 'the demo has no project');
  const slug = projects.features[0].properties.slug;
  await page.goto(`${BASE}/#/project/${slug}`);
  await waitReady(page);
  await page.waitForSelector('#compare-before');
  await page.click('#compare-before');
  await waitTilesIdle(page);
  await assertRendered(page, 'project before');
  const before = await canvasPixels(page);
  await shot(page, 'project-before');
  await page.click('#compare-after');
  await waitTilesIdle(page);
  const after = await canvasPixels(page);
  await shot(page, 'project-after');
  const diff = diffFraction(before, after);
  assert(diff > 0.002, `before and after look the same (${(diff * 100).toFixed(2)}% pixels differ)`);
  await page.click('#compare-swipe');
  await waitTilesIdle(page);
  await shot(page, 'project-swipe');
  await page.click('#compare-side');
  await waitTilesIdle(page);
  await shot(page, 'project-side-by-side');

  // stand on a balcony: a baseline building with several floors, near the site
  await page.click('#compare-after');
  const fc = await api('/collections/buildings/items?limit=500');
  const site = projects.features[0].geometry;
  const ring = site.type === 'MultiPolygon' ? site.coordinates[0][0] : site.coordinates[0];
  const cx = ring.reduce((s, p) => s + p[0], 0) / ring.length;
  const cy = ring.reduce((s, p) => s + p[1], 0) / ring.length;
  const hidden = new Set(await page.evaluate(() => [...(window.__twin.viewer.layers.values())].flatMap((l) => l.tiles.rootTileset?.extras?.hides?.ids ?? [])));
  const centre = (f) => {
    const r = f.geometry.type === 'MultiPolygon' ? f.geometry.coordinates[0][0] : f.geometry.coordinates[0];
    return [r.reduce((s, p) => s + p[0], 0) / r.length, r.reduce((s, p) => s + p[1], 0) / r.length];
  };
  const near = fc.features
    .filter((f) => f.properties.levels >= 3 && !hidden.has(Number(f.id)))
    .map((f) => ({ f, d: Math.hypot((centre(f)[0] - cx) * 55000, (centre(f)[1] - cy) * 111000) }))
    .filter((x) => x.d > 60 && x.d < 400)
    .sort((a, b) => a.d - b.d);
  assert(near.length, 'no building with 3+ levels for the balcony');
  const bf = near[0].f;
  const floor = Math.min(bf.properties.levels - 1, 2);
  await page.fill('#balcony-building', String(bf.id));
  await page.dispatchEvent('#balcony-building', 'change');
  await page.waitForFunction((n) => document.querySelectorAll('#balcony-floor option').length === n, bf.properties.levels);
  await page.selectOption('#balcony-floor', String(floor));
  await page.click('#balcony-go');
  await page.waitForFunction(() => document.body.dataset.balcony);
  await waitTilesIdle(page);
  const expected = bf.properties.base_z + (floor * bf.properties.height) / bf.properties.levels + 1.5;
  const [, , camH] = await page.evaluate(() => window.__twin.viewer.cameraGeodetic());
  assert(Math.abs(camH - expected) < 0.05, `balcony camera at ${camH.toFixed(3)} m, expected ${expected.toFixed(3)} m`);
  // the server's panoramas before and after, side by side, for where the camera stands
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.balconyView), null, { timeout: 120000 });
  const view = await page.evaluate(() => ({
    state: document.body.dataset.balconyView,
    eye: Number(document.body.dataset.balconyEye),
    text: document.getElementById('balcony-summary')?.textContent ?? '',
    imgs: [...document.querySelectorAll('#balcony-panoramas img')].map((i) => {
      const r = i.getBoundingClientRect();
      return { id: i.id, w: i.naturalWidth, h: i.naturalHeight, left: r.left, right: r.right, top: r.top, shown: r.width > 50 };
    }),
  }));
  assert(view.state === 'ready', `the balcony view failed: ${view.text}`);
  assert(view.imgs.length === 2 && view.imgs.every((i) => i.w === 1024 && i.h === 512 && i.shown), `panoramas not shown: ${JSON.stringify(view.imgs)}`);
  const [pb, pa] = view.imgs;
  assert(pb.id === 'balcony-before' && pa.id === 'balcony-after' && pb.right <= pa.left && Math.abs(pb.top - pa.top) < 2, `panoramas not side by side: ${JSON.stringify(view.imgs)}`);
  assert(Math.abs(view.eye - expected) < 0.05, `the server looked from ${view.eye} m, the camera stands at ${expected.toFixed(3)} m`);
  assert(/Sky-view factor/.test(view.text) && /of the view/.test(view.text), `no sky-view factor or blocked share shown: ${view.text}`);
  await assertRendered(page, 'balcony');
  await shot(page, 'balcony-after');
  await page.click('#compare-before');
  await waitTilesIdle(page);
  await shot(page, 'balcony-before');
  assertNoErrors(errors, 'project');
  return { project: slug, pixels_differ: diff, balcony_building: bf.id, floor, camera_height: camH, expected_height: expected, balcony_view: view.text };
};

/** Length (m) of a lon/lat line, by the haversine (GPX points back to metres). */
function haversineLength(points) {
  const R = 6371008.8;
  let total = 0;
  for (let i = 1; i < points.length; i++) {
    const [lo1, la1] = points[i - 1].map((d) => (d * Math.PI) / 180);
    const [lo2, la2] = points[i].map((d) => (d * Math.PI) / 180);
    const a = Math.sin((la2 - la1) / 2) ** 2 + Math.cos(la1) * Math.cos(la2) * Math.sin((lo2 - lo1) / 2) ** 2;
    total += 2 * R * Math.asin(Math.sqrt(a));
  }
  return total;
}

checks.tour = async (browser) => {
  const { page, errors } = await openPage(browser);
  const routes = await api('/collections/routes/items?limit=10');
  assert(routes.features.length > 0, 'the demo has no walking circuit');
  const circuit = routes.features[0];
  const slug = circuit.properties.slug;
  const stops = typeof circuit.properties.stops === 'string' ? JSON.parse(circuit.properties.stops) : circuit.properties.stops;
  await page.goto(`${BASE}/#/tour/${slug}`);
  await waitReady(page);
  await page.waitForFunction(() => ['shown', 'blocked', 'error', 'empty'].includes(document.body.dataset.tour), null, { timeout: 60000 });
  const state = await page.evaluate(() => document.body.dataset.tour);
  assert(state === 'shown', `the tour did not show its circuit (${state}): ${await page.textContent('#tour-summary')}`);
  const drawn = await page.evaluate(() => {
    const g = window.__twin.viewer.overlay.getObjectByName('tour-route');
    return g ? { points: g.userData.points, pins: g.children.filter((c) => c.userData.poi !== undefined).length } : null;
  });
  assert(drawn && drawn.points > 2, `no route drawn on the ground (${JSON.stringify(drawn)})`);
  assert(drawn.pins === stops.length, `${drawn.pins} stop pins for ${stops.length} stops`);
  const cards = await page.$$eval('#tour-stops li.card', (li) => li.map((l) => Number(l.dataset.poi)));
  assert(cards.length === stops.length && cards.every((id) => stops.includes(id)), `stop cards ${cards} for stops ${stops}`);
  await waitTilesIdle(page);
  await assertRendered(page, 'tour');
  await shot(page, 'tour');
  // the GPX download: a GPX 1.1 track as long as the walk the server planned
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#tour-gpx')]);
  const file = await download.path();
  const { readFileSync } = await import('node:fs');
  const gpx = readFileSync(file, 'utf8');
  assert(gpx.includes('<gpx') && gpx.includes('version="1.1"'), 'the download is not a GPX 1.1 file');
  const pts = [...gpx.matchAll(/<trkpt lat="([-0-9.]+)" lon="([-0-9.]+)"/g)].map((m) => [Number(m[2]), Number(m[1])]);
  const res = await fetch(`${BASE}/api/analysis/circuit`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ pois: stops }) });
  const planned = await res.json();
  const gpxLength = haversineLength(pts);
  assert(pts.length === planned.geometry_lonlat.coordinates.length, `GPX has ${pts.length} points, the walk ${planned.geometry_lonlat.coordinates.length}`);
  assert(close(gpxLength, planned.length_m, 0.01), `GPX track ${gpxLength.toFixed(0)} m, walk ${planned.length_m} m`);
  // the accessible toggle plans again with the wheelchair profile: drawn, or the blockers named
  await page.check('#tour-accessible');
  await page.waitForFunction(() => ['shown', 'blocked'].includes(document.body.dataset.tour), null, { timeout: 60000 });
  const accessible = await page.evaluate(() => document.body.dataset.tour);
  const summary = await page.textContent('#tour-summary');
  if (accessible === 'blocked') assert(/steps|kerb|slope|width|surface|unknown/.test(summary), `blocked without a reason: ${summary}`);
  await shot(page, 'tour-accessible');
  // a blocked accessible walk is the server's 404 naming the blockers: the one expected error
  assertNoErrors(errors.filter((e) => !(accessible === 'blocked' && /404/.test(e))), 'tour');
  return { slug, stops: stops.length, points: drawn.points, gpx_points: pts.length, gpx_m: Math.round(gpxLength), accessible, summary };
};

checks.terrain = async (browser) => {
  // the ground is draped on the twin's DEM, and the buildings stand on it (not at a flat 0)
  const { page, errors } = await openPage(browser);
  const terrain = await api('/api/terrain?size=65');
  assert(terrain.heights.filter((h) => h !== null).length > 100, 'the demo has no terrain');
  await page.goto(`${BASE}/#/explore`);
  await waitReady(page);
  const fc = await api('/collections/buildings/items?limit=400');
  const places = fc.features
    .filter((f) => f.geometry && f.properties.z_source === 'dem')
    .map((f) => {
      const ring = f.geometry.type === 'Polygon' ? f.geometry.coordinates[0] : f.geometry.coordinates[0][0];
      const n = ring.length - 1;
      return { id: f.id, base: f.properties.base_z, lon: ring.slice(0, n).reduce((a, p) => a + p[0], 0) / n, lat: ring.slice(0, n).reduce((a, p) => a + p[1], 0) / n };
    });
  assert(places.length > 50, `only ${places.length} buildings were placed on the terrain`);
  const got = await page.evaluate((places) => {
    const { viewer, ctx } = window.__twin;
    const ground = ctx.base.ground;
    return {
      triangles: ground.triangles,
      texture: ground.texture,
      rows: places.map((p) => {
        const at = viewer.local(p.lon, p.lat, p.base);
        return { id: p.id, base_y: at.y, mesh_y: ground.heightAt(at.x, at.z), grid_y: viewer.groundY(at.x, at.z) };
      }),
    };
  }, places);
  assert(got.triangles > 10000, `the ground has ${got.triangles} triangles: not draped on the terrain grid`);
  const rel = got.rows.filter((r) => r.mesh_y !== null);
  assert(rel.length === got.rows.length, `${got.rows.length - rel.length} buildings stand off the drawn ground`);
  const relief = Math.max(...rel.map((r) => r.mesh_y)) - Math.min(...rel.map((r) => r.mesh_y));
  assert(relief > 5, `the drawn ground is flat (relief ${relief.toFixed(1)} m)`);
  // a building's base is its lowest ground: never above the ground at its centre, and close
  // under it but on a slope or a shore (a footprint touching the sea has its base at 0)
  const off = rel.map((r) => r.mesh_y - r.base_y);
  const floating = rel.filter((r, i) => off[i] < -0.5);
  assert(floating.length === 0, `${floating.length} buildings float: ${JSON.stringify(floating.slice(0, 3))}`);
  const deep = off.filter((d) => d > 4).length;
  assert(deep <= 0.1 * rel.length, `${deep} of ${rel.length} buildings sink more than 4 m under the ground at their centre`);
  // the mesh and the grid the overlays use agree
  const apart = Math.max(...rel.map((r) => Math.abs(r.mesh_y - r.grid_y)));
  assert(apart < 0.5, `the ground mesh and the overlays' ground differ by ${apart.toFixed(2)} m`);
  // a low look across the slope, for the README
  await page.evaluate(() => {
    const v = window.__twin.viewer;
    const c = window.__twin.ctx.base.centre;
    const V = v.camera.position.constructor;
    v.lookAt(new V(c.x - 420, c.y + 140, c.z + 380), new V(c.x, c.y, c.z), false);
  });
  await waitTilesIdle(page);
  await assertRendered(page, 'terrain');
  await shot(page, 'terrain');
  assertNoErrors(errors, 'terrain');
  return { buildings: rel.length, relief_m: Number(relief.toFixed(1)), sunk_over_4m: deep, median_gap_m: Number(off.sort((a, b) => a - b)[off.length >> 1].toFixed(2)), triangles: got.triangles, texture: got.texture };
};

checks.vr = async (browser) => {
  assert(TOKEN, 'TWIN_AGENT_TOKEN is not set');
  const t0 = Date.now();
  const lap = (what) => process.env.TWIN_TRACE && console.log(`  vr ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const { page, errors } = await openPage(browser, { token: TOKEN, xr: true });
  await page.goto(`${BASE}/#/vr`);
  await waitReady(page);
  await page.waitForFunction(() => document.body.dataset.vr === 'supported', null, { timeout: 10000 });
  lap("await page.check('#vr-undergro");
  await page.check('#vr-underground');
  await page.waitForFunction(() => document.body.dataset.underground === 'shown', null, { timeout: 30000 });
  await waitTilesIdle(page);
  // a pipe to stand over, found from the desktop view before entering VR
  lap('const spots = await findFeatur');
  const spots = await findFeatureOnScreen(page, 'network-', 'network_segment', 3);
  assert(spots.length, 'no pipe to aim at');
  lap("await page.click('#vr-enter');");
  await page.click('#vr-enter');
  await page.waitForFunction(() => window.__twin.xr.session && window.__twin.xr.xrFrames > 10, null, { timeout: 20000 });
  lap('const target = spots[0].world;');
  const target = spots[0].world;
  // stand 3 m from the pipe, then aim the right controller at it
  const aimed = await page.evaluate((t) => {
    const { viewer, xr } = window.__twin;
    const Vec = viewer.camera.position.constructor;
    const Quat = viewer.camera.quaternion.constructor;
    const pipe = new Vec(t[0], t[1], t[2]);
    xr.standAt(new Vec(pipe.x + 3, 0, pipe.z));
    viewer.scene.updateMatrixWorld();
    const local = viewer.rig.worldToLocal(pipe.clone());
    const hand = new Vec(0.2, 1.3, -0.2);
    const dir = local.clone().sub(hand).normalize();
    const q = new Quat().setFromUnitVectors(new Vec(0, 0, -1), dir);
    // turn the head towards the pipe (west) and look down a little, like a person would
    const Euler = viewer.camera.rotation.constructor;
    const head = new Quat().setFromEuler(new Euler(-0.45, Math.PI / 2, 0, 'YXZ'));
    window.__xrDevice.quaternion.set(head.x, head.y, head.z, head.w);
    const c = window.__xrDevice.controllers.right;
    c.position.set(hand.x, hand.y, hand.z);
    c.quaternion.set(q.x, q.y, q.z, q.w);
    return { local: local.toArray() };
  }, target);
  const frames0 = await page.evaluate(() => window.__twin.xr.xrFrames);
  await page.waitForFunction((f) => window.__twin.xr.xrFrames > f + 5, frames0);
  await page.evaluate(() => window.__xrDevice.controllers.right.updateButtonValue('trigger', 1));
  await page.waitForFunction((f) => window.__twin.xr.xrFrames > f + 8, frames0);
  await page.evaluate(() => window.__xrDevice.controllers.right.updateButtonValue('trigger', 0));
  await page.waitForFunction(() => window.__twin.xr.panel?.title?.startsWith('Network segment'), null, { timeout: 10000 });
  lap('const panel = await page.evalu');
  const panel = await page.evaluate(() => window.__twin.xr.panel);
  const placement = await page.evaluate(() => {
    const { viewer } = window.__twin;
    const Vec = viewer.camera.position.constructor;
    const m = viewer.rig.getObjectByName('xr-panel');
    const head = viewer.renderer.xr.getCamera();
    return { panel: m.getWorldPosition(new Vec()).toArray(), visible: m.visible, head: head.getWorldPosition(new Vec()).toArray(), dir: head.getWorldDirection(new Vec()).toArray() };
  });
  console.log(JSON.stringify(placement));
  assert(panel.props.network && panel.props.depth_m !== undefined, 'the VR panel lacks network attributes');
  await page.waitForTimeout(300);
  await assertRendered(page, 'vr');
  await shot(page, 'vr');
  const frames = await page.evaluate(() => window.__twin.xr.xrFrames);
  await page.evaluate(() => window.__twin.xr.session.end());
  assertNoErrors(errors, 'vr');
  return { xr_frames: frames, picked: panel.title, aimed };
};

Object.assign(checks, oidcChecks({ base: BASE }));

// -- runner ----------------------------------------------------------------------------------
await runChecks(checks, 'viewer');
