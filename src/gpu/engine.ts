// The engine: one WebGPU device, its buffer pool, its pipeline cache and its per-adapter tuning.
// Nothing here is global: every tensor, recorder and model holds the engine it was made with.
import { DeviceError, ShaderflowError } from '../errors.js';
import { SHADERS, type ShaderName } from '../shaders.js';
import { gpuCandidates, installHint, runtime, type BackendName } from './provider.js';
import { Tensor, type DType } from './tensor.js';

/**
 * Which kernel variant set an engine runs. 'software': a CPU rasterizer (llvmpipe, lavapipe, softpipe,
 * SwiftShader, WARP), where every invocation is a SIMD lane and barrier-free register-blocked kernels win.
 * 'gpu': everything else, where kernels must fill hundreds of workgroups and stage tiles in workgroup memory.
 */
export type AdapterClass = 'software' | 'gpu';

/** Options of createEngine. */
export interface EngineOptions {
  /** Force a backend; default `SHADERFLOW_BACKEND` in Node, else `auto`. */
  backend?: BackendName;
  /** Ask for a low-power / high-performance adapter where there is a choice. */
  powerPreference?: GPUPowerPreference;
  /**
   * Time the candidate kernel variants of each shape when a model's step is first prepared and keep the fastest
   * (src/kernels/autotune.ts; cached on disk in Node, in memory in a browser). Default: on for an adapter classed
   * 'gpu' by its own info, off on software adapters and forced classes; env `SHADERFLOW_AUTOTUNE=0|1` overrides
   * the default (the tests pin 0, for kernels that do not depend on timings).
   */
  autotune?: boolean;
  /**
   * Force the kernel variant set ('software' or 'gpu') instead of classifying the adapter; default
   * `SHADERFLOW_ADAPTER_CLASS` in Node. Forcing 'gpu' on llvmpipe is how the GPU kernels are tested without a GPU.
   */
  adapterClass?: AdapterClass;
}

/**
 * Whether kernels may time their candidates: the option wins, then `SHADERFLOW_AUTOTUNE` (0/false/off/no or
 * 1/true/on/yes); by default only on an adapter classed 'gpu' by its own info. On a software adapter each
 * candidate costs seconds of shader compilation (minutes for a model's shapes on llvmpipe) and the defaults are
 * measured there; a forced class times kernels on an adapter they were not chosen for, so it defaults off too.
 */
export function autotuneEnabled(option?: boolean, detectedGpu = true): boolean {
  if (option !== undefined) return option;
  const env = typeof process !== 'undefined' && process.env ? process.env.SHADERFLOW_AUTOTUNE?.trim() : undefined;
  if (env && /^(0|false|off|no)$/i.test(env)) return false;
  if (env && /^(1|true|on|yes)$/i.test(env)) return true;
  return detectedGpu;
}

/** The WebGPU adapter an engine runs on, as Engine.adapter reports it. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  description: string;
  device: string;
  featureLevel: 'core' | 'compatibility';
  backend: string;
  /** The kernel variant set this engine runs (see AdapterClass). */
  adapterClass: AdapterClass;
  /** Why that class: the name that matched, the fallback flag, or the option / variable that forced it. */
  classReason: string;
  /** adapterClass === 'software' (kept for callers that only ask this). */
  software: boolean;
  runtime: 'node' | 'browser';
}

/** Software rasterizers by the names their drivers report (Mesa's llvmpipe/lavapipe/softpipe, SwiftShader, WARP). */
const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render driver/i;

/**
 * The adapter's class: 'software' only for a known CPU rasterizer or an adapter flagged `isFallbackAdapter`;
 * every other adapter, including Mesa's hardware drivers (radv, anv, iris, NVK, ...), is a GPU. `forced` wins.
 */
export function classifyAdapter(
  info: { vendor?: string; architecture?: string; description?: string; device?: string; isFallbackAdapter?: boolean },
  forced?: { value: string; source: string },
): { adapterClass: AdapterClass; classReason: string } {
  if (forced) {
    if (forced.value !== 'software' && forced.value !== 'gpu')
      throw new ShaderflowError(`${forced.source} must be 'software' or 'gpu', got ${JSON.stringify(forced.value)}.`);
    return { adapterClass: forced.value, classReason: `forced by ${forced.source}` };
  }
  const text = [info.vendor, info.architecture, info.description, info.device].filter((s) => s).join(' ');
  const m = SOFTWARE_NAMES.exec(text);
  if (m) return { adapterClass: 'software', classReason: `software rasterizer "${m[0]}" in the adapter info` };
  if (info.isFallbackAdapter === true) return { adapterClass: 'software', classReason: 'the adapter is a fallback adapter (isFallbackAdapter)' };
  return { adapterClass: 'gpu', classReason: `no software rasterizer named in "${text || 'empty adapter info'}"` };
}

/** GPU buffers an engine holds (Engine.memory): in use, and kept in its pool for reuse. */
export interface MemoryReport {
  /** Buffers handed out and not yet released (tensors, uniforms, staging). */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers kept in the pool for reuse. */
  pooledBuffers: number;
  pooledBytes: number;
}

const STORAGE_USAGE = 0x0080 | 0x0004 | 0x0008; // STORAGE | COPY_SRC | COPY_DST
const UNIFORM_USAGE = 0x0040 | 0x0008; // UNIFORM | COPY_DST
const READBACK_USAGE = 0x0001 | 0x0008; // MAP_READ | COPY_DST

/** Limits we ask for at the adapter's real value: WebGPU's defaults (128 invocations in compatibility mode) are too low. */
export const RAISED_LIMITS = [
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBuffersPerShaderStage',
  'maxBindGroups',
  'maxUniformBufferBindingSize',
] as const;

/** Round a byte size up to its pool size class: 256-byte minimum, then four classes per power of two. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(bytes));
  for (const f of [1, 1.25, 1.5, 1.75, 2]) {
    const c = Math.ceil((p * f) / 256) * 256;
    if (c >= bytes) return c;
  }
  return p * 2;
}

/** Opens a WebGPU device: the first adapter that works (see EngineOptions.backend), with its real limits raised, and autotunes the matmul tiles once per adapter unless told not to. Throws a DeviceError naming every attempt when none works. */
export async function createEngine(options: EngineOptions = {}): Promise<Engine> {
  const envBackend =
    typeof process !== 'undefined' && process.env ? (process.env.SHADERFLOW_BACKEND as BackendName | undefined) : undefined;
  const backend: BackendName = options.backend ?? envBackend ?? 'auto';
  const envClass = typeof process !== 'undefined' && process.env ? process.env.SHADERFLOW_ADAPTER_CLASS : undefined;
  const forcedClass =
    options.adapterClass !== undefined
      ? { value: options.adapterClass, source: 'createEngine({ adapterClass })' }
      : envClass
        ? { value: envClass.trim(), source: 'SHADERFLOW_ADAPTER_CLASS' }
        : undefined;
  if (forcedClass) classifyAdapter({}, forcedClass); // a bad value fails before any adapter is requested
  const tried: string[] = [];
  let candidates;
  try {
    candidates = await gpuCandidates(backend);
  } catch (e) {
    throw new DeviceError(`Could not load the WebGPU implementation: ${(e as Error).message}. ${installHint}`, { cause: e });
  }
  for (const c of candidates) {
    let adapter: GPUAdapter | null = null;
    try {
      adapter = await c.gpu.requestAdapter({
        featureLevel: c.featureLevel,
        powerPreference: options.powerPreference,
      } as GPURequestAdapterOptions);
    } catch (e) {
      tried.push(`${c.label}: ${(e as Error).message}`);
      continue;
    }
    if (!adapter) {
      tried.push(`${c.label}: no adapter`);
      continue;
    }
    const requiredLimits: Record<string, number> = {};
    for (const k of RAISED_LIMITS) {
      const v = (adapter.limits as unknown as Record<string, number | undefined>)[k];
      if (typeof v === 'number') requiredLimits[k] = v;
    }
    const wanted: GPUFeatureName[] = ['timestamp-query', 'shader-f16'];
    const requiredFeatures = wanted.filter((f) => adapter!.features.has(f));
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'shaderflow' });
    } catch (e) {
      tried.push(`${c.label}: requestDevice failed: ${(e as Error).message}`);
      continue;
    }
    // Read field by field: GPUAdapterInfo's fields are getters, which an object spread does not copy.
    const info = adapter.info ?? ({} as GPUAdapterInfo);
    const report: AdapterReport = {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      description: info.description ?? '',
      device: (info as { device?: string }).device ?? '',
      featureLevel: c.featureLevel,
      backend: c.label.replace(/ \(.*\)$/, ''),
      ...classifyAdapter({ vendor: info.vendor, architecture: info.architecture, description: info.description, device: (info as { device?: string }).device, isFallbackAdapter: (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter }, forcedClass),
      software: false,
      runtime,
    };
    report.software = report.adapterClass === 'software';
    // Kernel tiles are autotuned per shape when a model's step is first prepared (src/kernels/autotune.ts), not here.
    const engine = new Engine(device, report, c.gpu, autotuneEnabled(options.autotune, report.adapterClass === 'gpu' && !forcedClass));
    engine.options = { ...options };
    c.chosen?.(tried); // lets the provider remember which backend works here
    return engine;
  }
  throw new DeviceError(
    `No usable WebGPU adapter (backend ${backend}). Tried:\n  - ${tried.join('\n  - ') || 'nothing: no WebGPU implementation'}\n${installHint}`,
  );
}

type PendingError = Promise<string | null>;

/** A compute pipeline by shader, entry point and `override` constants (the pipeline cache's key). */
export interface PipelineSpec {
  shader: ShaderName;
  entry: string;
  constants: Record<string, number>;
}

function pipelineKey(shader: ShaderName, entry: string, constants: Record<string, number>): string {
  return `${shader}:${entry}:${Object.entries(constants)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;
}

/** One WebGPU device with its buffer pool, pipeline cache and tuning. Every tensor, recorder and model holds the engine it was made with; there is no global device. */
export class Engine {
  readonly limits: GPUSupportedLimits;
  private readonly pool = new Map<string, GPUBuffer[]>();
  private readonly live = new Map<GPUBuffer, number>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  /** Pipelines built from source text (pipelineFromSource): key -> source, and pipeline key -> its error check. */
  private readonly sources = new Map<string, string>();
  private readonly sourceChecks = new Map<string, Promise<string | null>>();
  private pending: PendingError[] = [];
  private lostInfo: string | null = null;
  private uncaptured: string | null = null;
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    /** The GPU instance the device came from: held so it outlives the device (see provider.ts). */
    readonly gpu?: GPU,
    /** Whether kernels may time their candidate variants (createEngine's `autotune`, `SHADERFLOW_AUTOTUNE`). */
    readonly autotune = false,
  ) {
    this.limits = device.limits;
    device.lost.then((info) => {
      if (!this.destroyed || info.reason !== 'destroyed') this.lostInfo = `${info.reason}: ${info.message}`;
      else this.lostInfo = 'destroyed: the engine was disposed';
    });
    device.addEventListener('uncapturederror', (ev) => {
      const msg = (ev as GPUUncapturedErrorEvent).error.message;
      if (!this.uncaptured) this.uncaptured = msg;
    });
  }

  /** A one-line description of the adapter, for logs and `--json`. */
  describe(): string {
    const a = this.adapter;
    const name = [a.vendor, a.architecture, a.description, a.device].filter((s) => s).join(' / ');
    const fallbacks = this.fallbackNotes.length ? `; ${this.fallbackNotes.join('; ')}` : '';
    return `${name || 'unknown adapter'} [${a.backend}, ${a.featureLevel}, ${a.adapterClass} class (${a.classReason})${fallbacks}]`;
  }

  /** Names the adapter and class for caches (unlike describe(), without the fallback notes that kernels add). */
  adapterKey(): string {
    const a = this.adapter;
    return `${[a.vendor, a.architecture, a.description, a.device].filter((s) => s).join(' / ')} [${a.backend}, ${a.featureLevel}, ${a.adapterClass}]`;
  }

  /** What `describe()` says about kernel variants replaced because this adapter cannot run them. */
  readonly fallbackNotes: string[] = [];

  /**
   * Records (once) that a kernel variant was replaced by the next one that fits the adapter's limits, e.g. a
   * workgroup-memory GEMM on an adapter with too little workgroup storage; `describe()` lists these.
   */
  noteFallback(note: string): void {
    if (!this.fallbackNotes.includes(note)) this.fallbackNotes.push(note);
  }

  /** The options this engine was created with: `createEngine(engine.options)` opens an equivalent one (device-loss recovery does). */
  options: EngineOptions = {};

  /** Whether the device is gone (lost or destroyed); every later GPU call throws a DeviceError. */
  get isLost(): boolean {
    return this.lostInfo !== null;
  }

  /** Why the device was lost ("reason: message", as WebGPU's device.lost said), or null while it is alive. */
  get lostReason(): string | null {
    return this.lostInfo;
  }

  /** Throws a DeviceError when the device is gone: every entry point calls this before touching the GPU. */
  assertAlive(what: string): void {
    if (this.lostInfo !== null)
      throw new DeviceError(`${what}: the WebGPU device was lost (${this.lostInfo}). Create a new engine and reload the model or checkpoint.`);
  }

  // ---------------------------------------------------------------- buffers

  private virtualDepth = 0;
  private readonly virtualSet = new WeakSet<GPUBuffer>();

  /**
   * Runs `fn` with virtual allocation: every `acquire` inside returns a placeholder of the asked size that holds
   * no GPU memory (writes to it are dropped, and it cannot be read, bound or run) and no adapter limit applies.
   * For recording dry steps (`model.plan`) at batch sizes this adapter could not hold.
   */
  withVirtualBuffers<T>(fn: () => T): T {
    this.virtualDepth++;
    try {
      return fn();
    } finally {
      this.virtualDepth--;
    }
  }

  /** Whether `buf` is a placeholder from `withVirtualBuffers`. */
  isVirtual(buf: GPUBuffer): boolean {
    return this.virtualSet.has(buf);
  }

  /** A pooled buffer of at least `bytes`; release it with `release`. */
  acquire(bytes: number, kind: 'storage' | 'uniform' = 'storage'): GPUBuffer {
    this.assertAlive('allocating a buffer');
    if (this.virtualDepth > 0) {
      const size = sizeClass(Math.max(4, bytes)); // the size a real buffer would get (kernels rely on its slack)
      const usage = kind === 'storage' ? STORAGE_USAGE : UNIFORM_USAGE;
      const placeholder = { size, usage, label: `virtual ${kind}-${size}`, mapState: 'unmapped', destroy() {} } as unknown as GPUBuffer;
      this.virtualSet.add(placeholder);
      return placeholder;
    }
    const size = sizeClass(Math.max(4, bytes));
    const max = Math.min(this.limits.maxBufferSize, kind === 'storage' ? this.limits.maxStorageBufferBindingSize : this.limits.maxUniformBufferBindingSize);
    if (size > max && bytes <= max) {
      // Rounding up to the size class would cross the limit; take the exact (4-aligned) size instead.
      return this.acquireExact(Math.ceil(bytes / 4) * 4, kind);
    }
    if (bytes > max)
      throw new DeviceError(
        `A ${kind} buffer of ${bytes} bytes exceeds this adapter's limit of ${max} bytes per binding. Use a smaller batch size or layer.`,
      );
    return this.acquireExact(size, kind);
  }

  private acquireExact(size: number, kind: 'storage' | 'uniform'): GPUBuffer {
    const key = `${kind}:${size}`;
    const list = this.pool.get(key);
    let buf = list?.pop();
    if (!buf) {
      buf = this.device.createBuffer({ size, usage: kind === 'storage' ? STORAGE_USAGE : UNIFORM_USAGE, label: `${kind}-${size}` });
    }
    this.live.set(buf, size);
    return buf;
  }

  /** Returns a buffer to the pool (what Tensor.dispose does). */
  release(buf: GPUBuffer): void {
    if (this.virtualSet.has(buf)) return;
    const size = this.live.get(buf);
    if (size === undefined) return; // released twice, or not ours
    this.live.delete(buf);
    if (this.destroyed) {
      buf.destroy();
      return;
    }
    const kind = buf.usage & 0x0040 ? 'uniform' : 'storage';
    const key = `${kind}:${size}`;
    let list = this.pool.get(key);
    if (!list) this.pool.set(key, (list = []));
    list.push(buf);
  }

  /** Frees every pooled (not live) buffer. */
  trim(): void {
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
  }

  /** How many buffers (and bytes) are in use and pooled. */
  memory(): MemoryReport {
    let liveBytes = 0;
    for (const s of this.live.values()) liveBytes += s;
    let pooledBuffers = 0;
    let pooledBytes = 0;
    for (const list of this.pool.values()) {
      pooledBuffers += list.length;
      for (const b of list) pooledBytes += b.size;
    }
    return { liveBuffers: this.live.size, liveBytes, pooledBuffers, pooledBytes };
  }

  // ---------------------------------------------------------------- tensors

  /** An uninitialised tensor (contents undefined until a kernel writes it). */
  empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return Tensor.allocate(this, shape, dtype);
  }

  /** A new tensor of `shape`, filled with zeros. */
  zeros(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const t = Tensor.allocate(this, shape, dtype);
    const enc = this.device.createCommandEncoder();
    enc.clearBuffer(t.buffer, t.offset, Math.ceil(t.byteLength / 4) * 4);
    this.device.queue.submit([enc.finish()]);
    return t;
  }

  /** Uploads `data` (f32 by default; a Uint32Array or Int32Array picks u32/i32). */
  tensor(shape: readonly number[], data: ArrayLike<number> | Float32Array | Uint32Array | Int32Array, dtype?: DType): Tensor {
    const dt: DType = dtype ?? (data instanceof Uint32Array ? 'u32' : data instanceof Int32Array ? 'i32' : 'f32');
    const t = Tensor.allocate(this, shape, dt);
    if (data.length !== t.size)
      throw new ShaderflowError(`engine.tensor: shape ${JSON.stringify(shape)} holds ${t.size} values but ${data.length} were given.`);
    t.write(data);
    return t;
  }

  /** Copies `byteLength` bytes at `offset` of a GPU buffer back to the host. Flushes pending errors first. */
  async read(buffer: GPUBuffer, offset: number, byteLength: number): Promise<ArrayBuffer> {
    this.assertAlive('reading a buffer');
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = this.device.createBuffer({ size: Math.max(size, 4), usage: READBACK_USAGE, label: 'readback' });
    try {
      const enc = this.device.createCommandEncoder({ label: 'readback' });
      if (size > 0) enc.copyBufferToBuffer(buffer, offset, staging, 0, size);
      this.device.queue.submit([enc.finish()]);
      await this.checkErrors('readback');
      try {
        await staging.mapAsync(0x0001);
      } catch (e) {
        this.assertAlive('reading a buffer');
        throw new DeviceError(`Reading a GPU buffer back failed: ${(e as Error).message}`, { cause: e });
      }
      const out = staging.getMappedRange(0, size).slice(0, byteLength);
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
    }
  }

  // ---------------------------------------------------------------- pipelines

  /**
   * The compute pipeline for `shader`'s `entry` with WGSL `override` constants, cached by all three.
   * Compilation and validation errors are collected and thrown (naming the shader) by the next `checkErrors`.
   */
  pipeline(shader: ShaderName, entry = 'main', constants: Record<string, number> = {}): GPUComputePipeline {
    const key = pipelineKey(shader, entry, constants);
    let p = this.pipelines.get(key);
    if (p) return p;
    this.assertAlive(`building kernel ${key}`);
    const module = this.module(shader);
    this.pipelineBuilds.sync++;
    this.device.pushErrorScope('validation');
    p = this.device.createComputePipeline({
      label: key,
      layout: 'auto',
      compute: { module, entryPoint: entry, constants },
    });
    this.watch(`building pipeline ${key}`, this.device.popErrorScope());
    this.pipelines.set(key, p);
    return p;
  }

  private module(shader: ShaderName): GPUShaderModule {
    let module = this.modules.get(shader);
    if (!module) {
      const code = SHADERS[shader];
      if (code === undefined) throw new ShaderflowError(`Unknown shader "${shader}": add it to src/shaders.ts.`);
      this.device.pushErrorScope('validation');
      module = this.device.createShaderModule({ code, label: shader });
      this.watch(`compiling shaders/${shader}.wgsl`, this.device.popErrorScope(), module);
      this.modules.set(shader, module);
    }
    return module;
  }

  /**
   * Compiles every listed pipeline not yet cached with `createComputePipelineAsync`, all at once, so that a
   * model's step can then be recorded without a synchronous compile (no stall of a page's main thread). Errors
   * become a DeviceError naming the shader, entry and constants.
   */
  async compilePipelines(specs: readonly PipelineSpec[]): Promise<void> {
    const todo = new Map<string, PipelineSpec>();
    for (const sp of specs) {
      const key = pipelineKey(sp.shader, sp.entry, sp.constants);
      if (!this.pipelines.has(key)) todo.set(key, sp);
    }
    if (todo.size === 0) return;
    this.assertAlive('compiling kernels');
    await Promise.all(
      [...todo].map(async ([key, sp]) => {
        const module = this.module(sp.shader);
        let p: GPUComputePipeline;
        try {
          p = await this.device.createComputePipelineAsync({ label: key, layout: 'auto', compute: { module, entryPoint: sp.entry, constants: sp.constants } });
        } catch (e) {
          this.assertAlive(`compiling kernel ${key}`);
          throw new DeviceError(`WebGPU could not build kernel ${key} (shaders/${sp.shader}.wgsl): ${(e as Error).message}. This is a shaderflow bug or an unsupported adapter; please report it with \`engine.describe()\`.`, { cause: e });
        }
        this.pipelineBuilds.async++;
        if (!this.pipelines.has(key)) this.pipelines.set(key, p);
      }),
    );
    await this.checkErrors('compiling kernels');
  }

  /**
   * Pipelines built so far: synchronously (`pipeline()` on a cache miss, which stalls the calling thread while the
   * driver compiles) and with createComputePipelineAsync (`compilePipelines`). A model's fit, evaluate and
   * predict compile asynchronously first, so their steps add no synchronous build.
   */
  readonly pipelineBuilds = { sync: 0, async: 0 };

  /**
   * The compute pipeline for WGSL source text that is not one of src/shaders.ts (custom layers, user kernels),
   * cached by `key`, `entry` and `constants`; a key names one source (the same key with other text throws).
   * `layout` is 'auto' or an explicit layout (custom layers build one from their declared bindings, so WebGPU
   * checks the shader against the declaration). Returns the pipeline and a promise of the first compile or
   * validation error ("line L:C message" from the compilation info), or null. The caller awaits it: it is NOT
   * reported by `checkErrors`, so that a caller that rejects bad code leaves the engine usable.
   */
  pipelineFromSource(
    key: string, code: string, entry = 'main', constants: Record<string, number> = {}, layout: GPUPipelineLayout | 'auto' = 'auto',
  ): { pipeline: GPUComputePipeline; errors: Promise<string | null> } {
    const known = this.sources.get(key);
    if (known !== undefined && known !== code) throw new ShaderflowError(`pipelineFromSource: the key "${key}" already names other WGSL source; give each source its own key.`);
    const pkey = `source:${key}:${entry}:${Object.entries(constants).sort().map(([k, v]) => `${k}=${v}`).join(',')}`;
    const cached = this.pipelines.get(pkey);
    if (cached) return { pipeline: cached, errors: this.sourceChecks.get(pkey)! };
    this.assertAlive(`building kernel ${key}`);
    this.sources.set(key, code);
    let module = this.modules.get(`source:${key}`);
    let moduleErrors: Promise<string | null> = Promise.resolve(null);
    if (!module) {
      this.device.pushErrorScope('validation');
      module = this.device.createShaderModule({ code, label: key });
      const m = module;
      moduleErrors = this.device.popErrorScope().then(async (err) => {
        const info = await m.getCompilationInfo().catch(() => null);
        const msgs = (info?.messages ?? []).filter((x) => x.type === 'error').map((x) => `line ${x.lineNum}:${x.linePos} ${x.message}`);
        return msgs.length ? msgs.join('; ') : err ? err.message : null;
      });
      this.modules.set(`source:${key}`, module);
    }
    this.device.pushErrorScope('validation');
    const pipeline = this.device.createComputePipeline({ label: `${key}:${entry}`, layout, compute: { module, entryPoint: entry, constants } });
    const pipelineErrors = this.device.popErrorScope().then((err) => (err ? err.message : null));
    const errors = Promise.all([moduleErrors, pipelineErrors]).then(([a, b]) => a ?? b);
    this.pipelines.set(pkey, pipeline);
    this.sourceChecks.set(pkey, errors);
    return { pipeline, errors };
  }

  /**
   * Remembers an error-scope result; `checkErrors` throws the first error found, naming `what` and, when `locate`
   * finds it (the Recorder re-validates its operations one by one), the kernel at fault.
   */
  watch(what: string, scope: Promise<GPUError | null>, module?: GPUShaderModule, locate?: () => Promise<string | null>): void {
    this.pending.push(
      scope.then(async (err) => {
        if (!err) return null;
        if (locate && !this.isLost) {
          const kernel = await locate().catch(() => null);
          if (kernel) what = `kernel ${kernel} in ${what}`;
        }
        let detail = err.message;
        if (module) {
          try {
            const info = await module.getCompilationInfo();
            const msgs = info.messages.filter((m) => m.type === 'error').map((m) => `line ${m.lineNum}:${m.linePos} ${m.message}`);
            if (msgs.length) detail = msgs.join('; ');
          } catch {
            /* keep err.message */
          }
        }
        return `${what}: ${detail}`;
      }),
    );
  }

  /** Throws a DeviceError for any WebGPU error raised since the last check (validation, out-of-memory, device loss). */
  async checkErrors(context = 'GPU work'): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    const results = await Promise.all(pending);
    const first = results.find((r) => r !== null);
    this.assertAlive(context);
    if (first) throw new DeviceError(`WebGPU rejected ${first} (during ${context}). This is a shaderflow bug or an unsupported adapter; please report it with \`engine.describe()\`.`);
    if (this.uncaptured) {
      const msg = this.uncaptured;
      this.uncaptured = null;
      throw new DeviceError(`WebGPU error during ${context}: ${msg}`);
    }
  }

  /** Waits until the GPU has finished all submitted work, then reports errors. */
  async sync(context = 'GPU work'): Promise<void> {
    this.assertAlive(context);
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors(context);
  }

  /** Destroys the device and every buffer. The engine cannot be used afterwards. */
  dispose(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.trim();
    for (const b of this.live.keys()) b.destroy();
    this.live.clear();
    this.device.destroy();
  }
}
