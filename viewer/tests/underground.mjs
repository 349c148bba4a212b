// Browser checks of Underground mode's dig tool and renewal-score colouring, against a twin
// with the demo, its synthetic breaks and renewal scores (tests/test_viewer_underground.py).
//
//   TWIN_URL=http://127.0.0.1:PORT TWIN_AGENT_TOKEN=twin_... node tests/underground.mjs [--only=NAME]
//
// dig: an agent draws a dig around a pipe on screen (clicks on the scene), sets its depth,
// checks it: the listed conflicts are exactly those the API gives for the polygon the viewer
// sent, they are highlighted, and the PDF report link opens a PDF.
// renewal: colouring by renewal score changes the networks' colours, the legend is the
// score's ramp, and a picked water main shows the score the Features API has for it.
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assert, assertNoErrors, canvasPixels, diffFraction, openPage, runChecks, waitReady, waitTilesIdle } from './browser.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.TWIN_URL ?? 'http://127.0.0.1:8765').replace(/\/$/, '');
const TOKEN = process.env.TWIN_AGENT_TOKEN ?? '';
const SHOTS = resolve(process.env.TWIN_SCREENSHOTS ?? resolve(HERE, '../../docs/screenshots'));
mkdirSync(SHOTS, { recursive: true });

async function api(path, body) {
  const init = { headers: { Authorization: `Bearer ${TOKEN}` } };
  if (body) Object.assign(init, { method: 'POST', body: JSON.stringify(body), headers: { ...init.headers, 'Content-Type': 'application/json' } });
  const res = await fetch(BASE + path, init);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Open Underground mode signed in as the agent, networks shown. */
async function underground(browser) {
  assert(TOKEN, 'TWIN_AGENT_TOKEN is not set');
  const opened = await openPage(browser, { token: TOKEN });
  await opened.page.goto(`${BASE}/#/underground`);
  await waitReady(opened.page);
  await opened.page.waitForFunction(() => document.body.dataset.underground === 'shown', null, { timeout: 30000 });
  await waitTilesIdle(opened.page);
  return opened;
}

/** A point of a network segment of ``network`` (any when null) on screen, in world coordinates. */
async function pipeOnScreen(page, network = null) {
  return page.evaluate((network) => {
    const v = window.__twin.viewer;
    const Vec = v.camera.position.constructor;
    v.scene.updateMatrixWorld();
    for (const [name, layer] of v.layers) {
      if (!name.startsWith('network-') || (network && name !== `network-${network}`)) continue;
      let found = null;
      layer.tiles.group.traverse((o) => {
        if (found || !o.geometry || !o.userData.meshFeatures) return;
        const pos = o.geometry.getAttribute('position');
        for (let i = 0; i < pos.count && !found; i += Math.max(1, Math.floor(pos.count / 16))) {
          const p = new Vec().fromBufferAttribute(pos, i).applyMatrix4(o.matrixWorld);
          const s = p.clone().project(v.camera);
          if (Math.abs(s.x) > 0.8 || Math.abs(s.y) > 0.8 || s.z > 1) continue;
          const hit = v.pick({ x: s.x, y: s.y });
          if (hit?.feature?.className === 'network_segment') found = { world: [hit.point.x, hit.point.y, hit.point.z], id: hit.feature.props.id, x: s.x, y: s.y };
        }
      });
      if (found) return found;
    }
    return null;
  }, network);
}

async function lookDownAt(page, w, height = 35) {
  await page.evaluate(({ w, height }) => {
    const v = window.__twin.viewer;
    const Vec = v.camera.position.constructor;
    v.lookAt(new Vec(w[0], w[1] + height, w[2] + height * 0.25), new Vec(w[0], w[1], w[2]));
  }, { w, height });
  await waitTilesIdle(page);
}

/** Screen pixel of a world point. */
async function toScreen(page, p) {
  return page.evaluate((p) => {
    const v = window.__twin.viewer;
    const Vec = v.camera.position.constructor;
    const s = new Vec(p[0], p[1], p[2]).project(v.camera);
    const c = v.renderer.domElement.getBoundingClientRect();
    return { x: c.left + ((s.x + 1) / 2) * c.width, y: c.top + ((1 - s.y) / 2) * c.height };
  }, p);
}

const checks = {};

checks.dig = async (browser) => {
  const { page, errors } = await underground(browser);
  let pipe = await pipeOnScreen(page);
  assert(pipe, 'no pipe on screen');
  await lookDownAt(page, pipe.world);
  pipe = (await pipeOnScreen(page)) ?? pipe;
  await page.click('#dig-draw');
  const [x, y, z] = pipe.world;
  const ground = y + 1.5; // a little above the pipe: the picks land on the ground or the pipe
  for (const [dx, dz] of [[-4, -4], [4, -4], [4, 4], [-4, 4]]) {
    const s = await toScreen(page, [x + dx, ground, z + dz]);
    await page.mouse.click(s.x, s.y);
  }
  const corners = await page.textContent('#dig-status');
  assert(/4 corner/.test(corners), `the clicks did not make 4 corners: ${corners}`);
  await page.fill('#dig-depth', '3');
  await page.click('#dig-check');
  await page.waitForFunction(() => ['done', 'error'].includes(document.querySelector('#dig-panel').dataset.state), null, { timeout: 30000 });
  const state = await page.evaluate(() => document.querySelector('#dig-panel').dataset.state);
  assert(state === 'done', `the dig failed: ${await page.textContent('#dig-status')}`);
  const listed = await page.$$eval('#dig-conflicts li', (li) => li.map((l) => l.dataset.sourceId).sort());
  const request = JSON.parse(await page.evaluate(() => document.querySelector('#dig-panel').dataset.request));
  assert(request.depth === 3 && request.polygon.type === 'Polygon', `the viewer sent ${JSON.stringify(request)}`);
  const given = (await api('/api/analysis/dig', request)).conflicts.map((c) => c.source_id).sort();
  assert(listed.length > 0, 'a dig around a pipe listed no conflict');
  assert(JSON.stringify(listed) === JSON.stringify(given), `listed ${listed} but the API gives ${given}`);
  const highlighted = await page.evaluate(() => {
    const groups = [];
    window.__twin.viewer.overlay.traverse((o) => o.name === 'dig' && groups.push(o.children[1].children.length));
    return { drawn: groups, said: Number(document.querySelector('#dig-panel').dataset.highlighted) };
  });
  assert(highlighted.said === given.length && highlighted.drawn.length === 1 && highlighted.drawn[0] === given.length, `highlights ${JSON.stringify(highlighted)} for ${given.length} conflicts (one dig outline expected)`);
  await page.waitForSelector('#dig-report-pdf', { timeout: 15000 });
  const pdf = await page.evaluate(async () => {
    const a = document.querySelector('#dig-report-pdf');
    const buf = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
    return { href: a.href, head: String.fromCharCode(...buf.slice(0, 4)) };
  });
  assert(pdf.href.startsWith('blob:') && pdf.head === '%PDF', `the report link is not a PDF: ${JSON.stringify(pdf)}`);
  await page.screenshot({ path: resolve(SHOTS, 'underground-dig.png') });
  assertNoErrors(errors, 'underground dig');
  return { conflicts: given.length };
};

checks.renewal = async (browser) => {
  const { page, errors } = await underground(browser);
  // only the water network: it is the one scored
  for (const cb of await page.$$('#network-filter input[type=checkbox]')) {
    if ((await cb.getAttribute('data-network')) !== 'water') await cb.uncheck();
  }
  let pipe = await pipeOnScreen(page, 'water');
  assert(pipe, 'no water main on screen');
  await lookDownAt(page, pipe.world, 60);
  const before = await canvasPixels(page);
  await page.selectOption('#network-colour', 'renewal');
  await page.waitForFunction(() => document.body.dataset.networkColour === 'renewal');
  await waitTilesIdle(page);
  const after = await canvasPixels(page);
  const changed = diffFraction(before, after);
  assert(changed > 0.001, `colouring by renewal score changed ${(changed * 100).toFixed(2)}% of the picture`);
  const legend = await page.$$eval('#legend li', (li) => li.map((l) => l.textContent.trim()));
  assert(legend.length === 6 && legend[0].startsWith('< 20'), `legend ${legend}`);
  pipe = await pipeOnScreen(page, 'water');
  assert(pipe, 'no water main on screen after colouring');
  const s = await page.evaluate((p) => {
    const c = window.__twin.viewer.renderer.domElement.getBoundingClientRect();
    return { x: c.left + ((p.x + 1) / 2) * c.width, y: c.top + ((1 - p.y) / 2) * c.height };
  }, pipe);
  await page.mouse.click(s.x, s.y);
  await page.waitForFunction(() => document.querySelector('#info h2')?.textContent.startsWith('Network segment'), null, { timeout: 5000 });
  const shown = await page.$eval('#attributes tr[data-key=renewal_score] td', (td) => td.textContent);
  const id = await page.$eval('#attributes tr[data-key=id] td', (td) => td.textContent);
  const stored = (await api(`/collections/networks/items/${id}`)).properties.renewal_score;
  assert(stored !== null && Math.abs(Number(shown) - stored) < 0.01, `panel renewal_score ${shown}, API ${stored}`);
  await page.screenshot({ path: resolve(SHOTS, 'underground-renewal.png') });
  assertNoErrors(errors, 'underground renewal');
  return { changed, score: stored };
};

await runChecks(checks);
