// The web demo in a real browser: Debian's Chromium with WebGPU on SwiftShader, driven by playwright-core (which
// never downloads a browser). Builds the bundles, gzips MNIST into web/data/, serves web/ + dist/browser/ on a free
// loopback port, trains the MNIST CNN on a small subset in the page and checks what the page shows. Also checks the
// no-WebGPU message, the ES-module bundle on its own (web/embed.html), and the static server (MIME types, no path
// traversal). Skips the browser part (only) when Chromium is not installed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareWebData } from '../scripts/prepare-web-data.mjs';
import { startServer } from '../scripts/serve.mjs';
import type { DemoState } from '../web/demo.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = process.env.SHADERFLOW_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM)
  console.warn(`test/browser.test.ts: SKIPPING the browser tests: ${CHROMIUM} does not exist (apt-get install chromium, or set SHADERFLOW_CHROMIUM).`);

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

let server: Awaited<ReturnType<typeof startServer>>;

beforeAll(() => {
  // esbuild: about a second. The demo bundle is dist/browser/demo.js, the library bundle dist/browser/shaderflow.js.
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  prepareWebData();
  mkdirSync(ARTIFACTS, { recursive: true });
}, 120_000);

beforeAll(async () => {
  server = await startServer({ port: 0, root: ROOT });
});

afterAll(async () => {
  await server?.close();
});

function rawGet(path: string, method = 'GET'): Promise<{ status: number; type: string | undefined; encoding: string | undefined; body: string }> {
  return new Promise((ok, fail) => {
    // node:http sends the target exactly as given: no URL normalisation of %2e%2e or ..%2f on the way.
    const req = request({ host: '127.0.0.1', port: server.port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode!, type: res.headers['content-type'], encoding: res.headers['content-encoding'], body: Buffer.concat(chunks).toString('latin1') }));
    });
    req.on('error', fail);
    req.end();
  });
}

describe('static server (scripts/serve.mjs)', () => {
  it('serves web/ at / and dist/browser/ at /dist/ with the right MIME types', async () => {
    const cases: [string, RegExp][] = [
      ['/', /^text\/html/],
      ['/index.html', /^text\/html/],
      ['/style.css', /^text\/css/],
      ['/dist/shaderflow.js', /^text\/javascript/],
      ['/dist/demo.js', /^text\/javascript/],
      ['/dist/demo.js.map', /^application\/json/],
      ['/data/t10k-labels-idx1-ubyte.gz', /^application\/octet-stream$/],
    ];
    for (const [path, type] of cases) {
      const r = await rawGet(path);
      expect(r.status, path).toBe(200);
      expect(r.type, path).toMatch(type);
      expect(r.encoding, path).toBeUndefined(); // .gz goes out as bytes: the page inflates it
    }
    expect((await rawGet('/data/t10k-labels-idx1-ubyte.gz')).body.slice(0, 2)).toBe('\x1f\x8b');
    expect((await rawGet('/nope.html')).status).toBe(404);
    expect((await rawGet('/dist')).status).toBe(301);
    expect((await rawGet('/', 'POST')).status).toBe(405);
  });

  it('never serves anything outside web/ and dist/browser/', async () => {
    const attempts = [
      '/../package.json',
      '/..%2fpackage.json',
      '/..%2f..%2fpackage.json',
      '/%2e%2e/package.json',
      '/%2e%2e/%2e%2e/package.json',
      '/%2e%2e%2fpackage.json',
      '/%2E%2E%2F%2E%2E%2Fpackage.json',
      '/dist/..%2f..%2fpackage.json',
      '/dist/%2e%2e/%2e%2e/package.json',
      '/data/..%2f..%2f..%2fpackage.json',
      '/..%5cpackage.json',
      '/.%2e/package.json',
      '/%2fetc%2fpasswd',
      '//etc/passwd',
      '/dist/%2e%2e%2f%2e%2e%2fsrc%2findex.ts',
      '/index.html%00.js',
      '/%E0%A4%A',
    ];
    for (const path of attempts) {
      const r = await rawGet(path);
      expect([400, 403, 404], `${path} -> ${r.status}`).toContain(r.status);
      expect(r.body, path).not.toMatch(/"name": "shaderflow"|root:x:0|export \*/);
    }
  });
});

describe.skipIf(!HAVE_CHROMIUM)(`web demo in Chromium (${CHROMIUM})`, () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
  });

  /** Collects console errors and page errors; the test fails on any. */
  function watch(page: Page): string[] {
    const problems: string[] = [];
    page.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    return problems;
  }

  const demo = (page: Page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__demo)) as DemoState);

  it('trains the MNIST CNN live, pauses and resumes, draws charts and predictions, predicts a drawn digit, saves and loads', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 1000 }, acceptDownloads: true });
    const problems = watch(page);
    const t0 = Date.now();
    // 256 images, batch 16, 2 epochs = 32 steps; 32 test images as validation data, 200 for the final accuracy.
    await page.goto(`${server.url}?limit=256&epochs=2&batch=16&val=32&test=200&grid=24&autostart=1`);
    await page.waitForFunction(() => window.__demo?.steps >= 2 || window.__demo?.errors.length || window.__demo?.status === 'no-webgpu', null, { timeout: 90_000 });
    let s = await demo(page);
    expect(s.errors, s.errors.join('\n')).toEqual([]);
    expect(s.adapter).toMatch(/swiftshader|google/i);

    // Pause inside onBatchEnd: no step runs until Resume.
    await page.click('#pause');
    await page.waitForFunction(() => window.__demo.status === 'paused' || window.__demo.done, null, { timeout: 30_000 });
    s = await demo(page);
    expect(s.status, 'training finished before Pause took effect').toBe('paused');
    const pausedAt = s.steps;
    await page.waitForTimeout(1500);
    expect((await demo(page)).steps).toBe(pausedAt);
    expect(await page.textContent('#pause')).toBe('Resume');
    await page.click('#pause');
    await page.waitForFunction(() => window.__demo.done || window.__demo.errors.length, null, { timeout: 150_000 });
    s = await demo(page);
    expect(s.errors, s.errors.join('\n')).toEqual([]);
    expect(s.status).toBe('done');
    expect(s.steps).toBe(32);
    // The loss went down: between the two epochs' means, and from the first readout to the last.
    expect(s.epochLogs).toHaveLength(2);
    expect(s.epochLogs[1]!.loss!).toBeLessThan(s.epochLogs[0]!.loss!);
    expect(s.epochLogs[1]!.val_accuracy).toBeGreaterThanOrEqual(0);
    expect(s.losses.length).toBeGreaterThanOrEqual(2); // at least each epoch's final line
    expect(s.losses.every(Number.isFinite)).toBe(true);
    expect(s.losses[s.losses.length - 1]!).toBeLessThan(s.losses[0]!);
    expect(s.stepsPerSec).toBeGreaterThan(0);

    // Charts: an SVG polyline with one point per readout.
    for (const id of ['#loss-chart', '#acc-chart']) {
      const points = await page.$eval(`${id} svg polyline`, (el) => el.getAttribute('points') ?? '');
      expect(points.split(' ').length, id).toBeGreaterThanOrEqual(2);
      expect(points, id).not.toMatch(/NaN/);
    }
    // Prediction grid: 24 drawn digits with a predicted label each, wrong ones marked.
    const grid = await page.$$eval('#grid .cell', (cells) =>
      cells.map((c) => {
        const canvas = c.querySelector('canvas')!;
        const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let ink = 0;
        for (let i = 0; i < px.length; i += 4) ink += px[i]!;
        return { ink, label: c.querySelector('.label')!.textContent ?? '', wrong: c.classList.contains('wrong'), right: c.classList.contains('right') };
      }),
    );
    expect(grid).toHaveLength(24);
    for (const g of grid) {
      expect(g.ink).toBeGreaterThan(0);
      expect(g.label).toMatch(g.wrong ? /^\d \(\d\)$/ : /^\d$/);
      expect(g.wrong !== g.right).toBe(true);
    }
    expect(s.grid.count).toBe(24);
    expect(s.grid.correct).toBe(grid.filter((g) => g.right).length);

    // Draw a "7" on the pad with the mouse: ten probabilities that sum to 1.
    const box = (await page.locator('#pad').boundingBox())!;
    const at = (fx: number, fy: number) => [box.x + box.width * fx, box.y + box.height * fy] as const;
    await page.mouse.move(...at(0.25, 0.2));
    await page.mouse.down();
    for (const [fx, fy] of [[0.5, 0.2], [0.75, 0.2], [0.65, 0.45], [0.55, 0.65], [0.45, 0.85]] as const) await page.mouse.move(...at(fx, fy), { steps: 6 });
    await page.mouse.up();
    await page.waitForFunction(() => window.__demo.padProbs !== null, null, { timeout: 20_000 });
    await page.waitForTimeout(300); // let a trailing prediction land
    s = await demo(page);
    expect(s.padProbs).toHaveLength(10);
    expect(s.padProbs!.every((p) => p >= 0 && p <= 1)).toBe(true);
    expect(s.padProbs!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    expect(s.padPrediction).toBe(s.padProbs!.indexOf(Math.max(...s.padProbs!)));
    expect(await page.$$eval('#probs li', (li) => li.length)).toBe(10);
    await page.screenshot({ path: join(ARTIFACTS, 'browser-demo.png'), fullPage: true });

    // Download (two files: model.json, model.weights.bin, TF.js' downloads:// names) and load them back: the same probabilities for the same drawing.
    const downloads: Promise<string>[] = [];
    const gotTwo = new Promise<void>((done) => {
      page.on('download', (d) => {
        const path = join(ARTIFACTS, d.suggestedFilename());
        downloads.push(d.saveAs(path).then(() => path));
        if (downloads.length === 2) done();
      });
    });
    await page.click('#save');
    await gotTwo;
    const files = (await Promise.all(downloads)).sort();
    expect(files.map((f) => f.split('/').pop())).toEqual(['model.json', 'model.weights.bin']);
    const before = s.padProbs!;
    await page.evaluate(() => {
      window.__demo.padProbs = null;
    });
    await page.setInputFiles('#load', files);
    await page.waitForFunction(() => window.__demo.messages.some((m) => m.startsWith('Loaded')) && window.__demo.padProbs !== null, null, { timeout: 20_000 });
    s = await demo(page);
    s.padProbs!.forEach((p, i) => expect(p).toBeCloseTo(before[i]!, 5));

    expect(problems, problems.join('\n')).toEqual([]);
    const seconds = (Date.now() - t0) / 1000;
    const report = { stepsPerSec: s.stepsPerSec, steps: s.steps, batch: 16, adapter: s.adapter, epochLogs: s.epochLogs, seconds };
    writeFileSync(join(ARTIFACTS, 'browser-demo.json'), JSON.stringify(report, null, 2));
    console.log(`browser demo: ${s.steps} steps at ${s.stepsPerSec?.toFixed(2)} steps/s (batch 16) on ${s.adapter}; page test took ${seconds.toFixed(1)} s`);
    await page.close();
  }, 240_000);

  it('trains with the GPU kernel set forced on SwiftShader (adapterClass=gpu)', async () => {
    const page = await browser.newPage();
    const problems = watch(page);
    // 64 images, batch 16, 1 epoch = 4 steps of the MNIST CNN through the GPU variants (implicit-GEMM conv,
    // workgroup-tiled matmul, parallel reductions).
    await page.goto(`${server.url}?limit=64&epochs=1&batch=16&val=16&test=64&grid=8&autostart=1&adapterClass=gpu`);
    await page.waitForFunction(() => window.__demo?.done || window.__demo?.errors.length || window.__demo?.status === 'no-webgpu', null, { timeout: 120_000 });
    const s = await demo(page);
    expect(s.errors, s.errors.join('\n')).toEqual([]);
    expect(s.adapter).toMatch(/gpu class \(forced by createEngine\(\{ adapterClass \}\)\)/);
    expect(s.steps).toBe(4);
    expect(s.losses.length).toBeGreaterThanOrEqual(1);
    expect(s.losses.every(Number.isFinite)).toBe(true);
    expect(problems, problems.join('\n')).toEqual([]);
    await page.close();
  }, 150_000);

  it('says clearly when the browser has no WebGPU', async () => {
    const page = await browser.newPage();
    const problems = watch(page);
    await page.addInitScript(() => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
    // worker=0: the init script reaches only the page, and a worker has a navigator.gpu of its own.
    await page.goto(`${server.url}?limit=64&worker=0`);
    await page.waitForFunction(() => window.__demo?.status === 'no-webgpu' || window.__demo?.errors.length, null, { timeout: 30_000 });
    const s = await demo(page);
    expect(s.status).toBe('no-webgpu');
    expect(s.errors).toEqual([]);
    expect(await page.isVisible('#message')).toBe(true);
    expect(await page.textContent('#message')).toMatch(/no usable WebGPU[\s\S]*navigator\.gpu/);
    expect(await page.isVisible('#app')).toBe(false);
    expect(problems, problems.join('\n')).toEqual([]);
    await page.close();
  }, 60_000);

  it('runs the ES-module bundle on its own (web/embed.html)', async () => {
    const page = await browser.newPage();
    const problems = watch(page);
    await page.goto(`${server.url}embed.html`);
    await page.waitForFunction(() => (window as unknown as { __embed?: { done: boolean } }).__embed?.done, null, { timeout: 60_000 });
    const r = await page.evaluate(() => (window as unknown as { __embed: { losses: number[]; error: string | null } }).__embed);
    expect(r.error).toBeNull();
    expect(r.losses).toHaveLength(4);
    expect(r.losses[3]!).toBeLessThan(r.losses[0]!);
    expect(problems, problems.join('\n')).toEqual([]);
    await page.close();
  }, 90_000);

  it('web/selftest.html: the quick self-test passes on SwiftShader; a corrupted kernel is reported by name', async () => {
    type PageState = import('../web/selftest.js').SelftestPageState;
    const state = (page: Page) => page.evaluate(() => JSON.parse(JSON.stringify((window as unknown as { __selftest: PageState }).__selftest)) as PageState);
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const problems = watch(page);
    await page.goto(`${server.url}selftest.html?quick=1`);
    await page.waitForFunction(() => ['done', 'error', 'no-webgpu'].includes((window as unknown as { __selftest: PageState }).__selftest?.status), null, { timeout: 240_000 });
    const s = await state(page);
    expect(s.error).toBeNull();
    expect(s.adapter).toMatch(/swiftshader|google/i);
    const failing = s.rows.filter((r) => !r.pass).map((r) => `${r.kernel} ${r.variant}: ${r.failure ?? `${r.error} > ${r.bound} (${r.tensor})`}`);
    expect(failing, failing.join('\n')).toEqual([]);
    expect(s.report!.pass).toBe(true);
    expect(s.rows.map((r) => r.kernel)).toEqual(expect.arrayContaining(['matmul', 'conv2d', 'pool', 'activation', 'loss', 'optimizer', 'gradients']));
    expect(await page.locator('#rows tr').count()).toBe(s.rows.length);
    expect(await page.textContent('#verdict')).toMatch(/^All \d+ checks pass/);
    expect(await page.inputValue('#report')).toMatch(/^adapter: .*\n\n\| kernel +\| variant/);
    writeFileSync(join(ARTIFACTS, 'selftest-swiftshader.md'), s.text);
    // The test-only switch: corrupt matmul's output; the page must fail and name it.
    await page.goto(`${server.url}selftest.html?quick=1&corrupt=matmul`);
    await page.waitForFunction(() => ['done', 'error'].includes((window as unknown as { __selftest: PageState }).__selftest?.status), null, { timeout: 240_000 });
    const bad = await state(page);
    expect(bad.report!.pass).toBe(false);
    expect(new Set(bad.report!.failed.map((f) => f.split(' ')[0]))).toEqual(new Set(['matmul']));
    expect(await page.textContent('#verdict')).toMatch(/FAIL: matmul \(naive\)/);
    expect(await page.locator('#rows tr.fail').count()).toBe(bad.report!.failed.length);
    expect(problems, problems.join('\n')).toEqual([]);
    await page.close();
  }, 600_000);

  it('reads a picked folder (FileList with webkitRelativePath) and single canvas, ImageData, ImageBitmap and <img> inputs', async () => {
    const page = await browser.newPage();
    const problems = watch(page);
    await page.goto(`${server.url}?limit=64`); // the demo page, idle: only its origin is needed
    const r = await page.evaluate(async () => {
      // (Through Function: vitest would rewrite an import() written here, and this code runs in the page.)
      const sf = (await new Function('return import("/dist/shaderflow.js")')()) as typeof import('../src/index.js');
      // A 5x7 picture of value v (r = v, g = v / 2, b = 255 - v) as a PNG or JPEG File at `path` in the picked folder.
      const picture = async (v: number, type: string, path: string) => {
        const c = new OffscreenCanvas(7, 5);
        const ctx = c.getContext('2d')!;
        ctx.fillStyle = `rgb(${v}, ${v >> 1}, ${255 - v})`;
        ctx.fillRect(0, 0, 7, 5);
        const blob = await c.convertToBlob({ type, quality: 0.95 });
        const file = new File([blob], path.split('/').pop()!);
        Object.defineProperty(file, 'webkitRelativePath', { value: path });
        return file;
      };
      const files = [
        await picture(200, 'image/png', 'pick/light/a.png'),
        await picture(220, 'image/jpeg', 'pick/light/b.jpg'),
        await picture(10, 'image/png', 'pick/dark/c.png'),
        await picture(30, 'image/jpeg', 'pick/dark/sub/d.jpeg'),
        await picture(99, 'image/png', 'pick/notes.png'), // in the root: ignored
      ];
      const bad = new File([new TextEncoder().encode('not a png')], 'e.png');
      Object.defineProperty(bad, 'webkitRelativePath', { value: 'pick/dark/e.png' });
      const set = await sf.imageDatasetFromFiles([...files, bad], { imageSize: [4, 6], colorMode: 'rgb', shuffle: false, onBadImage: 'skip' });
      let error = '';
      try {
        await sf.imageDatasetFromFiles([...files, bad], { imageSize: [4, 6] });
      } catch (e) {
        error = `${(e as Error).name}: ${(e as Error).message}`;
      }
      const canvas = document.createElement('canvas');
      canvas.width = 3;
      canvas.height = 2;
      const ctx = canvas.getContext('2d')!;
      ctx.fillStyle = 'rgb(10, 20, 30)';
      ctx.fillRect(0, 0, 3, 2);
      const fromCanvas = await sf.imageFromSource(canvas);
      const fromData = await sf.imageFromSource(new ImageData(new Uint8ClampedArray([1, 2, 3, 255, 4, 5, 6, 255]), 2, 1), { colorMode: 'rgb' });
      const fromBitmap = await sf.imageFromSource(await createImageBitmap(canvas), { colorMode: 'grayscale' });
      const img = new Image();
      img.src = URL.createObjectURL(files[0]!);
      await img.decode();
      const fromImg = await sf.imageFromSource(img, { colorMode: 'rgb' });
      return {
        shape: set.shape,
        classNames: set.classNames,
        files: set.files,
        skipped: set.skipped.map((s) => s.file),
        pixel0: Array.from(set.images.subarray(0, 3)),
        pixelLast: Array.from(set.images.subarray(set.images.length - 3)),
        error,
        canvas: [fromCanvas.shape, Array.from(fromCanvas.data.subarray(0, 4))],
        data: [fromData.shape, Array.from(fromData.data)],
        bitmap: [fromBitmap.shape, fromBitmap.data[0]],
        img: [fromImg.shape, Array.from(fromImg.data.subarray(0, 3))],
      };
    });
    expect(r.classNames).toEqual(['dark', 'light']);
    expect(r.files).toEqual(['dark/c.png', 'dark/sub/d.jpeg', 'light/a.png', 'light/b.jpg']);
    expect(r.shape).toEqual([4, 4, 6, 3]);
    expect(r.skipped).toEqual(['dark/e.png']);
    expect(r.pixel0).toEqual([10, 5, 245]); // the PNG of class "dark", exact
    for (const [got, want] of r.pixelLast.map((v, i) => [v, [220, 110, 35][i]!])) expect(Math.abs(got! - want)).toBeLessThanOrEqual(4); // JPEG
    expect(r.error).toMatch(/DatasetError: pick\/dark\/e\.png: not a PNG or JPEG file/);
    expect(r.canvas).toEqual([[2, 3, 4], [10, 20, 30, 255]]);
    expect(r.data).toEqual([[1, 2, 3], [1, 2, 3, 4, 5, 6]]);
    expect(r.bitmap).toEqual([[2, 3, 1], Math.round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)]);
    expect(r.img).toEqual([[5, 7, 3], [200, 100, 55]]);
    expect(problems, problems.join('\n')).toEqual([]);
    await page.close();
  }, 90_000);
});
