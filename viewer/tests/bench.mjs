// Viewer benchmark in headless Chromium (Debian's, WebGL through SwiftShader: no GPU here).
//
//   TWIN_URL=http://127.0.0.1:PORT node tests/bench.mjs [--fly-seconds 10] [--width 1280 --height 800]
//
// Prints one JSON object: time to first rendered frame (tiles drawn) and to the complete
// first view, bytes on the wire for that first view (compressed, as sent), then frames per
// second while the camera flies over the district (tiles streaming as it goes).
import { launch, waitTilesIdle } from './browser.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const BASE = (process.env.TWIN_URL ?? 'http://127.0.0.1:8765').replace(/\/$/, '');
const FLY = Number(args['fly-seconds'] ?? 10);
const W = Number(args.width ?? 1280);
const H = Number(args.height ?? 800);

const browser = await launch();
const context = await browser.newContext({ viewport: { width: W, height: H } });
const page = await context.newPage();
const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
let wire = 0;
let requests = 0;
const kinds = {};
const urls = new Map();
cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
cdp.on('Network.loadingFinished', (e) => {
  wire += e.encodedDataLength;
  requests++;
  const u = urls.get(e.requestId) ?? '';
  const k = /\.glb/.test(u) ? 'glb' : /tileset\.json/.test(u) ? 'tileset.json' : /\/collections\//.test(u) ? 'features' : /\/assets\//.test(u) ? 'app' : 'other';
  kinds[k] = (kinds[k] ?? 0) + e.encodedDataLength;
});
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));

const t0 = Date.now();
await page.goto(`${BASE}/#/explore`);
await page.waitForFunction(() => window.__twin?.viewer?.firstFrameAt != null, null, { timeout: 120000, polling: 50 });
const firstFrameMs = await page.evaluate(() => window.__twin.viewer.firstFrameAt);
await page.waitForFunction(() => document.body.dataset.state === 'ready', null, { timeout: 120000 });
await waitTilesIdle(page, 180000);
const firstViewMs = Date.now() - t0;
const firstView = { bytes: wire, requests, by_kind: { ...kinds } };

// fly: a lap around the district at 120 m, looking at its centre, for FLY seconds
const fly = await page.evaluate(async (seconds) => {
  const v = window.__twin.viewer;
  const base = window.__twin.ctx.base;
  const r = Math.max(150, base.radius * 0.7);
  const Vec = v.camera.position.constructor;
  const f0 = v.frames;
  const t0 = performance.now();
  const times = [];
  await new Promise((done) => {
    const step = () => {
      const t = (performance.now() - t0) / 1000;
      const a = (t / seconds) * Math.PI * 2;
      v.lookAt(new Vec(Math.cos(a) * r, 120, Math.sin(a) * r), new Vec(Math.cos(a + 0.6) * r * 0.4, 0, Math.sin(a + 0.6) * r * 0.4));
      times.push(performance.now());
      if (t < seconds) requestAnimationFrame(step);
      else done();
    };
    requestAnimationFrame(step);
  });
  const elapsed = (performance.now() - t0) / 1000;
  const gaps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
  return {
    seconds: elapsed,
    frames: v.frames - f0,
    fps: (v.frames - f0) / elapsed,
    p95_frame_ms: gaps[Math.floor(gaps.length * 0.95)] ?? null,
    software_gl: v.softwareGL,
  };
}, FLY);

const result = {
  url: BASE,
  viewport: [W, H],
  time_to_first_frame_ms: Math.round(firstFrameMs),
  time_to_complete_first_view_ms: firstViewMs,
  first_view_bytes: firstView.bytes,
  first_view_requests: firstView.requests,
  first_view_bytes_by_kind: firstView.by_kind,
  fly,
  bytes_after_flight: wire,
  page_errors: errors,
};
console.log(JSON.stringify(result, null, 2));
await browser.close();
