// Viewer benchmark in headless Chromium (Debian's, WebGL through SwiftShader: no GPU here).
//
//   TWIN_URL=http://127.0.0.1:PORT node tests/bench.mjs [--fly-seconds 10] [--peer]
//
// Prints one JSON object. For the viewer: time to the first rendered frame with tiles and to
// the complete first view (all tiles of that view loaded and drawn), bytes on the wire for it
// (compressed, as sent, by kind), then frames per second while the camera flies a lap over
// the district (tiles streaming as it goes). With --peer, the same work done by CesiumJS (a
// separate npm project in bench/cesium-peer, served under the twin's origin by request
// interception, never from a CDN) on the same tileset, viewport and camera path.
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
const W = Number(opt('width', 1280));
const H = Number(opt('height', 800));
const PEER = argv.includes('--peer');
const PEER_DIR = resolve(HERE, '../bench/cesium-peer');
const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html', '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png', '.jpg': 'image/jpeg', '.xml': 'text/xml', '.glsl': 'text/plain' };

/** A fresh context and page with wire bytes counted per kind through CDP. */
async function instrumented(browser) {
  const context = await browser.newContext({ viewport: { width: W, height: H } });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const net = { bytes: 0, requests: 0, byKind: {} };
  const urls = new Map();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => {
    const u = urls.get(e.requestId) ?? '';
    const kind = /\.glb/.test(u) ? 'glb' : /tileset\.json/.test(u) ? 'tileset.json' : /\/collections\//.test(u) ? 'features' : /\/assets\/|\/__peer\//.test(u) ? 'app' : 'other';
    net.bytes += e.encodedDataLength;
    net.requests++;
    net.byKind[kind] = (net.byKind[kind] ?? 0) + e.encodedDataLength;
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { context, page, net, errors };
}

const snapshot = (net) => ({ bytes: net.bytes, requests: net.requests, by_kind: { ...net.byKind }, tile_bytes: (net.byKind.glb ?? 0) + (net.byKind['tileset.json'] ?? 0) });

async function benchViewer(browser) {
  const { page, net, errors } = await instrumented(browser);
  await page.goto(`${BASE}/#/explore`);
  await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120000 });
  await waitTilesIdle(page, 180000);
  await page.waitForFunction(() => window.__twin.viewer.completeAt != null, null, { timeout: 60000 });
  const times = await page.evaluate(() => ({ first: window.__twin.viewer.firstFrameAt, complete: window.__twin.viewer.completeAt, radius: window.__twin.ctx.base.radius }));
  const firstView = snapshot(net);
  const r = Math.max(150, times.radius * 0.7);
  const fly = await page.evaluate(
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
      return { seconds: elapsed, frames: v.frames - f0, fps: (v.frames - f0) / elapsed, software_gl: v.softwareGL };
    },
    { seconds: FLY, r },
  );
  await page.context().close();
  return {
    time_to_first_frame_ms: Math.round(times.first),
    time_to_complete_first_view_ms: Math.round(times.complete),
    first_view: firstView,
    fly,
    bytes_after_flight: net.bytes,
    radius: times.radius,
    page_errors: errors,
  };
}

async function benchPeer(browser, radius) {
  if (!existsSync(resolve(PEER_DIR, 'node_modules/cesium/Build/Cesium/Cesium.js'))) {
    throw new Error(`the peer is not installed: npm ci --prefix ${PEER_DIR}`);
  }
  const { context, page, net, errors } = await instrumented(browser);
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
  await page.waitForFunction(() => window.__peer.completeAt != null, null, { timeout: 180000, polling: 100 });
  const times = await page.evaluate(() => ({ first: window.__peer.firstFrameAt, complete: window.__peer.completeAt }));
  const firstView = snapshot(net);
  const fly = await page.evaluate(({ seconds, r }) => window.__peer.fly(seconds, r), { seconds: FLY, r: Math.max(150, radius * 0.7) });
  await context.close();
  return {
    time_to_first_frame_ms: Math.round(times.first),
    time_to_complete_first_view_ms: Math.round(times.complete),
    first_view: firstView,
    fly,
    bytes_after_flight: net.bytes,
    page_errors: errors,
  };
}

const browser = await launch();
const result = { url: BASE, viewport: [W, H], fly_seconds: FLY };
result.viewer = await benchViewer(browser);
if (PEER) result.cesium = await benchPeer(browser, result.viewer.radius);
await browser.close();
console.log(JSON.stringify(result, null, 2));
