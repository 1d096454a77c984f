// The step plan: what a model runs on the GPU, apart from the containers that describe it and the loops that drive
// it. It owns the parameter arena (params | grads | optimizer state), the step state, the train/eval statistics, the
// start buffer and the per-batch buffers, decides whether the loss is fused with a softmax, and records each training,
// evaluation or prediction step into one Recorder: gather the batch, forward over the graph's nodes in topological
// order, loss (+ statistics), backward in reverse (fan-out gradients summed in a fixed order), the NaN check, ONE
// optimizer dispatch. It never imports the model classes: it is handed the nodes (layer + input node ids).
//
// Arena layout: the parameters of trainable layers (ParamSpec.trainable !== false) come first, as one contiguous
// range; the optimizer dispatch and the NaN guard cover exactly that prefix. Frozen layers' weights and
// non-trainable state (BatchNormalization's moving statistics) follow it: no optimizer update ever touches them.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { Recorder } from '../gpu/recorder.js';
import { Tensor } from '../gpu/tensor.js';
import { activationForward } from '../kernels/activation.js';
import { initialize } from '../kernels/initializer.js';
import { crossEntropyFromProbs, meanSquaredError, softmaxCrossEntropy, sigmoidCrossEntropy, binaryCrossEntropyFromProbs } from '../kernels/loss.js';
import { flagNonFinite } from '../kernels/finite.js';
import { accumulate, add } from '../kernels/elementwise.js';
import { confusionClasses, confusionMatrix, metricCounts, type MetricCountSpec } from '../kernels/metrics.js';
import { incrementStep } from '../kernels/optimizer.js';
import { Dense } from '../layers/dense.js';
import { sliceBatch, type Layer, type MultiInputLayer, type StepContext } from '../layers/layer.js';
import { takesSeveralInputs } from '../layers/symbolic.js';
import type { BatchSource } from '../data/batches.js';
import { optimizerStateCount, recordOptimizerStep, type OptimizerSpec } from './optimizers.js';
import { LearningRate } from './learning-rate.js';
import { recordWeightGather } from './sample-weights.js';

/** The losses (Keras' names; aliases such as `mse` are accepted by compile). */
export type LossName = 'categorical_crossentropy' | 'sparse_categorical_crossentropy' | 'mean_squared_error' | 'binary_crossentropy';

/** The model input's id in `GraphNode.inputs`. */
export const MODEL_INPUT = -1;

/**
 * One application of a layer in the model's graph: the layer and the ids of the nodes whose outputs it takes
 * (indices into the node list, which is in topological order; MODEL_INPUT for the model's input). A Sequential
 * model is the chain [{l0, [-1]}, {l1, [0]}, {l2, [1]}, ...]. The last node's output is the model's output.
 */
export interface GraphNode {
  layer: Layer;
  inputs: number[];
}

/** Where one parameter lives in the arena. */
export interface ParamSlot {
  layer: Layer;
  /** Index into layer.paramSpecs(). */
  index: number;
  /** TF.js weight name: layer/param. */
  name: string;
  shape: number[];
  /** In floats, from the start of the arena. */
  offset: number;
  size: number;
  /** In the trainable prefix (the layer is trainable and the spec is not non-trainable state). */
  trainable: boolean;
}

/** A named weight as getWeights returns it. */
export interface NamedValues {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** The epoch's statistics as the loss kernel accumulates them: [lossSum, correct, count, nonFinite]. */
export interface StatsSummary {
  loss: number;
  accuracy: number;
  /** Argmax-correct examples (the loss kernel's count). */
  correct: number;
  /** The counted metrics' [num, den] pairs (StepPlan.readStats; null when none is compiled). */
  counts?: Uint32Array | null;
  count: number;
  nonFinite: boolean;
  /** Examples the epoch had counted before the first batch with a non-finite loss or logit (-1 if unknown). */
  countBeforeBad: number;
}

/** Reads [lossSum, correct, count, nonFinite] as the loss kernel accumulates them (shaders/loss.wgsl). */
export function summarizeStats(stats: ArrayLike<number>): StatsSummary {
  const [lossSum, correct, count, flag] = [stats[0]!, stats[1]!, stats[2]!, stats[3]!];
  return {
    loss: lossSum / Math.max(count, 1),
    accuracy: correct / Math.max(count, 1),
    correct,
    count,
    nonFinite: flag !== 0 || !Number.isFinite(lossSum),
    countBeforeBad: flag > 0 ? flag - 1 : -1,
  };
}

/** base, base+1, ... for a source that is a slice of a larger dataset. */
export function identityOrder(d: { count: number; base?: number }): Uint32Array {
  const o = new Uint32Array(d.count);
  for (let i = 0; i < o.length; i++) o[i] = i + (d.base ?? 0);
  return o;
}

/** The largest storage buffer this engine can allocate and bind in one piece. */
export function bindingLimit(engine: Engine): number {
  return Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize);
}

function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The parameters a layer trains: none when it is frozen, else those whose spec is not non-trainable state. */
export function trainableParamCount(layer: Layer): number {
  if (!layer.trainable) return 0;
  return layer.paramSpecs().reduce((s, p) => s + (p.trainable === false ? 0 : shapeSize(p.shape)), 0);
}

/** Recordings of one kind of step, one per batch size, made on first use and freed together (per fit/evaluate/predict). */
export class StepCache {
  private readonly steps = new Map<number, Recorder>();
  constructor(private readonly record: (n: number) => Recorder) {}

  /** The recording for batch `n` (recorded now if this is the first batch of that size). */
  get(n: number): Recorder {
    let r = this.steps.get(n);
    if (!r) this.steps.set(n, (r = this.record(n)));
    return r;
  }

  /** Frees every recording. */
  dispose(): void {
    for (const r of this.steps.values()) r.dispose();
    this.steps.clear();
  }
}

/** What a step plan is made from: the model's name (labels, errors), its graph and its input and output shapes. */
export interface StepPlanGraph {
  name: string;
  nodes: GraphNode[];
  inputShape: number[];
  outputShape: number[];
}

/** How the plan trains: the loss, the optimizer and the seed (dropout streams, initializers). Set at every compile. */
export interface StepPlanConfig {
  loss: LossName;
  optimizer: OptimizerSpec;
  seed: number;
  /** Metrics counted on the GPU after the loss (src/model/metrics.ts resolves compile's names into these). */
  metrics?: MetricCountSpec[];
}

/**
 * The parameter arena, the per-batch buffers and the recorded steps of one compiled model (see the top of this
 * file). Created at the model's first compile; `configure` is called at every compile.
 */
export class StepPlan {
  readonly engine: Engine;
  readonly name: string;
  readonly nodes: GraphNode[];
  readonly layers: Layer[];
  readonly inputShape: number[];
  readonly outputShape: number[];

  /** Every parameter, in model order (layer by layer, spec by spec); offsets put the trainable ones first. */
  slots: ParamSlot[] = [];
  params!: Tensor;
  grads!: Tensor;
  /** Floats in the trainable prefix of the arena (what the optimizer and the NaN guard cover). */
  trainableSize = 0;
  /** Optimizer state tensors, each the size of the trainable prefix. */
  optState: Tensor[] = [];
  /** u32 [t, firstBadStep, 0, 0]: t counts optimizer steps (on the GPU), firstBadStep is the NaN guard's flag. */
  readonly stepState: Tensor;
  /** [lossSum, correct, count, nonFinite] of the running epoch (training) and of an evaluation. */
  readonly trainStats: Tensor;
  readonly evalStats: Tensor;
  /** The counted metrics (one metricCounts dispatch after each loss) and their u32 [num, den] pairs, per stats tensor. */
  counted: MetricCountSpec[] = [];
  private readonly metricCounts = new Map<Tensor, Tensor>();
  /** u32 [c, c] confusion counts of the running evaluation (recordEvalStep with `confusion`), allocated on first use. */
  confusion?: Tensor;
  /** u32 [start, 0, 0, 0]: where in the (permuted) order the next batch starts; the only per-step host write. */
  readonly startBuffer: GPUBuffer;

  loss: LossName = 'categorical_crossentropy';
  optimizer?: OptimizerSpec;
  seed = 0;
  /** The loss is computed from the last Dense layer's logits (softmax fused into the cross-entropy). */
  fusedSoftmax = false;
  /** The loss is binary cross-entropy computed from the last Dense layer's logits (sigmoid fused into it). */
  fusedSigmoid = false;

  /** Per-batch buffers: sized for batches of up to maxBatch (0: none allocated). */
  maxBatch = 0;
  xBuf?: Tensor;
  yBuf?: Tensor;
  outBuf?: Tensor;
  dOutBuf?: Tensor;
  /** The batch's sample weights [batch] (allocated by the first weighted training step). */
  wBuf?: Tensor;
  /** The learning rate the optimizer dispatch reads from the GPU (set at every compile). */
  learningRate?: LearningRate;
  /** Per node with several consumers: the buffer its gradient contributions are summed into. */
  private fanInGrads = new Map<number, Tensor>();
  /** Layer.trainable as it was at the last compile (the layout and the recorded backward passes follow it). */
  private compiledTrainable: boolean[] = [];
  private disposed = false;

  constructor(engine: Engine, graph: StepPlanGraph) {
    this.engine = engine;
    this.name = graph.name;
    this.nodes = graph.nodes;
    this.layers = graph.nodes.map((n) => n.layer);
    this.inputShape = graph.inputShape;
    this.outputShape = graph.outputShape;
    this.allocateArena();
    this.stepState = engine.zeros([4], 'u32');
    this.trainStats = engine.zeros([4]);
    this.evalStats = engine.zeros([4]);
    this.startBuffer = engine.acquire(16, 'storage');
  }

  get numClasses(): number {
    return this.outputShape[0]!;
  }

  get sparse(): boolean {
    return this.loss === 'sparse_categorical_crossentropy';
  }

  /** The output layer (the last node's). */
  get outputLayer(): Layer {
    return this.nodes[this.nodes.length - 1]!.layer;
  }

  /**
   * Sets loss, optimizer and seed (every compile): the fused-loss decision, fresh optimizer state (recompiling
   * resets it, as in Keras), and, when a layer's `trainable` changed since the last compile, a new arena layout
   * (the weights are copied over on the GPU). Frees the per-batch buffers: the next step allocates them again.
   */
  configure(c: StepPlanConfig): void {
    this.requireLive('compile');
    this.loss = c.loss;
    this.seed = c.seed;
    const last = this.outputLayer;
    const crossEntropy = c.loss === 'categorical_crossentropy' || c.loss === 'sparse_categorical_crossentropy';
    this.fusedSoftmax = crossEntropy && last instanceof Dense && last.activation === 'softmax';
    this.fusedSigmoid = c.loss === 'binary_crossentropy' && last instanceof Dense && last.activation === 'sigmoid';
    if (last instanceof Dense) last.emitLogits = this.fusedSoftmax || this.fusedSigmoid;
    this.releaseBatchBuffers();
    if (this.layers.some((l, i) => l.trainable !== this.compiledTrainable[i])) this.relayoutArena();
    for (const t of this.metricCounts.values()) t.dispose();
    this.metricCounts.clear();
    this.counted = c.metrics ?? [];
    if (this.counted.length) for (const stats of [this.trainStats, this.evalStats]) this.metricCounts.set(stats, this.engine.zeros([2 * this.counted.length], 'u32'));
    for (const t of this.optState) t.dispose();
    this.optimizer = c.optimizer;
    // a fresh rate (or schedule) in its GPU buffer; the step count goes on, as stepState's does
    const iterations = this.learningRate?.iterations ?? 0;
    this.learningRate?.dispose();
    this.learningRate = new LearningRate(this.engine, c.optimizer.learningRate);
    this.learningRate.iterations = iterations;
    const size = Math.max(this.trainableSize, 4);
    this.optState = Array.from({ length: optimizerStateCount(c.optimizer) }, () => this.engine.zeros([size]));
  }

  /** Slot offsets: the trainable prefix first, then everything else; each slot on a storage-binding offset boundary. */
  private layoutSlots(): number {
    const engine = this.engine;
    // Each parameter starts on a storage-binding offset boundary so a layer binds its own weights directly.
    const align = Math.max(1, engine.limits.minStorageBufferOffsetAlignment / 4);
    this.compiledTrainable = this.layers.map((l) => l.trainable);
    const slots: ParamSlot[] = [];
    for (const layer of this.layers)
      layer.paramSpecs().forEach((spec, index) => {
        const size = shapeSize(spec.shape);
        slots.push({ layer, index, name: `${layer.name}/${spec.name}`, shape: spec.shape, offset: 0, size, trainable: layer.trainable && spec.trainable !== false });
      });
    let offset = 0;
    for (const pass of [true, false]) {
      for (const s of slots)
        if (s.trainable === pass) {
          s.offset = offset;
          offset += Math.ceil(s.size / align) * align;
        }
      if (pass) this.trainableSize = offset;
    }
    this.slots = slots;
    return Math.max(offset, 1);
  }

  private allocateArena(): void {
    const engine = this.engine;
    const total = this.layoutSlots();
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
    this.bindLayerViews();
  }

  /** Points every layer's weights[i] / grads[i] at its slot in the arena. */
  private bindLayerViews(): void {
    for (const layer of this.layers) {
      layer.weights = [];
      layer.grads = [];
    }
    for (const s of this.slots) {
      s.layer.weights[s.index] = Tensor.view(this.engine, this.params.buffer, s.offset * 4, s.shape);
      s.layer.grads[s.index] = Tensor.view(this.engine, this.grads.buffer, s.offset * 4, s.shape);
    }
  }

  /** A new layout after `trainable` changed: new arenas, every weight copied over on the GPU (queue order), old ones freed. */
  private relayoutArena(): void {
    const oldParams = this.params;
    const oldOffsets = new Map(this.slots.map((s) => [s.name, s.offset]));
    const total = this.layoutSlots();
    const params = this.engine.zeros([total]);
    const enc = this.engine.device.createCommandEncoder({ label: `${this.name}: new arena layout` });
    for (const s of this.slots) enc.copyBufferToBuffer(oldParams.buffer, oldOffsets.get(s.name)! * 4, params.buffer, s.offset * 4, s.size * 4);
    this.engine.device.queue.submit([enc.finish()]);
    oldParams.dispose();
    this.grads.dispose();
    this.params = params;
    this.grads = this.engine.zeros([total]);
    this.bindLayerViews();
  }

  /** Runs the seeded GPU initializers of every parameter (each slot its own stream, from the seed and its position). */
  initializeWeights(seed: number): void {
    const rec = new Recorder(this.engine, 'initialize weights');
    try {
      this.slots.forEach((s, i) => {
        const spec = s.layer.paramSpecs()[s.index]!;
        initialize(rec, s.layer.weights[s.index]!, spec, (seed * 1000003 + i * 7919) >>> 0);
      });
      rec.run();
    } finally {
      rec.dispose();
    }
  }

  // ------------------------------------------------------------------ per-batch buffers

  /** Allocates every per-batch buffer for batches up to `batch` (once per batch size; reused across fits). */
  prepare(batch: number, virtual = false): void {
    if (batch <= this.maxBatch && this.xBuf) return;
    const engine = this.engine;
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
    consumerCounts(this.nodes).forEach((count, id) => {
      if (count > 1) this.fanInGrads.set(id, engine.empty([batch, ...this.nodes[id]!.layer.outputShape]));
    });
  }

  /** Frees the per-batch buffers and every layer's activation buffers. */
  releaseBatchBuffers(): void {
    for (const l of this.layers) l.release();
    for (const t of [this.xBuf, this.yBuf, this.outBuf, this.dOutBuf, this.wBuf, ...this.fanInGrads.values()]) t?.dispose();
    this.fanInGrads.clear();
    this.xBuf = this.yBuf = this.outBuf = this.dOutBuf = this.wBuf = undefined;
    this.maxBatch = 0;
  }

  // ------------------------------------------------------------------ recording

  /** The context every layer gets when recording a step of n examples. */
  context(n: number, training: boolean): StepContext {
    return { engine: this.engine, n, training, stepState: this.stepState.buffer, seed: this.seed };
  }

  private checkTrainableUnchanged(): void {
    this.layers.forEach((l, i) => {
      if (l.trainable !== this.compiledTrainable[i])
        throw new ShaderflowError(`Model "${this.name}": layer "${l.name}" (${l.className}) changed trainable to ${l.trainable} after compile; call compile() again for it to take effect (as in Keras).`);
    });
  }

  /**
   * Records the forward pass of n examples from xBuf over the nodes in order; returns the output node's output
   * (logits when fused). `tap` is called with each node's output right after its forward is recorded.
   */
  recordForward(rec: Recorder, n: number, training: boolean, tap?: (id: number, out: Tensor) => void): Tensor {
    return recordGraphForward(rec, this.nodes, sliceBatch(this.xBuf!, n), this.context(n, training), tap);
  }

  /**
   * Records the backward pass from dOut over the nodes in reverse (recordGraphBackward): parameter gradients into
   * the arena (frozen layers skip theirs), no gradient for the model's input.
   */
  recordBackward(rec: Recorder, n: number): void {
    recordGraphBackward(rec, this.nodes, sliceBatch(this.dOutBuf!, n), this.context(n, true), (id) => sliceBatch(this.fanInGrads.get(id)!, n));
  }

  /**
   * Records the loss (and its gradient into dOut when training) and accumulates stats; `weights`: the batch's
   * sample weights, one per example (each example's loss and gradient times its weight, the mean still over n, as
   * Keras).
   */
  recordLoss(rec: Recorder, out: Tensor, n: number, stats: Tensor, withGrad: boolean, weights?: Tensor): void {
    const c = this.numClasses;
    const y = sliceBatch(this.yBuf!, n);
    const probs = sliceBatch(this.outBuf!, n);
    const dOut = withGrad ? sliceBatch(this.dOutBuf!, n) : null;
    const opts = { gradScale: 1 / n, sparse: this.sparse, weights };
    if (this.fusedSoftmax) softmaxCrossEntropy(rec, out, y, probs, dOut, stats, n, c, opts);
    else if (this.fusedSigmoid) sigmoidCrossEntropy(rec, out, y, probs, dOut, stats, n, c, opts);
    else if (this.loss === 'binary_crossentropy') binaryCrossEntropyFromProbs(rec, out, y, dOut, stats, n, c, opts);
    else if (this.loss === 'mean_squared_error') meanSquaredError(rec, out, y, dOut, stats, n, c, opts);
    else crossEntropyFromProbs(rec, out, y, dOut, stats, n, c, opts);
  }

  /** The u32 metric counts accumulated beside `stats` (trainStats or evalStats); undefined when no metric is counted. */
  countsOf(stats: Tensor): Tensor | undefined {
    return this.metricCounts.get(stats);
  }

  /**
   * Records the counted metrics of the batch into the counts beside `stats`: on probabilities (the fused softmax's
   * output in outBuf), else on the model's output.
   */
  recordMetrics(rec: Recorder, out: Tensor, n: number, stats: Tensor): void {
    const counts = this.countsOf(stats);
    if (!counts) return;
    metricCounts(rec, this.probabilities(out, n), sliceBatch(this.yBuf!, n), counts, n, this.numClasses, this.counted, { sparse: this.sparse });
  }

  /** The batch's output as probabilities: where the last layer emits logits for a fused loss, the loss kernel's probabilities (outBuf). */
  private probabilities(out: Tensor, n: number): Tensor {
    const last = this.outputLayer;
    return last instanceof Dense && last.emitLogits ? sliceBatch(this.outBuf!, n) : out;
  }

  /**
   * The u32 [k, k] confusion counts evaluation steps with `confusion` add into (k = classes, or 2 for one output;
   * allocated on the first call, zeroed by clearStats(evalStats)).
   */
  confusionCounts(): Tensor {
    const k = confusionClasses(this.numClasses);
    this.confusion ??= this.engine.zeros([k, k], 'u32');
    return this.confusion;
  }

  /**
   * Records the batch's confusion counts: the argmax of the output (what the loss kernel's accuracy compares), or
   * for one output its probability against 0.5.
   */
  private recordConfusion(rec: Recorder, out: Tensor, n: number): void {
    if (!this.confusion) throw new ShaderflowError(`${this.name}: call confusionCounts() before recording an evaluation step with the confusion matrix.`);
    const pred = this.numClasses === 1 ? this.probabilities(out, n) : out;
    confusionMatrix(rec, pred, sliceBatch(this.yBuf!, n), this.confusion, n, this.numClasses, { sparse: this.sparse });
  }

  /** The trainable prefix of an arena-sized tensor (a view). */
  private trainablePrefix(t: Tensor): Tensor {
    return Tensor.view(this.engine, t.buffer, t.offset, [this.trainableSize]);
  }

  /** Records the single optimizer dispatch over the trainable prefix of the arena (none when nothing trains). */
  recordOptimizer(rec: Recorder): void {
    if (this.trainableSize === 0) return;
    const state = this.optState.map((t) => this.trainablePrefix(t));
    recordOptimizerStep(rec, this.optimizer!, this.trainablePrefix(this.params), this.trainablePrefix(this.grads), state, this.stepState.buffer, this.learningRate!.buffer);
  }

  /**
   * One training step of batch n: step count, gather, forward, loss (stats into trainStats), backward, with
   * `guard` a finite check of the trainable gradients (the NaN guard), one optimizer dispatch. `weights`: one
   * weight per example of the data (fit's classWeight/sampleWeight), gathered in the same order as the inputs.
   */
  recordTrainStep(data: BatchSource, order: Tensor, n: number, guard = true, dry = false, weights?: Tensor): Recorder {
    this.checkTrainableUnchanged();
    const rec = new Recorder(this.engine, `${this.name} train step (batch ${n})`, { dry });
    incrementStep(rec, this.stepState.buffer);
    data.recordGather(rec, order, this.startBuffer, n, sliceBatch(this.xBuf!, n), sliceBatch(this.yBuf!, n), { sparse: this.sparse });
    let w: Tensor | undefined;
    if (weights) {
      this.wBuf ??= this.engine.empty([this.maxBatch]);
      w = sliceBatch(this.wBuf, n);
      recordWeightGather(rec, order, this.startBuffer, n, weights, w);
    }
    const out = this.recordForward(rec, n, true);
    this.recordLoss(rec, out, n, this.trainStats, true, w);
    this.recordMetrics(rec, out, n, this.trainStats);
    this.recordBackward(rec, n);
    if (guard && this.trainableSize > 0) flagNonFinite(rec, this.trainablePrefix(this.grads), this.stepState.buffer);
    this.recordOptimizer(rec);
    return rec;
  }

  /**
   * One evaluation step (loss and stats into evalStats, metric counts beside it, and with `confusion` the confusion
   * counts) or, with wantProbs, one prediction step (probabilities into outBuf).
   */
  recordEvalStep(data: BatchSource, order: Tensor, n: number, wantProbs: boolean, dry = false, confusion = false): Recorder {
    const rec = new Recorder(this.engine, `${this.name} ${wantProbs ? 'predict' : 'evaluate'} step (batch ${n})`, { dry });
    data.recordGather(rec, order, this.startBuffer, n, sliceBatch(this.xBuf!, n), sliceBatch(this.yBuf!, n), { sparse: this.sparse });
    const out = this.recordForward(rec, n, false);
    if (wantProbs) {
      if (this.fusedSoftmax || this.fusedSigmoid) activationForward(rec, this.fusedSoftmax ? 'softmax' : 'sigmoid', out, sliceBatch(this.outBuf!, n), n, this.numClasses);
      else rec.copy(out, sliceBatch(this.outBuf!, n), n * this.numClasses * 4);
    } else {
      this.recordLoss(rec, out, n, this.evalStats, false);
      this.recordMetrics(rec, out, n, this.evalStats);
      if (confusion) this.recordConfusion(rec, out, n);
    }
    return rec;
  }

  /**
   * One inference step that copies the outputs of the nodes in `taps` (node id -> a [maxBatch, ...output shape]
   * tensor) out as each is produced, for Model.activations; the output node's softmax is applied where it is fused
   * into the loss, so every tap holds what the layer outputs.
   */
  recordActivationsStep(data: BatchSource, order: Tensor, n: number, taps: ReadonlyMap<number, Tensor>, dry = false): Recorder {
    const rec = new Recorder(this.engine, `${this.name} activations step (batch ${n})`, { dry });
    data.recordGather(rec, order, this.startBuffer, n, sliceBatch(this.xBuf!, n), sliceBatch(this.yBuf!, n), { sparse: this.sparse });
    const last = this.nodes.length - 1;
    this.recordForward(rec, n, false, (id, out) => {
      const tap = taps.get(id);
      if (!tap) return;
      const dst = sliceBatch(tap, n);
      if (id === last && this.fusedSoftmax) activationForward(rec, 'softmax', out, dst, n, this.numClasses);
      else rec.copy(out, dst, dst.byteLength);
    });
    return rec;
  }

  /**
   * Compiles the pipelines of the given (dry) recordings with createComputePipelineAsync, in parallel, so that
   * recording and running the real steps compiles nothing synchronously.
   */
  async compileSteps(...records: (() => Recorder)[]): Promise<void> {
    const specs = records.flatMap((record) => {
      const rec = record();
      try {
        return rec.pipelineSpecs();
      } finally {
        rec.dispose();
      }
    });
    await this.engine.compilePipelines(specs);
  }

  /** The only host write per step: where the batch starts in the order. */
  writeStart(start: number): void {
    this.engine.device.queue.writeBuffer(this.startBuffer, 0, new Uint32Array([start, 0, 0, 0]));
  }

  /** Reads and summarizes a stats tensor (trainStats or evalStats) with the metric counts beside it (both copies submitted at once). */
  async readStats(stats: Tensor): Promise<StatsSummary> {
    const [values, counts] = await Promise.all([stats.data(), this.countsOf(stats)?.data<Uint32Array>() ?? null]);
    return { ...summarizeStats(values), counts };
  }

  /** Zeroes a stats tensor and the metric counts beside it (and, for evalStats, the confusion counts). */
  clearStats(stats: Tensor): void {
    stats.write(new Float32Array(4));
    this.countsOf(stats)?.write(new Uint32Array(2 * this.counted.length));
    if (stats === this.evalStats) this.confusion?.write(new Uint32Array(this.confusion.size));
  }

  // ------------------------------------------------------------------ weights and state

  private async slotValues(t: Tensor): Promise<NamedValues[]> {
    const all = await t.data();
    return this.slots.map((s) => ({ name: s.name, shape: s.shape, values: all.slice(s.offset, s.offset + s.size) }));
  }

  /** Every parameter as {name, shape, values}, in model order. */
  getWeights(): Promise<NamedValues[]> {
    return this.slotValues(this.params);
  }

  /** The gradients of the last training step, named like getWeights (zeros where nothing was written). */
  getGradients(): Promise<NamedValues[]> {
    return this.slotValues(this.grads);
  }

  /** Replaces parameters by name (all must be present with matching shapes). */
  setWeights(weights: NamedValues[]): void {
    const byName = new Map(weights.map((w) => [w.name, w]));
    for (const s of this.slots) {
      const w = byName.get(s.name);
      if (!w) throw new ShaderflowError(`setWeights: no values for "${s.name}" ${shapeStr(s.shape)}.`);
      if (w.values.length !== s.size || shapeStr(w.shape) !== shapeStr(s.shape))
        throw new ShapeError(`setWeights: "${s.name}" expects ${shapeStr(s.shape)}, got ${shapeStr(w.shape)} with ${w.values.length} values.`);
      s.layer.weights[s.index]!.write(w.values);
    }
  }

  /** Optimizer state tensors and the step counter, for checkpoints. */
  async getOptimizerState(): Promise<{ step: number; tensors: Float32Array[] }> {
    const step = (await this.stepState.data<Uint32Array>())[0]!;
    return { step, tensors: await Promise.all(this.optState.map((t) => t.data())) };
  }

  /** Restores the optimizer's step count and state tensors (as getOptimizerState returns them). */
  setOptimizerState(state: { step: number; tensors: Float32Array[] }): void {
    if (state.tensors.length !== this.optState.length)
      throw new ShaderflowError(`setOptimizerState: ${this.optimizer!.kind} keeps ${this.optState.length} state tensors, got ${state.tensors.length}.`);
    state.tensors.forEach((t, i) => {
      if (t.length !== this.optState[i]!.size) throw new ShaderflowError(`setOptimizerState: state ${i} has ${t.length} values, expected ${this.optState[i]!.size}.`);
      this.optState[i]!.write(t);
    });
    this.stepState.write(new Uint32Array([state.step, 0, 0, 0]));
    this.learningRate!.iterations = state.step;
  }

  /**
   * Copies (on the GPU) everything a training step leaves behind: weights, gradients, optimizer state, step
   * state and training stats. The returned function copies them back, waits, and frees the copies.
   */
  saveTrainingState(): () => Promise<void> {
    const engine = this.engine;
    const tensors = [this.params, this.grads, ...this.optState, this.stepState, this.trainStats];
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

  private requireLive(what: string): void {
    if (this.disposed) throw new ShaderflowError(`Model "${this.name}" was disposed; ${what} needs a live model.`);
  }

  /** Frees every GPU buffer the plan owns. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.releaseBatchBuffers();
    for (const t of [this.params, this.grads, this.stepState, this.trainStats, this.evalStats, ...this.optState, ...this.metricCounts.values()]) t.dispose();
    this.confusion?.dispose();
    this.learningRate?.dispose();
    this.engine.release(this.startBuffer);
    this.optState = [];
  }
}

/** How many nodes take each node's output (inputs listed twice by one node count twice). */
export function consumerCounts(nodes: readonly GraphNode[]): number[] {
  const counts = nodes.map(() => 0);
  for (const n of nodes) for (const j of n.inputs) if (j !== MODEL_INPUT) counts[j]!++;
  return counts;
}

function multiInput(layer: Layer): Layer & MultiInputLayer {
  if (!takesSeveralInputs(layer)) throw new ShaderflowError(`Layer "${layer.name}" (${layer.className}) takes one input but is applied to several.`);
  return layer;
}

/** Records the forward pass of `nodes` (topological order) on x; returns the last node's output. */
export function recordGraphForward(rec: Recorder, nodes: readonly GraphNode[], x: Tensor, ctx: StepContext, tap?: (id: number, out: Tensor) => void): Tensor {
  const outs: Tensor[] = [];
  nodes.forEach((node, id) => {
    const xs = node.inputs.map((j) => (j === MODEL_INPUT ? x : outs[j]!));
    outs[id] = xs.length === 1 ? node.layer.forward(rec, xs[0]!, ctx) : multiInput(node.layer).forwardInputs(rec, xs, ctx);
    tap?.(id, outs[id]!);
  });
  return outs[nodes.length - 1]!;
}

/**
 * Records the backward pass of `nodes` from dOut (the last node's output gradient), nodes in reverse order. A node
 * whose output feeds several nodes gets the sum of their gradients in `sumInto(id)` ([n, ...its output shape]),
 * added in the order they were produced (fixed, no atomics). With `inputGrad`, the model input's gradient (the
 * sum over the nodes that read it) is written there and returned; without it no layer is asked for it.
 */
export function recordGraphBackward(
  rec: Recorder, nodes: readonly GraphNode[], dOut: Tensor, ctx: StepContext, sumInto: (id: number) => Tensor, inputGrad?: Tensor,
): Tensor | null {
  const contributions: Tensor[][] = nodes.map(() => []);
  const toInput: Tensor[] = [];
  const sum = (parts: Tensor[], out: Tensor): Tensor => {
    if (parts.length === 1) rec.copy(parts[0]!, out, out.byteLength, 'input gradient');
    else add(rec, parts[0]!, parts[1]!, out);
    for (const p of parts.slice(2)) accumulate(rec, p, out);
    return out;
  };
  contributions[nodes.length - 1]!.push(dOut);
  for (let id = nodes.length - 1; id >= 0; id--) {
    const node = nodes[id]!;
    const parts = contributions[id]!;
    if (parts.length === 0) continue; // nothing downstream needs this node's gradient
    const dy = parts.length === 1 ? parts[0]! : sum(parts, sumInto(id));
    const need = node.inputs.map((j) => j !== MODEL_INPUT || !!inputGrad);
    const dxs = node.inputs.length === 1 ? [node.layer.backward(rec, dy, ctx, need[0]!)] : multiInput(node.layer).backwardInputs(rec, dy, ctx, need);
    node.inputs.forEach((j, k) => {
      const dx = dxs[k];
      if (dx) (j === MODEL_INPUT ? toInput : contributions[j]!).push(dx);
    });
  }
  if (!inputGrad || toInput.length === 0) return null;
  return sum(toInput, inputGrad);
}
