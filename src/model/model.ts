// The model container: its layers and graph, build, summary, compile, weights and dispose. A `Model` is a graph of
// layers made with the functional API (input(), layer.apply(), model({inputs, outputs})); Sequential
// (src/model/sequential.ts) is the simplest container, a chain. What runs on the GPU lives in the step plan
// (src/model/step-plan.ts), which compile creates; the loops that drive it are src/model/fit.ts and
// src/model/evaluate.ts, and the benchmark hooks src/model/step-tools.ts.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { InputLayer } from '../layers/input.js';
import type { Layer } from '../layers/layer.js';
import { checkAugmentationOrder } from '../layers/augment.js';
import { SymbolicTensor } from '../layers/symbolic.js';
import type { LabelInput, XInput } from '../data/batches.js';
import type { History } from './history.js';
import type { GpuSpec, Plan } from './plan.js';
import type { StepProfile } from './profile.js';
import type { Verbosity, ProgressSink } from './progress.js';
import { parseOptimizer, type OptimizerSpec } from './optimizers.js';
import { bindLearningRate } from './learning-rate.js';
import { MODEL_INPUT, StepPlan, trainableParamCount, type GraphNode, type LossName, type NamedValues } from './step-plan.js';
import { fit, type FitOptions } from './fit.js';
import { fitRecovering } from './recover.js';
import { activations } from './activations.js';
import { evaluate, predict, type EvaluateOptions, type EvaluationReport } from './evaluate.js';
import { resolveMetrics, type MetricArg, type MetricSet } from './metrics.js';
import type { Logs } from './history.js';
import { dispatchesPerStep, planStep, profileStep, timeTrainSteps } from './step-tools.js';

/** What compile takes (Keras' compile). */
export interface CompileArgs {
  optimizer: string | OptimizerSpec;
  loss: string;
  /** Keras' metric names ('accuracy', 'precision', 'top_k_categorical_accuracy', ...) or configured metrics ({ name, k, threshold, classId, logAs }). */
  metrics?: MetricArg[];
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
  binary_crossentropy: 'binary_crossentropy',
  binarycrossentropy: 'binary_crossentropy',
};

/** What model() takes: the input (from input()) and the output (a layer's apply()) of the graph, and a name. */
export interface ModelArgs {
  inputs: SymbolicTensor | SymbolicTensor[];
  outputs: SymbolicTensor | SymbolicTensor[];
  name?: string;
}

/** The functional graph of a Model: its input, output, and the nodes between them in topological order. */
interface FunctionalGraph {
  input: SymbolicTensor;
  output: SymbolicTensor;
  nodes: GraphNode[];
}

let modelCount = 0;

/**
 * Layers in a graph trained as one (Keras' Model): summary, compile, fit, evaluate, predict, weights and optimizer
 * state. Made by model({inputs, outputs}) from the functional API; Sequential is the chain case.
 */
export class Model {
  readonly name: string;
  /** Every layer, in topological order (for Sequential: the order they were added). */
  readonly layers: Layer[] = [];
  /** Set true from a callback to stop fit after the current batch (Keras' model.stop_training). */
  stopTraining = false;

  engine?: Engine;
  optimizer?: OptimizerSpec;
  loss?: LossName;
  /** The log keys of the compiled metrics, in compile's order (Keras' metrics_names without 'loss'). */
  metrics: string[] = [];
  /** compile's metrics as given (saved in model.json's trainingConfig). */
  metricArgs: MetricArg[] = [];
  /** The compiled metrics resolved: each log key and where its value comes from. */
  metricSet: MetricSet = { metrics: [], counted: [] };
  private seedValue = 0;
  /** The arena, batch buffers and recorded steps (created at the first compile). */
  stepPlan?: StepPlan;
  /** The arguments of the last compile (moveToEngine compiles with them again). */
  private compileArgs?: CompileArgs;
  private disposed = false;

  private readonly graph?: FunctionalGraph;

  /** A functional model of the graph from `inputs` to `outputs` (see model()); subclasses pass only a name. */
  constructor(args: Partial<ModelArgs> = {}) {
    this.name = args.name ?? (modelCount++ === 0 ? 'model' : `model_${modelCount - 1}`);
    if (args.inputs === undefined && args.outputs === undefined) return;
    this.graph = functionalGraph(args, this.name);
    this.layers.push(this.graph.input.layer, ...this.graph.nodes.map((n) => n.layer));
  }

  private requireGraph(): FunctionalGraph {
    if (!this.graph) throw new ShaderflowError(`Model "${this.name}" has no graph: make it with model({ inputs, outputs }) (or use Sequential).`);
    return this.graph;
  }

  /** Seeds the initializers, dropout masks and shuffling (compile's seed); setting it reaches the recorded steps' dropout streams. */
  get seed(): number {
    return this.seedValue;
  }

  set seed(v: number) {
    this.seedValue = v;
    if (this.stepPlan) this.stepPlan.seed = v;
  }

  /** Builds every layer (shape inference); a functional model's layers were built by apply(). */
  build(): void {
    this.requireGraph();
  }

  /** The graph the step plan runs: one node per layer application, in topological order, the output last. */
  graphNodes(): GraphNode[] {
    return this.requireGraph().nodes;
  }

  /** The input shape of one example (no batch). */
  get inputShape(): number[] {
    return [...this.requireGraph().input.shape];
  }

  /** The output shape of one example (no batch). */
  get outputShape(): number[] {
    return [...this.requireGraph().output.shape];
  }

  /** Each layer's name and the names of the layers it reads (the input layer's for the model input), in model.layers order. */
  connections(): { layer: Layer; inbound: Layer[] }[] {
    const g = this.requireGraph();
    const rows: { layer: Layer; inbound: Layer[] }[] = [{ layer: g.input.layer, inbound: [] }];
    for (const n of g.nodes) rows.push({ layer: n.layer, inbound: n.inputs.map((j) => (j === MODEL_INPUT ? g.input.layer : g.nodes[j]!.layer)) });
    return rows;
  }

  /**
   * Keras' summary table in the functional layout (98 columns, with "Connected to": `layer[0][0]` per input, one
   * per line). Returns it and prints it unless print is false.
   */
  summary(print: boolean | ((line: string) => void) = true): string {
    const width = 98;
    const row = summaryRow([32, 53, 65, width]);
    const lines = [`Model: "${this.name}"`, '_'.repeat(width), row(['Layer (type)', 'Output Shape', 'Param #', 'Connected to']), '='.repeat(width)];
    const rows = this.connections();
    rows.forEach(({ layer, inbound }, i) => {
      const shape = layer instanceof InputLayer ? `[(None, ${layer.outputShape.join(', ')})]` : `(None, ${layer.outputShape.join(', ')})`;
      const links = inbound.map((l) => `${l.name}[0][0]`);
      lines.push(row([`${layer.name} (${layer.className})`, shape, String(layer.paramCount()), links[0] ?? '']));
      for (const link of links.slice(1)) lines.push(row(['', '', '', link]));
      lines.push(i === rows.length - 1 ? '='.repeat(width) : '_'.repeat(width));
    });
    lines.push(...this.paramLines(), '_'.repeat(width));
    return printSummary(lines, print);
  }

  /** Whether every layer is trainable (Keras' model.trainable). Read at compile, like each layer's own flag. */
  get trainable(): boolean {
    return this.layers.every((l) => l.trainable);
  }

  /** Sets `trainable` on every layer (Keras' model.trainable = false freezes the whole model); compile again after. */
  set trainable(v: boolean) {
    for (const l of this.layers) l.trainable = v;
  }

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
    if (!loss) throw new ShaderflowError(`Unknown loss "${args.loss}": use 'categorical_crossentropy', 'sparse_categorical_crossentropy', 'binary_crossentropy' or 'mean_squared_error'.`);
    if (this.outputShape.length !== 1)
      throw new ShapeError(`Model "${this.name}": the last layer outputs ${shapeStr(this.outputShape)}; a loss needs [classes] (add Flatten/Dense).`);
    const metricSet = resolveMetrics(args.metrics ?? [], { loss, classes: this.outputShape[0]! });
    if (this.engine && this.engine !== engine) throw new ShaderflowError(`Model "${this.name}" is already compiled on another engine.`);
    checkAugmentationOrder(this.graphNodes());
    const optimizer = parseOptimizer(args.optimizer);
    this.engine = engine;
    this.loss = loss;
    this.metricArgs = [...(args.metrics ?? [])];
    this.metricSet = metricSet;
    this.metrics = metricSet.metrics.map((m) => m.key);
    this.seed = args.seed ?? this.seed;
    this.layers.forEach((l, i) => (l.id = i));
    let plan = this.stepPlan;
    const firstCompile = !plan;
    if (!plan) plan = this.stepPlan = new StepPlan(engine, { name: this.name, nodes: this.graphNodes(), inputShape: this.inputShape, outputShape: this.outputShape });
    plan.configure({ loss, optimizer, seed: this.seed, metrics: metricSet.counted });
    if (firstCompile) plan.initializeWeights(this.seed);
    // model.optimizer.learningRate reads and sets the rate in the plan's GPU buffer (Keras' optimizer.learning_rate)
    this.optimizer = bindLearningRate(optimizer, plan.learningRate!);
    this.compileArgs = args;
    return this;
  }

  /**
   * Compiles the model again, with the same arguments, on another engine, after its engine's device was lost (fit's
   * `recoverFromDeviceLoss` does this): a new step plan (arena, batch buffers, recordings) on `engine`. The weights
   * and optimizer state start afresh (seeded as at the first compile): set them from a checkpoint. The old plan's
   * buffers are released (a lost device holds no memory any more).
   */
  moveToEngine(engine: Engine): this {
    if (this.disposed) throw new ShaderflowError(`Model "${this.name}" was disposed.`);
    if (!this.compileArgs) throw new ShaderflowError(`Model "${this.name}": call compile(engine, {optimizer, loss}) before moveToEngine.`);
    this.stepPlan?.dispose();
    this.stepPlan = undefined;
    this.engine = undefined;
    return this.compile(engine, this.compileArgs);
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
    return opts.recoverFromDeviceLoss ? fitRecovering(this, x, y, opts) : fit(this, x, y, opts);
  }

  /**
   * Evaluates over (x, y), in batches: [loss, accuracy]; with `returnDict` the logs (loss and every compiled metric,
   * Keras' return_dict); with `confusionMatrix` an EvaluationReport holding the logs and the confusion matrix
   * counted on the GPU.
   */
  evaluate(x: XInput, y: LabelInput, opts: EvaluateOptions & { confusionMatrix: true }): Promise<EvaluationReport>;
  evaluate(x: XInput, y: LabelInput, opts: EvaluateOptions & { returnDict: true }): Promise<Logs>;
  evaluate(x: XInput, y: LabelInput, opts?: EvaluateOptions): Promise<[number, number]>;
  evaluate(x: XInput, y: LabelInput, opts: EvaluateOptions = {}): Promise<[number, number] | Logs | EvaluationReport> {
    return evaluate(this, x, y, opts);
  }

  /**
   * The confusion matrix of the model over (x, y), counted on the GPU: counts[true][predicted] (the first maximum
   * of the output), as tf.math.confusion_matrix; labels outside [0, classes) are not counted.
   */
  async confusionMatrix(x: XInput, y: LabelInput, opts: { batchSize?: number } = {}): Promise<number[][]> {
    return (await evaluate(this, x, y, { batchSize: opts.batchSize, confusionMatrix: true }) as EvaluationReport).confusionMatrix;
  }

  /** Output probabilities (or values) for every example, row-major [n, outputs]. */
  predict(x: XInput, opts: { batchSize?: number } = {}): Promise<Float32Array> {
    return predict(this, x, opts);
  }

  /**
   * What the named layers (default: every layer, in graph order) output for every example of `x`: one
   * {name, shape: [n, ...output shape], values} each (feature maps NHWC). One inference step per batch copies the
   * layers' outputs out as they are produced (src/model/activations.ts); the last layer gives probabilities, as
   * predict does. Works for Sequential and functional models (the step plan's node walk).
   */
  activations(x: XInput, layerNames?: readonly string[], opts: { batchSize?: number } = {}): Promise<NamedValues[]> {
    return activations(this, x, layerNames, opts);
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

/** A summary table row: each field cut or padded to end at its column position (Keras' print_row). */
export function summaryRow(positions: number[]): (fields: string[]) => string {
  return (fields) => {
    let line = '';
    fields.forEach((f, i) => {
      line += f;
      line = line.slice(0, positions[i]);
      line += ' '.repeat(Math.max(0, positions[i]! - line.length));
    });
    return line;
  };
}

/** Joins the summary's lines; prints them (console.log, or line by line to a function) unless print is false. */
export function printSummary(lines: string[], print: boolean | ((line: string) => void)): string {
  const text = lines.join('\n');
  if (print === true) console.log(text);
  else if (typeof print === 'function') for (const l of lines) print(l);
  return text;
}

function list(v: SymbolicTensor | SymbolicTensor[] | undefined): SymbolicTensor[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/**
 * The nodes from `inputs` to `outputs` in topological order (a depth-first walk back from the output, inputs in
 * order, so the output node is last), checked: one input made by input(), one output, every path from the output
 * ends at that input, no cycle. Layers applied but not on a path to the output are left out (as in Keras).
 */
function functionalGraph(args: Partial<ModelArgs>, name: string): FunctionalGraph {
  const ins = list(args.inputs);
  const outs = list(args.outputs);
  const what = `model "${name}"`;
  const describe = (ts: unknown[]) => ts.map((t) => (t instanceof SymbolicTensor ? t.describe() : typeof t)).join(', ') || 'none';
  if (ins.length !== 1 || outs.length !== 1)
    throw new ShapeError(`${what}: shaderflow models take one input and one output; got inputs ${describe(ins)} and outputs ${describe(outs)}.`);
  const [input, output] = [ins[0]!, outs[0]!];
  if (!(input instanceof SymbolicTensor) || !(input.layer instanceof InputLayer))
    throw new ShapeError(`${what}: inputs must be what input({ shape }) returns, got ${describe([input])}.`);
  if (!(output instanceof SymbolicTensor)) throw new ShapeError(`${what}: outputs must be a layer's apply() result, got ${typeof output}.`);
  if (output === input) throw new ShapeError(`${what}: the output is the input ${input.describe()} itself; apply at least one layer.`);
  const nodes: GraphNode[] = [];
  const ids = new Map<SymbolicTensor, number>();
  const onPath = new Set<SymbolicTensor>();
  const visit = (t: SymbolicTensor, reader: SymbolicTensor): number => {
    if (t === input) return MODEL_INPUT;
    if (t.layer instanceof InputLayer || t.inputs.length === 0)
      throw new ShapeError(
        `${what}: the output ${output.describe()} is not connected to the input ${input.describe()} alone: layer ${reader.describe()} reads ${t.describe()}, which is not computed from that input. Give model() the input every path starts from.`,
      );
    const known = ids.get(t);
    if (known !== undefined) return known;
    if (onPath.has(t)) throw new ShapeError(`${what}: the graph has a cycle: ${t.describe()} is computed from itself (through ${reader.describe()}).`);
    onPath.add(t);
    const inputs = t.inputs.map((x) => visit(x, t));
    onPath.delete(t);
    nodes.push({ layer: t.layer, inputs });
    ids.set(t, nodes.length - 1);
    return nodes.length - 1;
  };
  visit(output, output);
  return { input, output, nodes };
}

/** A functional model from `inputs` (input()) to `outputs` (a layer's apply()), Keras' keras.Model / TF.js tf.model. */
export function model(args: ModelArgs): Model {
  return new Model(args);
}
