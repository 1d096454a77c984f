// The page's side of training in a dedicated Worker: createTrainer() starts the worker bundle
// (dist/browser/shaderflow-worker.js, src/worker/entry.ts), which finds its own WebGPU adapter and runs compile,
// fit, evaluate and predict there, so the page's main thread only draws. Where there is no Worker, the worker
// cannot start, or WebGPU is not offered to workers, the same Trainer runs on this thread and says why
// (`fallbackReason`). Progress, logs, pause/resume/stop and weights cross by postMessage.
import { DatasetError, DeviceError, ModelFormatError, NumericError, ShaderflowError, ShapeError, StorageError } from '../errors.js';
import type { EngineOptions } from '../gpu/engine.js';
import type { LabelInput, XInput } from '../data/batches.js';
import type { Logs } from '../model/history.js';
import { topologyOf, type ModelArtifacts } from '../model/io.js';
import type { CompileArgs, Model } from '../model/model.js';
import type { EvaluationReport } from '../model/evaluate.js';
import { downloadArtifacts, DOWNLOADS_SCHEME } from '../model/url-io.js';
import { TrainerCore, type CoreMessage, type CoreOps, type TrainerEvent, type TrainerFitOptions, type TrainerModelInfo, type WireArray, type WireInput } from './core.js';

export type { TrainerFitOptions, TrainerModelInfo, TrainerEvent };

/** How createTrainer starts. */
export interface TrainerOptions {
  /**
   * Where to train: true (default) a dedicated module Worker running `workerUrl`, falling back to this thread
   * where that is not possible; false this thread; or a Worker you started from the worker bundle.
   */
  worker?: boolean | Worker;
  /** The worker bundle (default: shaderflow-worker.js beside this module, as `npm run build` writes them). */
  workerUrl?: string | URL;
  /** createEngine's options (adapterClass, powerPreference, autotune) for the trainer's engine. */
  engine?: EngineOptions;
  /** How long the worker may take to start and find an adapter before the trainer falls back (default 30 s). */
  startTimeoutMs?: number;
}

/**
 * What a trainer's fit reports. Called as the worker's messages arrive; unlike fit's own callbacks they are not
 * awaited (the worker does not wait for the page): pause with trainer.pause(), stop with trainer.stop().
 */
export interface TrainerCallbacks {
  /** After the kernels are compiled, before the first step: the "compiling kernels" state ends here. */
  onTrainBegin?: () => void;
  /** After the last epoch (or the one where the fit was stopped). */
  onTrainEnd?: () => void;
  /** Before each epoch (0-based; a resumed fit numbers them as the original run). */
  onEpochBegin?: (epoch: number) => void;
  /** logs: loss, accuracy, val_loss, val_accuracy (those that apply). */
  onEpochEnd?: (epoch: number, logs: Logs) => void;
  /** After each batch is submitted, with the learning rate the optimizer uses now. */
  onBatchEnd?: (batch: number, info: { learningRate: number | null }) => void;
  /** Keras' progress text as fit writes it (lines and bar redraws, with \r and \n). */
  onProgress?: (text: string) => void;
  /** The fit has stopped at a batch end after pause(); resume() continues it. */
  onPaused?: (batch: number) => void;
  /** A checkpoint was saved (the epoch and batch a resumed fit would start at). */
  onCheckpoint?: (at: { epoch: number; batch: number }) => void;
  /** Saving a checkpoint failed (no IndexedDB, quota): no further checkpoints this fit; training goes on. */
  onCheckpointError?: (message: string) => void;
  /** The device was lost and fit recovered on a new one (fit's recoverFromDeviceLoss); training goes on from resumeAt. */
  onDeviceLost?: (info: { attempt: number; attempts: number; reason: string; resumeAt: { epoch: number; batch: number } | null }) => void;
}

/** A Trainer's fit options: fit's, with the validation data and the page-side callbacks. */
export interface TrainerFitCall extends TrainerFitOptions {
  validationData?: [XInput, LabelInput];
  callbacks?: TrainerCallbacks;
}

/** fit's History as plain data. */
export interface HistoryData {
  epoch: number[];
  history: Record<string, number[]>;
}

/** Trains a model away from the page's main thread (or on it, as a fallback): see createTrainer. */
export interface Trainer {
  /** Where the model lives and trains. */
  readonly where: 'worker' | 'main thread';
  /** Why the trainer is not in a worker although one was asked for, or null. */
  readonly fallbackReason: string | null;
  /** The trainer's adapter (engine.describe()). */
  readonly adapter: string;
  /** Compiles a copy of `model` (its layers, as model.json describes them) in the trainer; initial weights from the seed. */
  compile(model: Model, args: CompileArgs): Promise<TrainerModelInfo>;
  /** Loads a model: a URL (indexeddb://NAME, http(s)://…/model.json) or model.json + weights bytes. */
  load(source: string | { modelJson: unknown; weights: ArrayBuffer }): Promise<TrainerModelInfo>;
  /** The current model's summary, size, optimizer and learning rate. */
  info(): Promise<TrainerModelInfo>;
  /**
   * Model.fit in the trainer. Arrays are sent once and then known by identity (the same buffer, offset and
   * length): a second fit on the same data sends nothing. Do not change an array after passing it.
   */
  fit(x: XInput, y: LabelInput, o?: TrainerFitCall): Promise<HistoryData>;
  /** Model.evaluate in the trainer: [loss, accuracy]. */
  evaluate(x: XInput, y: LabelInput, o?: { batchSize?: number }): Promise<[number, number]>;
  /** Model.evaluate with `confusionMatrix: true` in the trainer: loss, accuracy, every compiled metric and the confusion matrix, counted on the GPU. */
  evaluateReport(x: XInput, y: LabelInput, o?: { batchSize?: number }): Promise<EvaluationReport>;
  /** Model.predict in the trainer: the outputs, row-major [n, classes] (may run while a fit is paused or between its steps). */
  predict(x: XInput, o?: { batchSize?: number }): Promise<Float32Array>;
  /** Model.activations in the trainer: the named layers' outputs (default all) for the inputs x. */
  activations(x: XInput, layerNames?: string[]): Promise<{ name: string; shape: number[]; values: Float32Array }[]>;
  /** The model's weights, named as in model.json. */
  getWeights(): Promise<{ name: string; shape: number[]; values: Float32Array }[]>;
  /** Replaces the model's weights (as getWeights gives them). */
  setWeights(w: { name: string; shape: number[]; values: Float32Array }[]): Promise<void>;
  /** model.json's content and the weights bytes, as toArtifacts gives them. */
  toArtifacts(): Promise<ModelArtifacts>;
  /** saveModel by URL: indexeddb://NAME (in the trainer) or downloads://NAME (in the page). */
  save(url: string): Promise<void>;
  /** Pauses the running fit at its next batch end; nothing is lost. */
  pause(): void;
  /** Continues a paused fit. */
  resume(): void;
  /** Ends the running fit after the current batch; its promise resolves with the history so far. */
  stop(): void;
  /** Destroys the trainer's WebGPU device, as a GPU reset would (to try out fit's recoverFromDeviceLoss). */
  loseDevice(): void;
  /** Frees the model and ends the worker. */
  terminate(): void;
}

const ERRORS: Record<string, new (m: string) => Error> = { ShaderflowError, ShapeError, DatasetError, DeviceError, NumericError, ModelFormatError, StorageError };

type Send = (id: number, op: keyof CoreOps, args: unknown[], transfer: Transferable[]) => void;

/** The page-side proxy: numbered requests, replies and fit events routed back by number. */
class TrainerClient implements Trainer {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private fits = new Map<number, TrainerCallbacks>();
  private sent = new WeakMap<ArrayBuffer, Map<string, number>>();
  private nextRef = 1;
  private send!: Send;
  private stopWorker: () => void = () => {};
  adapter = '';

  constructor(
    readonly where: 'worker' | 'main thread',
    readonly fallbackReason: string | null,
    /** Whether arrays cross a structured clone (a worker): then they are sent as compact copies, transferred. */
    private readonly copies: boolean,
  ) {}

  connect(send: Send, stop: () => void): void {
    this.send = send;
    this.stopWorker = stop;
  }

  /** Routes one message from the core. */
  receive(m: CoreMessage): void {
    if (m.kind === 'event') {
      const cb = this.fits.get(m.id);
      if (cb) dispatchEvent(cb, m.event);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    this.fits.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else {
      const Cls = ERRORS[m.error.name] ?? Error;
      const err = new Cls(m.error.message);
      if (!(m.error.name in ERRORS)) err.name = m.error.name;
      p.reject(err);
    }
  }

  /** Fails every pending request (the worker died). */
  failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.fits.clear();
  }

  call<T>(op: keyof CoreOps, args: unknown[], transfer: Transferable[] = [], callbacks?: TrainerCallbacks): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (callbacks) this.fits.set(id, callbacks);
      try {
        this.send(id, op, args, transfer);
      } catch (e) {
        this.pending.delete(id);
        this.fits.delete(id);
        reject(e as Error);
      }
    });
  }

  private wireArray(a: ArrayBufferView, keep: boolean, transfer: Transferable[]): WireArray {
    const key = `${a.constructor.name}:${a.byteOffset}:${a.byteLength}`;
    const buf = a.buffer as ArrayBuffer;
    const known = this.sent.get(buf)?.get(key);
    if (known !== undefined) return { ref: known };
    let value = a;
    if (this.copies) {
      // A structured clone of a view copies its whole buffer: send just the view's bytes, and transfer the copy.
      value = (a as Uint8Array).slice();
      transfer.push(value.buffer as ArrayBuffer);
    }
    if (!keep) return { ref: 0, value };
    const ref = this.nextRef++;
    let m = this.sent.get(buf);
    if (!m) this.sent.set(buf, (m = new Map()));
    m.set(key, ref);
    return { ref, value };
  }

  private wireInput(x: XInput, keep: boolean, transfer: Transferable[]): WireInput {
    if (x instanceof Float32Array) return { kind: 'flat', data: this.wireArray(x, keep, transfer) };
    if ('images' in x) return { kind: 'images', images: this.wireArray(x.images, keep, transfer), shape: [...x.shape], labels: x.labels ? this.wireLabels(x.labels, keep, transfer) : undefined };
    return { kind: 'floats', data: this.wireArray(x.data, keep, transfer), shape: [...x.shape] };
  }

  private wireLabels(y: LabelInput | ArrayLike<number>, keep: boolean, transfer: Transferable[]): WireArray | undefined {
    if (y === undefined) return undefined;
    return this.wireArray(ArrayBuffer.isView(y) ? y : Float64Array.from(y as ArrayLike<number>), keep, transfer);
  }

  compile(model: Model, args: CompileArgs): Promise<TrainerModelInfo> {
    return this.call('compile', [topologyOf(model), args]);
  }

  load(source: string | { modelJson: unknown; weights: ArrayBuffer }): Promise<TrainerModelInfo> {
    return this.call('load', [source]);
  }

  info(): Promise<TrainerModelInfo> {
    return this.call('info', []);
  }

  fit(x: XInput, y: LabelInput, o: TrainerFitCall = {}): Promise<HistoryData> {
    const { validationData, callbacks, ...rest } = o;
    const transfer: Transferable[] = [];
    const wx = this.wireInput(x, true, transfer);
    const wy = this.wireLabels(y, true, transfer);
    const validation = validationData ? ([this.wireInput(validationData[0], true, transfer), this.wireLabels(validationData[1], true, transfer)] as const) : undefined;
    return this.call('fit', [wx, wy, { ...rest, validation }], transfer, callbacks ?? {});
  }

  evaluate(x: XInput, y: LabelInput, o: { batchSize?: number } = {}): Promise<[number, number]> {
    const transfer: Transferable[] = [];
    return this.call('evaluate', [this.wireInput(x, false, transfer), this.wireLabels(y, false, transfer), o], transfer);
  }

  evaluateReport(x: XInput, y: LabelInput, o: { batchSize?: number } = {}): Promise<EvaluationReport> {
    const transfer: Transferable[] = [];
    return this.call('evaluateReport', [this.wireInput(x, false, transfer), this.wireLabels(y, false, transfer), o], transfer);
  }

  predict(x: XInput, o: { batchSize?: number } = {}): Promise<Float32Array> {
    const transfer: Transferable[] = [];
    return this.call('predict', [this.wireInput(x, false, transfer), o], transfer);
  }

  activations(x: XInput, layerNames?: string[]): Promise<{ name: string; shape: number[]; values: Float32Array }[]> {
    const transfer: Transferable[] = [];
    return this.call('activations', [this.wireInput(x, false, transfer), layerNames], transfer);
  }

  getWeights(): Promise<{ name: string; shape: number[]; values: Float32Array }[]> {
    return this.call('getWeights', []);
  }

  setWeights(w: { name: string; shape: number[]; values: Float32Array }[]): Promise<void> {
    return this.call('setWeights', [w]);
  }

  toArtifacts(): Promise<ModelArtifacts> {
    return this.call('toArtifacts', []);
  }

  async save(url: string): Promise<void> {
    // A worker has no document to download from: the page does that part.
    if (url.startsWith(DOWNLOADS_SCHEME)) return downloadArtifacts(await this.toArtifacts(), url.slice(DOWNLOADS_SCHEME.length) || 'model');
    return this.call('save', [url]);
  }

  pause(): void {
    void this.call('pause', []);
  }

  resume(): void {
    void this.call('resume', []);
  }

  stop(): void {
    void this.call('stop', []);
  }

  loseDevice(): void {
    void this.call('loseDevice', []);
  }

  terminate(): void {
    void this.call('dispose', []).catch(() => {});
    this.stopWorker();
    this.failAll(new ShaderflowError('Trainer: terminated.'));
  }
}

function dispatchEvent(cb: TrainerCallbacks, e: TrainerEvent): void {
  try {
    switch (e.type) {
      case 'trainBegin':
        return cb.onTrainBegin?.();
      case 'trainEnd':
        return cb.onTrainEnd?.();
      case 'epochBegin':
        return cb.onEpochBegin?.(e.epoch);
      case 'epochEnd':
        return cb.onEpochEnd?.(e.epoch, e.logs);
      case 'batchEnd':
        return cb.onBatchEnd?.(e.batch, { learningRate: e.learningRate });
      case 'progress':
        return cb.onProgress?.(e.text);
      case 'paused':
        return cb.onPaused?.(e.batch);
      case 'checkpoint':
        return cb.onCheckpoint?.({ epoch: e.epoch, batch: e.batch });
      case 'checkpointError':
        return cb.onCheckpointError?.(e.message);
      case 'deviceLost':
        return cb.onDeviceLost?.({ attempt: e.attempt, attempts: e.attempts, reason: e.reason, resumeAt: e.resumeAt });
    }
  } catch (err) {
    // A page callback's bug must not lose the worker's later messages.
    console.error('shaderflow Trainer callback failed:', err);
  }
}

function mainThreadTrainer(o: TrainerOptions, reason: string | null): Promise<Trainer> {
  const client = new TrainerClient('main thread', reason, false);
  const core = new TrainerCore((m) => client.receive(m));
  client.connect((id, op, args) => void core.handle({ id, op, args }), () => {});
  return client.call<string>('init', [o.engine ?? {}]).then((adapter) => {
    client.adapter = adapter;
    return client;
  });
}

/**
 * Starts a Trainer: a dedicated module Worker running the worker bundle, with its own WebGPU engine, where
 * compile, fit, evaluate and predict run, and the page only receives progress (see TrainerCallbacks). Where
 * Workers are missing, the worker does not start, or it finds no WebGPU adapter, the trainer runs on this thread
 * instead and `fallbackReason` says why; it rejects (a DeviceError) only when this thread has no WebGPU either.
 */
export async function createTrainer(o: TrainerOptions = {}): Promise<Trainer> {
  if (o.worker === false) return mainThreadTrainer(o, null);
  const WorkerCtor = (globalThis as { Worker?: typeof Worker }).Worker;
  if (!(o.worker instanceof Object) && typeof WorkerCtor !== 'function') return mainThreadTrainer(o, 'this browser offers no Worker');
  let worker: Worker;
  try {
    worker = typeof o.worker === 'object' ? o.worker : new WorkerCtor!(o.workerUrl ?? new URL('./shaderflow-worker.js', import.meta.url), { type: 'module', name: 'shaderflow-trainer' });
  } catch (e) {
    return mainThreadTrainer(o, `the worker could not be started (${(e as Error).message})`);
  }
  const client = new TrainerClient('worker', null, true);
  client.connect(
    (id, op, args, transfer) => worker.postMessage({ id, op, args }, transfer),
    () => worker.terminate(),
  );
  let started = false;
  const died = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (ev) => {
      const e = new ShaderflowError(`the worker failed${ev.message ? `: ${ev.message}` : ' to load (is shaderflow-worker.js served beside shaderflow.js?)'}`);
      ev.preventDefault();
      client.failAll(e);
      reject(e);
    });
    setTimeout(() => {
      if (!started) reject(new ShaderflowError(`the worker did not start within ${(o.startTimeoutMs ?? 30_000) / 1000} s`));
    }, o.startTimeoutMs ?? 30_000);
  });
  died.catch(() => {});
  worker.addEventListener('message', (ev: MessageEvent<CoreMessage>) => client.receive(ev.data));
  worker.addEventListener('messageerror', () => client.failAll(new ShaderflowError('Trainer: a message from the worker could not be read.')));
  try {
    client.adapter = await Promise.race([client.call<string>('init', [o.engine ?? {}]), died]);
    started = true;
    return client;
  } catch (e) {
    worker.terminate();
    const why = e instanceof DeviceError ? `WebGPU is not available in a worker here (${e.message.split('\n')[0]})` : (e as Error).message;
    return mainThreadTrainer(o, why);
  }
}
