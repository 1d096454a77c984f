// Custom layers written in WGSL: a layer defined by its forward and backward compute shaders, its parameters, the
// buffers forward saves for backward and its output shape, optionally with a float64 CPU reference. `defineLayer`
// makes a Layer class of it; `registerLayer` (src/layers/registry.ts) lets models that use it save and load.
//
// Bindings are declared plainly, by name, in @binding order; each name is one of
//   x          the layer input [n, ...inputShape]         (forward: read; backward: read, the saved input)
//   y          the layer output [n, ...outputShape]       (forward: written; backward: read, the saved output)
//   dy, dx     the output gradient (read) and the input gradient (written), backward only
//   PARAM      a parameter by its name (read)
//   grad_PARAM its gradient (backward: written, overwritten, never accumulated)
//   SAVED      a buffer `saved` declares (forward: written; backward: read)
//   dims       the uniform buffer: by default struct { n: u32, inSize: u32, outSize: u32, _pad: u32 } (inSize and
//              outSize per example), or the values the definition's `uniform(dims)` returns
// and the WGSL must declare exactly these, as `@group(0) @binding(i) var<...> NAME`, with read-only storage
// (`var<storage, read>`) for what is read and `var<storage, read_write>` for what is written.
//
// Bad definitions fail before any result is produced, in `ready(engine)` (awaited by fit, evaluate, predict and
// checkGradients), with a ShaderflowError naming the layer, the kernel and the WGSL line:
//   - WGSL that does not compile (the compiler's line and message, with the source line quoted);
//   - bindings that differ from the declaration (names, order, read/write) - checked on the source, and by WebGPU
//     itself, since the pipeline is built with an explicit layout made from the declaration;
//   - an output shape function (or dispatch shape) that disagrees with what the WGSL writes: a dry run on a batch
//     of 2 binds every written tensor with a NaN guard region after its declared size, all NaN-poisoned; every
//     declared value must be written (finite) and the guard untouched. Why a guard inside the binding rather than an
//     exact-size binding: WebGPU's robust buffer access clamps (or drops) out-of-range writes to the binding, so
//     with an exact binding a shader writing too much would silently overwrite its own last elements, undetectable;
//     with the guard bound too, such writes land in the guard and show. Kernels must therefore bound their writes
//     by the sizes in the uniform, not by arrayLength().
import { ShaderflowError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import type { Binding, Recorder } from '../gpu/recorder.js';
import { runOnce } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { fnv1a } from '../kernels/autotune.js';
import { randomUniform } from '../reference/random.js';
import { Layer, type InitializerName, type ParamSpec, type StepContext } from './layer.js';

/** Sizes a custom layer's functions see for a batch. */
export interface CustomDims<C> {
  /** Examples in the batch. */
  n: number;
  inputShape: number[];
  outputShape: number[];
  /** Values per example of the input and the output. */
  inSize: number;
  outSize: number;
  config: C;
}

/** One compute dispatch of a custom layer. */
export interface CustomKernel<C> {
  /** WGSL source of one module: its @group(0) bindings are exactly `bindings`. */
  code: string;
  /** Entry point (default 'main'). */
  entry?: string;
  /** Binding i of @group(0), by name (see the top of src/layers/custom.ts). */
  bindings: string[];
  /** Workgroup counts for a batch: the dispatch shape. */
  workgroups(d: CustomDims<C>): [number, number?, number?];
  /** WGSL `override` constants. */
  constants?: Record<string, number>;
}

/** A trainable parameter of a custom layer: its name (bound in WGSL by that name), shape and initializer. */
export interface CustomParam {
  name: string;
  shape: number[];
  /** Default 'zeros'. */
  initializer?: InitializerName;
  /** For Glorot/He initializers; default the product of all but the last dimension, and the last dimension. */
  fanIn?: number;
  fanOut?: number;
}

/**
 * What `defineLayer` turns into a layer class: the forward and backward WGSL kernels, the parameters, the buffers
 * forward saves for backward, the output shape and, optionally, a float64 reference (binding names: see the top of
 * src/layers/custom.ts). `C` is the layer's config, stored in model.json.
 */
export interface CustomLayerDefinition<C extends object> {
  /** The class name in model.json (registerLayer registers it under this name). */
  className: string;
  /** Base of automatic layer names (default the class name in snake_case). */
  baseName?: string;
  /** Config defaults; the config is `{...defaults, ...options}` minus name and inputShape, and is what model.json stores. */
  defaults?: C;
  /** Checks a config; return an error message (or throw) when it is invalid. */
  validateConfig?(config: C): string | void;
  /** Output shape without the batch (default: the input shape). Throw or return null when the input does not fit. */
  outputShape?(inputShape: number[], config: C): number[];
  /** Trainable parameters for an input shape. */
  params?(inputShape: number[], config: C): CustomParam[];
  /** Buffers forward writes and backward reads: name -> values per example. */
  saved?(inputShape: number[], config: C): Record<string, number>;
  /** The uniform buffer's values and types ('u' u32, 'i' i32, 'f' f32 per value; default all u32). */
  uniform?(d: CustomDims<C>): { values: number[]; types?: string };
  forward: CustomKernel<C> | CustomKernel<C>[];
  backward: CustomKernel<C> | CustomKernel<C>[];
  /**
   * Float64 CPU twin of forward (optional): x [n, ...inputShape] flattened, parameters by name; returns the output
   * flattened. checkGradients differentiates it when present, else the layer's own GPU forward.
   */
  reference?(x: Float64Array, params: Record<string, ArrayLike<number>>, d: CustomDims<C>): ArrayLike<number>;
}

/** The class `defineLayer` returns: `new Cls({...config, name?, inputShape?})`, registrable by class name. */
export interface CustomLayerClass<C extends object> {
  new (options?: Partial<C> & { name?: string; inputShape?: number[] }): CustomLayer<C>;
  readonly className: string;
  readonly definition: CustomLayerDefinition<C>;
  /** Rebuilds a layer from its model.json config (what the layer registry calls when loading a model). */
  fromConfig(config: Record<string, unknown>, base: { name: string; inputShape?: number[] }): CustomLayer<C>;
}

const RESERVED = ['x', 'y', 'dy', 'dx', 'dims'];

type Stage = 'forward' | 'backward';

/** A WGSL @group(0) binding as declared in the source: slot, variable name, address space, access and 1-based line. */
export interface WgslBinding {
  binding: number;
  name: string;
  space: string;
  access: string;
  line: number;
}

/** The @group(0) bindings a WGSL module declares (attribute order either way), with their source lines. */
export function wgslBindings(code: string): WgslBinding[] {
  const out: WgslBinding[] = [];
  const re = /@(group|binding)\s*\(\s*(\d+)\s*\)\s*@(group|binding)\s*\(\s*(\d+)\s*\)\s*var\s*<\s*([a-z_]+)\s*(?:,\s*([a-z_]+)\s*)?>\s*([A-Za-z_][A-Za-z0-9_]*)/g;
  for (const m of code.matchAll(re)) {
    const group = Number(m[1] === 'group' ? m[2] : m[4]);
    const binding = Number(m[1] === 'binding' ? m[2] : m[4]);
    if (group !== 0) continue;
    out.push({ binding, name: m[7]!, space: m[5]!, access: m[6] ?? (m[5] === 'storage' ? 'read' : ''), line: code.slice(0, m.index).split('\n').length });
  }
  return out;
}

/** The source line `line` (1-based), quoted for an error message. */
function quote(code: string, line: number): string {
  const text = code.split('\n')[line - 1];
  return text === undefined ? '' : `\n    ${line} | ${text.trim()}`;
}

function fnLine(code: string, entry: string): number {
  const i = code.search(new RegExp(`fn\\s+${entry}\\s*\\(`));
  return i < 0 ? 1 : code.slice(0, i).split('\n').length;
}


const GUARD = 64;

/**
 * A layer made of a CustomLayerDefinition's WGSL kernels; `defineLayer` returns a subclass of it. Its kernels are
 * compiled, binding-checked and dry-run in `ready(engine)` (see the top of src/layers/custom.ts).
 */
export class CustomLayer<C extends object> extends Layer {
  readonly className: string;
  readonly config: C;
  private specs: CustomParam[] = [];
  private savedSizes: Record<string, number> = {};
  private y?: Tensor;
  private dx?: Tensor;
  private savedBuffers: Record<string, Tensor> = {};
  /** Engines (and the input shape) this layer's kernels were compiled and dry-run on. */
  private readonly checked = new WeakMap<Engine, string>();
  private readonly pipelines = new WeakMap<Engine, Map<string, { pipeline: GPUComputePipeline; errors: Promise<string | null> }>>();

  constructor(
    readonly definition: CustomLayerDefinition<C>,
    options: Partial<C> & { name?: string; inputShape?: number[]; trainable?: boolean } = {},
  ) {
    const { name, inputShape, trainable, ...rest } = options as { name?: string; inputShape?: number[]; trainable?: boolean } & Record<string, unknown>;
    super({ name, inputShape, trainable }, definition.baseName ?? definition.className.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase());
    this.className = definition.className;
    this.config = { ...(definition.defaults ?? {}), ...rest } as C;
    let problem: string | void;
    try {
      problem = definition.validateConfig?.(this.config);
    } catch (e) {
      problem = (e as Error).message;
    }
    if (problem) throw this.shapeError(`invalid config ${JSON.stringify(this.config)}: ${problem}`);
    const reference = definition.reference;
    if (reference)
      this.referenceForward = (x, weight, n) => {
        const params: Record<string, ArrayLike<number>> = {};
        for (const p of this.specs) params[p.name] = weight(p.name);
        return reference(x, params, this.dims(n));
      };
  }

  private get forwardKernels(): CustomKernel<C>[] {
    const f = this.definition.forward;
    return Array.isArray(f) ? f : [f];
  }

  private get backwardKernels(): CustomKernel<C>[] {
    const b = this.definition.backward;
    return Array.isArray(b) ? b : [b];
  }

  computeOutputShape(inputShape: number[]): number[] {
    let out: number[] | null | undefined;
    try {
      out = this.definition.outputShape ? this.definition.outputShape([...inputShape], this.config) : [...inputShape];
    } catch (e) {
      throw this.shapeError(`does not apply to input shape ${shapeStr(inputShape)}: ${(e as Error).message}`);
    }
    if (!out || !out.every((d) => Number.isInteger(d) && d > 0))
      throw this.shapeError(`outputShape(${shapeStr(inputShape)}) returned ${JSON.stringify(out)}, not a list of positive whole numbers.`);
    return out;
  }

  override build(inputShape: number[]): void {
    super.build(inputShape);
    this.specs = this.definition.params?.([...inputShape], this.config) ?? [];
    this.savedSizes = this.definition.saved?.([...inputShape], this.config) ?? {};
    const names = new Set<string>();
    for (const p of this.specs) {
      if (RESERVED.includes(p.name) || p.name.startsWith('grad_') || names.has(p.name) || p.name in this.savedSizes || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p.name))
        throw this.shapeError(`parameter name "${p.name}" is reserved, repeated or not an identifier.`);
      if (!p.shape.every((d) => Number.isInteger(d) && d > 0)) throw this.shapeError(`parameter "${p.name}" has shape ${shapeStr(p.shape)}.`);
      names.add(p.name);
    }
    for (const [s, per] of Object.entries(this.savedSizes)) {
      if (RESERVED.includes(s) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) throw this.shapeError(`saved buffer name "${s}" is reserved or not an identifier.`);
      if (!Number.isInteger(per) || per < 1) throw this.shapeError(`saved buffer "${s}" must hold a positive whole number of values per example, got ${per}.`);
    }
    for (const stage of ['forward', 'backward'] as const)
      (stage === 'forward' ? this.forwardKernels : this.backwardKernels).forEach((k, i) =>
        k.bindings.forEach((b, slot) => {
          if (this.access(stage, b) === undefined)
            throw this.shapeError(`${stage} kernel ${i} binding ${slot} is "${b}", which is not ${this.bindingNames(stage).join(', ')}.`);
        }),
      );
  }

  /** The names a stage's kernels may bind. */
  private bindingNames(stage: Stage): string[] {
    const params = this.specs.map((p) => p.name);
    const saved = Object.keys(this.savedSizes);
    return stage === 'forward'
      ? ['x', 'y', 'dims', ...params, ...saved]
      : ['x', 'y', 'dy', 'dx', 'dims', ...params, ...params.map((p) => `grad_${p}`), ...saved];
  }

  /** How a stage uses a binding name: 'uniform', 'read' or 'write' (undefined: not a name it may bind). */
  private access(stage: Stage, name: string): 'uniform' | 'read' | 'write' | undefined {
    if (!this.bindingNames(stage).includes(name)) return undefined;
    if (name === 'dims') return 'uniform';
    if (stage === 'forward') return name === 'y' || name in this.savedSizes ? 'write' : 'read';
    return name === 'dx' || name.startsWith('grad_') ? 'write' : 'read';
  }

  override paramSpecs(): ParamSpec[] {
    return this.specs.map((p) => ({
      name: p.name,
      shape: [...p.shape],
      initializer: p.initializer ?? 'zeros',
      fanIn: p.fanIn ?? Math.max(1, p.shape.slice(0, -1).reduce((a, b) => a * b, 1)),
      fanOut: p.fanOut ?? p.shape[p.shape.length - 1]!,
    }));
  }

  getConfig(): Record<string, unknown> {
    return { ...(this.config as Record<string, unknown>) };
  }

  /** The sizes this layer's definition functions (workgroups, uniform, reference) see for a batch of `n`. */
  dims(n: number): CustomDims<C> {
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    return { n, inputShape: [...this.inputShape], outputShape: [...this.outputShape], inSize: size(this.inputShape), outSize: size(this.outputShape), config: this.config };
  }

  protected allocateBuffers(engine: Engine, maxBatch: number): void {
    this.y = this.own(engine, [maxBatch, ...this.outputShape]);
    this.dx = this.own(engine, [maxBatch, ...this.inputShape]);
    this.savedBuffers = {};
    for (const [name, per] of Object.entries(this.savedSizes)) this.savedBuffers[name] = this.own(engine, [maxBatch, per]);
  }

  /** Pipeline of kernel i of a stage, built with an explicit layout from the declared bindings. */
  private pipeline(engine: Engine, stage: Stage, i: number): { pipeline: GPUComputePipeline; errors: Promise<string | null> } {
    let cache = this.pipelines.get(engine);
    if (!cache) this.pipelines.set(engine, (cache = new Map()));
    const hit = cache.get(`${stage}${i}`);
    if (hit) return hit;
    const built = this.buildPipeline(engine, stage, i);
    cache.set(`${stage}${i}`, built);
    return built;
  }

  private buildPipeline(engine: Engine, stage: Stage, i: number): { pipeline: GPUComputePipeline; errors: Promise<string | null> } {
    const k = (stage === 'forward' ? this.forwardKernels : this.backwardKernels)[i]!;
    const type = (b: string): GPUBufferBindingType => {
      const a = this.access(stage, b);
      return a === 'uniform' ? 'uniform' : a === 'write' ? 'storage' : 'read-only-storage';
    };
    const COMPUTE = 0x4; // GPUShaderStage.COMPUTE (no global in Node)
    const layout = engine.device.createPipelineLayout({
      label: `${this.className} ${stage}[${i}]`,
      bindGroupLayouts: [
        engine.device.createBindGroupLayout({
          label: `${this.className} ${stage}[${i}] bindings`,
          entries: k.bindings.map((b, slot) => ({ binding: slot, visibility: COMPUTE, buffer: { type: type(b) } })),
        }),
      ],
    });
    // Hashes of the source and bindings: two definitions with one class name never share a pipeline.
    const key = `custom:${this.className}:${fnv1a(k.code)}:${fnv1a(k.bindings.map(type).join())}`;
    return engine.pipelineFromSource(key, k.code, k.entry ?? 'main', k.constants ?? {}, layout);
  }

  /** Source-level check of a kernel's bindings against its declaration (the WGSL line of the first difference). */
  private checkBindings(stage: Stage, i: number): void {
    const k = (stage === 'forward' ? this.forwardKernels : this.backwardKernels)[i]!;
    const what = `${stage} kernel ${i}`;
    const declared = wgslBindings(k.code);
    k.bindings.forEach((name, slot) => {
      const w = declared.find((d) => d.binding === slot);
      if (!w) throw this.wgslError(`${what}: the layer declares binding ${slot} "${name}" but the WGSL has no @group(0) @binding(${slot}).`);
      if (w.name !== name)
        throw this.wgslError(`${what}: WGSL line ${w.line} declares @binding(${slot}) as "${w.name}" but the layer declares binding ${slot} "${name}".${quote(k.code, w.line)}`);
      const a = this.access(stage, name);
      const want = a === 'uniform' ? 'uniform' : a === 'write' ? 'storage, read_write' : 'storage, read';
      const got = w.space === 'uniform' ? 'uniform' : `${w.space}, ${w.access}`;
      if (want !== got)
        throw this.wgslError(`${what}: WGSL line ${w.line} declares "${w.name}" as var<${got}> but ${stage} ${a === 'write' ? 'writes' : 'reads'} "${name}": declare it var<${want}>.${quote(k.code, w.line)}`);
    });
    const extra = declared.find((d) => d.binding >= k.bindings.length);
    if (extra)
      throw this.wgslError(`${what}: WGSL line ${extra.line} declares @binding(${extra.binding}) "${extra.name}", which the layer's bindings (${k.bindings.join(', ')}) do not.${quote(k.code, extra.line)}`);
  }

  private wgslError(message: string): ShaderflowError {
    return new ShaderflowError(`Layer "${this.name}" (${this.className}): ${message}`);
  }

  /**
   * Compiles every kernel on `engine` and dry-runs forward and backward on a batch of 2 (see the top of this file);
   * a ShaderflowError naming the layer, kernel and WGSL line for WGSL that does not compile, bindings that differ
   * from the declaration, or an output shape or dispatch that disagrees with what the WGSL writes.
   */
  override async ready(engine: Engine): Promise<void> {
    if (!this.built) throw this.shapeError('is not built: give it an input shape (or add it to a model) first.');
    const shapeKey = shapeStr(this.inputShape);
    if (this.checked.get(engine) === shapeKey) return;
    for (const stage of ['forward', 'backward'] as const) {
      const kernels = stage === 'forward' ? this.forwardKernels : this.backwardKernels;
      for (let i = 0; i < kernels.length; i++) {
        const k = kernels[i]!;
        const { errors } = this.pipeline(engine, stage, i);
        const err = await errors;
        if (err) {
          const line = /line (\d+):/.exec(err);
          if (line) throw this.wgslError(`${stage} kernel ${i}: the WGSL does not compile: ${err}${quote(k.code, Number(line[1]))}`);
          this.checkBindings(stage, i); // names the WGSL line when the bindings are what WebGPU rejected
          throw this.wgslError(`${stage} kernel ${i} (fn ${k.entry ?? 'main'}, WGSL line ${fnLine(k.code, k.entry ?? 'main')}): WebGPU rejects the pipeline: ${err}`);
        }
        this.checkBindings(stage, i);
      }
    }
    await this.dryRun(engine);
    this.checked.set(engine, shapeKey);
  }

  /** Forward and backward on a batch of 2 with every written tensor NaN-poisoned and followed by a NaN guard. */
  private async dryRun(engine: Engine): Promise<void> {
    const n = 2;
    const d = this.dims(n);
    const made: Tensor[] = [];
    const tensor = (values: Float32Array): Tensor => {
      const t = engine.tensor([values.length], values);
      made.push(t);
      return t;
    };
    const poisoned = (size: number): { t: Tensor; size: number } => ({ t: tensor(new Float32Array(size + GUARD).fill(NaN)), size });
    try {
      const map: Record<string, Binding> = {};
      const written: Record<string, { t: Tensor; size: number; stage: Stage; kernel: number }> = {};
      map.x = tensor(randomUniform(n * d.inSize, 11));
      for (const [i, p] of this.specs.entries()) map[p.name] = tensor(randomUniform(p.shape.reduce((a, b) => a * b, 1), 13 + i));
      const writer = (stage: Stage, name: string): number => (stage === 'forward' ? this.forwardKernels : this.backwardKernels).findIndex((k) => k.bindings.includes(name));
      const out = (stage: Stage, name: string, size: number) => {
        const p = poisoned(size);
        written[name] = { ...p, stage, kernel: writer(stage, name) };
        map[name] = p.t;
      };
      out('forward', 'y', n * d.outSize);
      for (const [s, per] of Object.entries(this.savedSizes)) out('forward', s, n * per);
      await runOnce(engine, `${this.name} dry run (forward)`, (rec) => this.record(rec, 'forward', map, n));
      await this.checkWritten(written, ['y', ...Object.keys(this.savedSizes)]);
      // backward reads y and the saved buffers forward wrote (their declared sizes only)
      for (const name of ['y', ...Object.keys(this.savedSizes)]) {
        const w = written[name]!;
        map[name] = { buffer: w.t.buffer, offset: 0, size: w.size * 4 };
      }
      map.dy = tensor(randomUniform(n * d.outSize, 17));
      out('backward', 'dx', n * d.inSize);
      for (const p of this.specs) out('backward', `grad_${p.name}`, p.shape.reduce((a, b) => a * b, 1));
      await runOnce(engine, `${this.name} dry run (backward)`, (rec) => this.record(rec, 'backward', map, n));
      await this.checkWritten(written, ['dx', ...this.specs.map((p) => `grad_${p.name}`)]);
    } finally {
      for (const t of made) t.dispose();
    }
  }

  private async checkWritten(written: Record<string, { t: Tensor; size: number; stage: Stage; kernel: number }>, names: string[]): Promise<void> {
    for (const name of names) {
      const w = written[name]!;
      const values = await w.t.data();
      const kernels = w.stage === 'forward' ? this.forwardKernels : this.backwardKernels;
      const k = kernels[Math.max(0, w.kernel)]!;
      const decl = wgslBindings(k.code).find((b) => b.name === name);
      const where = w.kernel < 0
        ? `no ${w.stage} kernel binds "${name}"`
        : `${w.stage} kernel ${w.kernel} (fn ${k.entry ?? 'main'} at WGSL line ${fnLine(k.code, k.entry ?? 'main')}${decl ? `, "${decl.name}" declared at line ${decl.line}` : ''})`;
      const what = name === 'y' ? `outputShape ${shapeStr(this.outputShape)}` : name === 'dx' ? `input shape ${shapeStr(this.inputShape)}` : name.startsWith('grad_') ? `parameter shape` : `saved size`;
      let past = -1;
      for (let i = w.size; i < values.length; i++) if (!Number.isNaN(values[i]!)) past = i;
      if (past >= 0)
        throw this.wgslError(`${where} writes "${name}" past the ${w.size} values its ${what} gives for a batch of 2 (it wrote index ${past}): the output shape function (or the WGSL's bounds) is wrong. Bound writes by the uniform's sizes, not arrayLength().`);
      let missing = 0, first = -1;
      for (let i = 0; i < w.size; i++) if (Number.isNaN(values[i]!)) (missing++, first < 0 && (first = i));
      if (missing > 0)
        throw this.wgslError(`${where} leaves ${missing} of the ${w.size} values of "${name}" unwritten (first at index ${first}) for a batch of 2: its ${what} or the dispatch shape (workgroups) disagrees with what the WGSL writes (or it wrote NaN).`);
    }
  }

  /** Records one stage's kernels with `map` giving each binding name its buffer. */
  private record(rec: Recorder, stage: Stage, map: Record<string, Binding>, n: number): void {
    const engine = rec.engine;
    const d = this.dims(n);
    const u = this.definition.uniform?.(d) ?? { values: [n, d.inSize, d.outSize, 0] };
    const uniform = rec.uniform(u.values, u.types);
    (stage === 'forward' ? this.forwardKernels : this.backwardKernels).forEach((k, i) => {
      const { pipeline } = this.pipeline(engine, stage, i);
      rec.dispatch({
        pipeline,
        bindings: k.bindings.map((b) => (b === 'dims' ? uniform : map[b]!)),
        workgroups: k.workgroups(d),
        label: `${this.name} (${this.className}).${stage}[${i}]`,
      });
    });
  }

  private requireReady(engine: Engine): void {
    if (this.checked.get(engine) !== shapeStr(this.inputShape))
      throw this.wgslError('its WGSL has not been compiled and checked on this engine: await layer.ready(engine) first (fit, evaluate, predict and checkGradients do).');
  }

  forward(rec: Recorder, x: Tensor, ctx: StepContext): Tensor {
    this.requireReady(rec.engine);
    const y = this.batchView(this.y!, ctx.n);
    const map: Record<string, Binding> = { x, y };
    this.specs.forEach((p, i) => (map[p.name] = this.weights[i]!));
    const saved: Record<string, Tensor> = { input: x, output: y };
    for (const [name, t] of Object.entries(this.savedBuffers)) map[name] = saved[name] = this.batchView(t, ctx.n);
    this.record(rec, 'forward', map, ctx.n);
    this.saved = saved;
    return y;
  }

  backward(rec: Recorder, dy: Tensor, ctx: StepContext, needInputGrad: boolean): Tensor | null {
    this.requireReady(rec.engine);
    const dx = this.batchView(this.dx!, ctx.n);
    const map: Record<string, Binding> = { x: this.saved.input!, y: this.saved.output!, dy, dx };
    this.specs.forEach((p, i) => {
      map[p.name] = this.weights[i]!;
      map[`grad_${p.name}`] = this.grads[i]!;
    });
    for (const name of Object.keys(this.savedBuffers)) map[name] = this.saved[name]!;
    this.record(rec, 'backward', map, ctx.n);
    return needInputGrad ? dx : null;
  }
}

/**
 * A Layer class from a WGSL definition (see the top of src/layers/custom.ts for bindings and the checks). Register
 * it with `registerLayer(Cls)` so models using it save and load.
 */
export function defineLayer<C extends object = Record<never, never>>(definition: CustomLayerDefinition<C>): CustomLayerClass<C> {
  if (typeof definition.className !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(definition.className))
    throw new ShaderflowError(`defineLayer: className ${JSON.stringify(definition.className)} must be an identifier.`);
  for (const stage of ['forward', 'backward'] as const) {
    const ks = definition[stage];
    if (!ks || (Array.isArray(ks) && ks.length === 0))
      throw new ShaderflowError(`defineLayer(${definition.className}): ${stage} needs at least one kernel {code, bindings, workgroups}.`);
    for (const k of Array.isArray(ks) ? ks : [ks])
      if (typeof k.code !== 'string' || !Array.isArray(k.bindings) || typeof k.workgroups !== 'function')
        throw new ShaderflowError(`defineLayer(${definition.className}): each ${stage} kernel needs code (WGSL text), bindings (names) and workgroups(dims).`);
  }
  const Defined = class extends CustomLayer<C> {
    static readonly className = definition.className;
    static readonly definition = definition;
    constructor(options: Partial<C> & { name?: string; inputShape?: number[]; trainable?: boolean } = {}) {
      super(definition, options);
    }
    static fromConfig(config: Record<string, unknown>, base: { name: string; inputShape?: number[] }): CustomLayer<C> {
      return new Defined({ ...(config as Partial<C>), ...base });
    }
  };
  return Defined;
}

