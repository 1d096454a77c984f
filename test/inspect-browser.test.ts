// The demo's "inside the network" panel and device-loss recovery, in Debian's Chromium (WebGPU on SwiftShader,
// playwright-core, never a downloaded browser). The MNIST CNN trains in the worker on 192 images (12 steps); the
// panel must draw feature maps and filters (non-blank, varied canvas pixels) and redraw while training; then the
// trainer's device is destroyed mid-fit (trainer.loseDevice(): device.destroy() in the worker) and the fit must
// recover on a new device (recoverFromDeviceLoss), show the notice and finish every step. Screenshots go to
// test-artifacts/. Skipped when Chromium is not installed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareWebData } from '../scripts/prepare-web-data.mjs';
import { startServer } from '../scripts/serve.mjs';
import type { DemoState } from '../web/demo.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.SHADERFLOW_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`test/inspect-browser.test.ts: SKIPPING: ${CHROMIUM} does not exist (apt-get install chromium, or set SHADERFLOW_CHROMIUM).`);
const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const RUN = 'preset=mnist-cnn&limit=192&batch=16&epochs=1&val=0&test=32&grid=8&checkpointEvery=3&inspectEvery=2&autostart=1';

describe.skipIf(!HAVE_CHROMIUM)(`inspect panel and device loss in Chromium (${CHROMIUM})`, () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let browser: Browser;

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
    prepareWebData();
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer({ port: 0, root: ROOT });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** Pixel statistics of a canvas: how many pixels are not white, and how many distinct gray levels it has. */
  const canvasStats = (page: Page, id: string) =>
    page.evaluate((cid) => {
      const c = document.getElementById(cid) as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let ink = 0;
      const levels = new Set<number>();
      for (let i = 0; i < d.length; i += 4) {
        if (d[i] !== 255 || d[i + 1] !== 255 || d[i + 2] !== 255) ink++;
        levels.add(d[i]!);
      }
      return { width: c.width, height: c.height, ink, levels: levels.size };
    }, id);

  it('draws feature maps and filters while training; a device destroyed mid-fit recovers and the fit finishes', async () => {
    const page = await (await browser.newContext({ viewport: { width: 1360, height: 1400 } })).newPage();
    const problems: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && problems.push(`console.error: ${m.text()}`)));
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(`${server.url}?${RUN}`);
    // The panel draws during training (every 2 steps, for the first test digit until one is drawn).
    await page.waitForFunction(() => (window.__inspect?.draws ?? 0) >= 1 || window.__demo?.errors.length, null, { timeout: 300_000 });
    const during = await page.evaluate(() => ({ inspect: window.__inspect!, steps: window.__demo.steps, done: window.__demo.done, errors: window.__demo.errors }));
    expect(during.errors).toEqual([]);
    expect(during.done).toBe(false);
    expect(during.inspect.layers).toHaveLength(1); // the MNIST CNN's one conv layer
    const maps = await canvasStats(page, 'featuremaps');
    const filters = await canvasStats(page, 'filters');
    expect([maps.width, maps.height]).toEqual(during.inspect.featureMaps);
    expect([filters.width, filters.height]).toEqual(during.inspect.filters);
    // 32 maps of 28x28 (x2) in 4 rows of 8, 32 filters of 3x3 (x21): real content, many gray levels
    expect(maps.ink).toBeGreaterThan(32 * 56 * 56 * 0.2);
    expect(maps.levels).toBeGreaterThan(50);
    expect(filters.levels).toBeGreaterThan(20);
    // (a clip, not an element screenshot: the page keeps changing while it trains, so the element is never "stable")
    const box = await page.locator('#inspect').boundingBox();
    await page.screenshot({ path: join(ARTIFACTS, 'inspect-panel.png'), clip: box ?? undefined, fullPage: true });
    // Lose the worker's device after the first checkpoint (step 3), while the fit runs.
    await page.waitForFunction(() => window.__demo.steps >= 4 || window.__demo.done, null, { timeout: 300_000 });
    const lostAt = await page.evaluate(() => {
      window.__demoApi.trainer().loseDevice();
      return window.__demo.steps;
    });
    expect(lostAt).toBeLessThan(12);
    await page.waitForFunction(() => window.__demo?.done || window.__demo?.errors.length, null, { timeout: 400_000 });
    const s = await page.evaluate(() => JSON.parse(JSON.stringify(window.__demo)) as DemoState);
    const inspect = await page.evaluate(() => window.__inspect!);
    expect(s.errors, s.errors.join('\n')).toEqual([]);
    expect(s.messages.join('\n')).toMatch(/The GPU device was lost \(destroyed[^)]*\); training recovered on a new one \(1\/2\) and goes on from epoch 1, batch \d+\./);
    expect(await page.textContent('#message')).toMatch(/GPU device was lost/);
    expect(s.steps).toBe(12);
    expect(s.test?.count).toBe(32);
    // the panel kept redrawing after the recovery (on the new device)
    expect(inspect.draws).toBeGreaterThan(during.inspect.draws);
    expect((await canvasStats(page, 'featuremaps')).levels).toBeGreaterThan(50);
    await page.screenshot({ path: join(ARTIFACTS, 'device-loss-recovered.png'), fullPage: true });
    expect(problems.filter((p) => !/device.*lost|destroyed/i.test(p))).toEqual([]);
    await page.context().close();
  }, 900_000);
});
