// Numeric gradient checks as a library function: the machinery of the per-layer and whole-model tests, for users'
// own layers (custom WGSL layers) and for the self-test on the user's own adapter.
//
// checkGradients(target) runs a forward and a backward pass on the GPU for seeded random inputs and compares every
// input and parameter gradient with central differences of the loss L = Σ r ⊙ y (r a seeded random upstream
// gradient, so dL/dy = r), taken of
//   - the float64 CPU forward (src/reference/model.ts: the built-in references, or a custom layer's own), or
//   - where a layer has none, the layer's own GPU forward, with a step chosen for float32 and an error bound
//     estimated from two step sizes (below).
import { NumericError, ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { Layer, StepContext } from '../layers/layer.js';
import { modelFromJson, topologyOf } from '../model/io.js';
import { Model } from '../model/model.js';
import { Sequential } from '../model/sequential.js';
import { consumerCounts, MODEL_INPUT, recordGraphBackward, recordGraphForward, type GraphNode } from '../model/step-plan.js';
import { graphForwardRef, hasForwardRef } from '../reference/model.js';
import { mulberry32, randomUniform } from '../reference/random.js';
import { compareTensor, describeCheck, sampleIndices, type TensorCheck } from './compare.js';

export type { TensorCheck } from './compare.js';

/** Options of checkGradients: engine, input shape and batch, seed, which numeric path, given values, bounds. */
export interface GradientCheckOptions {
  /** The engine to run on; optional for a compiled model (its own engine). */
  engine?: Engine;
  /** Input shape without the batch; default the layer's (or model's) own. */
  inputShape?: number[];
  /** Examples in the batch (default 2). */
  batch?: number;
  /** Seeds the inputs, the random weights, the upstream gradient r and dropout masks (default 1). */
  seed?: number;
  /**
   * 'auto' (default): central differences of the float64 reference when every layer has one, else of the GPU
   * forward. 'reference' insists on the float64 reference (a ShaderflowError when a layer has none); 'gpu'
   * uses the GPU forward even where a reference exists.
   */
  numeric?: 'auto' | 'reference' | 'gpu';
  /** Parameter values by 'layer/param' name (default: the compiled model's weights, else uniform in [-1, 1)). */
  weights?: Record<string, ArrayLike<number>>;
  /** Input values, [batch, ...inputShape] flattened (default uniform in [-1, 1)). */
  input?: ArrayLike<number>;
  /**
   * Dropout in its deterministic training mode (default true): masks drawn for a fixed step counter (t = 1), so
   * every forward pass draws the same mask and the reference reproduces it; false checks inference mode.
   */
  training?: boolean;
  /** Float64 path: the allowed |gpu - numeric| is rtol × max |numeric| of the tensor (default 2e-5). */
  rtol?: number;
  /**
   * Elements differentiated per tensor: all up to this many, else a seeded sample including the first and last
   * (default 256 on the float64 path, 48 on the GPU path, where each element costs four GPU forward passes).
   */
  maxElements?: number;
  /** Throw a NumericError naming the failing tensors instead of returning a failing report (default false). */
  throwOnFailure?: boolean;
}

/** What checkGradients found: per input and parameter gradient, how it compares with the numeric one, and overall pass. */
export interface GradientReport {
  /** The layer or model checked: 'name (ClassName)'. */
  target: string;
  /** Where the numeric gradients came from. */
  method: 'float64-reference' | 'float32-gpu-forward';
  inputShape: number[];
  batch: number;
  /** 'input' first, then each parameter ('layer/param') in model order. */
  tensors: TensorCheck[];
  pass: boolean;
}

/** Float64 path default: float32 forward and backward over sums of at most ~10^3 terms (measured <= 2e-6). */
const DEFAULT_RTOL = 2e-5;
/** Upstream-gradient scale of the noise-measuring second backward, and how many times that noise a bound allows. */
const NOISE_SCALE = 0.7;
const NOISE_FACTOR = 16;
/** float32 unit roundoff. */
const U32 = 2 ** -24;
/** GPU-path steps: h = 2^-7 · max(1, |v|) and h/2 (see gpuNumeric). */
const GPU_STEP = 2 ** -7;

interface Param {
  name: string;
  layer: Layer;
  index: number;
  shape: number[];
  values: Float32Array;
  w: Tensor;
  g: Tensor;
}

/**
 * Compares every input and parameter gradient of `target` (a layer, a custom layer, a Sequential or functional
 * model; frozen layers' weights and non-trainable state are left out) with
 * central differences of L = Σ r ⊙ y, for seeded random inputs of `options.inputShape` (batch `options.batch`).
 *
 * Bounds, per element i (pass: |gpu_i − numeric_i| <= bound_i, and gpu_i finite):
 *  - float64 reference (default when every layer has one): step h = 1e-6 in float64, whose own error (~1e-10)
 *    is negligible; bound_i = rtol · max_j |numeric_j| + 16·ν (rtol 2e-5): the float32 rounding of the GPU's forward
 *    and backward, relative to the tensor's scale, plus ν, the float32 noise of this very backward, measured: the max
 *    over the tensor of |g(0.7·r)/0.7 − g(r)| (a second backward with the upstream gradient scaled; gradients are
 *    linear in it, so the difference is rounding only, whatever a bug does). ν matters where a gradient is a
 *    cancellation of much larger terms (softmax and normalization backward subtract sums of order |r| from terms of
 *    order |r|): its absolute error is then u·|r|, however small the result, which rtol·scale alone would not allow.
 *  - GPU forward (no reference): L from the GPU's float32 outputs, differenced in float64 (outputs the element does
 *    not reach are bit-identical in every pass, so they cancel exactly). Steps h = 2^-7·max(1, |v_i|) (about the
 *    float32 optimum (3u/|f'''|)^(1/3) for unit-scale values) and h/2; D(h) the central difference, S(h) the second
 *    difference f(v+h) − 2f(v) + f(v−h). numeric_i = D(h/2) and
 *      bound_i = 2·|D(h) − D(h/2)| + |S(h) − 4·S(h/2)|/h + 4u·Σ_j |r_j|·(|y⁺_j| + |y⁻_j| + 2|y_j|)/h + 1e-4·max_j |numeric_j|
 *    For smooth f, D(h) − D(h/2) ≈ (3/4)·f'''·h²/6 is three times the truncation error of D(h/2), plus its float32
 *    noise; S(h) − 4·S(h/2) = O(h⁴) vanishes, but not across a kink (ReLU at 0, a max-pool tie) inside the step,
 *    where it is about the jump in slope (the case the first term misses: a kink right at v makes D(h) = D(h/2));
 *    for one kink within the step the two terms together exceed the error of D(h/2) wherever the kink lies. The
 *    third term is the rounding of the outputs that moved (u = 2^-24), the last the backward's own float32
 *    rounding (and 16·ν, as above). So the bound widens only for elements next to a kink. A wrong backward (a sign, a missing term) is
 *    off by O(1) of the scale, far past it; a 1% error is caught at unit-scale smooth points.
 * Report and pass per tensor; throws (a NumericError) only with `throwOnFailure`.
 */
export async function checkGradients(target: Layer | Model, options: GradientCheckOptions = {}): Promise<GradientReport> {
  const engine = options.engine ?? (target instanceof Model ? target.engine : undefined);
  if (!engine) throw new ShaderflowError('checkGradients: pass { engine } (only a compiled model brings its own).');
  const { nodes, weights: modelWeights, chain } = await graphOf(target);
  const layers = nodes.map((node) => node.layer);
  const n = options.batch ?? 2;
  if (!Number.isInteger(n) || n < 1) throw new ShaderflowError(`checkGradients: batch must be a positive whole number, got ${n}.`);
  const seed = options.seed ?? 1;
  const training = options.training ?? true;
  const first = layers[0]!;
  const inputShape = options.inputShape ?? (chain ? (first.built ? first.inputShape : first.declaredInputShape) : (target as Model).inputShape);
  if (!inputShape) throw new ShapeError(`checkGradients: layer "${first.name}" (${first.className}) has no input shape; pass { inputShape }.`);
  if (chain) buildChain(layers, inputShape);
  else if (shapeStr(inputShape) !== shapeStr((target as Model).inputShape))
    throw new ShapeError(`checkGradients: model "${(target as Model).name}" takes ${shapeStr((target as Model).inputShape)}, not ${shapeStr(inputShape)}.`);
  const label = target instanceof Sequential ? `${target.name} (Sequential)` : target instanceof Model ? `${target.name} (Model)` : `${first.name} (${first.className})`;
  const wantRef = options.numeric ?? 'auto';
  const haveRef = layers.every(hasForwardRef);
  if (wantRef === 'reference' && !haveRef) {
    const missing = layers.filter((l) => !hasForwardRef(l)).map((l) => `"${l.name}" (${l.className})`);
    throw new ShaderflowError(`checkGradients(${label}): numeric 'reference' needs a float64 forward for every layer; ${missing.join(', ')} has none (give the custom layer a reference, or use numeric 'gpu').`);
  }
  const useRef = wantRef === 'reference' || (wantRef === 'auto' && haveRef);

  const inSize = n * inputShape.reduce((a, b) => a * b, 1);
  const x0 = options.input ? Float32Array.from(options.input) : randomUniform(inSize, seed * 7 + 1);
  if (x0.length !== inSize) throw new ShapeError(`checkGradients(${label}): input has ${x0.length} values, expected ${inSize} ([${n}, ${inputShape.join(', ')}]).`);

  const made: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => (made.push(t), t);
  const recorders: Recorder[] = [];
  try {
    for (const l of layers) if (l.ready) await l.ready(engine);
    const params: Param[] = [];
    let k = 0;
    const fixed = new Map<string, Float32Array>(); // frozen weights and non-trainable state: used, not checked
    for (const layer of layers) {
      layer.weights = [];
      layer.grads = [];
      layer.paramSpecs().forEach((spec, index) => {
        const name = `${layer.name}/${spec.name}`;
        const size = spec.shape.reduce((a, b) => a * b, 1);
        const given = options.weights?.[name] ?? modelWeights?.get(name);
        // non-trainable state (BatchNormalization's moving statistics) draws from [0.5, 1.5): a variance stays positive
        const frozen = spec.trainable === false || !layer.trainable;
        const values = given ? Float32Array.from(given) : randomUniform(size, seed * 1000 + 17 * ++k, ...(frozen ? [0.5, 1.5] : []));
        if (values.length !== size) throw new ShapeError(`checkGradients(${label}): weights "${name}" has ${values.length} values, expected ${size} ${shapeStr(spec.shape)}.`);
        const w = keep(engine.tensor(spec.shape, values));
        const g = keep(engine.tensor(spec.shape, new Float32Array(size).fill(NaN))); // unwritten gradients fail
        layer.weights[index] = w;
        layer.grads[index] = g;
        if (layer.trainable && spec.trainable !== false) params.push({ name, layer, index, shape: spec.shape, values, w, g });
        else fixed.set(name, values);
      });
    }
    for (const l of layers) l.allocate(engine, n);
    const x = keep(engine.tensor([n, ...inputShape], x0));
    const inputGrad = keep(engine.tensor([n, ...inputShape], new Float32Array(inSize).fill(NaN)));
    const fanIn = new Map<number, Tensor>();
    consumerCounts(nodes).forEach((count, id) => {
      if (count > 1) fanIn.set(id, keep(engine.empty([n, ...nodes[id]!.layer.outputShape])));
    });
    const outShape = [n, ...layers[layers.length - 1]!.outputShape];
    const outSize = outShape.reduce((a, b) => a * b, 1);
    const r = randomUniform(outSize, seed * 7 + 3);
    const dy = keep(engine.tensor(outShape, r));
    const stepState = keep(engine.tensor([4], new Uint32Array([1, 0, 0, 0])));
    const ctx: StepContext = { engine, n, training, stepState: stepState.buffer, seed };

    // Analytic gradients: forward then backward, one submit.
    const back = new Recorder(engine, `checkGradients ${label} (backward)`);
    recorders.push(back);
    recordGraphForward(back, nodes, x, ctx);
    const d = recordGraphBackward(back, nodes, dy, ctx, (id) => fanIn.get(id)!, inputGrad);
    if (!d) throw new ShaderflowError(`checkGradients(${label}): no layer reads the input.`);
    back.run();
    const dx = await d!.data();
    const grads = await Promise.all(params.map((p) => p.g.data()));
    // The float32 rounding noise of this backward, measured: the same backward with the upstream gradient scaled by
    // NOISE_SCALE (not a power of two, so every rounding falls differently). Gradients are linear in dy, so
    // g(s·r)/s − g(r) is rounding alone, whatever a bug does to g; the gradients are re-poisoned first, so a
    // backward that accumulates instead of overwriting shows up as NaN rather than as noise.
    dy.write(Float32Array.from(r, (v) => v * NOISE_SCALE));
    for (const p of params) p.g.write(new Float32Array(p.g.size).fill(NaN));
    back.run();
    const dxScaled = await d!.data();
    const gradsScaled = await Promise.all(params.map((p) => p.g.data()));
    const noiseOf = (a: Float32Array, b: Float32Array): number => {
      let m = 0;
      for (let i = 0; i < a.length; i++) {
        const e = Math.abs(b[i]! / NOISE_SCALE - a[i]!);
        if (Number.isFinite(e)) m = Math.max(m, e);
      }
      return m;
    };
    const noise = [noiseOf(dx, dxScaled), ...grads.map((g, i) => noiseOf(g, gradsScaled[i]!))];

    const maxElements = options.maxElements ?? (useRef ? 256 : 48);
    const rand = mulberry32(seed * 31 + 5);
    const tensors: TensorCheck[] = [];
    const subjects = [
      { name: 'input', shape: [n, ...inputShape], values: x0, tensor: x, gpu: dx, noise: noise[0]!, param: undefined as Param | undefined },
      ...params.map((p, i) => ({ name: p.name, shape: p.shape, values: p.values, tensor: p.w, gpu: grads[i]!, noise: noise[i + 1]!, param: p }))
    ];
    if (useRef) {
      const w64 = new Map([...params.map((p) => [p.name, p.values] as const), ...fixed].map(([name, v]) => [name, Float64Array.from(v)]));
      const x64 = Float64Array.from(x0);
      const loss = (): number => {
        const out = graphForwardRef(nodes, w64, x64, n, training ? { seed, step: 1 } : undefined);
        let s = 0;
        for (let j = 0; j < out.length; j++) s += r[j]! * out[j]!;
        return s;
      };
      for (const s of subjects) {
        const v = s.param ? w64.get(s.name)! : x64;
        const idx = sampleIndices(v.length, maxElements, rand);
        const numeric = centralDifferences(v, loss, idx);
        const scale = idx.reduce((m, i) => Math.max(m, Math.abs(numeric[i]!)), 0);
        const rtol = options.rtol ?? DEFAULT_RTOL;
        tensors.push(compareTensor(s.name, s.shape, s.gpu, numeric, () => rtol * scale + NOISE_FACTOR * s.noise, scale, idx));
      }
    } else {
      const fwd = new Recorder(engine, `checkGradients ${label} (forward)`);
      recorders.push(fwd);
      const out = recordGraphForward(fwd, nodes, x, ctx);
      const forward = async (): Promise<Float32Array> => {
        fwd.run();
        return out.data();
      };
      const y0 = await forward();
      for (const s of subjects) {
        const idx = sampleIndices(s.values.length, maxElements, rand);
        const numeric = new Float64Array(s.values.length);
        const allowed = new Float64Array(s.values.length);
        for (const i of idx) {
          const v0 = s.values[i]!;
          const step = GPU_STEP * Math.max(1, Math.abs(v0));
          // Σ r (y(v0 + h) - y(v0 - h)) and Σ r (y(v0 + h) - 2 y(v0) + y(v0 - h)) over the outputs that moved (the
          // others are bit-identical, so they add exact zeros), with the float32 values actually evaluated.
          const at = async (h: number): Promise<{ d: number; second: number; mag: number }> => {
            const up = Math.fround(v0 + h), down = Math.fround(v0 - h);
            s.tensor.write([up], i);
            const yUp = await forward();
            s.tensor.write([down], i);
            const yDown = await forward();
            s.tensor.write([v0], i);
            let diff = 0, second = 0, mag = 0;
            for (let j = 0; j < yUp.length; j++) {
              const a = yUp[j]!, b = yDown[j]!, c = y0[j]!;
              if (a === c && b === c) continue;
              diff += r[j]! * (a - b);
              second += r[j]! * (a - 2 * c + b);
              mag += Math.abs(r[j]!) * (Math.abs(a) + Math.abs(b) + 2 * Math.abs(c));
            }
            return { d: diff / (up - down), second, mag: mag / (up - down) };
          };
          const wide = await at(step);
          const narrow = await at(step / 2);
          numeric[i] = narrow.d;
          allowed[i] = 2 * Math.abs(wide.d - narrow.d) + Math.abs(wide.second - 4 * narrow.second) / step + 4 * U32 * narrow.mag;
        }
        const scale = idx.reduce((m, i) => Math.max(m, Math.abs(numeric[i]!)), 0);
        tensors.push(compareTensor(s.name, s.shape, s.gpu, numeric, (i) => allowed[i]! + 1e-4 * scale + NOISE_FACTOR * s.noise, scale, idx));
      }
    }
    await engine.checkErrors(`checkGradients(${label})`);
    const report: GradientReport = {
      target: label,
      method: useRef ? 'float64-reference' : 'float32-gpu-forward',
      inputShape: [...inputShape],
      batch: n,
      tensors,
      pass: tensors.every((t) => t.pass),
    };
    if (!report.pass && options.throwOnFailure) throw new NumericError(formatGradientFailure(report));
    return report;
  } finally {
    for (const rec of recorders) rec.dispose();
    for (const l of layers) {
      l.release();
      l.weights = [];
      l.grads = [];
    }
    for (const t of made) t.dispose();
  }
}

/**
 * Central differences (f(v + h) − f(v − h)) / 2h of `f` (which reads `values`) at `indices` (default all), changing
 * one element at a time in place and restoring it; float64, for float64 references (h = 1e-6).
 */
export function centralDifferences(values: Float64Array, f: () => number, indices?: readonly number[], h = 1e-6): Float64Array {
  const numeric = new Float64Array(values.length);
  for (const i of indices ?? values.keys()) {
    const v0 = values[i]!;
    values[i] = v0 + h;
    const up = f();
    values[i] = v0 - h;
    const down = f();
    values[i] = v0;
    numeric[i] = (up - down) / (2 * h);
  }
  return numeric;
}

/** "checkGradients(prelu (PReLU)): prelu/alpha ... FAIL" for every failing tensor. */
export function formatGradientFailure(report: GradientReport): string {
  const bad = report.tensors.filter((t) => !t.pass);
  return `checkGradients(${report.target}, ${report.method}): ${bad.map((t) => t.tensor).join(', ')} ${bad.length === 1 ? 'does' : 'do'} not match the numeric gradient:\n  ${bad.map(describeCheck).join('\n  ')}`;
}

/**
 * The graph to check (`chain` when it is a single layer or a Sequential, whose layers may be rebuilt for another
 * input shape) and, for a compiled model, its current weights. A compiled model is never touched: its layers are
 * rebuilt from its topology (so built-in and registered custom layers only) on buffers of our own.
 */
async function graphOf(target: Layer | Model): Promise<{ nodes: GraphNode[]; weights?: Map<string, Float32Array>; chain: boolean }> {
  const chainOf = (layers: Layer[]): GraphNode[] => layers.map((layer, i) => ({ layer, inputs: [i === 0 ? MODEL_INPUT : i - 1] }));
  if (!(target instanceof Model)) return { nodes: chainOf([target]), chain: true };
  const chain = target instanceof Sequential;
  let nodes: GraphNode[];
  let weights: Map<string, Float32Array> | undefined;
  if (!target.compiled) {
    target.build();
    nodes = target.graphNodes();
  } else {
    nodes = modelFromJson({ modelTopology: topologyOf(target) }).model.graphNodes();
    weights = new Map((await target.getWeights()).map((w) => [w.name, w.values]));
  }
  nodes.forEach((node, i) => (node.layer.id = i));
  return { nodes, weights, chain };
}

/** Builds each layer for the shape it will see (rebuilding one built for another shape). */
function buildChain(layers: Layer[], inputShape: number[]): void {
  let shape = inputShape;
  for (const l of layers) {
    if (!l.built || shapeStr(l.inputShape) !== shapeStr(shape)) l.build(shape);
    shape = l.outputShape;
  }
}
