// The side of a Trainer that owns the engine and the model: it answers requests (compile, load, fit, evaluate,
// predict, weights, save) and reports fit's progress as events. The worker entry (src/worker/entry.ts) runs it in
// a dedicated Worker and talks to it by postMessage; the main-thread fallback (src/worker/trainer.ts) calls it
// directly. Everything that crosses is structured-cloneable: typed arrays, plain objects, strings.
import { ShaderflowError } from '../errors.js';
import { createEngine, type Engine, type EngineOptions } from '../gpu/engine.js';
import type { LabelInput, XInput } from '../data/batches.js';
import type { Logs } from '../model/history.js';
import { fromArtifacts, modelFromJson, toArtifacts, type ModelArtifacts, type ModelJson } from '../model/io.js';
import type { OptimizerSpec } from '../model/optimizers.js';
import type { CompileArgs, Model } from '../model/model.js';
import type { Checkpoint, Checkpointer, FitOptions } from '../model/fit.js';
import type { EvaluationReport } from '../model/evaluate.js';
import { dataFingerprint } from '../model/fingerprint.js';
import { indexedDbCheckpointer, INDEXEDDB_SCHEME, loadModel, readIndexedDbCheckpoint, saveModel } from '../model/url-io.js';

/** What a Trainer says about its model after compile or load. */
export interface TrainerModelInfo {
  name: string;
  /** Keras' summary table, one string. */
  summary: string;
  params: number;
  inputShape: number[];
  numClasses: number;
  optimizer: OptimizerSpec | null;
  /** The learning rate the optimizer uses now. */
  learningRate: number | null;
}

/** fit's options as a Trainer takes them: everything but functions, which stay in the page (see TrainerCallbacks). */
export interface TrainerFitOptions extends Omit<FitOptions, 'callbacks' | 'sink' | 'checkpoint' | 'resume' | 'onDeviceLost'> {
  /**
   * `indexeddb://NAME`: save a checkpoint at each epoch end and every `checkpointEvery` batches into IndexedDB.
   * When IndexedDB cannot be used (private mode, quota) training goes on without checkpoints and the
   * `onCheckpointError` callback says why.
   */
  checkpoint?: string;
  /** `indexeddb://NAME`: continue from that checkpoint; one of another model or other training data is refused. */
  resume?: string;
  /** Anything structured-cloneable stored with each checkpoint (indexedDbCheckpointInfo returns it). */
  checkpointNote?: unknown;
  /** Forwarded as fit's progress sink's isTTY: true gives the redrawn bar with running values (default true). */
  progressIsTTY?: boolean;
}

/** One message from the core to the page: a reply to request `id`, or an event of the fit `id`. */
export type CoreMessage =
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: { name: string; message: string } }
  | { kind: 'event'; id: number; event: TrainerEvent };

/** What a running fit reports, in order, as it goes. */
export type TrainerEvent =
  | { type: 'trainBegin' }
  | { type: 'epochBegin'; epoch: number }
  | { type: 'batchEnd'; batch: number; learningRate: number | null }
  | { type: 'epochEnd'; epoch: number; logs: Logs }
  | { type: 'trainEnd' }
  | { type: 'progress'; text: string }
  | { type: 'paused'; batch: number }
  | { type: 'checkpoint'; epoch: number; batch: number }
  | { type: 'checkpointError'; message: string }
  | { type: 'deviceLost'; attempt: number; attempts: number; reason: string; resumeAt: { epoch: number; batch: number } | null };

/** A request from the page; `op` names a TrainerCore method. */
export interface CoreRequest {
  id: number;
  op: keyof CoreOps;
  args: unknown[];
}

/** An input as sent to the core: typed arrays by reference id, the array itself the first time. */
export type WireArray = { ref: number; value?: ArrayBufferView };
/** Training or prediction inputs on the wire (see WireArray). */
export type WireInput =
  | { kind: 'images'; images: WireArray; shape: number[]; labels?: WireArray }
  | { kind: 'floats'; data: WireArray; shape: number[] }
  | { kind: 'flat'; data: WireArray };

/** The operations a core answers (the Trainer's methods, less what the page does itself). */
export interface CoreOps {
  init(o: EngineOptions): Promise<string>;
  compile(topology: ModelJson['modelTopology'], args: CompileArgs): TrainerModelInfo;
  load(source: string | { modelJson: unknown; weights: ArrayBuffer }): Promise<TrainerModelInfo>;
  info(): TrainerModelInfo;
  fit(x: WireInput, y: WireArray | undefined, o: TrainerFitOptions & { validation?: [WireInput, WireArray | undefined] }): Promise<{ epoch: number[]; history: Record<string, number[]> }>;
  evaluate(x: WireInput, y: WireArray | undefined, o: { batchSize?: number }): Promise<[number, number]>;
  evaluateReport(x: WireInput, y: WireArray | undefined, o: { batchSize?: number }): Promise<EvaluationReport>;
  predict(x: WireInput, o: { batchSize?: number }): Promise<Float32Array>;
  activations(x: WireInput, layerNames: string[] | undefined): Promise<{ name: string; shape: number[]; values: Float32Array }[]>;
  getWeights(): Promise<{ name: string; shape: number[]; values: Float32Array }[]>;
  setWeights(w: { name: string; shape: number[]; values: Float32Array }[]): void;
  toArtifacts(): Promise<ModelArtifacts>;
  save(url: string): Promise<void>;
  pause(): void;
  resume(): void;
  stop(): void;
  loseDevice(): void;
  forget(refs: number[]): void;
  dispose(): void;
}

/** Runs a Trainer's requests against one engine and one model; `emit` sends replies and events to the page. */
export class TrainerCore implements CoreOps {
  private engine?: Engine;
  private model?: Model;
  private arrays = new Map<number, ArrayBufferView>();
  private paused = false;
  private resumeFit: (() => void) | null = null;
  private fitting = false;
  private stopRequested = false;
  private fitId = 0;

  constructor(private readonly emit: (m: CoreMessage, transfer?: Transferable[]) => void) {}

  /** Answers one request: runs the operation and emits its reply (errors as {name, message}). */
  async handle(req: CoreRequest): Promise<void> {
    try {
      const fn = (this as unknown as Record<string, (...a: unknown[]) => unknown>)[req.op];
      if (typeof fn !== 'function' || req.op === ('handle' as string)) throw new ShaderflowError(`Trainer: unknown operation ${JSON.stringify(req.op)}.`);
      if (req.op === 'fit') this.fitId = req.id;
      const value = await fn.apply(this, req.args);
      const transfer = value instanceof Float32Array ? [value.buffer] : [];
      this.emit({ kind: 'reply', id: req.id, ok: true, value }, transfer);
    } catch (e) {
      const err = e as Error;
      this.emit({ kind: 'reply', id: req.id, ok: false, error: { name: err?.name ?? 'Error', message: err?.message ?? String(e) } });
    }
  }

  async init(o: EngineOptions): Promise<string> {
    this.engine ??= await createEngine(o);
    return this.engine.describe();
  }

  private requireEngine(): Engine {
    if (!this.engine) throw new ShaderflowError('Trainer: not started (createTrainer starts it).');
    return this.engine;
  }

  private requireModel(what: string): Model {
    if (!this.model) throw new ShaderflowError(`Trainer.${what}: no model yet; call compile(model, args) or load(url) first.`);
    return this.model;
  }

  private replaceModel(m: Model): TrainerModelInfo {
    if (this.fitting) {
      m.dispose();
      throw new ShaderflowError('Trainer: a fit is running; stop() it and wait for it before compiling or loading another model.');
    }
    this.model?.dispose();
    this.model = m;
    return this.info();
  }

  compile(topology: ModelJson['modelTopology'], args: CompileArgs): TrainerModelInfo {
    // Sequential or functional: the same topology model.json holds (built-in and registered layers only).
    const { model: m } = modelFromJson({ modelTopology: topology });
    m.compile(this.requireEngine(), args);
    return this.replaceModel(m);
  }

  async load(source: string | { modelJson: unknown; weights: ArrayBuffer }): Promise<TrainerModelInfo> {
    const engine = this.requireEngine();
    const m = typeof source === 'string' ? await loadModel(engine, source) : fromArtifacts(engine, source.modelJson, source.weights);
    return this.replaceModel(m);
  }

  info(): TrainerModelInfo {
    const m = this.requireModel('info');
    const lines: string[] = [];
    m.summary((l) => lines.push(l));
    return {
      name: m.name,
      summary: lines.join('\n'),
      params: m.countParams(),
      inputShape: m.inputShape,
      numClasses: m.numClasses,
      optimizer: m.optimizer ? { ...m.optimizer } : null,
      learningRate: learningRateOf(m),
    };
  }

  private array(w: WireArray): ArrayBufferView {
    if (w.value) this.arrays.set(w.ref, w.value);
    const a = this.arrays.get(w.ref);
    if (!a) throw new ShaderflowError(`Trainer: input array ${w.ref} was never sent (or forgotten); pass the array again.`);
    return a;
  }

  private input(x: WireInput): XInput {
    if (x.kind === 'images') return { images: this.array(x.images) as Uint8Array, shape: x.shape, labels: x.labels ? (this.array(x.labels) as Uint8Array) : undefined };
    if (x.kind === 'floats') return { data: this.array(x.data) as Float32Array, shape: x.shape };
    return this.array(x.data) as Float32Array;
  }

  private labels(y: WireArray | undefined): LabelInput {
    return y ? (this.array(y) as LabelInput) : undefined;
  }

  async fit(
    wx: WireInput,
    wy: WireArray | undefined,
    o: TrainerFitOptions & { validation?: [WireInput, WireArray | undefined] },
  ): Promise<{ epoch: number[]; history: Record<string, number[]> }> {
    const model = this.requireModel('fit');
    if (this.fitting) throw new ShaderflowError('Trainer.fit: a fit is already running; wait for it (or stop() it) first.');
    const id = this.fitId;
    const event = (e: TrainerEvent) => this.emit({ kind: 'event', id, event: e });
    const x = this.input(wx);
    const y = this.labels(wy);
    const { checkpoint, resume, checkpointNote, progressIsTTY, validation, checkpointEvery, ...fitOpts } = o;
    const data = resume ? dataFingerprint(x, y) : undefined;
    let checkpointer: Checkpointer | undefined;
    if (checkpoint) {
      if (!checkpoint.startsWith(INDEXEDDB_SCHEME)) throw new ShaderflowError(`Trainer.fit: checkpoint "${checkpoint.slice(0, 80)}" must be indexeddb://NAME.`);
      const inner = indexedDbCheckpointer(checkpoint, model, { everySteps: checkpointEvery, note: checkpointNote });
      let failed = false;
      checkpointer = {
        everySteps: checkpointEvery,
        save: async (c: Checkpoint) => {
          if (failed) return;
          try {
            await inner.save(c);
            event({ type: 'checkpoint', epoch: c.epoch, batch: c.batch });
          } catch (e) {
            // Storage is a convenience: without it, training goes on and the page says why.
            failed = true;
            event({ type: 'checkpointError', message: (e as Error).message });
          }
        },
      };
    }
    let resumeFrom: Checkpoint | undefined;
    if (resume) {
      if (!resume.startsWith(INDEXEDDB_SCHEME)) throw new ShaderflowError(`Trainer.fit: resume "${resume.slice(0, 80)}" must be indexeddb://NAME.`);
      resumeFrom = await readIndexedDbCheckpoint(resume, { model, data });
      if (!resumeFrom) throw new ShaderflowError(`Trainer.fit: there is no checkpoint at ${resume} to resume from.`);
    }
    this.fitting = true;
    this.paused = false;
    this.stopRequested = false;
    // fit clears stopTraining once its kernels are compiled: a stop() asked for meanwhile is set again here.
    const stopIfAsked = () => {
      if (this.stopRequested) model.stopTraining = true;
    };
    try {
      const history = await model.fit(x, y, {
        ...fitOpts,
        validationData: validation ? [this.input(validation[0]), this.labels(validation[1])] : undefined,
        checkpoint: checkpointer,
        resume: resumeFrom,
        onDeviceLost: ({ attempt, attempts, reason, resumeAt, engine }) => {
          this.engine = engine; // recoverFromDeviceLoss moved the model to a new engine
          event({ type: 'deviceLost', attempt, attempts, reason, resumeAt });
        },
        sink: { isTTY: progressIsTTY ?? true, write: (text: string) => event({ type: 'progress', text }) },
        callbacks: {
          onTrainBegin: () => {
            stopIfAsked();
            event({ type: 'trainBegin' });
          },
          onEpochBegin: (epoch) => event({ type: 'epochBegin', epoch }),
          onBatchEnd: async (batch) => {
            stopIfAsked();
            event({ type: 'batchEnd', batch, learningRate: learningRateOf(model) });
            if (this.paused && !model.stopTraining) {
              event({ type: 'paused', batch });
              await new Promise<void>((resolve) => (this.resumeFit = resolve));
            }
          },
          onEpochEnd: (epoch, logs) => event({ type: 'epochEnd', epoch, logs }),
          onTrainEnd: () => event({ type: 'trainEnd' }),
        },
      });
      return history.toJSON();
    } finally {
      this.fitting = false;
      this.paused = false;
      this.resumeFit = null;
    }
  }

  async evaluate(x: WireInput, y: WireArray | undefined, o: { batchSize?: number }): Promise<[number, number]> {
    return this.requireModel('evaluate').evaluate(this.input(x), this.labels(y), { batchSize: o.batchSize });
  }

  async evaluateReport(x: WireInput, y: WireArray | undefined, o: { batchSize?: number }): Promise<EvaluationReport> {
    return this.requireModel('evaluateReport').evaluate(this.input(x), this.labels(y), { batchSize: o.batchSize, confusionMatrix: true });
  }

  async predict(x: WireInput, o: { batchSize?: number }): Promise<Float32Array> {
    return this.requireModel('predict').predict(this.input(x), o);
  }

  async activations(x: WireInput, layerNames: string[] | undefined): Promise<{ name: string; shape: number[]; values: Float32Array }[]> {
    return this.requireModel('activations').activations(this.input(x), layerNames);
  }

  getWeights(): Promise<{ name: string; shape: number[]; values: Float32Array }[]> {
    return this.requireModel('getWeights').getWeights();
  }

  setWeights(w: { name: string; shape: number[]; values: Float32Array }[]): void {
    this.requireModel('setWeights').setWeights(w);
  }

  toArtifacts(): Promise<ModelArtifacts> {
    return toArtifacts(this.requireModel('toArtifacts'));
  }

  save(url: string): Promise<void> {
    return saveModel(this.requireModel('save'), url);
  }

  /** Pauses the running fit at its next batch end (nothing is lost; resume() continues it). */
  pause(): void {
    if (this.fitting) this.paused = true;
  }

  resume(): void {
    this.paused = false;
    const r = this.resumeFit;
    this.resumeFit = null;
    r?.();
  }

  /** Ends the running fit after the current batch (fit resolves with the history so far). */
  stop(): void {
    if (this.fitting) this.stopRequested = true;
    if (this.model) this.model.stopTraining = true;
    this.resume();
  }

  /** Destroys the model's WebGPU device, as a GPU reset would: for trying out fit's recoverFromDeviceLoss. */
  loseDevice(): void {
    (this.model?.engine ?? this.engine)?.device.destroy();
  }

  /** Drops input arrays the page no longer needs. */
  forget(refs: number[]): void {
    for (const r of refs) this.arrays.delete(r);
  }

  dispose(): void {
    this.stop();
    this.model?.dispose();
    this.model = undefined;
    this.arrays.clear();
  }
}

/** The optimizer's current learning rate: a settable rate where the model has one, else the compiled rate. */
function learningRateOf(m: Model): number | null {
  const lr = (m.optimizer as { learningRate?: unknown } | undefined)?.learningRate;
  return typeof lr === 'number' ? lr : null;
}
