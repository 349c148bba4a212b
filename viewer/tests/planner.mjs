// Browser checks of Planner mode against a running twin (started by tests/test_viewer_planner.py).
//
//   TWIN_URL=http://127.0.0.1:PORT TWIN_PLANNER_TOKEN=twin_... node tests/planner.mjs [--only NAME]
//
// sun: the time slider moves the shadows (the canvas changes where they fall), the sun's
//   direction is the server's (GET /api/analysis/sun for the same place and instant), and the
//   shadow camera covers every ground point the view reaches, after the camera moves too.
// edit: a scenario created in the panel, a footprint drawn by clicks on the ground with a
//   height, added: the scenario's tileset shows the new building in the 3D view (its pixels
//   change, its feature is drawn), and the comparison says the floor area it adds.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert, assertNoErrors, canvasPixels, canvasStats, diffFraction, openPage, runChecks, waitReady, waitTilesIdle } from './browser.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.TWIN_URL ?? 'http://127.0.0.1:8765').replace(/\/$/, '');
const TOKEN = process.env.TWIN_PLANNER_TOKEN ?? '';
const SHOTS = resolve(process.env.TWIN_SCREENSHOTS ?? resolve(HERE, '../../docs/screenshots'));
mkdirSync(SHOTS, { recursive: true });

async function api(path) {
  const res = await fetch(BASE + path, { headers: TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {} });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Look down at the district from the south-west, at a slant (shadows show on the ground). */
async function viewDistrict(page, distance = 260) {
  await page.evaluate((d) => {
    const v = window.__twin.viewer;
    const Vec = v.camera.position.constructor;
    const t = v.controls.target.clone();
    v.lookAt(new Vec(t.x - d * 0.5, d * 0.7, t.z + d * 0.6), t, false);
  }, distance);
  await waitTilesIdle(page);
}

async function setTime(page, minutes) {
  const before = await page.evaluate(() => document.body.dataset.sunAt ?? '');
  await page.$eval('#sun-time', (el, m) => {
    el.value = String(m);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, minutes);
  await page.waitForFunction((b) => document.body.dataset.sunAt && document.body.dataset.sunAt !== b, before, { timeout: 20000 });
  await waitTilesIdle(page);
}

function angleDiff(a, b) {
  return Math.abs(((a - b + 540) % 360) - 180);
}

const checks = {};

checks.sun = async (browser) => {
  const { page, errors } = await openPage(browser, { token: TOKEN });
  await page.goto(`${BASE}/#/planner`);
  await waitReady(page);
  await page.waitForSelector('#sun-time');
  await page.fill('#sun-date', '2026-06-21');
  await viewDistrict(page);
  await setTime(page, 9 * 60);
  const morning = await canvasPixels(page);
  await page.screenshot({ path: resolve(SHOTS, 'planner-morning.png') });
  const m = await page.evaluate(() => ({ ...document.body.dataset }));
  await setTime(page, 17 * 60);
  const evening = await canvasPixels(page);
  await page.screenshot({ path: resolve(SHOTS, 'planner-evening.png') });
  const e = await page.evaluate(() => ({ ...document.body.dataset }));
  const diff = diffFraction(morning, evening);
  assert(diff > 0.01, `the shadows did not move between 09:00 and 17:00 (${(diff * 100).toFixed(2)}% pixels differ)`);
  // the sun is the server's for the same place and instant, and the light points at it
  for (const s of [m, e]) {
    const q = new URLSearchParams({ lon: s.sunLon, lat: s.sunLat, at: s.sunAt });
    const ref = await api(`/api/analysis/sun?${q}`);
    assert(Math.abs(ref.azimuth - Number(s.sunAzimuth)) < 1e-6, `sun azimuth ${s.sunAzimuth} vs the API's ${ref.azimuth}`);
    assert(Math.abs(ref.apparent_elevation - Number(s.sunElevation)) < 1e-6, 'sun elevation differs from the API');
  }
  const light = await page.evaluate(() => {
    const v = window.__twin.viewer;
    const l = v.scene.getObjectByName('planner-sun');
    const d = l.position.clone().sub(l.target.position).normalize();
    let casters = 0;
    v.scene.traverse((o) => { if (o.isMesh && o.castShadow && o.receiveShadow) casters++; });
    // the shadow pass ran: its depth map exists and was drawn this frame
    return { x: d.x, y: d.y, z: d.z, castShadow: l.castShadow, shadows: v.renderer.shadowMap.enabled, map: !!l.shadow.map, casters };
  });
  const az = (Math.atan2(light.x, -light.z) * 180) / Math.PI;
  const el = (Math.asin(light.y) * 180) / Math.PI;
  assert(light.castShadow && light.shadows && light.map && light.casters > 10, `the planner sun casts no shadows: ${JSON.stringify(light)}`);
  assert(angleDiff(az, Number(e.sunAzimuth)) < 0.01 && Math.abs(el - Number(e.sunElevation)) < 0.01, `the light points to azimuth ${az.toFixed(2)}, elevation ${el.toFixed(2)}; the API says ${e.sunAzimuth}, ${e.sunElevation}`);
  // the shadow camera covers every ground point the view reaches, from two different views
  const covered = [];
  for (const d of [260, 900]) {
    await viewDistrict(page, d);
    covered.push(
      await page.evaluate(() => {
        const v = window.__twin.viewer;
        const l = v.scene.getObjectByName('planner-sun');
        const cam = l.shadow.camera;
        const Vec = v.camera.position.constructor;
        const out = [];
        // the view's own corners met with the ground (the terrain lies between its lowest and
        // highest heights), computed here independently of the fit
        const f = v.frame;
        const levels = v.terrain ? [v.terrain.min, v.terrain.max].map((h) => f.geodeticToLocal(f.lon, f.lat, h)[1]) : [0];
        for (const level of levels) {
          for (const [x, y] of [[-1, -1], [1, -1], [-1, 1], [1, 1], [0, 0], [0, 1]]) {
            const eye = v.camera.getWorldPosition(new Vec());
            const p = new Vec(x, y, 0.5).unproject(v.camera).sub(eye).normalize();
            const t = p.y < -1e-6 ? (level - eye.y) / p.y : Infinity;
            const g = t < 3000 ? eye.clone().addScaledVector(p, t) : eye.clone().addScaledVector(p, 3000).setY(level);
            const q = g.applyMatrix4(cam.matrixWorldInverse);
            out.push(q.x >= cam.left - 1e-3 && q.x <= cam.right + 1e-3 && q.y >= cam.bottom - 1e-3 && q.y <= cam.top + 1e-3 && -q.z >= cam.near && -q.z <= cam.far);
          }
        }
        return { inside: out.every(Boolean), width: cam.right - cam.left };
      }),
    );
  }
  assert(covered.every((c) => c.inside), `the shadow camera misses part of the visible ground: ${JSON.stringify(covered)}`);
  assert(covered[1].width > covered[0].width, 'the shadow camera did not grow with the view');
  await page.check('#overlay-shadows');
  await page.waitForFunction(() => document.getElementById('overlay-status')?.dataset.state, null, { timeout: 30000 });
  const overlay = await page.$eval('#overlay-status', (o) => o.textContent);
  assertNoErrors(errors, 'planner sun');
  return { pixels_differ: diff, morning: [m.sunAzimuth, m.sunElevation], evening: [e.sunAzimuth, e.sunElevation], shadow_width: covered.map((c) => c.width), overlay };
};

checks.edit = async (browser) => {
  const { page, errors } = await openPage(browser, { token: TOKEN });
  await page.goto(`${BASE}/#/planner`);
  await waitReady(page);
  await page.fill('#scenario-slug', 'browser-tower');
  await page.fill('#scenario-name', 'A tower drawn in the browser');
  await page.click('#scenario-create button');
  await page.waitForFunction(() => document.body.dataset.scenario === 'browser-tower' && document.body.dataset.scenarioVersion, null, { timeout: 30000 });
  await waitReady(page);
  // an open spot in front of the camera: look straight down at a place with no building
  await page.evaluate(() => {
    const v = window.__twin.viewer;
    const Vec = v.camera.position.constructor;
    const t = v.controls.target.clone();
    v.lookAt(new Vec(t.x + 0.01, 320, t.z + 0.01), t, false);
  });
  await waitTilesIdle(page);
  const before = await canvasPixels(page);
  const box = await page.locator('canvas.twin-canvas').boundingBox();
  await page.click('#draw-start');
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  for (const [dx, dy] of [[-40, -40], [40, -40], [40, 40], [-40, 40]]) await page.mouse.click(cx + dx, cy + dy);
  await page.waitForFunction(() => document.body.dataset.drawing === '4');
  await page.fill('#edit-height', '60');
  const version = await page.evaluate(() => Number(document.body.dataset.scenarioVersion));
  await page.click('#draw-finish');
  await page.waitForFunction((v) => Number(document.body.dataset.scenarioVersion) > v || document.body.dataset.plannerError, version, { timeout: 60000 });
  const err = await page.evaluate(() => document.body.dataset.plannerError);
  assert(!err, `the edit failed: ${err}`);
  await waitTilesIdle(page);
  const after = await canvasPixels(page);
  await page.screenshot({ path: resolve(SHOTS, 'planner-edit.png') });
  const diff = diffFraction(before, after);
  assert(diff > 0.01, `the drawn building does not show (${(diff * 100).toFixed(2)}% pixels differ)`);
  const drawn = await page.evaluate(() => {
    const l = window.__twin.viewer.layers.get('scenario-browser-tower');
    let meshes = 0;
    l.tiles.group.traverse((o) => { if (o.isMesh && o.visible) meshes++; });
    return { meshes, features: l.tiles.rootTileset?.extras };
  });
  assert(drawn.meshes > 0, 'the scenario tileset draws nothing after the edit');
  const scenario = await api('/api/scenarios/browser-tower');
  assert(scenario.added.length === 1 && Math.abs(scenario.added[0].height - 60) < 1e-6, `the server has ${JSON.stringify(scenario.added)}`);
  await page.waitForFunction(() => Number(document.getElementById('metrics')?.dataset.delta) > 0, null, { timeout: 60000 });
  const delta = Number(await page.$eval('#metrics', (d) => d.dataset.delta));
  const area = scenario.added[0].footprint_area;
  assert(Math.abs(delta - area * 20) < 1, `floor area added ${delta}, expected ${area} m² x 20 levels`);
  const s = await canvasStats(page);
  assert(s.std > 6, 'the view looks blank');
  assertNoErrors(errors, 'planner edit');
  return { pixels_differ: diff, footprint_area: area, floor_area_delta: delta, meshes: drawn.meshes };
};

await runChecks(checks);
