// The model container: its layers and graph, build, summary, compile, weights and dispose. What runs on the GPU
// lives in the step plan (src/model/step-plan.ts), which compile creates; the loops that drive it are
// src/model/fit.ts and src/model/evaluate.ts, and the benchmark hooks src/model/step-tools.ts. Sequential
// (src/model/sequential.ts) is the simplest container: a chain.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import type { Layer } from '../layers/layer.js';
import type { LabelInput, XInput } from '../data/batches.js';
import type { History } from './history.js';
import type { GpuSpec, Plan } from './plan.js';
import type { StepProfile } from './profile.js';
import type { Verbosity, ProgressSink } from './progress.js';
import { parseOptimizer, type OptimizerSpec } from './optimizers.js';
import { bindLearningRate } from './learning-rate.js';
import { StepPlan, trainableParamCount, type GraphNode, type LossName, type NamedValues } from './step-plan.js';
import { fit, type FitOptions } from './fit.js';
import { evaluate, predict } from './evaluate.js';
import { dispatchesPerStep, planStep, profileStep, timeTrainSteps } from './step-tools.js';

/** What compile takes (Keras' compile). */
export interface CompileArgs {
  optimizer: string | OptimizerSpec;
  loss: string;
  metrics?: string[];
  /** Seeds the initializers, dropout masks and shuffling (default 0). */
  seed?: number;
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

/**
 * The base of every model: layers in a graph, trained as one (Keras' Model): summary, compile, fit, evaluate,
 * predict, weights and optimizer state. Subclasses say how the graph is built (`build`, `graphNodes`).
 */
export abstract class Model {
  readonly name: string;
  /** Every layer, in topological order (for Sequential: the order they were added). */
  readonly layers: Layer[] = [];
  /** Set true from a callback to stop fit after the current batch (Keras' model.stop_training). */
  stopTraining = false;

  engine?: Engine;
  optimizer?: OptimizerSpec;
  loss?: LossName;
  metrics: string[] = [];
  private seedValue = 0;
  /** The arena, batch buffers and recorded steps (created at the first compile). */
  stepPlan?: StepPlan;
  private disposed = false;

  constructor(name: string) {
    this.name = name;
  }

  /** Seeds the initializers, dropout masks and shuffling (compile's seed); setting it reaches the recorded steps' dropout streams. */
  get seed(): number {
    return this.seedValue;
  }

  set seed(v: number) {
    this.seedValue = v;
    if (this.stepPlan) this.stepPlan.seed = v;
  }

  /** Builds every layer (shape inference); throws a ShapeError naming the layer that does not fit. */
  abstract build(): void;

  /** The graph the step plan runs: one node per layer application, in topological order, the output last. */
  protected abstract graphNodes(): GraphNode[];

  /** Keras' summary table. Returns it and prints it unless print is false. */
  abstract summary(print?: boolean | ((line: string) => void)): string;

  /** The input shape of one example (no batch). */
  abstract get inputShape(): number[];

  /** The output shape of one example (no batch). */
  abstract get outputShape(): number[];

  /** Number of parameters of all layers (trainable and not, as Keras' count_params). */
  countParams(): number {
    this.build();
    return this.layers.reduce((s, l) => s + l.paramCount(), 0);
  }

  /** Parameters the optimizer updates: those of trainable layers, less non-trainable state (summary's "Trainable params"). */
  countTrainableParams(): number {
    this.build();
    return this.layers.reduce((s, l) => s + trainableParamCount(l), 0);
  }

  /** The "Total / Trainable / Non-trainable params" lines of summary(). */
  protected paramLines(): string[] {
    const total = this.countParams();
    const trainable = this.countTrainableParams();
    const fmt = (n: number) => n.toLocaleString('en-US');
    return [`Total params: ${fmt(total)}`, `Trainable params: ${fmt(trainable)}`, `Non-trainable params: ${fmt(total - trainable)}`];
  }

  // ------------------------------------------------------------------ compile

  /**
   * Builds, allocates the parameter arena and optimizer state on `engine`, and initialises the weights (seeded).
   * Layers' `trainable` is read here (as in Keras: change it, then compile again); recompiling keeps the weights
   * and resets the optimizer state.
   */
  compile(engine: Engine, args: CompileArgs): this {
    if (this.disposed) throw new ShaderflowError(`Model "${this.name}" was disposed.`);
    this.build();
    const loss = LOSS_ALIASES[args.loss.toLowerCase().replace(/[^a-z_]/g, '')];
    if (!loss) throw new ShaderflowError(`Unknown loss "${args.loss}": use 'categorical_crossentropy', 'sparse_categorical_crossentropy' or 'mean_squared_error'.`);
    const metrics = (args.metrics ?? []).map((m) => (m === 'acc' ? 'accuracy' : m));
    for (const m of metrics) if (m !== 'accuracy') throw new ShaderflowError(`Unknown metric "${m}": 'accuracy' is supported.`);
    if (this.outputShape.length !== 1)
      throw new ShapeError(`Model "${this.name}": the last layer outputs ${shapeStr(this.outputShape)}; a loss needs [classes] (add Flatten/Dense).`);
    if (this.engine && this.engine !== engine) throw new ShaderflowError(`Model "${this.name}" is already compiled on another engine.`);
    const optimizer = parseOptimizer(args.optimizer);
    this.engine = engine;
    this.loss = loss;
    this.metrics = metrics;
    this.seed = args.seed ?? this.seed;
    this.layers.forEach((l, i) => (l.id = i));
    let plan = this.stepPlan;
    const firstCompile = !plan;
    if (!plan) plan = this.stepPlan = new StepPlan(engine, { name: this.name, nodes: this.graphNodes(), inputShape: this.inputShape, outputShape: this.outputShape });
    plan.configure({ loss, optimizer, seed: this.seed });
    if (firstCompile) plan.initializeWeights(this.seed);
    // model.optimizer.learningRate reads and sets the rate in the plan's GPU buffer (Keras' optimizer.learning_rate)
    this.optimizer = bindLearningRate(optimizer, plan.learningRate!);
    return this;
  }

  /** Whether compile has run (and the model is not disposed). */
  get compiled(): boolean {
    return !!this.engine && !!this.optimizer;
  }

  /** The step plan of a compiled, live model on a live device; throws naming `what` otherwise. */
  requirePlan(what: string): StepPlan {
    if (this.disposed) throw new ShaderflowError(`Model "${this.name}" was disposed; ${what} needs a live model.`);
    if (!this.engine || !this.loss || !this.stepPlan) throw new ShaderflowError(`Model "${this.name}": call compile(engine, {optimizer, loss}) before ${what}.`);
    this.engine.assertAlive(`${this.name}.${what}`);
    return this.stepPlan;
  }

  /** Awaits every layer's async checks (custom WGSL layers compile and dry-run their kernels) before the first step. */
  async layersReady(engine: Engine): Promise<void> {
    for (const l of this.layers) if (l.ready) await l.ready(engine);
  }

  /** Output width (classes, or regression targets). */
  get numClasses(): number {
    return this.outputShape[0]!;
  }

  // ------------------------------------------------------------------ loops (src/model/fit.ts, evaluate.ts)

  /** Trains on (x, y) and returns the History (Keras' fit). Each step is recorded once and replayed; the host reads back only the statistics. */
  fit(x: XInput, y: LabelInput, opts: FitOptions = {}): Promise<History> {
    return fit(this, x, y, opts);
  }

  /** [loss, accuracy] over (x, y), in batches. */
  evaluate(x: XInput, y: LabelInput, opts: { batchSize?: number; verbose?: Verbosity; sink?: ProgressSink } = {}): Promise<[number, number]> {
    return evaluate(this, x, y, opts);
  }

  /** Output probabilities (or values) for every example, row-major [n, outputs]. */
  predict(x: XInput, opts: { batchSize?: number } = {}): Promise<Float32Array> {
    return predict(this, x, opts);
  }

  // ------------------------------------------------------------------ benchmark hooks (src/model/step-tools.ts)

  /**
   * Times `steps` training steps (after `warmup`) on random data of one batch; ms per step, for the benchmarks.
   * 'sync' (default): each step submitted and waited for, one time per step. 'pipelined': all `steps` submitted
   * back to back and waited for once at the end, one time (the mean per step) in the returned array.
   */
  timeTrainSteps(o: { batchSize: number; steps: number; warmup?: number; mode?: 'sync' | 'pipelined' }): Promise<number[]> {
    return timeTrainSteps(this, o);
  }

  /**
   * Every operation of one training step of batch `batchSize` (recorded as fit records it) with its kernel
   * variant, workgroups and measured time: GPU timestamps around one compute pass per dispatch where the device
   * has 'timestamp-query', else each operation replayed alone by wall clock (src/gpu/recorder.ts `profile`).
   * Also the synchronous step time (median of `steps` steps, each waited for) measured in the same call. Runs on
   * random data; the weights, gradients, optimizer and step state and stats are saved on the GPU first and put
   * back afterwards, so the model is exactly as it was.
   */
  profile(batchSize = 32, opts: { steps?: number; runs?: number } = {}): Promise<StepProfile> {
    return profileStep(this, batchSize, opts);
  }

  /** Dispatches recorded in one training step of batch `n` (for the benchmark's report). */
  dispatchesPerStep(n = 32): number {
    return dispatchesPerStep(this, n);
  }

  /**
   * Every operation of one recorded training step of batch `batchSize` (label, kernel variant, workgroups,
   * threads, serial loop, FLOPs, bytes) and its modeled time on `gpu` (default the H200; src/model/plan.ts says
   * what the model assumes). Records without compiling or running anything; uses the engine's current tuning.
   */
  plan(batchSize?: number, gpu?: GpuSpec): Plan {
    return planStep(this, batchSize, gpu);
  }

  // ------------------------------------------------------------------ weights

  /** Every parameter as {name, shape, values}, in model order (TF.js weight names: layer/kernel, layer/bias). */
  getWeights(): Promise<NamedValues[]> {
    return this.requirePlan('getWeights').getWeights();
  }

  /**
   * The gradients of the mean loss with respect to every parameter, from the last training step (what the
   * optimizer applied), named like getWeights. Zeros before the first step and for frozen layers. For inspection
   * and gradient checks.
   */
  getGradients(): Promise<NamedValues[]> {
    return this.requirePlan('getGradients').getGradients();
  }

  /** Replaces parameters by name (all must be present with matching shapes). */
  setWeights(weights: NamedValues[]): void {
    this.requirePlan('setWeights').setWeights(weights);
  }

  /** Optimizer state (tensors the size of the trainable parameters) and the step counter, for checkpoints. */
  getOptimizerState(): Promise<{ step: number; tensors: Float32Array[] }> {
    return this.requirePlan('getOptimizerState').getOptimizerState();
  }

  /** Restores the optimizer's step count and state tensors (as getOptimizerState returns them); throws a ShapeError when they do not fit the model. */
  setOptimizerState(state: { step: number; tensors: Float32Array[] }): void {
    this.requirePlan('setOptimizerState').setOptimizerState(state);
  }

  /** Frees every GPU buffer the model owns. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.stepPlan?.dispose();
  }
}
