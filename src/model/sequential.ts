// The Keras-style Sequential model: shape inference at add(), summary(), compile(), fit(), evaluate(),
// predict(). Whole-step scheduling: compile allocates the parameter arena (weights, gradients, optimizer state);
// the first fit for a batch size allocates every activation and gradient buffer once; a training step (gather
// batch, forward, loss, backward, one optimizer dispatch) is recorded once per batch size and replayed with no
// allocation and no readback. Loss and accuracy accumulate on the GPU and are read back asynchronously only when
// the progress bar or an epoch end needs them.
import { NumericError, ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { median, Recorder } from '../gpu/recorder.js';
import { prepareTuning } from '../kernels/autotune.js';
import { buildPlan, H200, type GpuSpec, type Plan } from './plan.js';
import { Tensor } from '../gpu/tensor.js';
import { activationForward } from '../kernels/activation.js';
import { initialize } from '../kernels/initializer.js';
import { crossEntropyFromProbs, meanSquaredError, softmaxCrossEntropy } from '../kernels/loss.js';
import { flagNonFinite } from '../kernels/finite.js';
import { incrementStep } from '../kernels/optimizer.js';
import { mulberry32 } from '../reference/random.js';
import { permutation } from '../data/preprocess.js';
import { Dense } from '../layers/dense.js';
import { Layer, sliceBatch, type StepContext } from '../layers/layer.js';
import { makeBatchSource, type BatchSource, type LabelInput, type XInput } from './data.js';
import { History, type Callbacks, type Logs } from './history.js';
import { stepProfile, type StepProfile } from './profile.js';
import { optimizerStateCount, parseOptimizer, recordOptimizerStep, type OptimizerSpec } from './optimizers.js';
import { defaultSink, Progbar, type ProgressSink, type Verbosity } from './progress.js';

/** The losses (Keras' names; aliases such as `mse` are accepted by compile). */
export type LossName = 'categorical_crossentropy' | 'sparse_categorical_crossentropy' | 'mean_squared_error';

/** What compile takes (Keras' compile). */
export interface CompileArgs {
  optimizer: string | OptimizerSpec;
  loss: string;
  metrics?: string[];
  /** Seeds the initializers, dropout masks and shuffling (default 0). */
  seed?: number;
}

/** What fit takes (Keras' fit arguments, and shaderflow's checkpointing and NaN guard). */
export interface FitOptions {
  batchSize?: number;
  epochs?: number;
  validationData?: [XInput, LabelInput];
  validationSplit?: number;
  shuffle?: boolean;
  verbose?: Verbosity;
  callbacks?: Callbacks;
  /** Seeds this fit's shuffling (default: the compile seed). */
  seed?: number;
  /** Where progress goes (default stdout). */
  sink?: ProgressSink;
  /**
   * Check the loss, logits and gradients for NaN/Inf (a GPU flag, read at each readback: progress bar,
   * checkpoint, epoch end) and stop with a NumericError naming epoch and batch (default true).
   */
  nanGuard?: boolean;
  /**
   * Saves a checkpoint at each epoch end (and every `everySteps` batches if set): a folder (in Node, written by
   * src/node.ts fileCheckpointer) or any {save}.
   */
  checkpoint?: string | Checkpointer;
  /** With `checkpoint: DIR`: also save every this many batches (default 0: epoch ends only). */
  checkpointEvery?: number;
  /** Continues from a checkpoint made by a fit with the same data, batch size and seed: the object, or (Node) its folder. */
  resume?: Checkpoint | string;
}

/** Where fit saves checkpoints. */
export interface Checkpointer {
  /** Stores the checkpoint (atomically: a crash must leave the previous one intact). */
  save(c: Checkpoint): Promise<void>;
  /** Also save every this many batches within an epoch (default: epoch ends only). */
  everySteps?: number;
}

/** How fit opens a checkpoint folder given as a string; the Node entry (src/node.ts) fills this in. */
export const checkpointFolders: {
  open?: (dir: string, model: Sequential, o: { everySteps?: number }) => Checkpointer;
  read?: (dir: string) => Promise<Checkpoint | undefined>;
} = {};

/** Everything a fit needs to continue exactly where it stopped. */
export interface Checkpoint {
  /** The epoch to run next (0-based) and the batch within it to start at. */
  epoch: number;
  batch: number;
  batchSize: number;
  trainCount: number;
  seed: number;
  /** The epoch's running [lossSum, correct, count, nonFinite]. */
  stats: number[];
  weights: { name: string; shape: number[]; values: Float32Array }[];
  optimizer: { step: number; tensors: Float32Array[] };
  history: { epoch: number[]; history: Record<string, number[]> };
}

interface ParamSlot {
  layer: Layer;
  index: number;
  name: string;
  shape: number[];
  offset: number; // in floats
  size: number;
}

const LOSS_ALIASES: Record<string, LossName> = {
  categorical_crossentropy: 'categorical_crossentropy',
  categoricalcrossentropy: 'categorical_crossentropy',
  sparse_categorical_crossentropy: 'sparse_categorical_crossentropy',
  sparsecategoricalcrossentropy: 'sparse_categorical_crossentropy',
  mean_squared_error: 'mean_squared_error',
  meansquarederror: 'mean_squared_error',
  mse: 'mean_squared_error',
};

let modelCount = 0;

/** A stack of layers trained as one (Keras' Sequential): summary, compile, fit, evaluate, predict, weights and optimizer state. */
export class Sequential {
  readonly name: string;
  readonly layers: Layer[] = [];
  /** Set true from a callback to stop fit after the current batch (Keras' model.stop_training). */
  stopTraining = false;

  engine?: Engine;
  optimizer?: OptimizerSpec;
  loss?: LossName;
  metrics: string[] = [];
  seed = 0;

  private slots: ParamSlot[] = [];
  private params?: Tensor;
  private grads?: Tensor;
  private optState: Tensor[] = [];
  private stepState?: Tensor;
  private trainStats?: Tensor;
  private evalStats?: Tensor;
  private startBuffer?: GPUBuffer;
  private maxBatch = 0;
  private xBuf?: Tensor;
  private yBuf?: Tensor;
  private outBuf?: Tensor;
  private dOutBuf?: Tensor;
  private fusedSoftmax = false;
  private disposed = false;

  constructor(layers: Layer[] = [], opts: { name?: string } = {}) {
    this.name = opts.name ?? (modelCount++ === 0 ? 'sequential' : `sequential_${modelCount - 1}`);
    for (const l of layers) this.add(l);
  }

  /** Appends a layer; with a known input shape the layer is built now, so shape errors name it at once. */
  add(layer: Layer): this {
    if (this.engine) throw new ShaderflowError(`Model "${this.name}": add layers before compile().`);
    if (this.layers.length === 0) {
      if (layer.declaredInputShape) layer.build(layer.declaredInputShape);
    } else {
      if (layer.declaredInputShape && this.layers.length > 0) {
        // Keras ignores input_shape on later layers; we only check it agrees.
        const prev = this.layers[this.layers.length - 1]!;
        if (prev.built && shapeStr(prev.outputShape) !== shapeStr(layer.declaredInputShape))
          throw new ShapeError(
            `Layer "${layer.name}" (${layer.className}) declares input shape ${shapeStr(layer.declaredInputShape)} but the previous layer "${prev.name}" outputs ${shapeStr(prev.outputShape)}.`,
          );
      }
      const prev = this.layers[this.layers.length - 1]!;
      if (prev.built) this.buildLayer(layer, prev);
    }
    this.layers.push(layer);
    return this;
  }

  private buildLayer(layer: Layer, prev: Layer): void {
    try {
      layer.build(prev.outputShape);
    } catch (e) {
      if (e instanceof ShapeError)
        throw new ShapeError(`${e.message} (it follows "${prev.name}" (${prev.className}), whose output shape is ${shapeStr(prev.outputShape)})`);
      throw e;
    }
  }

  /** Builds every layer from the first layer's input shape. */
  build(): void {
    if (this.layers.length === 0) throw new ShaderflowError(`Model "${this.name}" has no layers: add() some first.`);
    const first = this.layers[0]!;
    if (!first.built) {
      if (!first.declaredInputShape)
        throw new ShapeError(
          `Layer "${first.name}" (${first.className}) is the first layer but has no input shape: give it inputShape (e.g. inputShape: [28, 28, 1]) or inputDim.`,
        );
      first.build(first.declaredInputShape);
    }
    for (let i = 1; i < this.layers.length; i++) if (!this.layers[i]!.built) this.buildLayer(this.layers[i]!, this.layers[i - 1]!);
  }

  get inputShape(): number[] {
    this.build();
    return this.layers[0]!.inputShape;
  }

  get outputShape(): number[] {
    this.build();
    return this.layers[this.layers.length - 1]!.outputShape;
  }

  /** Number of trainable parameters of all layers. */
  countParams(): number {
    this.build();
    return this.layers.reduce((s, l) => s + l.paramCount(), 0);
  }

  /** Keras' summary table (the classic 65-column layout of the seed course). Returns it and prints it unless print is false. */
  summary(print: boolean | ((line: string) => void) = true): string {
    this.build();
    const positions = [29, 55, 65];
    const row = (fields: string[]): string => {
      let line = '';
      fields.forEach((f, i) => {
        line += f;
        line = line.slice(0, positions[i]);
        line += ' '.repeat(Math.max(0, positions[i]! - line.length));
      });
      return line;
    };
    const lines = [`Model: "${this.name}"`, '_'.repeat(65), row(['Layer (type)', 'Output Shape', 'Param #']), '='.repeat(65)];
    this.layers.forEach((l, i) => {
      lines.push(row([`${l.name} (${l.className})`, `(None, ${l.outputShape.join(', ')})`, String(l.paramCount())]));
      lines.push(i === this.layers.length - 1 ? '='.repeat(65) : '_'.repeat(65));
    });
    const total = this.countParams();
    const fmt = (n: number) => n.toLocaleString('en-US');
    lines.push(`Total params: ${fmt(total)}`, `Trainable params: ${fmt(total)}`, 'Non-trainable params: 0', '_'.repeat(65));
    const text = lines.join('\n');
    if (print === true) console.log(text);
    else if (typeof print === 'function') for (const l of lines) print(l);
    return text;
  }

  // ------------------------------------------------------------------ compile

  /** Builds, allocates the parameter arena and optimizer state on `engine`, and initialises the weights (seeded). */
  compile(engine: Engine, args: CompileArgs): this {
    if (this.disposed) throw new ShaderflowError(`Model "${this.name}" was disposed.`);
    this.build();
    const loss = LOSS_ALIASES[args.loss.toLowerCase().replace(/[^a-z_]/g, '')];
    if (!loss) throw new ShaderflowError(`Unknown loss "${args.loss}": use 'categorical_crossentropy', 'sparse_categorical_crossentropy' or 'mean_squared_error'.`);
    const metrics = (args.metrics ?? []).map((m) => (m === 'acc' ? 'accuracy' : m));
    for (const m of metrics) if (m !== 'accuracy') throw new ShaderflowError(`Unknown metric "${m}": 'accuracy' is supported.`);
    if (this.outputShape.length !== 1)
      throw new ShapeError(`Model "${this.name}": the last layer outputs ${shapeStr(this.outputShape)}; a loss needs [classes] (add Flatten/Dense).`);
    const firstCompile = !this.engine;
    if (this.engine && this.engine !== engine) throw new ShaderflowError(`Model "${this.name}" is already compiled on another engine.`);
    this.engine = engine;
    this.loss = loss;
    this.metrics = metrics;
    this.seed = args.seed ?? this.seed;
    this.layers.forEach((l, i) => (l.id = i));
    const last = this.layers[this.layers.length - 1]!;
    this.fusedSoftmax = loss !== 'mean_squared_error' && last instanceof Dense && last.activation === 'softmax';
    if (last instanceof Dense) last.emitLogits = this.fusedSoftmax;
    const optimizer = parseOptimizer(args.optimizer);

    if (firstCompile) {
      this.allocateArena(engine);
      this.initializeWeights();
      this.stepState = engine.zeros([4], 'u32');
      this.trainStats = engine.zeros([4]);
      this.evalStats = engine.zeros([4]);
      this.startBuffer = engine.acquire(16, 'storage');
    }
    // (Re)compiling resets the optimizer state, as in Keras.
    for (const t of this.optState) t.dispose();
    this.optimizer = optimizer;
    this.optState = Array.from({ length: optimizerStateCount(optimizer) }, () => engine.zeros([this.params!.size]));
    this.releaseBatchBuffers();
    return this;
  }

  private allocateArena(engine: Engine): void {
    // Each parameter starts on a storage-binding offset boundary so a layer binds its own weights directly.
    const align = Math.max(1, engine.limits.minStorageBufferOffsetAlignment / 4);
    let offset = 0;
    this.slots = [];
    for (const layer of this.layers) {
      layer.paramSpecs().forEach((spec, index) => {
        const size = spec.shape.reduce((a, b) => a * b, 1);
        this.slots.push({ layer, index, name: `${layer.name}/${spec.name}`, shape: spec.shape, offset, size });
        offset += Math.ceil(size / align) * align;
      });
    }
    const total = Math.max(offset, 1);
    // The optimizer binds the whole arena at once: check it against the device limits before allocating anything.
    const limit = bindingLimit(engine);
    if (total * 4 > limit) {
      const sizes = this.layers.map((l) => ({ l, bytes: l.paramCount() * 4 })).sort((a, b) => b.bytes - a.bytes);
      const big = sizes[0]!;
      throw new ShapeError(
        `Model "${this.name}": its ${total.toLocaleString('en-US')} parameters need a ${total * 4} byte buffer, over this adapter's limit of ${limit} bytes per storage buffer (maxStorageBufferBindingSize/maxBufferSize). ` +
          `The largest layer is "${big.l.name}" (${big.l.className}, ${big.l.paramSpecs().map((p) => shapeStr(p.shape)).join(' + ')}: ${big.bytes} bytes). Use fewer units/filters or a smaller input.`,
      );
    }
    this.params = engine.zeros([total]);
    this.grads = engine.zeros([total]);
    for (const layer of this.layers) {
      layer.weights = [];
      layer.grads = [];
    }
    for (const s of this.slots) {
      s.layer.weights[s.index] = Tensor.view(engine, this.params.buffer, s.offset * 4, s.shape);
      s.layer.grads[s.index] = Tensor.view(engine, this.grads.buffer, s.offset * 4, s.shape);
    }
  }

  private initializeWeights(): void {
    const engine = this.engine!;
    const rec = new Recorder(engine, 'initialize weights');
    try {
      this.slots.forEach((s, i) => {
        const spec = s.layer.paramSpecs()[s.index]!;
        initialize(rec, s.layer.weights[s.index]!, spec, (this.seed * 1000003 + i * 7919) >>> 0);
      });
      rec.run();
    } finally {
      rec.dispose();
    }
  }

  get compiled(): boolean {
    return !!this.engine && !!this.optimizer;
  }

  private requireCompiled(what: string): Engine {
    if (this.disposed) throw new ShaderflowError(`Model "${this.name}" was disposed; ${what} needs a live model.`);
    if (!this.engine || !this.loss) throw new ShaderflowError(`Model "${this.name}": call compile(engine, {optimizer, loss}) before ${what}.`);
    this.engine.assertAlive(`${this.name}.${what}`);
    return this.engine;
  }

  /** Awaits every layer's async checks (custom WGSL layers compile and dry-run their kernels) before the first step. */
  private async layersReady(engine: Engine): Promise<void> {
    for (const l of this.layers) if (l.ready) await l.ready(engine);
  }

  get numClasses(): number {
    return this.outputShape[0]!;
  }

  private get sparse(): boolean {
    return this.loss === 'sparse_categorical_crossentropy';
  }

  /** Allocates every per-batch buffer for batches up to `batch` (once per batch size; reused across fits). */
  private prepare(batch: number, virtual = false): void {
    if (batch <= this.maxBatch && this.xBuf) return;
    const engine = this.engine!;
    this.releaseBatchBuffers();
    // Every per-batch buffer is [batch, ...a layer's input or output shape]: check them against the device limits
    // first (placeholders of a dry plan hold no memory, so no limit applies to them).
    const limit = virtual ? Infinity : bindingLimit(engine);
    for (const l of this.layers) {
      const per = Math.max(shapeSize(l.inputShape), shapeSize(l.outputShape));
      if (batch * per * 4 > limit)
        throw new ShapeError(
          `Layer "${l.name}" (${l.className}): a batch of ${batch} needs a ${batch * per * 4} byte buffer for its ${shapeStr(per === shapeSize(l.outputShape) ? l.outputShape : l.inputShape)} activations, over this adapter's limit of ${limit} bytes per storage buffer. Use a batch size of at most ${Math.max(1, Math.floor(limit / (per * 4)))}.`,
        );
    }
    this.maxBatch = batch;
    for (const l of this.layers) l.allocate(engine, batch);
    const c = this.numClasses;
    this.xBuf = engine.empty([batch, ...this.inputShape]);
    this.yBuf = this.sparse ? engine.empty([batch], 'u32') : engine.empty([batch, c]);
    this.outBuf = engine.empty([batch, c]);
    this.dOutBuf = engine.empty([batch, c]);
  }

  private releaseBatchBuffers(): void {
    for (const l of this.layers) l.release();
    for (const t of [this.xBuf, this.yBuf, this.outBuf, this.dOutBuf]) t?.dispose();
    this.xBuf = this.yBuf = this.outBuf = this.dOutBuf = undefined;
    this.maxBatch = 0;
  }

  private context(n: number, training: boolean): StepContext {
    return { engine: this.engine!, n, training, stepState: this.stepState!.buffer, seed: this.seed };
  }

  /** Records the forward pass of n examples from xBuf; returns the last layer's output (logits when fused). */
  private recordForward(rec: Recorder, n: number, training: boolean): Tensor {
    const ctx = this.context(n, training);
    let x = sliceBatch(this.xBuf!, n);
    for (const l of this.layers) x = l.forward(rec, x, ctx);
    return x;
  }

  /** Records the loss (and its gradient into dOut when training) and accumulates stats. */
  private recordLoss(rec: Recorder, out: Tensor, n: number, stats: Tensor, withGrad: boolean): void {
    const c = this.numClasses;
    const y = sliceBatch(this.yBuf!, n);
    const probs = sliceBatch(this.outBuf!, n);
    const dOut = withGrad ? sliceBatch(this.dOutBuf!, n) : null;
    const opts = { gradScale: 1 / n, sparse: this.sparse };
    if (this.fusedSoftmax) softmaxCrossEntropy(rec, out, y, probs, dOut, stats, n, c, opts);
    else if (this.loss === 'mean_squared_error') meanSquaredError(rec, out, y, dOut, stats, n, c, opts);
    else crossEntropyFromProbs(rec, out, y, dOut, stats, n, c, opts);
  }

  /** One training step; with `guard`, a dispatch after the backward pass flags non-finite gradients (the NaN guard). */
  private recordTrainStep(data: BatchSource, order: Tensor, n: number, guard = true, dry = false): Recorder {
    const engine = this.engine!;
    const rec = new Recorder(engine, `${this.name} train step (batch ${n})`, { dry });
    incrementStep(rec, this.stepState!.buffer);
    data.recordGather(rec, order, this.startBuffer!, n, sliceBatch(this.xBuf!, n), sliceBatch(this.yBuf!, n), { sparse: this.sparse });
    const out = this.recordForward(rec, n, true);
    this.recordLoss(rec, out, n, this.trainStats!, true);
    let dy: Tensor | null = sliceBatch(this.dOutBuf!, n);
    const ctx = this.context(n, true);
    for (let i = this.layers.length - 1; i >= 0 && dy; i--) dy = this.layers[i]!.backward(rec, dy, ctx, i > 0);
    if (guard) flagNonFinite(rec, this.grads!, this.stepState!.buffer);
    recordOptimizerStep(rec, this.optimizer!, this.params!, this.grads!, this.optState, this.stepState!.buffer);
    return rec;
  }

  private recordEvalStep(data: BatchSource, order: Tensor, n: number, wantProbs: boolean, dry = false): Recorder {
    const rec = new Recorder(this.engine!, `${this.name} ${wantProbs ? 'predict' : 'evaluate'} step (batch ${n})`, { dry });
    data.recordGather(rec, order, this.startBuffer!, n, sliceBatch(this.xBuf!, n), sliceBatch(this.yBuf!, n), { sparse: this.sparse });
    const out = this.recordForward(rec, n, false);
    if (wantProbs) {
      if (this.fusedSoftmax) activationForward(rec, 'softmax', out, sliceBatch(this.outBuf!, n), n, this.numClasses);
      else rec.copy(out, sliceBatch(this.outBuf!, n), n * this.numClasses * 4);
    } else this.recordLoss(rec, out, n, this.evalStats!, false);
    return rec;
  }

  /**
   * Compiles the pipelines of the given (dry) recordings with createComputePipelineAsync, in parallel, so that
   * recording and running the real steps compiles nothing synchronously.
   */
  private async compileSteps(...records: (() => Recorder)[]): Promise<void> {
    const specs = records.flatMap((record) => {
      const rec = record();
      try {
        return rec.pipelineSpecs();
      } finally {
        rec.dispose();
      }
    });
    await this.engine!.compilePipelines(specs);
  }

  private writeStart(start: number): void {
    this.engine!.device.queue.writeBuffer(this.startBuffer!, 0, new Uint32Array([start, 0, 0, 0]));
  }

  /** The stats, and (when not finite) how many examples the epoch had counted before the first bad batch (-1 if unknown). */
  private async readStats(stats: Tensor): Promise<StatsSummary> {
    return summarizeStats(await stats.data());
  }

  private clearStats(stats: Tensor): void {
    stats.write(new Float32Array(4));
  }

  // ------------------------------------------------------------------ fit

  /** Trains on (x, y) and returns the History (Keras' fit). Each step is recorded once and replayed; the host reads back only the statistics. */
  async fit(x: XInput, y: LabelInput, opts: FitOptions = {}): Promise<History> {
    const engine = this.requireCompiled('fit');
    await this.layersReady(engine);
    const batchSize = opts.batchSize ?? 32;
    const epochs = opts.epochs ?? 1;
    const verbose: Verbosity = opts.verbose ?? 1;
    const sink = opts.sink ?? defaultSink();
    const shuffle = opts.shuffle ?? true;
    const nanGuard = opts.nanGuard ?? true;
    const seed = opts.seed ?? this.seed;
    const cb = opts.callbacks ?? {};
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ShaderflowError(`fit: batchSize must be a positive whole number, got ${batchSize}.`);
    const folders = (what: string): Required<typeof checkpointFolders> => {
      if (!checkpointFolders.open || !checkpointFolders.read)
        throw new ShaderflowError(`fit: ${what} names a folder, which needs the Node entry point; elsewhere pass {save(checkpoint)} / the Checkpoint object.`);
      return checkpointFolders as Required<typeof checkpointFolders>;
    };
    const checkpointer = typeof opts.checkpoint === 'string' ? folders('checkpoint').open(opts.checkpoint, this, { everySteps: opts.checkpointEvery }) : opts.checkpoint;
    const resume = typeof opts.resume === 'string' ? await readFolder(folders('resume'), opts.resume) : opts.resume;

    let train = makeBatchSource(engine, x, y, this.inputShape, this.numClasses, 'training data');
    let val: BatchSource | undefined;
    const owned: BatchSource[] = [train];
    if (opts.validationData) {
      try {
        val = makeBatchSource(engine, opts.validationData[0], opts.validationData[1], this.inputShape, this.numClasses, 'validation data');
      } catch (e) {
        train.dispose();
        throw e;
      }
      owned.push(val);
    } else if (opts.validationSplit && opts.validationSplit > 0) {
      // Keras takes the last fraction of the data, before any shuffling, splitting at floor(n * (1 - split)).
      const splitAt = Math.floor(train.count * (1 - opts.validationSplit));
      if (splitAt < 1 || splitAt >= train.count) {
        train.dispose();
        throw new ShaderflowError(`fit: validationSplit ${opts.validationSplit} leaves no training or validation examples.`);
      }
      val = train.slice(splitAt, train.count);
      train = train.slice(0, splitAt);
    }
    if (resume && (resume.batchSize !== batchSize || resume.trainCount !== train.count || resume.seed !== seed)) {
      for (const s of owned) s.dispose();
      throw new ShaderflowError(
        `fit: the checkpoint was made with batch size ${resume.batchSize}, seed ${resume.seed} on ${resume.trainCount} examples; this fit has ${batchSize}, seed ${seed} on ${train.count}. Resume with the same data and settings.`,
      );
    }
    const trainOrder = engine.empty([train.count], 'u32');
    const valOrder = val ? engine.tensor([val.count], identityOrder(val)) : undefined;
    try {
      // One allocation for both training and validation batches: the recorded steps bind these buffers.
      this.prepare(Math.min(batchSize, Math.max(train.count, val?.count ?? 0, 1)));
      if (resume) {
        this.setWeights(resume.weights);
        this.setOptimizerState(resume.optimizer);
      }
    } catch (e) {
      trainOrder.dispose();
      valOrder?.dispose();
      for (const s of owned) s.dispose();
      throw e;
    }
    // Kernel variants are timed per shape before the first step is recorded (cached per adapter; a no-op when the
    // autotune is off or every choice is cached).
    const firstN = Math.min(batchSize, train.count);
    await prepareTuning(engine, () => this.recordTrainStep(train, trainOrder, firstN, nanGuard, true));
    await this.compileSteps(() => this.recordTrainStep(train, trainOrder, firstN, nanGuard, true), () => this.recordTrainStep(train, trainOrder, train.count % batchSize || firstN, nanGuard, true));
    const steps = new Map<number, Recorder>();
    const stepFor = (n: number): Recorder => {
      let r = steps.get(n);
      if (!r) steps.set(n, (r = this.recordTrainStep(train, trainOrder, n, nanGuard)));
      return r;
    };
    const history = new History();
    let firstEpoch = 0;
    let firstBatch = 0;
    if (resume) {
      for (const [k, v] of Object.entries(resume.history.history)) history.history[k] = [...v];
      history.epoch.push(...resume.history.epoch);
      firstEpoch = resume.epoch;
      firstBatch = resume.batch;
    }
    const stepsPerEpoch = Math.ceil(train.count / batchSize);
    /**
     * Reads the epoch's stats and the step state together (both copies are submitted at once, after the same
     * steps) and, with the NaN guard on, throws a NumericError naming the epoch and the first batch (1-based)
     * whose loss/logits (the loss kernel's flag) or gradients (flagNonFinite's step) were not finite.
     */
    const readGuarded = async (epoch: number, batchesDone: number): Promise<{ stats: number[]; s: StatsSummary }> => {
      const [stats, state] = await Promise.all([this.trainStats!.data(), this.stepState!.data<Uint32Array>()]);
      const s = summarizeStats(stats);
      const [t, badStep] = [state[0]!, state[1]!];
      if (nanGuard && (s.nonFinite || badStep > 0)) {
        const lossBatch = s.countBeforeBad >= 0 ? Math.floor(s.countBeforeBad / batchSize) + 1 : Infinity;
        const gradBatch = badStep > 0 ? badStep - (t - batchesDone) : Infinity;
        const first = Math.min(lossBatch, gradBatch);
        const what = lossBatch === gradBatch ? 'loss and gradients' : first === gradBatch ? 'gradients' : 'loss';
        const where = Number.isFinite(first) && first >= 1 ? `at batch ${first}/${stepsPerEpoch}` : `by batch ${batchesDone}/${stepsPerEpoch}`;
        throw new NumericError(
          `fit: the ${what} became NaN or infinite in epoch ${epoch + 1}/${epochs} ${where}. Training stopped${checkpointer ? '; the last good checkpoint is kept' : ''}. Lower the learning rate, check the inputs for NaN/Inf, or pass nanGuard: false to train on regardless.`,
        );
      }
      return { stats: Array.from(stats), s };
    };
    const saveCheckpoint = async (epoch: number, batch: number): Promise<void> => {
      if (!checkpointer) return;
      await engine.sync(`checkpoint (epoch ${epoch + 1}, batch ${batch})`);
      // Never overwrite a good checkpoint with non-finite weights (batch 0 here is the end of the previous epoch).
      const { stats } = await readGuarded(batch === 0 ? epoch - 1 : epoch, batch === 0 ? stepsPerEpoch : batch);
      await checkpointer.save({
        epoch,
        batch,
        batchSize,
        trainCount: train.count,
        seed,
        stats,
        weights: await this.getWeights(),
        optimizer: await this.getOptimizerState(),
        history: history.toJSON(),
      });
    };
    this.stopTraining = false;
    this.engine!.device.queue.writeBuffer(this.stepState!.buffer, 4, new Uint32Array([0])); // the gradient flag: clear
    if (verbose > 0) sink.write(`Train on ${train.count} samples${val ? `, validate on ${val.count} samples` : ''}\n`);
    try {
      await cb.onTrainBegin?.();
      for (let epoch = firstEpoch; epoch < epochs && !this.stopTraining; epoch++) {
        await cb.onEpochBegin?.(epoch);
        if (verbose > 0) sink.write(`Epoch ${epoch + 1}/${epochs}\n`);
        // Each epoch's order depends only on (seed, epoch), so a resumed run shuffles exactly as the original.
        trainOrder.write(shuffle ? permutation(train.count, (seed * 2654435761 + epoch * 40503 + 0x5eed) >>> 0, train.base) : identityOrder(train));
        const resumeHere = resume && epoch === firstEpoch && firstBatch > 0;
        if (resumeHere) this.trainStats!.write(Float32Array.from(resume.stats));
        else this.clearStats(this.trainStats!);
        const bar = new Progbar(train.count, verbose, sink);
        const inFlight: Promise<unknown>[] = [];
        let shown: Record<string, number> = {};
        let reading: Promise<void> | null = null;
        let readError: unknown = null;
        let lastRead = 0;
        let batchesDone = resumeHere ? firstBatch : 0; // fewer than stepsPerEpoch when a callback stops training
        for (let batch = batchesDone; batch < stepsPerEpoch && !this.stopTraining; batch++) {
          const start = batch * batchSize;
          const n = Math.min(batchSize, train.count - start);
          engine.assertAlive(`fit (epoch ${epoch + 1}, batch ${batch + 1})`);
          this.writeStart(start);
          stepFor(n).run();
          batchesDone = batch + 1;
          // Keep at most two steps queued: the GPU never idles, the host never races ahead unboundedly.
          const done = engine.device.queue.onSubmittedWorkDone();
          done.catch(() => {}); // awaited below; never an unhandled rejection if the device is lost meanwhile
          inFlight.push(done);
          if (inFlight.length > 2) await inFlight.shift();
          await cb.onBatchEnd?.(batch);
          if (verbose === 1 && sink.isTTY && !reading && Date.now() - lastRead > 250) {
            lastRead = Date.now();
            const b = batch + 1;
            reading = readGuarded(epoch, b).then(
              ({ s }) => {
                shown = this.logValues(s.loss, s.accuracy, '');
                reading = null;
              },
              (e: unknown) => {
                readError = e;
                reading = null;
              },
            );
          }
          if (readError) throw readError;
          bar.update(start + n, shown);
          const every = checkpointer?.everySteps ?? 0;
          if (every > 0 && (batch + 1) % every === 0 && batch + 1 < stepsPerEpoch) {
            await Promise.all(inFlight.splice(0));
            await saveCheckpoint(epoch, batch + 1);
          }
        }
        await Promise.all(inFlight);
        if (reading) await reading;
        if (readError) throw readError;
        const { s: tr } = await readGuarded(epoch, batchesDone);
        const logs: Logs = this.logValues(tr.loss, tr.accuracy, '');
        if (val && valOrder) Object.assign(logs, this.logValues(...(await this.evaluateSource(val, valOrder, batchSize)), 'val_'));
        bar.finish(logs);
        history.record(epoch, logs);
        if (!this.stopTraining) await saveCheckpoint(epoch + 1, 0);
        await cb.onEpochEnd?.(epoch, logs);
      }
      await cb.onTrainEnd?.();
    } finally {
      for (const r of steps.values()) r.dispose();
      trainOrder.dispose();
      valOrder?.dispose();
      for (const s of owned) s.dispose();
    }
    return history;
  }

  private logValues(loss: number, accuracy: number, prefix: string): Logs {
    const logs: Logs = { [`${prefix}loss`]: loss };
    if (this.metrics.includes('accuracy')) logs[`${prefix}accuracy`] = accuracy;
    return logs;
  }

  private async evaluateSource(data: BatchSource, order: Tensor, batchSize: number): Promise<[number, number]> {
    if (!this.xBuf) this.prepare(Math.min(batchSize, Math.max(data.count, 1)));
    const bs = Math.min(batchSize, this.maxBatch);
    const recs = new Map<number, Recorder>();
    if (data.count > 0) await this.compileSteps(() => this.recordEvalStep(data, order, Math.min(bs, data.count), false, true), () => this.recordEvalStep(data, order, data.count % bs || Math.min(bs, data.count), false, true));
    this.clearStats(this.evalStats!);
    try {
      for (let start = 0; start < data.count; start += bs) {
        const n = Math.min(bs, data.count - start);
        let r = recs.get(n);
        if (!r) recs.set(n, (r = this.recordEvalStep(data, order, n, false)));
        this.writeStart(start);
        r.run();
      }
      const s = await this.readStats(this.evalStats!);
      return [s.loss, s.accuracy];
    } finally {
      for (const r of recs.values()) r.dispose();
    }
  }

  /** [loss, accuracy] over (x, y), in batches. */
  async evaluate(x: XInput, y: LabelInput, opts: { batchSize?: number; verbose?: Verbosity; sink?: ProgressSink } = {}): Promise<[number, number]> {
    const engine = this.requireCompiled('evaluate');
    await this.layersReady(engine);
    const data = makeBatchSource(engine, x, y, this.inputShape, this.numClasses, 'evaluation data');
    const order = engine.tensor([data.count], identityOrder(data));
    try {
      const bar = new Progbar(data.count, opts.verbose ?? 0, opts.sink ?? defaultSink());
      const result = await this.evaluateSource(data, order, opts.batchSize ?? 32);
      bar.finish(this.logValues(result[0], result[1], ''));
      return result;
    } finally {
      order.dispose();
      data.dispose();
    }
  }

  /** Output probabilities (or values) for every example, row-major [n, outputs]. */
  async predict(x: XInput, opts: { batchSize?: number } = {}): Promise<Float32Array> {
    const engine = this.requireCompiled('predict');
    await this.layersReady(engine);
    const data = makeBatchSource(engine, x, undefined, this.inputShape, this.numClasses, 'prediction input');
    const order = engine.tensor([data.count], identityOrder(data));
    const c = this.numClasses;
    const result = new Float32Array(data.count * c);
    if (!this.xBuf) this.prepare(Math.min(opts.batchSize ?? 32, Math.max(data.count, 1)));
    const bs = Math.min(opts.batchSize ?? 32, this.maxBatch);
    const recs = new Map<number, Recorder>();
    try {
      if (data.count > 0) await this.compileSteps(() => this.recordEvalStep(data, order, Math.min(bs, data.count), true, true), () => this.recordEvalStep(data, order, data.count % bs || Math.min(bs, data.count), true, true));
      for (let start = 0; start < data.count; start += bs) {
        const n = Math.min(bs, data.count - start);
        let r = recs.get(n);
        if (!r) recs.set(n, (r = this.recordEvalStep(data, order, n, true)));
        this.writeStart(start);
        r.run();
        result.set(await sliceBatch(this.outBuf!, n).data(), start * c);
      }
      return result;
    } finally {
      for (const r of recs.values()) r.dispose();
      order.dispose();
      data.dispose();
    }
  }

  /**
   * Times `steps` training steps (after `warmup`) on random data of one batch; ms per step, for the benchmarks.
   * 'sync' (default): each step submitted and waited for, one time per step. 'pipelined': all `steps` submitted
   * back to back and waited for once at the end, one time (the mean per step) in the returned array.
   */
  async timeTrainSteps(o: { batchSize: number; steps: number; warmup?: number; mode?: 'sync' | 'pipelined' }): Promise<number[]> {
    const engine = this.requireCompiled('timeTrainSteps');
    return this.withBenchmarkStep(o.batchSize, async (rec) => {
      const warmup = o.warmup ?? 2;
      for (let i = 0; i < warmup; i++) {
        rec.run();
        await engine.sync('benchmark step');
      }
      if (o.mode === 'pipelined') {
        const t0 = performance.now();
        for (let i = 0; i < o.steps; i++) rec.run();
        await engine.sync('benchmark steps');
        return [(performance.now() - t0) / o.steps];
      }
      const times: number[] = [];
      for (let i = 0; i < o.steps; i++) {
        const t0 = performance.now();
        rec.run();
        await engine.sync('benchmark step');
        times.push(performance.now() - t0);
      }
      return times;
    });
  }

  /**
   * Every operation of one training step of batch `batchSize` (recorded as fit records it) with its kernel
   * variant, workgroups and measured time: GPU timestamps around one compute pass per dispatch where the device
   * has 'timestamp-query', else each operation replayed alone by wall clock (src/gpu/recorder.ts `profile`).
   * Also the synchronous step time (median of `steps` steps, each waited for) measured in the same call. Runs on
   * random data; the weights, gradients, optimizer and step state and stats are saved on the GPU first and put
   * back afterwards, so the model is exactly as it was.
   */
  async profile(batchSize = 32, opts: { steps?: number; runs?: number } = {}): Promise<StepProfile> {
    const engine = this.requireCompiled('profile');
    return this.withBenchmarkStep(batchSize, async (rec) => {
      const restore = this.saveTrainingState();
      try {
        const steps = opts.steps ?? 5;
        rec.run(); // warm-up
        await engine.sync('profile warm-up');
        const times: number[] = [];
        for (let i = 0; i < steps; i++) {
          const t0 = performance.now();
          rec.run();
          await engine.sync('profile step');
          times.push(performance.now() - t0);
        }
        const { method, us } = await rec.profile({ runs: opts.runs });
        return stepProfile({ model: this.name, batchSize, adapter: engine.describe(), adapterClass: engine.adapter.adapterClass, method, stepMs: median(times), plan: rec.plan(), us });
      } finally {
        await restore();
      }
    });
  }

  /** Records one training step of batch `n` on seeded random data (as fit records it), runs `fn` on it, frees it. */
  private async withBenchmarkStep<T>(n: number, fn: (rec: Recorder) => Promise<T>): Promise<T> {
    const engine = this.engine!;
    await this.layersReady(engine);
    const per = this.inputShape.reduce((a, b) => a * b, 1);
    const r = mulberry32(12345);
    const images = new Uint8Array(n * per);
    for (let i = 0; i < images.length; i++) images[i] = Math.floor(r() * 256);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) labels[i] = Math.floor(r() * this.numClasses);
    const data = makeBatchSource(engine, { images, shape: imageShape(n, this.inputShape) }, labels, this.inputShape, this.numClasses, 'benchmark data');
    const order = engine.tensor([n], identityOrder(data));
    let rec: Recorder | undefined;
    try {
      this.prepare(n);
      await prepareTuning(engine, () => this.recordTrainStep(data, order, n, true, true));
      await this.compileSteps(() => this.recordTrainStep(data, order, n, true, true));
      rec = this.recordTrainStep(data, order, n);
      this.writeStart(0);
      return await fn(rec);
    } finally {
      rec?.dispose();
      order.dispose();
      data.dispose();
    }
  }

  /**
   * Copies (on the GPU) everything a training step leaves behind: weights, gradients, optimizer state, step
   * state and training stats. The returned function copies them back, waits, and frees the copies.
   */
  private saveTrainingState(): () => Promise<void> {
    const engine = this.engine!;
    const tensors = [this.params!, this.grads!, ...this.optState, this.stepState!, this.trainStats!];
    const copies = tensors.map((t) => ({ t, bytes: Math.ceil(t.byteLength / 4) * 4, buf: engine.acquire(t.byteLength) }));
    const copyAll = (back: boolean) => {
      const enc = engine.device.createCommandEncoder({ label: back ? 'restore training state' : 'save training state' });
      for (const c of copies)
        if (back) enc.copyBufferToBuffer(c.buf, 0, c.t.buffer, c.t.offset, c.bytes);
        else enc.copyBufferToBuffer(c.t.buffer, c.t.offset, c.buf, 0, c.bytes);
      engine.device.queue.submit([enc.finish()]);
    };
    copyAll(false);
    return async () => {
      copyAll(true);
      try {
        await engine.sync('restoring the training state');
      } finally {
        for (const c of copies) engine.release(c.buf);
      }
    };
  }

  /** Dispatches recorded in one training step of batch `n` (for the benchmark's report). */
  dispatchesPerStep(n = 32): number {
    const engine = this.requireCompiled('dispatchesPerStep');
    this.prepare(n);
    const per = this.inputShape.reduce((a, b) => a * b, 1);
    const data = makeBatchSource(engine, { images: new Uint8Array(n * per), shape: imageShape(n, this.inputShape) }, new Uint8Array(n), this.inputShape, this.numClasses, 'count');
    const order = engine.tensor([n], identityOrder(data));
    const rec = this.recordTrainStep(data, order, n);
    const count = rec.dispatchCount;
    rec.dispose();
    order.dispose();
    data.dispose();
    return count;
  }

  /**
   * Every operation of one recorded training step of batch `batchSize` (label, kernel variant, workgroups,
   * threads, serial loop, FLOPs, bytes) and its modeled time on `gpu` (default the H200; src/model/plan.ts says
   * what the model assumes). Records without compiling or running anything; uses the engine's current tuning.
   */
  plan(batchSize = 32, gpu: GpuSpec = H200): Plan {
    const engine = this.requireCompiled('plan');
    const n = batchSize;
    if (!Number.isInteger(n) || n < 1) throw new ShapeError(`${this.name}.plan: the batch size must be a whole number >= 1, got ${n}.`);
    const per = this.inputShape.reduce((a, b) => a * b, 1);
    const data = makeBatchSource(engine, { images: new Uint8Array(n * per), shape: imageShape(n, this.inputShape) }, new Uint8Array(n), this.inputShape, this.numClasses, 'plan');
    const order = engine.tensor([n], identityOrder(data));
    // The batch buffers and scratch of the plan are placeholders (no GPU memory), so a plan can be made for a batch
    // this adapter could not hold; the real ones are allocated again by the next fit, evaluate or predict.
    this.releaseBatchBuffers();
    try {
      return engine.withVirtualBuffers(() => {
        this.prepare(n, true);
        const rec = this.recordTrainStep(data, order, n, true, true);
        try {
          return buildPlan(rec.plan(), gpu);
        } finally {
          rec.dispose();
        }
      });
    } finally {
      this.releaseBatchBuffers();
      order.dispose();
      data.dispose();
    }
  }

  // ------------------------------------------------------------------ weights

  /** Every parameter as {name, shape, values}, in model order (TF.js weight names: layer/kernel, layer/bias). */
  async getWeights(): Promise<{ name: string; shape: number[]; values: Float32Array }[]> {
    this.requireCompiled('getWeights');
    const all = await this.params!.data();
    return this.slots.map((s) => ({ name: s.name, shape: s.shape, values: all.slice(s.offset, s.offset + s.size) }));
  }

  /**
   * The gradients of the mean loss with respect to every parameter, from the last training step (what the
   * optimizer applied), named like getWeights. Zeros before the first step. For inspection and gradient checks.
   */
  async getGradients(): Promise<{ name: string; shape: number[]; values: Float32Array }[]> {
    this.requireCompiled('getGradients');
    const all = await this.grads!.data();
    return this.slots.map((s) => ({ name: s.name, shape: s.shape, values: all.slice(s.offset, s.offset + s.size) }));
  }

  /** Replaces parameters by name (all must be present with matching shapes). */
  setWeights(weights: { name: string; shape: number[]; values: Float32Array }[]): void {
    this.requireCompiled('setWeights');
    const byName = new Map(weights.map((w) => [w.name, w]));
    for (const s of this.slots) {
      const w = byName.get(s.name);
      if (!w) throw new ShaderflowError(`setWeights: no values for "${s.name}" ${shapeStr(s.shape)}.`);
      if (w.values.length !== s.size || shapeStr(w.shape) !== shapeStr(s.shape))
        throw new ShapeError(`setWeights: "${s.name}" expects ${shapeStr(s.shape)}, got ${shapeStr(w.shape)} with ${w.values.length} values.`);
      s.layer.weights[s.index]!.write(w.values);
    }
  }

  /** Optimizer state (arena-sized tensors) and the step counter, for checkpoints. */
  async getOptimizerState(): Promise<{ step: number; tensors: Float32Array[] }> {
    this.requireCompiled('getOptimizerState');
    const step = (await this.stepState!.data<Uint32Array>())[0]!;
    return { step, tensors: await Promise.all(this.optState.map((t) => t.data())) };
  }

  /** Restores the optimizer's step count and state tensors (as getOptimizerState returns them); throws a ShapeError when they do not fit the model. */
  setOptimizerState(state: { step: number; tensors: Float32Array[] }): void {
    this.requireCompiled('setOptimizerState');
    if (state.tensors.length !== this.optState.length)
      throw new ShaderflowError(`setOptimizerState: ${this.optimizer!.kind} keeps ${this.optState.length} state tensors, got ${state.tensors.length}.`);
    state.tensors.forEach((t, i) => {
      if (t.length !== this.optState[i]!.size) throw new ShaderflowError(`setOptimizerState: state ${i} has ${t.length} values, expected ${this.optState[i]!.size}.`);
      this.optState[i]!.write(t);
    });
    this.stepState!.write(new Uint32Array([state.step, 0, 0, 0]));
  }

  /** Frees every GPU buffer the model owns. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.releaseBatchBuffers();
    for (const t of [this.params, this.grads, this.stepState, this.trainStats, this.evalStats, ...this.optState]) t?.dispose();
    if (this.startBuffer) this.engine?.release(this.startBuffer);
    this.optState = [];
  }
}

async function readFolder(f: Required<typeof checkpointFolders>, dir: string): Promise<Checkpoint> {
  const c = await f.read(dir);
  if (!c) throw new ShaderflowError(`fit: resume: there is no checkpoint in ${dir} (checkpoint.json is missing).`);
  return c;
}

/** The largest storage buffer this engine can allocate and bind in one piece. */
function bindingLimit(engine: Engine): number {
  return Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
}

function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

interface StatsSummary {
  loss: number;
  accuracy: number;
  count: number;
  nonFinite: boolean;
  /** Examples the epoch had counted before the first batch with a non-finite loss or logit (-1 if unknown). */
  countBeforeBad: number;
}

/** Reads [lossSum, correct, count, nonFinite] as the loss kernel accumulates them (shaders/loss.wgsl). */
function summarizeStats(stats: ArrayLike<number>): StatsSummary {
  const [lossSum, correct, count, flag] = [stats[0]!, stats[1]!, stats[2]!, stats[3]!];
  return {
    loss: lossSum / Math.max(count, 1),
    accuracy: correct / Math.max(count, 1),
    count,
    nonFinite: flag !== 0 || !Number.isFinite(lossSum),
    countBeforeBad: flag > 0 ? flag - 1 : -1,
  };
}

/** base, base+1, ... for a source that is a slice of a larger dataset. */
function identityOrder(d: { count: number; base?: number }): Uint32Array {
  const o = new Uint32Array(d.count);
  for (let i = 0; i < o.length; i++) o[i] = i + (d.base ?? 0);
  return o;
}

/** A Sequential model of `layers` (Keras' keras.Sequential([...])). */
export function sequential(layers: Layer[] = [], opts: { name?: string } = {}): Sequential {
  return new Sequential(layers, opts);
}

/** An [n, h, w, c] image-set shape holding `n` examples of `inputShape` (leading 1s for flat inputs, e.g. [784]). */
function imageShape(n: number, inputShape: readonly number[]): [number, number, number, number] {
  const s = [1, 1, 1, ...inputShape].slice(-3);
  if (inputShape.length > 3) s[0] = inputShape.slice(0, inputShape.length - 2).reduce((a, b) => a * b, 1);
  return [n, s[0]!, s[1]!, s[2]!];
}
