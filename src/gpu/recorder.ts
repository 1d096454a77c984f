// The step recorder: a list of dispatches (and the odd copy/clear) recorded once, with bind groups and
// uniform buffers built at record time, then replayed as one command encoder per `run()`. A training step is
// one Recorder: `run()` re-encodes the same list (WebGPU command buffers cannot be resubmitted) and submits once.
import { ShaderflowError, ShapeError } from '../errors.js';
import type { ShaderName } from '../shaders.js';
import type { Engine, PipelineSpec } from './engine.js';
import { Tensor } from './tensor.js';

/** What a binding slot can hold: a tensor, a whole buffer, or an explicit buffer range. */
export type Binding = Tensor | GPUBuffer | GPUBufferBinding;

/** Uniform field types for `Recorder.uniform`: u32, i32 or f32, one letter per value. */
export type UniformTypes = string;

/**
 * What one dispatch costs, as its kernel states it (for `model.plan()`'s report and its modeled time). Every
 * kernel family fills this in; the device layer only stores it.
 */
export interface DispatchCost {
  /** The kernel variant (e.g. 'gemm64x64', 'tile16', 'naive'). */
  variant: string;
  /** Invocations per workgroup. */
  threads: number;
  /** The longest serial loop one invocation runs: its trip count over the reduction (1 for elementwise work). */
  serial: number;
  /** Floating-point operations (2 per multiply-add). */
  flops: number;
  /** Bytes read and written (each tensor counted once, as an ideal cache would). */
  bytes: number;
}

/** One recorded operation as `Recorder.plan()` reports it. */
export interface PlanEntry {
  label: string;
  kind: 'dispatch' | 'copy' | 'clear';
  /** Workgroup counts (x, y, z); [0, 0, 0] for copies and clears. */
  workgroups: [number, number, number];
  /** The kernel's stated cost; for copies and clears, bytes moved (variant 'copy' / 'clear'); null when a kernel stated none. */
  cost: DispatchCost | null;
}

/** One compute dispatch: the kernel, its bindings in order, its uniforms and its workgroup count. */
export interface DispatchSpec {
  /** A kernel family of src/shaders.ts, or omitted when `pipeline` is given. */
  shader?: ShaderName;
  /** A prebuilt pipeline (Engine.pipelineFromSource: custom layers and user kernels) instead of `shader`. */
  pipeline?: GPUComputePipeline;
  entry?: string;
  /** WGSL `override` constants (part of the pipeline cache key). */
  constants?: Record<string, number>;
  /** Bindings of `@group(0)`, in `@binding` order 0, 1, 2, ...; `null` skips a slot the entry point does not use. */
  bindings: (Binding | null)[];
  /** Workgroup counts (x, y, z). */
  workgroups: [number, number?, number?];
  /** Names the dispatch in errors and profiles; defaults to the shader and entry. */
  label?: string;
  /** What the dispatch costs (see DispatchCost); every kernel states it, so `plan()` can report the whole step. */
  cost?: DispatchCost;
}

type Op =
  | { kind: 'dispatch'; pipeline: GPUComputePipeline; group: GPUBindGroup; wg: [number, number, number]; label: string; cost: DispatchCost | null }
  | { kind: 'dry'; pipeline: PipelineSpec | null; wg: [number, number, number]; label: string; cost: DispatchCost | null }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; bytes: number; label: string }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; bytes: number; label: string };

function toEntry(b: Binding, i: number): GPUBindGroupEntry {
  if (b instanceof Tensor) return { binding: i, resource: b.binding() };
  if ('buffer' in b && (b as GPUBufferBinding).buffer) return { binding: i, resource: b as GPUBufferBinding };
  return { binding: i, resource: { buffer: b as GPUBuffer } };
}

/** Workgroup counts covering `n` items with `wg` items per workgroup, folded into y past the per-dimension limit. */
export function grid1d(engine: Engine, n: number, wg: number): [number, number] {
  const groups = Math.max(1, Math.ceil(n / wg));
  const maxX = engine.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= maxX) return [groups, 1];
  const y = Math.ceil(groups / maxX);
  return [Math.ceil(groups / y), y];
}

/** How a time was taken: GPU timestamps around compute passes, or the host's clock around submit-and-wait. */
export type TimingMethod = 'timestamp' | 'wallclock';

/** 'timestamp' where the device has the 'timestamp-query' feature (createEngine asks for it), else 'wallclock'. */
export function timingMethod(engine: Engine): TimingMethod {
  return engine.device.features.has('timestamp-query') ? 'timestamp' : 'wallclock';
}

/** The median of `xs` (NaN when empty). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}

/** Compute passes `encode` opens for `ops`: one per run of consecutive dispatches. */
function countPasses(ops: readonly Op[]): number {
  let n = 0;
  let inPass = false;
  for (const op of ops) {
    if (op.kind === 'dispatch' && !inPass) n++;
    inPass = op.kind === 'dispatch';
  }
  return n;
}

/** A recorded list of dispatches and copies with prebuilt bind groups, replayed by run() as one command encoder and one submit. A training step is recorded once and replayed every batch. */
export class Recorder {
  private readonly ops: Op[] = [];
  private readonly uniforms: GPUBuffer[] = [];
  private readonly scratchBuffers: GPUBuffer[] = [];
  private disposed = false;

  /**
   * A dry recorder (`{ dry: true }`) notes what each dispatch would run (pipeline, workgroups, cost) without
   * compiling or binding anything: for `plan()` reports and for collecting the pipelines to compile
   * asynchronously (`pipelineSpecs()`). It cannot run.
   */
  readonly dry: boolean;

  constructor(
    readonly engine: Engine,
    readonly label = 'step',
    opts: { dry?: boolean } = {},
  ) {
    this.dry = opts.dry ?? false;
  }

  /** The distinct pipelines the recorded dispatches use (for `engine.compilePipelines`). */
  pipelineSpecs(): PipelineSpec[] {
    return this.ops.flatMap((o) => (o.kind === 'dry' && o.pipeline ? [o.pipeline] : []));
  }

  get dispatchCount(): number {
    return this.ops.filter((o) => o.kind === 'dispatch' || o.kind === 'dry').length;
  }

  /** Labels of the recorded operations, in order (for profiles and `--json` dispatch counts). */
  get labels(): string[] {
    return this.ops.map((o) => o.label);
  }

  /** Every recorded operation in order, with its workgroups and stated cost (for `model.plan()` and profiles). */
  plan(): PlanEntry[] {
    return this.ops.map((op): PlanEntry => {
      if (op.kind === 'dispatch' || op.kind === 'dry') return { label: op.label, kind: 'dispatch', workgroups: [...op.wg], cost: op.cost ? { ...op.cost } : null };
      const bytes = op.kind === 'copy' ? 2 * op.bytes : op.bytes;
      return { label: op.label, kind: op.kind, workgroups: [0, 0, 0], cost: { variant: op.kind, threads: 0, serial: 0, flops: 0, bytes } };
    });
  }

  /**
   * A uniform buffer owned by this recorder, holding `values` typed by `types` ('u' u32, 'i' i32, 'f' f32, one
   * letter per value; default all u32), padded to 16 bytes as WGSL uniform structs require.
   */
  uniform(values: readonly number[], types: UniformTypes = 'u'.repeat(values.length)): GPUBuffer {
    if (types.length !== values.length) throw new ShaderflowError(`uniform: ${values.length} values but ${types.length} type letters`);
    const bytes = Math.max(16, Math.ceil((values.length * 4) / 16) * 16);
    const data = new ArrayBuffer(bytes);
    const view = new DataView(data);
    values.forEach((v, i) => {
      const t = types[i];
      if (t === 'f') view.setFloat32(i * 4, v, true);
      else if (t === 'i') view.setInt32(i * 4, v, true);
      else view.setUint32(i * 4, v >>> 0, true);
    });
    const buf = this.engine.acquire(bytes, 'uniform');
    if (!this.engine.isVirtual(buf)) this.engine.device.queue.writeBuffer(buf, 0, data);
    this.uniforms.push(buf);
    return buf;
  }

  /**
   * A storage buffer of at least `bytes` owned by this recorder (freed by dispose), for a kernel's intermediate
   * results inside the recorded step, e.g. the partial sums of a reduction split into chunks.
   */
  scratch(bytes: number, what: string): GPUBufferBinding {
    const size = Math.max(16, Math.ceil(bytes / 4) * 4);
    if (size > this.engine.limits.maxStorageBufferBindingSize)
      throw new ShapeError(`${what}: needs ${size} bytes of scratch, over this adapter's ${this.engine.limits.maxStorageBufferBindingSize} bytes per binding. Use a smaller batch.`);
    const buf = this.engine.acquire(size);
    this.scratchBuffers.push(buf);
    return { buffer: buf, offset: 0, size };
  }

  /** Appends a compute dispatch (its bind group is built now, once). */
  dispatch(spec: DispatchSpec): void {
    const entry = spec.entry ?? 'main';
    const label = spec.label ?? `${spec.shader ?? 'custom'}.${entry}`;
    if (!spec.pipeline && !spec.shader) throw new ShaderflowError(`dispatch ${label}: give a shader name or a pipeline.`);
    if (this.dry) {
      const [x, y = 1, z = 1] = spec.workgroups;
      this.checkGrid(label, x, y, z);
      if (x === 0 || y === 0 || z === 0) return;
      // A prebuilt pipeline (custom layers) is already compiled: nothing for compilePipelines to do.
      const pipeline = spec.pipeline ? null : { shader: spec.shader!, entry, constants: { ...(spec.constants ?? {}) } };
      this.ops.push({ kind: 'dry', pipeline, wg: [x, y, z], label, cost: spec.cost ?? null });
      return;
    }
    const pipeline = spec.pipeline ?? this.engine.pipeline(spec.shader!, entry, spec.constants ?? {});
    const device = this.engine.device;
    device.pushErrorScope('validation');
    const group = device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: spec.bindings.flatMap((b, i) => (b === null ? [] : [toEntry(b, i)])),
    });
    this.engine.watch(`the bindings of kernel ${label} in ${this.label}`, device.popErrorScope());
    const [x, y = 1, z = 1] = spec.workgroups;
    this.checkGrid(label, x, y, z);
    if (x === 0 || y === 0 || z === 0) return; // nothing to do (an empty tensor)
    this.ops.push({ kind: 'dispatch', pipeline, group, wg: [x, y, z], label, cost: spec.cost ?? null });
  }

  private checkGrid(label: string, x: number, y: number, z: number): void {
    const max = this.engine.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max)
      throw new ShaderflowError(`${label}: ${x}x${y}x${z} workgroups exceed the adapter's ${max} per dimension (use grid1d).`);
  }

  /** Appends a buffer-to-buffer copy (the whole of `src`, or its first `bytes`). */
  copy(src: Binding, dst: Binding, bytes?: number, label = 'copy'): void {
    const s = src instanceof Tensor ? src.binding() : 'buffer' in src && (src as GPUBufferBinding).buffer ? (src as GPUBufferBinding) : { buffer: src as GPUBuffer };
    const d = dst instanceof Tensor ? dst.binding() : 'buffer' in dst && (dst as GPUBufferBinding).buffer ? (dst as GPUBufferBinding) : { buffer: dst as GPUBuffer };
    const n = bytes ?? Math.min(s.size ?? s.buffer.size, d.size ?? d.buffer.size);
    this.ops.push({ kind: 'copy', src: s.buffer, srcOffset: s.offset ?? 0, dst: d.buffer, dstOffset: d.offset ?? 0, bytes: n, label });
  }

  /** Appends a fill of `target` with zeros. */
  clear(target: Tensor | GPUBuffer, label = 'clear'): void {
    if (target instanceof Tensor) this.ops.push({ kind: 'clear', buffer: target.buffer, offset: target.offset, bytes: Math.ceil(target.byteLength / 4) * 4, label });
    else this.ops.push({ kind: 'clear', buffer: target, offset: 0, bytes: target.size, label });
  }

  /** Encodes every recorded operation into `encoder` (one compute pass per run of dispatches). @internal */
  encode(encoder: GPUCommandEncoder, ops: readonly Op[] = this.ops): void {
    let pass: GPUComputePassEncoder | null = null;
    for (const op of ops) {
      if (op.kind === 'dispatch') {
        if (!pass) pass = encoder.beginComputePass({ label: this.label });
        pass.setPipeline(op.pipeline);
        pass.setBindGroup(0, op.group);
        pass.dispatchWorkgroups(op.wg[0], op.wg[1], op.wg[2]);
        continue;
      }
      if (pass) {
        pass.end();
        pass = null;
      }
      if (op.kind === 'copy') encoder.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.bytes);
      else if (op.kind === 'clear') encoder.clearBuffer(op.buffer, op.offset, op.bytes);
    }
    if (pass) pass.end();
  }

  /** Replays the recording: one command encoder, one submit, no readback. */
  run(): void {
    if (this.disposed) throw new ShaderflowError(`Recorder "${this.label}" was run after dispose().`);
    if (this.dry) throw new ShaderflowError(`Recorder "${this.label}" is a dry recording (for plans and compiling); record the step again without { dry: true } to run it.`);
    const engine = this.engine;
    engine.assertAlive(this.label);
    const device = engine.device;
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
    const encoder = device.createCommandEncoder({ label: this.label });
    this.encode(encoder);
    device.queue.submit([encoder.finish()]);
    engine.watch(`${this.label} (out of memory)`, device.popErrorScope());
    const ops = this.ops.slice(); // the recording may be disposed before the error scope settles
    engine.watch(this.label, device.popErrorScope(), undefined, () => this.locateFailure(ops));
  }

  /**
   * After a validation error in a whole-step submit: encodes each operation alone (never submitted) and returns
   * the label of the first one WebGPU rejects, so the error names the kernel; null when none fails alone.
   */
  private async locateFailure(ops: readonly Op[]): Promise<string | null> {
    const device = this.engine.device;
    for (const op of ops) {
      device.pushErrorScope('validation');
      const encoder = device.createCommandEncoder({ label: `${this.label}: checking ${op.label}` });
      this.encode(encoder, [op]);
      encoder.finish();
      if (await device.popErrorScope()) return op.label;
    }
    return null;
  }

  // ---------------------------------------------------------------- timing (profiles and benchmarks)

  /**
   * Milliseconds the GPU spends on `repeats` back-to-back replays of the recording, encoded into one command
   * encoder and submitted once. With the 'timestamp-query' feature, every compute pass carries begin/end
   * timestamps and the result is the sum of the pass durations (copies and clears between passes are not
   * counted); elsewhere it is the wall-clock time of submit-and-wait minus a measured empty submit-and-wait.
   * Values the replays compute are not meaningful: callers time disposable work or restore state afterwards.
   */
  async time(repeats = 1): Promise<{ ms: number; method: TimingMethod }> {
    const method = timingMethod(this.engine);
    if (method === 'timestamp') {
      const ops: Op[] = [];
      for (let r = 0; r < repeats; r++) ops.push(...this.ops);
      const spans = await this.timestampSpans(ops, false);
      return { ms: spans.reduce((a, b) => a + b, 0) / 1e6, method };
    }
    return { ms: await this.wallclock(this.ops, repeats), method };
  }

  /**
   * Times every operation of the recording on its own. 'timestamp': one replay with one compute pass per
   * dispatch, each pass timestamped at its beginning and end, `runs` times (the median per dispatch); copies and
   * clears are not timed (null). 'wallclock': each operation alone, replayed K times in one submit (K doubled
   * until the submit lasts at least `minMs`), the median of `runs` such submits less the empty-submit overhead,
   * divided by K. Replays change what the step's buffers hold: snapshot and restore anything that matters.
   */
  async profile(opts: { runs?: number; minMs?: number } = {}): Promise<{ method: TimingMethod; us: (number | null)[] }> {
    this.assertUsable();
    const runs = opts.runs ?? 5;
    const method = timingMethod(this.engine);
    if (method === 'timestamp') {
      await this.timestampSpans(this.ops, true); // warm-up: first-use costs stay out of the figures
      const perRun: number[][] = [];
      for (let r = 0; r < runs; r++) perRun.push(await this.timestampSpans(this.ops, true));
      let d = 0;
      const us = this.ops.map((op) => {
        if (op.kind !== 'dispatch') return null;
        const i = d++;
        return median(perRun.map((spans) => spans[i]!)) / 1e3;
      });
      return { method, us };
    }
    const minMs = opts.minMs ?? 20;
    const overhead = await this.emptySubmitMs();
    const us: number[] = [];
    for (const op of this.ops) {
      let k = 1;
      let t = await this.wallclockRaw([op], k); // warm-up and first estimate
      while (t < minMs && k < 1 << 16) {
        k = Math.min(1 << 16, k * Math.max(2, 2 ** Math.ceil(Math.log2(minMs / Math.max(t, 0.05)))));
        t = await this.wallclockRaw([op], k);
      }
      const samples: number[] = [t];
      for (let r = 1; r < Math.min(runs, 3); r++) samples.push(await this.wallclockRaw([op], k));
      us.push((Math.max(0, median(samples) - overhead) / k) * 1e3);
    }
    return { method, us };
  }

  private assertUsable(): void {
    if (this.disposed) throw new ShaderflowError(`Recorder "${this.label}" was used after dispose().`);
    if (this.dry) throw new ShaderflowError(`Recorder "${this.label}" is a dry recording; record the step again without { dry: true } to time it.`);
    this.engine.assertAlive(this.label);
  }

  /** Nanoseconds of each compute pass of `ops` (one pass per dispatch when `perDispatch`), from timestamps. */
  private async timestampSpans(ops: readonly Op[], perDispatch: boolean): Promise<number[]> {
    this.assertUsable();
    const engine = this.engine;
    const device = engine.device;
    const passes = perDispatch ? ops.filter((o) => o.kind === 'dispatch').length : countPasses(ops);
    if (passes === 0) return [];
    const count = 2 * passes;
    const querySet = device.createQuerySet({ type: 'timestamp', count, label: `${this.label} timestamps` });
    const resolve = device.createBuffer({ size: count * 8, usage: 0x0200 | 0x0004, label: 'timestamps' }); // QUERY_RESOLVE | COPY_SRC
    const readback = device.createBuffer({ size: count * 8, usage: 0x0001 | 0x0008, label: 'timestamps readback' }); // MAP_READ | COPY_DST
    try {
      device.pushErrorScope('validation');
      const encoder = device.createCommandEncoder({ label: `${this.label} (timed)` });
      let pass: GPUComputePassEncoder | null = null;
      let index = 0;
      const begin = () =>
        encoder.beginComputePass({
          label: this.label,
          timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * index, endOfPassWriteIndex: 2 * index + 1 },
        });
      const end = () => {
        pass!.end();
        pass = null;
        index++;
      };
      for (const op of ops) {
        if (op.kind === 'dispatch') {
          if (!pass) pass = begin();
          pass.setPipeline(op.pipeline);
          pass.setBindGroup(0, op.group);
          pass.dispatchWorkgroups(op.wg[0], op.wg[1], op.wg[2]);
          if (perDispatch) end();
          continue;
        }
        if (pass) end();
        if (op.kind === 'copy') encoder.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.bytes);
        else if (op.kind === 'clear') encoder.clearBuffer(op.buffer, op.offset, op.bytes);
      }
      if (pass) end();
      encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, readback, 0, count * 8);
      device.queue.submit([encoder.finish()]);
      engine.watch(`${this.label} (timed)`, device.popErrorScope());
      await engine.sync(`${this.label} (timed)`);
      await readback.mapAsync(0x0001);
      const t = new BigUint64Array(readback.getMappedRange().slice(0));
      readback.unmap();
      const out: number[] = [];
      for (let i = 0; i < passes; i++) out.push(Math.max(0, Number(t[2 * i + 1]! - t[2 * i]!)));
      return out;
    } finally {
      querySet.destroy();
      resolve.destroy();
      readback.destroy();
    }
  }

  /** Wall-clock ms of `ops` encoded `repeats` times into one submit, waited for; less the empty-submit overhead. */
  private async wallclock(ops: readonly Op[], repeats: number): Promise<number> {
    const overhead = await this.emptySubmitMs();
    return Math.max(0, (await this.wallclockRaw(ops, repeats)) - overhead);
  }

  private async wallclockRaw(ops: readonly Op[], repeats: number): Promise<number> {
    this.assertUsable();
    const device = this.engine.device;
    const encoder = device.createCommandEncoder({ label: `${this.label} (timed)` });
    const all: Op[] = [];
    for (let r = 0; r < repeats; r++) all.push(...ops);
    this.encode(encoder, all);
    const buffer = encoder.finish();
    const t0 = performance.now();
    device.queue.submit([buffer]);
    await this.engine.sync(`${this.label} (timed)`);
    return performance.now() - t0;
  }

  /** Median ms of submitting an empty command buffer and waiting for it (what each wall-clock sample includes). */
  private async emptySubmitMs(): Promise<number> {
    const samples: number[] = [];
    for (let i = 0; i < 7; i++) samples.push(await this.wallclockRaw([], 1));
    return median(samples);
  }

  /** Frees what the recording owns (its uniform and scratch buffers). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const u of this.uniforms) this.engine.release(u);
    for (const b of this.scratchBuffers) this.engine.release(b);
    this.uniforms.length = 0;
    this.scratchBuffers.length = 0;
    this.ops.length = 0;
  }
}

/** Records with `fn`, runs once, disposes the recording and reports WebGPU errors. For tests and one-off ops. */
export async function runOnce(engine: Engine, label: string, fn: (rec: Recorder) => void): Promise<void> {
  const rec = new Recorder(engine, label);
  try {
    fn(rec);
    rec.run();
  } finally {
    rec.dispose();
  }
  await engine.checkErrors(label);
}
