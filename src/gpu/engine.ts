// The engine: one WebGPU device, its buffer pool, its pipeline cache and its per-adapter tuning.
// Nothing here is global: every tensor, recorder and model holds the engine it was made with.
import { DeviceError, ShaderflowError } from '../errors.js';
import { SHADERS, type ShaderName } from '../shaders.js';
import { gpuCandidates, installHint, runtime, type BackendName } from './provider.js';
import { Tensor, type DType } from './tensor.js';
import { autotune, autotuneEnabled, chooseTuning, type Tuning } from './tuning.js';

/** Options of createEngine. */
export interface EngineOptions {
  /** Force a backend; default `SHADERFLOW_BACKEND` in Node, else `auto`. */
  backend?: BackendName;
  /** Ask for a low-power / high-performance adapter where there is a choice. */
  powerPreference?: GPUPowerPreference;
  /**
   * Time the matmul tile variants once per adapter and keep the fastest (src/gpu/tuning.ts `autotune`; cached on
   * disk in Node, in memory in a browser). Default on; `false` or env `SHADERFLOW_AUTOTUNE=0` keeps the built-in
   * defaults (what the tests do, for kernels that do not depend on timings).
   */
  autotune?: boolean;
}

/** The WebGPU adapter an engine runs on, as Engine.adapter reports it. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  description: string;
  device: string;
  featureLevel: 'core' | 'compatibility';
  backend: string;
  software: boolean;
  runtime: 'node' | 'browser';
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
const RAISED_LIMITS = [
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
    const info = adapter.info ?? ({} as GPUAdapterInfo);
    const report: AdapterReport = {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      description: info.description ?? '',
      device: (info as { device?: string }).device ?? '',
      featureLevel: c.featureLevel,
      backend: c.label.replace(/ \(.*\)$/, ''),
      software: false,
      runtime,
    };
    const text = `${report.vendor} ${report.architecture} ${report.description} ${report.device}`.toLowerCase();
    report.software =
      /llvmpipe|lavapipe|swiftshader|software|mesa/.test(text) || (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
    const engine = new Engine(device, report, c.gpu);
    c.chosen?.(tried); // lets the provider remember which backend works here
    if (autotuneEnabled(options.autotune)) {
      try {
        await autotune(engine);
      } catch (e) {
        engine.dispose();
        throw e;
      }
    }
    return engine;
  }
  throw new DeviceError(
    `No usable WebGPU adapter (backend ${backend}). Tried:\n  - ${tried.join('\n  - ') || 'nothing: no WebGPU implementation'}\n${installHint}`,
  );
}

type PendingError = Promise<string | null>;

/** One WebGPU device with its buffer pool, pipeline cache and tuning. Every tensor, recorder and model holds the engine it was made with; there is no global device. */
export class Engine {
  readonly limits: GPUSupportedLimits;
  readonly tuning: Tuning;
  private readonly pool = new Map<string, GPUBuffer[]>();
  private readonly live = new Map<GPUBuffer, number>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private pending: PendingError[] = [];
  private lostInfo: string | null = null;
  private uncaptured: string | null = null;
  private destroyed = false;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterReport,
    /** The GPU instance the device came from: held so it outlives the device (see provider.ts). */
    readonly gpu?: GPU,
  ) {
    this.limits = device.limits;
    this.tuning = chooseTuning(adapter, device.limits);
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
    return `${name || 'unknown adapter'} [${a.backend}, ${a.featureLevel}${a.software ? ', software' : ''}]`;
  }

  get isLost(): boolean {
    return this.lostInfo !== null;
  }

  /** Throws a DeviceError when the device is gone: every entry point calls this before touching the GPU. */
  assertAlive(what: string): void {
    if (this.lostInfo !== null)
      throw new DeviceError(`${what}: the WebGPU device was lost (${this.lostInfo}). Create a new engine and reload the model or checkpoint.`);
  }

  // ---------------------------------------------------------------- buffers

  /** A pooled buffer of at least `bytes`; release it with `release`. */
  acquire(bytes: number, kind: 'storage' | 'uniform' = 'storage'): GPUBuffer {
    this.assertAlive('allocating a buffer');
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
    const key = `${shader}:${entry}:${Object.entries(constants)
      .sort()
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    this.assertAlive(`building kernel ${key}`);
    let module = this.modules.get(shader);
    if (!module) {
      const code = SHADERS[shader];
      if (code === undefined) throw new ShaderflowError(`Unknown shader "${shader}": add it to src/shaders.ts.`);
      this.device.pushErrorScope('validation');
      module = this.device.createShaderModule({ code, label: shader });
      this.watch(`compiling shaders/${shader}.wgsl`, this.device.popErrorScope(), module);
      this.modules.set(shader, module);
    }
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
