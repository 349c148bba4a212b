// Shared helpers for the browser tests and the bench: Debian's Chromium through
// playwright-core (never a downloaded browser), with the flags that give WebGL 2 headless.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const IWER = resolve(dirname(fileURLToPath(import.meta.url)), '../node_modules/iwer/build/iwer.min.js');
const VIEWPORT = { width: 1280, height: 800 };

export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--ignore-gpu-blocklist',
];

export function chromiumPath() {
  if (process.env.CHROMIUM && existsSync(process.env.CHROMIUM)) return process.env.CHROMIUM;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (existsSync(p)) return p;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('no chromium binary: install the Debian package `chromium` (apt-get install chromium)');
  }
}

export async function launch() {
  return chromium.launch({ executablePath: chromiumPath(), args: FLAGS, headless: true });
}

/** Wait until the app says the mode is ready (or failed) and the tiles finished loading. */
export async function waitReady(page, { timeout = 60000, idle = true } = {}) {
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state), null, { timeout });
  if (idle) await waitTilesIdle(page, timeout);
}

export async function waitTilesIdle(page, timeout = 60000) {
  await page.waitForFunction(
    () => {
      const v = window.__twin?.viewer;
      if (!v) return false;
      const layers = [...v.layers.values()].filter((l) => !l.failed);
      return layers.every((l) => l.tiles.loadProgress >= 1 && l.tiles.root);
    },
    null,
    { timeout, polling: 250 },
  );
  // two more frames so the last tiles are drawn
  await page.evaluate(() => new Promise((r) => { window.__twin.viewer.invalidate(); requestAnimationFrame(() => requestAnimationFrame(r)); }));
  await page.waitForTimeout(400); // past the adaptive-resolution window: full resolution again
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** Pixel statistics of the WebGL canvas (read back from the drawing buffer). */
export async function canvasStats(page) {
  return page.evaluate(() => {
    window.__twin.viewer.renderNow();
    const src = window.__twin.viewer.renderer.domElement;
    const w = 160;
    const h = Math.max(1, Math.round((src.height / src.width) * w));
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const g = c.getContext('2d');
    g.drawImage(src, 0, 0, w, h);
    const d = g.getImageData(0, 0, w, h).data;
    let sum = 0;
    let sum2 = 0;
    const colours = new Set();
    for (let i = 0; i < d.length; i += 4) {
      const l = 0.2126 * d[i] + 0.7152 * d[i + 1] + 0.0722 * d[i + 2];
      sum += l;
      sum2 += l * l;
      colours.add((d[i] >> 3) << 10 | (d[i + 1] >> 3) << 5 | (d[i + 2] >> 3));
    }
    const n = d.length / 4;
    const mean = sum / n;
    return { mean, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), colours: colours.size, width: src.width, height: src.height };
  });
}

/** Fraction of pixels that differ between two PNG-less snapshots (canvas data URLs). */
export async function canvasPixels(page) {
  return page.evaluate(() => {
    window.__twin.viewer.renderNow();
    const src = window.__twin.viewer.renderer.domElement;
    const c = document.createElement('canvas');
    c.width = 200;
    c.height = Math.round((src.height / src.width) * 200);
    const g = c.getContext('2d');
    g.drawImage(src, 0, 0, c.width, c.height);
    return Array.from(g.getImageData(0, 0, c.width, c.height).data);
  });
}

export function diffFraction(a, b) {
  let diff = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i += 4) {
    if (Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]) > 30) diff++;
  }
  return diff / (a.length / 4);
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

export function assertNoErrors(errors, what) {
  assert(errors.length === 0, `${what}: console errors: ${errors.slice(0, 3).join(' | ')}`);
}

/** A page with console/page errors and requests recorded. */
export async function openPage(browser, { token = '', viewport = VIEWPORT, xr = false, touch = false } = {}) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, hasTouch: touch, isMobile: touch });
  if (token) await context.addInitScript((t) => sessionStorage.setItem('twin.token', t), token);
  if (xr) {
    await context.addInitScript({ path: IWER });
    await context.addInitScript(() => {
      const device = new window.IWER.XRDevice(window.IWER.metaQuest3);
      device.installRuntime({ forceInstall: true });
      window.__xrDevice = device;
    });
  }
  const page = await context.newPage();
  const errors = [];
  const requests = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  return { context, page, errors, requests };
}

/**
 * Run the named checks (each `async (browser) => info`) in one browser: only those of
 * `--only=a,b` (or TWIN_ONLY) when given, each printed PASS or FAIL with its time, the results
 * written to TWIN_RESULTS as JSON for the pytest wrapper; exits non-zero if any failed.
 */
export async function runChecks(checks, label = '') {
  const only = (process.argv.find((a) => a.startsWith('--only='))?.slice(7) ?? process.env.TWIN_ONLY ?? '')
    .split(',')
    .filter(Boolean);
  const browser = await launch();
  const results = {};
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of Object.entries(checks)) {
    if (only.length && !only.includes(name)) continue;
    const t0 = Date.now();
    try {
      const info = await fn(browser);
      passed++;
      results[name] = { ok: true, seconds: (Date.now() - t0) / 1000, ...(info ?? {}) };
      console.log(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s) ${JSON.stringify(info ?? {})}`);
    } catch (err) {
      failed++;
      results[name] = { ok: false, error: String(err?.message ?? err) };
      console.log(`FAIL ${name}: ${err?.stack ?? err}`);
    }
  }
  await browser.close();
  if (process.env.TWIN_RESULTS) writeFileSync(process.env.TWIN_RESULTS, JSON.stringify(results, null, 2));
  if (label) console.log(`${label}: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
