// checkKernel: one forward kernel (any recorded dispatches) on the GPU against a CPU function, element by element,
// on seeded random inputs with NaN-poisoned outputs, so an element the kernel never writes fails too.
import { NumericError, ShaderflowError } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { randomUniform } from '../reference/random.js';
import { compareTensor, describeCheck, type TensorCheck } from './compare.js';

/** One input or output tensor of a checkKernel spec: its shape, dtype and values (or how they are drawn). */
export interface KernelTensorSpec {
  shape: number[];
  /** Default 'f32'. */
  dtype?: 'f32' | 'u32';
  /** Inputs: the values (default seeded uniform in `range`); outputs: initial contents (default NaN, i.e. poisoned). */
  data?: ArrayLike<number>;
  /** Range of random f32 inputs (default [-1, 1)). */
  range?: [number, number];
}

/** What checkKernel runs: the tensors, how to record the kernel on them, the reference and the allowed error. */
export interface KernelCheckSpec {
  /** The kernel (family) named in reports: 'matmul', 'conv2d.forward', ... */
  kernel: string;
  variant?: string;
  /** Shapes as shown in reports (default the inputs' shapes). */
  shapes?: string;
  inputs: Record<string, KernelTensorSpec>;
  outputs: Record<string, KernelTensorSpec>;
  /** Records the kernel: every input and output tensor by name. */
  record(rec: Recorder, t: Record<string, Tensor>): void;
  /** The expected outputs from the input values (float64 or exact). Outputs it leaves out are not compared. */
  reference(inputs: Record<string, Float32Array | Uint32Array>): Record<string, ArrayLike<number>>;
  /**
   * Allowed error per element: |gpu - ref| <= rtol · max(|ref|, floor), per output name or one for all. Default
   * rtol 1e-5 and floor 1: float32 rounding of values of unit scale; the floor is the scale of the terms an output
   * sums (e.g. sqrt(k) for a k-term dot product of values in [-1, 1]), not a loosened tolerance. u32 outputs: exact.
   */
  rtol?: number | Record<string, number>;
  floor?: number | Record<string, number>;
}

/** What checkKernel found: the dispatches that ran and how each compared output matched the reference. */
export interface KernelReport {
  kernel: string;
  variant: string;
  shapes: string;
  /** Labels of the operations the kernel recorded, in order (which entry points ran: 'conv2d.forward4', ...). */
  dispatches: string[];
  tensors: TensorCheck[];
  pass: boolean;
}

/** Options of checkKernel: the input seed, whether to throw on failure, and a test-only corruption switch. */
export interface KernelCheckOptions {
  /** Seeds the random inputs (default 1). */
  seed?: number;
  throwOnFailure?: boolean;
  /**
   * Test-only: overwrite element 0 of the first output after the kernel ran (as if it had computed a wrong value),
   * to prove a check (the self-test) catches a wrong kernel and names it.
   */
  corrupt?: boolean;
}

const pick = (v: number | Record<string, number> | undefined, name: string, dflt: number) =>
  typeof v === 'number' ? v : v?.[name] ?? dflt;

/** Runs `spec.record` on the GPU and compares every output with `spec.reference` (see KernelCheckSpec for bounds). */
export async function checkKernel(engine: Engine, spec: KernelCheckSpec, options: KernelCheckOptions = {}): Promise<KernelReport> {
  const seed = options.seed ?? 1;
  const made: Tensor[] = [];
  const tensors: Record<string, Tensor> = {};
  const values: Record<string, Float32Array | Uint32Array> = {};
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  try {
    let k = 0;
    for (const [name, t] of Object.entries(spec.inputs)) {
      const n = size(t.shape);
      const [lo, hi] = t.range ?? [-1, 1];
      if (t.dtype === 'u32' && !t.data) throw new ShaderflowError(`checkKernel(${spec.kernel}): u32 input "${name}" needs data.`);
      const v = t.dtype === 'u32' ? Uint32Array.from(t.data!) : t.data ? Float32Array.from(t.data) : randomUniform(n, seed * 101 + ++k, lo, hi);
      if (v.length !== n) throw new ShaderflowError(`checkKernel(${spec.kernel}): input "${name}" has ${v.length} values for shape [${t.shape.join(', ')}].`);
      values[name] = v;
      made.push((tensors[name] = engine.tensor(t.shape, v)));
    }
    for (const [name, t] of Object.entries(spec.outputs)) {
      const n = size(t.shape);
      const init = t.data ? (t.dtype === 'u32' ? Uint32Array.from(t.data) : Float32Array.from(t.data)) : t.dtype === 'u32' ? new Uint32Array(n).fill(0xffffffff) : new Float32Array(n).fill(NaN);
      if (t.data) values[name] = init; // the reference may need an accumulated output's previous contents
      made.push((tensors[name] = engine.tensor(t.shape, init, t.dtype ?? 'f32')));
    }
    const label = `checkKernel ${spec.kernel}${spec.variant ? ` (${spec.variant})` : ''}`;
    const rec = new Recorder(engine, label);
    let dispatches: string[];
    try {
      spec.record(rec, tensors);
      dispatches = rec.labels;
      rec.run();
    } finally {
      rec.dispose();
    }
    await engine.checkErrors(label);
    const first = Object.keys(spec.outputs)[0];
    if (options.corrupt && first) tensors[first]!.write([1000], 0);
    const expected = spec.reference(values);
    const checks: TensorCheck[] = [];
    for (const [name, t] of Object.entries(spec.outputs)) {
      const want = expected[name];
      if (!want) continue;
      const got = await tensors[name]!.data<Float32Array | Uint32Array>();
      const exact = t.dtype === 'u32';
      const rtol = exact ? 0 : pick(spec.rtol, name, 1e-5);
      const floor = exact ? 1 : pick(spec.floor, name, 1);
      const gotValues = exact ? Float64Array.from(got, (v) => (v === 0xffffffff ? NaN : v)) : got;
      checks.push(compareTensor(name, t.shape, gotValues, want, (i) => rtol * Math.max(Math.abs(want[i]!), floor), floor));
    }
    const shapes = spec.shapes ?? Object.values(spec.inputs).map((t) => `[${t.shape.join(',')}]`).join(' ');
    const report: KernelReport = { kernel: spec.kernel, variant: spec.variant ?? '', shapes, dispatches, tensors: checks, pass: checks.length > 0 && checks.every((c) => c.pass) };
    if (!report.pass && options.throwOnFailure)
      throw new NumericError(`checkKernel(${spec.kernel}${spec.variant ? ` ${spec.variant}` : ''}): ${checks.filter((c) => !c.pass).map(describeCheck).join('; ') || 'no output compared'}`);
    return report;
  } finally {
    for (const t of made) t.dispose();
  }
}
