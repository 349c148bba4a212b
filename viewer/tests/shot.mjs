// Dev helper: node tests/shot.mjs URL OUT.png [width height]
import { launch, waitReady, canvasStats } from './browser.mjs';
const [url, out, w = 1280, h = 800] = process.argv.slice(2);
const browser = await launch();
const page = await browser.newPage({ viewport: { width: Number(w), height: Number(h) } });
page.on('console', (m) => console.log(`[${m.type()}] ${m.text()}`));
page.on('pageerror', (e) => console.log(`[pageerror] ${e.message}`));
await page.goto(url);
await waitReady(page).catch((e) => console.log('wait failed', e.message));
console.log(JSON.stringify(await canvasStats(page)));
await page.screenshot({ path: out });
await browser.close();
