// Viewer benchmark in headless Chromium (Debian's, WebGL through SwiftShader: no GPU here).
//
//   TWIN_URL=http://127.0.0.1:PORT node tests/bench.mjs [--fly-seconds 10] [--laps 3] [--peer]
//
// Prints one JSON object. For the viewer: time to the first rendered frame with tiles and to
// the complete first view (all tiles of that view loaded and drawn), bytes for it (on the wire,
// compressed as sent, and decoded, by kind), then frames per second while the camera flies
// laps over the district (tiles streaming as it goes) and the JS heap after each lap (after a
// forced garbage collection, so a cache that does not stay bounded shows as growth). With
// --peer, the same work done by CesiumJS (a separate npm project in bench/cesium-peer, served
// under the twin's origin by request interception, never from a CDN) on the same tileset,
// viewport and camera path. --rounds N alternates viewer and peer N times (the machine is
// shared: alternating spreads the noise over both).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, waitTilesIdle } from './browser.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const BASE = (process.env.TWIN_URL ?? 'http://127.0.0.1:8765').replace(/\/$/, '');
const FLY = Number(opt('fly-seconds', 10));
const LAPS = Number(opt('laps', 3));
const ROUNDS = Number(opt('rounds', 1));
const W = Number(opt('width', 1280));
const H = Number(opt('height', 800));
const PEER = argv.includes('--peer');
const PEER_DIR = resolve(HERE, '../bench/cesium-peer');
const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png', '.jpg': 'image/jpeg', '.xml': 'text/xml', '.glsl': 'text/plain' };

/** A fresh context and page with wire and decoded bytes counted per kind through CDP. */
async function instrumented(browser) {
  const context = await browser.newContext({ viewport: { width: W, height: H } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const net = { bytes: 0, decoded: 0, requests: 0, byKind: {}, decodedByKind: {} };
  const urls = new Map();
  const kindOf = (u) => (/\.glb/.test(u) ? 'glb' : /tileset\.json/.test(u) ? 'tileset.json' : /\/collections\//.test(u) ? 'features' : /\/assets\/|\/__peer\//.test(u) ? 'app' : 'other');
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.dataReceived', (e) => {
    const kind = kindOf(urls.get(e.requestId) ?? '');
    net.decoded += e.dataLength;
    net.decodedByKind[kind] = (net.decodedByKind[kind] ?? 0) + e.dataLength;
  });
  cdp.on('Network.loadingFinished', (e) => {
    const kind = kindOf(urls.get(e.requestId) ?? '');
    net.bytes += e.encodedDataLength;
    net.requests++;
    net.byKind[kind] = (net.byKind[kind] ?? 0) + e.encodedDataLength;
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  /** JS heap in use after a full garbage collection (bytes). */
  const heap = async () => {
    await cdp.send('HeapProfiler.collectGarbage');
    return (await cdp.send('Runtime.getHeapUsage')).usedSize;
  };
  return { context, page, net, errors, heap };
}

const tileKinds = (by) => (by.glb ?? 0) + (by['tileset.json'] ?? 0);
const snapshot = (net) => ({
  bytes: net.bytes,
  decoded_bytes: net.decoded,
  requests: net.requests,
  by_kind: { ...net.byKind },
  tile_bytes: tileKinds(net.byKind),
  tile_decoded_bytes: tileKinds(net.decodedByKind),
});

/** Fly `laps` laps with `lap(seconds, r)` (in the page); heap after each. */
async function laps(page, heap, lapFn, r) {
  const out = [];
  for (let i = 0; i < LAPS; i++) {
    const fly = await page.evaluate(lapFn, { seconds: FLY, r });
    out.push({ ...fly, heap_bytes: await heap() });
  }
  return out;
}

const summary = (first, times, firstView, lapResults, net, errors) => ({
  time_to_first_frame_ms: Math.round(times.first),
  time_to_complete_first_view_ms: Math.round(times.complete),
  first_view: firstView,
  heap_first_view_bytes: first,
  laps: lapResults,
  fly: {
    frames: lapResults.reduce((a, l) => a + l.frames, 0),
    seconds: lapResults.reduce((a, l) => a + l.seconds, 0),
    fps: lapResults.reduce((a, l) => a + l.frames, 0) / lapResults.reduce((a, l) => a + l.seconds, 0),
    min_lap_fps: Math.min(...lapResults.map((l) => l.fps)),
  },
  bytes_after_flight: net.bytes,
  page_errors: errors,
});

async function benchViewer(browser) {
  const { page, net, errors, heap } = await instrumented(browser);
  await page.goto(`${BASE}/#/explore`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120000 });
  await waitTilesIdle(page, 300000);
  await page.waitForFunction(() => window.__twin.viewer.completeAt != null, null, { timeout: 60000 });
  const times = await page.evaluate(() => ({ first: window.__twin.viewer.firstFrameAt, complete: window.__twin.viewer.completeAt, radius: window.__twin.ctx.base.radius }));
  const firstView = snapshot(net);
  const h0 = await heap();
  const r = Math.max(150, times.radius * 0.7);
  const lapResults = await laps(
    page,
    heap,
    async ({ seconds, r }) => {
      const v = window.__twin.viewer;
      const Vec = v.camera.position.constructor;
      const f0 = v.frames;
      const t0 = performance.now();
      await new Promise((done) => {
        const step = () => {
          const t = (performance.now() - t0) / 1000;
          const a = (t / seconds) * Math.PI * 2;
          v.lookAt(new Vec(Math.cos(a) * r, 120, Math.sin(a) * r), new Vec(Math.cos(a + 0.6) * r * 0.4, 0, Math.sin(a + 0.6) * r * 0.4));
          if (t < seconds) requestAnimationFrame(step);
          else done();
        };
        requestAnimationFrame(step);
      });
      const elapsed = (performance.now() - t0) / 1000;
      const stats = v.drawStats?.() ?? {};
      return { seconds: elapsed, frames: v.frames - f0, fps: (v.frames - f0) / elapsed, software_gl: v.softwareGL, ...stats };
    },
    r,
  );
  await page.context().close();
  return { ...summary(h0, times, firstView, lapResults, net, errors), radius: times.radius };
}

async function benchPeer(browser, radius) {
  if (!existsSync(resolve(PEER_DIR, 'node_modules/cesium/Build/Cesium/Cesium.js'))) {
    throw new Error(`the peer is not installed: npm ci --prefix ${PEER_DIR}`);
  }
  const { context, page, net, errors, heap } = await instrumented(browser);
  // serve the peer under the twin's origin: same-origin tile requests, nothing from outside
  await context.route(`${BASE}/__peer/**`, async (route) => {
    const path = new URL(route.request().url()).pathname.replace(/^\/__peer\//, '');
    const file = path === 'index.html' ? resolve(PEER_DIR, 'index.html') : resolve(PEER_DIR, 'node_modules/cesium/Build/Cesium', path.replace(/^cesium\//, ''));
    if (!file.startsWith(PEER_DIR) || !existsSync(file)) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({ status: 200, body: readFileSync(file), contentType: TYPES[extname(file)] ?? 'application/octet-stream' });
  });
  await page.goto(`${BASE}/__peer/index.html?radius=${radius}`);
  await page.waitForFunction(() => window.__peer && (window.__peer.firstFrameAt != null || window.__peer.error), null, { timeout: 120000, polling: 50 });
  const err = await page.evaluate(() => window.__peer.error);
  if (err) throw new Error(`CesiumJS failed: ${err}`);
  await page.waitForFunction(() => window.__peer.completeAt != null, null, { timeout: 300000, polling: 100 });
  const times = await page.evaluate(() => ({ first: window.__peer.firstFrameAt, complete: window.__peer.completeAt }));
  const firstView = snapshot(net);
  const h0 = await heap();
  const lapResults = await laps(page, heap, ({ seconds, r }) => window.__peer.fly(seconds, r), Math.max(150, radius * 0.7));
  await context.close();
  return summary(h0, times, firstView, lapResults, net, errors);
}

const browser = await launch();
const result = { url: BASE, viewport: [W, H], fly_seconds: FLY, laps: LAPS, rounds: [] };
for (let i = 0; i < ROUNDS; i++) {
  const round = { viewer: await benchViewer(browser) };
  if (PEER) round.cesium = await benchPeer(browser, round.viewer.radius);
  result.rounds.push(round);
}
// the first round is the one reported by default; the others are in `rounds`
Object.assign(result, result.rounds[0]);
await browser.close();
console.log(JSON.stringify(result, null, 2));
