// The web demo as a web app, in Debian's Chromium (WebGPU on SwiftShader, playwright-core, never a downloaded
// browser): training in a dedicated Worker while the main thread records long tasks; the fallback to the main
// thread without Worker and without IndexedDB; IndexedDB save → reload → load with the same predictions; a
// checkpointed run reloaded mid-epoch and resumed ends with exactly the weights of an uninterrupted run, and a
// checkpoint of other data is refused with the reason; TF.js model.json loading over http (weights by manifest
// paths; 404 and non-JSON are ModelFormatErrors naming the URL). Small models and few images: SwiftShader is
// slow. Screenshots and the measured steps/s go to test-artifacts/. Skipped when Chromium is not installed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareWebData } from '../scripts/prepare-web-data.mjs';
import { startServer } from '../scripts/serve.mjs';
import { buildPreset } from '../src/index.js';
import { topologyOf } from '../src/model/io.js';
import { mulberry32 } from '../src/reference/random.js';
import type { DemoState } from '../web/demo.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const HTTP_MODEL = join(ROOT, 'web/data/test-http-model'); // web/data/ is git-ignored and served at /data/
const CHROMIUM = process.env.SHADERFLOW_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`test/web-app.test.ts: SKIPPING: ${CHROMIUM} does not exist (apt-get install chromium, or set SHADERFLOW_CHROMIUM).`);

const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** The same small run for the worker and the main thread: the MNIST MLP, 256 images, batch 16, 2 epochs = 32 steps. */
const SMALL_RUN = 'preset=mnist-mlp&limit=256&batch=16&epochs=2&val=32&test=200&grid=24&checkpointEvery=4&autostart=1';

type Sf = typeof import('../src/index.js');
interface TraceEvent {
  name: string;
  ph: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  tdur?: number;
  args?: { name?: string };
}
const measured: Record<string, unknown> = {};

describe.skipIf(!HAVE_CHROMIUM)(`the web app in Chromium (${CHROMIUM})`, () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let browser: Browser;
  /** The http model's weights, as written (the page must read them back exactly). */
  let httpWeights: Float32Array;

  beforeAll(async () => {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
    prepareWebData();
    mkdirSync(ARTIFACTS, { recursive: true });
    // A TF.js layers model.json with its weights in two shards in a subfolder, as tfjs converters write them.
    const { model } = buildPreset('mnist-mlp');
    const topology = topologyOf(model);
    const specs = model.layers.flatMap((l) => l.paramSpecs().map((p) => ({ name: `${l.name}/${p.name}`, shape: p.shape, dtype: 'float32' as const })));
    const total = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    const rand = mulberry32(7);
    httpWeights = Float32Array.from({ length: total }, () => rand() - 0.5);
    const bytes = new Uint8Array(httpWeights.buffer);
    const cut = 1000 * 4 + 12; // shards split anywhere, even inside a weight
    rmSync(HTTP_MODEL, { recursive: true, force: true });
    mkdirSync(join(HTTP_MODEL, 'shards'), { recursive: true });
    writeFileSync(join(HTTP_MODEL, 'shards/group1-shard1of2.bin'), bytes.subarray(0, cut));
    writeFileSync(join(HTTP_MODEL, 'shards/group1-shard2of2.bin'), bytes.subarray(cut));
    const json = { format: 'layers-model', generatedBy: 'test', convertedBy: null, modelTopology: topology, weightsManifest: [{ paths: ['shards/group1-shard1of2.bin', 'shards/group1-shard2of2.bin'], weights: specs }] };
    writeFileSync(join(HTTP_MODEL, 'model.json'), JSON.stringify(json));
    writeFileSync(join(HTTP_MODEL, 'missing-weights.json'), JSON.stringify({ ...json, weightsManifest: [{ paths: ['shards/nope.bin'], weights: specs }] }));
    server = await startServer({ port: 0, root: ROOT });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (Object.keys(measured).length) writeFileSync(join(ARTIFACTS, 'web-app.json'), JSON.stringify(measured, null, 2));
  });

  /** Collects console errors and page errors; a test fails on any. */
  function watch(page: Page): string[] {
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    return problems;
  }

  const demo = (page: Page) => page.evaluate(() => JSON.parse(JSON.stringify(window.__demo)) as DemoState);
  const finished = (page: Page, timeout = 240_000) => page.waitForFunction(() => window.__demo?.done || window.__demo?.errors.length || window.__demo?.status === 'no-webgpu', null, { timeout });

  /** Records every long task (> 50 ms by definition) of the page's main thread from its first moment. */
  const recordLongTasks = (page: Page) =>
    page.addInitScript(() => {
      const w = window as unknown as { __longTasks: { start: number; duration: number }[] };
      w.__longTasks = [];
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) w.__longTasks.push({ start: e.startTime, duration: e.duration });
      }).observe({ type: 'longtask', buffered: true });
    });
  const longTasksAfter = (page: Page, t: number) =>
    page.evaluate((from) => (window as unknown as { __longTasks: { start: number; duration: number }[] }).__longTasks.filter((e) => e.start >= from), t);

  /**
   * Chrome's trace of the page's main thread, to tell a long task's own work from waiting: a long task is wall
   * time, and on a CPU shared with SwiftShader (and other tests) the main thread waits for a core mid-task. Each
   * long task gets the main-thread CPU time of its trace event (tdur). The trace clock is aligned to the page's by
   * a performance.mark.
   */
  async function traced<T>(page: Page, run: () => Promise<T>): Promise<{ result: T; cpuOf: (tasks: { start: number; duration: number }[]) => number[] }> {
    await browser.startTracing(page, { categories: ['disabled-by-default-devtools.timeline', 'blink.user_timing'] });
    let result: T;
    try {
      result = await run();
    } finally {
      await page.evaluate(() => performance.mark('shaderflow-clock'));
    }
    const markAt = await page.evaluate(() => performance.getEntriesByName('shaderflow-clock')[0]!.startTime);
    const events = (JSON.parse((await browser.stopTracing()).toString('utf8')) as { traceEvents: TraceEvent[] }).traceEvents;
    const mark = events.find((e) => e.name === 'shaderflow-clock')!;
    const main = events.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.pid === mark.pid && e.args?.name === 'CrRendererMain')!;
    const offset = mark.ts - markAt * 1000;
    const onMain = events.filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.dur !== undefined).sort((a, b) => a.ts - b.ts);
    // A long task's CPU: the thread time of the outermost traced events inside its window (usually one RunTask).
    const cpuOf = (tasks: { start: number; duration: number }[]) =>
      tasks.map((t) => {
        const from = t.start * 1000 + offset - 1000;
        const to = from + t.duration * 1000 + 2000;
        let cpu = 0;
        let end = -Infinity;
        for (const e of onMain) {
          if (e.ts < from || e.ts + e.dur! > to || e.ts < end) continue;
          cpu += e.tdur ?? e.dur!;
          end = e.ts + e.dur!;
        }
        return cpu / 1000;
      });
    return { result: result!, cpuOf };
  }

  it('trains in a dedicated worker, shows the compiling state, and the main thread has no long task of its own after the compile', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
    const page = await context.newPage();
    const problems = watch(page);
    await recordLongTasks(page);
    const { cpuOf } = await traced(page, async () => {
      await page.goto(`${server.url}?${SMALL_RUN}`);
      await page.waitForFunction(() => window.__demo?.status === 'compiling' || window.__demo?.errors.length, null, { timeout: 60_000 });
      expect(await page.textContent('#r-status')).toBe('compiling kernels…');
      await page.screenshot({ path: join(ARTIFACTS, 'web-app-compiling.png') });
      await finished(page);
    });
    const s = await demo(page);
    expect(s.errors, s.errors.join('\n')).toEqual([]);
    expect(s.where).toBe('worker');
    expect(s.fallbackReason).toBeNull();
    expect(await page.textContent('#r-where')).toBe('a dedicated worker');
    expect(s.statusLog).toEqual(expect.arrayContaining(['compiling', 'training', 'done']));
    expect(s.statusLog.indexOf('compiling')).toBeLessThan(s.statusLog.lastIndexOf('training'));
    expect(s.steps).toBe(32);
    // Adam at 0.001 by default, shown as the current learning rate.
    expect(s.optimizer).toBe('adam');
    // The rate lives in a float32 GPU buffer (Keras' float32 variable), so it reads back as fround(0.001).
    expect(s.learningRate).toBe(Math.fround(0.001));
    expect(await page.textContent('#r-lr')).toBe('0.001');
    // Charts against training steps: points at steps 1..32, epoch marks at 0 and 16, a validation point per epoch.
    expect(s.lossSteps.every((x, i) => x >= 1 && x <= 32 && (i === 0 || x > s.lossSteps[i - 1]!))).toBe(true);
    expect(s.epochStarts).toEqual([{ epoch: 0, step: 0 }, { epoch: 1, step: 16 }]);
    expect(s.valPoints.map((p) => p.step)).toEqual([16, 32]);
    expect(s.losses.at(-1)!).toBeLessThan(s.losses[0]!);
    const svg = await page.innerHTML('#loss-chart');
    expect(svg).toMatch(/training step/);
    expect(svg).toMatch(/epoch 2/);
    expect(svg).not.toMatch(/NaN/);
    // The final accuracy on the test images and its confusion matrix (rows sum to each digit's count).
    expect(s.test!.count).toBe(200);
    expect(s.test!.confusion.flat().reduce((a, b) => a + b, 0)).toBe(200);
    expect(s.test!.accuracy).toBeCloseTo(s.test!.confusion.reduce((n, row, i) => n + row[i]!, 0) / 200, 10);
    expect(await page.locator('#confusion table tr').count()).toBe(11);
    expect(await page.textContent('#r-test')).toMatch(/^\d+\.\d\d% \(loss \d\.\d{4}\) on 200 MNIST test images$/);
    // Checkpoints every 4 batches and at each epoch end went to IndexedDB; the finished run removed its checkpoint.
    expect(s.checkpoints).toContainEqual({ epoch: 0, batch: 4 });
    expect(s.checkpoints).toContainEqual({ epoch: 2, batch: 0 });
    // Long tasks (over 50 ms of wall time) after the compile: none may be the page's own work (50 ms of
    // main-thread CPU). The wall time of those that do appear is the main thread waiting for a core.
    const long = await longTasksAfter(page, s.trainBeganAt!);
    const cpu = cpuOf(long);
    expect(cpu.filter((ms) => !(ms < 50)), `long tasks ${JSON.stringify(long)}, CPU ms ${JSON.stringify(cpu)}`).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, 'web-app-worker.png'), fullPage: true });
    measured.worker = { stepsPerSec: s.stepsPerSec, compileMs: s.compileMs, longTasksAfterCompile: long.map((l, i) => ({ wallMs: l.duration, cpuMs: cpu[i] })), run: SMALL_RUN };
    expect(problems, problems.join('\n')).toEqual([]);
    await context.close();
  }, 300_000);

  it('without Worker and IndexedDB it says so, trains on the main thread and goes on without checkpoints', async () => {
    const context = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
    const page = await context.newPage();
    const problems = watch(page);
    await recordLongTasks(page);
    await page.addInitScript(() => {
      delete (window as { Worker?: unknown }).Worker;
      Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });
    });
    const { cpuOf } = await traced(page, async () => {
      await page.goto(`${server.url}?${SMALL_RUN}`);
      await finished(page);
    });
    const s = await demo(page);
    expect(s.errors, s.errors.join('\n')).toEqual([]);
    expect(s.where).toBe('main thread');
    expect(s.fallbackReason).toBe('this browser offers no Worker');
    expect(await page.textContent('#r-where')).toBe('the main thread');
    const text = await page.textContent('#message');
    expect(text).toMatch(/Training runs on the page's main thread: this browser offers no Worker/);
    expect(text).toMatch(/Checkpoints are off: indexeddb:\/\/shaderflow-demo: IndexedDB is not available here/);
    expect(s.steps).toBe(32);
    expect(s.checkpoints).toEqual([]);
    expect(s.test!.count).toBe(200);
    await page.screenshot({ path: join(ARTIFACTS, 'web-app-main-thread.png'), fullPage: true });
    const long = await longTasksAfter(page, s.trainBeganAt!);
    const cpu = cpuOf(long);
    measured.mainThread = { stepsPerSec: s.stepsPerSec, compileMs: s.compileMs, longTasksAfterCompile: long.map((l, i) => ({ wallMs: l.duration, cpuMs: cpu[i] })), run: SMALL_RUN };
    console.log(`steps/s on SwiftShader, ${SMALL_RUN}: worker ${(measured.worker as { stepsPerSec?: number })?.stepsPerSec?.toFixed(2)}, main thread ${s.stepsPerSec?.toFixed(2)}; ${JSON.stringify(measured)}`);
    expect(problems, problems.join('\n')).toEqual([]);
    await context.close();
  }, 300_000);

  it('IndexedDB: save, reload the page, load: the same predictions and optimizer state; wrong names and other models are refused', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}data/`); // any page of this origin (a 404 is enough to run the bundle)
    const x = Array.from({ length: 3 * 784 }, (_, i) => (i * 37) % 256);
    const saved = await page.evaluate(async (pixels) => {
      const sf = (await new Function('return import("/dist/shaderflow.js")')()) as Sf;
      const engine = await sf.createEngine();
      const { model, compileArgs } = sf.buildPreset('mnist-mlp', { optimizer: 'adam' });
      model.compile(engine, compileArgs);
      const images = Uint8Array.from(pixels);
      await model.fit({ images, shape: [3, 28, 28, 1] }, Uint8Array.from([1, 2, 3]), { batchSize: 3, epochs: 2, verbose: 0 });
      await sf.saveModel(model, 'indexeddb://roundtrip');
      const opt = await model.getOptimizerState();
      return { probs: Array.from(await model.predict({ images, shape: [3, 28, 28, 1] })), step: opt.step, m: Array.from(opt.tensors[0]!.subarray(0, 64)) };
    }, x);
    await page.reload();
    const loaded = await page.evaluate(async (pixels) => {
      const sf = (await new Function('return import("/dist/shaderflow.js")')()) as Sf;
      const engine = await sf.createEngine();
      const model = await sf.loadModel(engine, 'indexeddb://roundtrip');
      const opt = await model.getOptimizerState();
      const errorOf = async (f: () => Promise<unknown>) => f().then(() => 'no error', (e: Error) => `${e.name}: ${e.message}`);
      // A checkpoint saved from one model, read for another: refused, naming the difference.
      const other = sf.buildPreset('mnist-cnn').model;
      other.compile(engine, { optimizer: 'sgd', loss: 'categorical_crossentropy' });
      const c = { epoch: 0, batch: 1, batchSize: 3, trainCount: 3, seed: 0, stats: [0, 0, 0, 0], weights: await model.getWeights(), optimizer: opt, history: { epoch: [], history: {} }, model: sf.modelFingerprint(model), data: 'the data' };
      await sf.indexedDbCheckpointer('indexeddb://other').save(c);
      return {
        probs: Array.from(await model.predict({ images: Uint8Array.from(pixels), shape: [3, 28, 28, 1] })),
        step: opt.step,
        m: Array.from(opt.tensors[0]!.subarray(0, 64)),
        optimizer: model.optimizer?.kind,
        stored: await sf.listStoredModels(),
        missing: await errorOf(() => sf.loadModel(engine, 'indexeddb://nothing-here')),
        sameModel: (await sf.readIndexedDbCheckpoint('indexeddb://other', { model }))?.batch,
        otherModel: await errorOf(() => sf.readIndexedDbCheckpoint('indexeddb://other', { model: other })),
        otherData: await errorOf(() => sf.readIndexedDbCheckpoint('indexeddb://other', { model, data: 'something else' })),
      };
    }, x);
    expect(loaded.probs).toEqual(saved.probs);
    expect(loaded.step).toBe(saved.step);
    expect(loaded.step).toBe(2);
    expect(loaded.m).toEqual(saved.m);
    expect(loaded.optimizer).toBe('adam');
    expect(loaded.stored).toContain('roundtrip');
    expect(loaded.missing).toMatch(/^StorageError: indexeddb:\/\/nothing-here: no model is saved under this name \(saved: indexeddb:\/\/roundtrip\)/);
    expect(loaded.sameModel).toBe(1);
    expect(loaded.otherModel).toMatch(/^ShaderflowError: indexeddb:\/\/other: this checkpoint is of another model and cannot be resumed: it has 2 layers, this model 5/);
    expect(loaded.otherData).toMatch(/^ShaderflowError: indexeddb:\/\/other: this checkpoint was made on other training data/);
    await context.close();
  }, 180_000);

  it('a checkpointed run reloaded mid-epoch and resumed ends with the weights of an uninterrupted run; other data is refused', async () => {
    // The MLP, 96 images, batch 16, 2 epochs = 12 steps, a checkpoint every 2 batches.
    const run = 'preset=mnist-mlp&limit=96&batch=16&epochs=2&val=16&test=100&grid=8&checkpointEvery=2';
    const contextA = await browser.newContext();
    const a = await contextA.newPage();
    const problems = watch(a);
    await a.goto(`${server.url}?${run}&autostart=1`);
    await finished(a);
    expect((await demo(a)).errors).toEqual([]);
    const uninterrupted = await a.evaluate(() => window.__demoApi.weights());
    await contextA.close();

    const contextB = await browser.newContext({ viewport: { width: 1360, height: 1000 } });
    const b = await contextB.newPage();
    const problemsB = watch(b);
    await b.goto(`${server.url}?${run}&autostart=1`);
    await b.waitForFunction(() => window.__demo.checkpoints.some((c) => c.epoch === 1 && c.batch === 2) || window.__demo.errors.length, null, { timeout: 180_000 });
    await b.reload(); // mid-epoch 2, while it trains
    await b.waitForFunction(() => window.__demo?.status === 'ready' || window.__demo?.errors.length, null, { timeout: 120_000 });
    let s = await demo(b);
    expect(s.errors).toEqual([]);
    expect(s.resumable).toMatchObject({ epoch: 1, batchSize: 16, trainCount: 96 });
    expect(s.resumable!.batch).toBeGreaterThan(0);
    expect(s.resumable!.batch).toBeLessThan(6);
    expect(s.steps).toBe(0); // autostart does not start over a resumable run
    expect(await b.isVisible('#resume-checkpoint')).toBe(true);
    await b.screenshot({ path: join(ARTIFACTS, 'web-app-resume-offered.png'), fullPage: true });

    // The same checkpoint offered to a page training on other data (80 images): refused, with the reason.
    await b.goto(`${server.url}?${run.replace('limit=96', 'limit=80')}`);
    await b.waitForFunction(() => window.__demo?.status === 'ready', null, { timeout: 120_000 });
    await b.click('#resume-checkpoint');
    await b.waitForFunction(() => window.__demo.messages.some((m) => m.startsWith('Resume refused')) || window.__demo.errors.length, null, { timeout: 60_000 });
    s = await demo(b);
    expect(s.errors).toEqual([]);
    expect(s.messages.find((m) => m.startsWith('Resume refused'))).toMatch(/indexeddb:\/\/shaderflow-demo: this checkpoint was made on other training data/);
    expect(s.status).toBe('ready');

    await b.goto(`${server.url}?${run}`);
    await b.waitForFunction(() => window.__demo?.status === 'ready', null, { timeout: 120_000 });
    await b.click('#resume-checkpoint');
    await finished(b);
    s = await demo(b);
    expect(s.errors, s.errors.join('\n')).toEqual([]);
    expect(s.status).toBe('done');
    expect(s.steps).toBe(12);
    // The chart marks where epoch 2 began (step 6) and where the run was resumed (a step of epoch 2).
    expect(s.epochStarts).toEqual([{ epoch: 1, step: 6 }]);
    expect(s.resumedAt).toHaveLength(1);
    expect(s.resumedAt[0]).toBeGreaterThan(6);
    expect(await b.innerHTML('#loss-chart')).toMatch(/resumed/);
    const resumed = await b.evaluate(() => window.__demoApi.weights());
    expect(resumed.length).toBe(uninterrupted.length);
    let maxDiff = 0;
    for (let i = 0; i < resumed.length; i++) maxDiff = Math.max(maxDiff, Math.abs(resumed[i]! - uninterrupted[i]!));
    expect(maxDiff).toBe(0);
    measured.resume = { weights: resumed.length, maxDiff, resumedAtStep: s.resumedAt[0] };
    await b.screenshot({ path: join(ARTIFACTS, 'web-app-resumed.png'), fullPage: true });
    expect([...problems, ...problemsB], [...problems, ...problemsB].join('\n')).toEqual([]);
    await contextB.close();
  }, 480_000);

  it('loads a TF.js model.json over http (weights by manifest paths); a 404 or non-JSON is a ModelFormatError naming the URL', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}data/`);
    const r = await page.evaluate(async () => {
      const sf = (await new Function('return import("/dist/shaderflow.js")')()) as Sf;
      const engine = await sf.createEngine();
      const errorOf = async (url: string) => sf.loadModel(engine, url).then(() => 'no error', (e: Error) => `${e.name}: ${e.message}`);
      const model = await sf.loadModel(engine, 'test-http-model/model.json'); // relative to the page
      const absolute = await sf.loadModel(engine, `${location.origin}/data/test-http-model/model.json`);
      const flat = (ws: { values: Float32Array }[]) => ws.flatMap((w) => Array.from(w.values));
      return {
        weights: flat(await model.getWeights()),
        same: JSON.stringify(flat(await absolute.getWeights())) === JSON.stringify(flat(await model.getWeights())),
        origin: location.origin,
        notFound: await errorOf('/data/no-such-model/model.json'),
        notJson: await errorOf('/index.html'),
        noWeights: await errorOf('/data/test-http-model/missing-weights.json'),
        badScheme: await errorOf('file:///etc/passwd'),
      };
    });
    expect(r.weights).toEqual(Array.from(httpWeights));
    expect(r.same).toBe(true);
    expect(r.notFound).toBe(`ModelFormatError: ${r.origin}/data/no-such-model/model.json: HTTP 404 Not Found for model.json; check the URL and that the files are served beside each other.`);
    expect(r.notJson).toMatch(new RegExp(`^ModelFormatError: ${r.origin}/index\\.html: malformed JSON`));
    expect(r.noWeights).toMatch(new RegExp(`^ModelFormatError: ${r.origin}/data/test-http-model/shards/nope\\.bin: HTTP 404`));
    expect(r.badScheme).toMatch(/^ModelFormatError: loadModel: file: URLs are not loaded/);
    await context.close();
  }, 120_000);
});
