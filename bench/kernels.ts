// Kernel benchmarks: the adapter's peak FMA rate (shaders/probe.wgsl) and matmul (shaders/matmul.wgsl) at
// 1024³ and the seed MLP's Dense shapes, forward and backward. Each timing is the median of several runs after a
// warm-up (which also compiles the pipeline); a run is one recorded dispatch, submitted and waited for with
// `engine.sync()`. FLOPs count 2 per multiply-add. `node dist/node/bench.js kernels`, or main() from here.
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { Recorder } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { matmul, type MatmulOptions, type MatmulVariant } from '../src/kernels/matmul.js';
import { randomUniform } from '../src/reference/random.js';

export interface Row {
  shape: string;
  variant: string;
  ms: number;
  gflops: number;
  /** gflops / the FMA probe's GFLOP/s (NaN when the peak was not measured). */
  ofPeak: number;
}

/** Median milliseconds of `runs` replays of what `record` records, after one warm-up replay. */
export async function timeRecording(engine: Engine, label: string, record: (rec: Recorder) => void, runs = 5): Promise<number> {
  const rec = new Recorder(engine, label);
  try {
    record(rec);
    rec.run();
    await engine.sync(label);
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      rec.run();
      await engine.sync(label);
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    return ms[Math.floor(ms.length / 2)]!;
  } finally {
    rec.dispose();
  }
}

/** Peak f32 GFLOP/s of the adapter: an FMA-only kernel with 16 independent accumulators per invocation. */
export async function measureFmaPeak(engine: Engine, runs = 5): Promise<number> {
  const wg = 64;
  const groups = 512;
  const iters = 1000; // 128 flops per iteration per invocation: 4.2 GFLOP in all
  const out = engine.empty([groups * wg]);
  try {
    const ms = await timeRecording(
      engine,
      'fma probe',
      (rec) =>
        rec.dispatch({
          shader: 'probe',
          constants: { WG: wg },
          bindings: [rec.uniform([iters, 0.999, 1e-3, 0.5], 'ufff'), out],
          workgroups: [groups],
        }),
      runs,
    );
    return (groups * wg * iters * 128) / ms / 1e6;
  } finally {
    out.dispose();
  }
}

interface MatmulCase {
  shape: string;
  m: number;
  n: number;
  k: number;
  opts?: MatmulOptions;
}

const VARIANTS: MatmulVariant[] = ['tile4', 'tile8', 'tile16'];

/** Times matmul at 1024³ (every tiled variant) and the seed MLP's Dense shapes with the tuned variant. */
export async function benchMatmul(engine: Engine, opts: { runs?: number; peak?: number } = {}): Promise<Row[]> {
  const runs = opts.runs ?? 5;
  const peak = opts.peak ?? NaN;
  const tuned = engine.tuning.matmul;
  const cases: MatmulCase[] = [];
  for (const v of VARIANTS) cases.push({ shape: '1024x1024x1024', m: 1024, n: 1024, k: 1024, opts: { variant: v } });
  // Dense 784 -> 512 and 512 -> 10 at batch 128: forward, weight gradient (Xᵀ·dY), input gradient (dY·Wᵀ).
  for (const [inF, outF] of [
    [784, 512],
    [512, 10],
  ] as const) {
    cases.push({ shape: `dense ${inF}->${outF} fwd 128x${outF}x${inF}`, m: 128, n: outF, k: inF });
    cases.push({ shape: `dense ${inF}->${outF} dW Aᵀ ${inF}x${outF}x128`, m: inF, n: outF, k: 128, opts: { transA: true } });
    cases.push({ shape: `dense ${inF}->${outF} dX Bᵀ 128x${inF}x${outF}`, m: 128, n: inF, k: outF, opts: { transB: true } });
  }
  const rows: Row[] = [];
  for (const c of cases) {
    const { m, n, k } = c;
    const o = c.opts ?? {};
    const a = engine.tensor(o.transA ? [k, m] : [m, k], randomUniform(m * k, 1));
    const b = engine.tensor(o.transB ? [n, k] : [k, n], randomUniform(k * n, 2));
    const out = engine.empty([m, n]);
    const variant = o.variant ?? tuned.variant;
    try {
      const ms = await timeRecording(engine, `matmul ${c.shape}`, (rec) => matmul(rec, a, b, out, m, n, k, o), runs);
      const gflops = (2 * m * n * k) / ms / 1e6;
      rows.push({ shape: c.shape, variant: `${variant}${variant === tuned.variant ? ' (tuned)' : ''} wg ${tuned.workgroup.join('x')}`, ms, gflops, ofPeak: gflops / peak });
    } finally {
      for (const t of [a, b, out] as Tensor[]) t.dispose();
    }
  }
  return rows;
}

export function formatTable(rows: Row[], peak: number): string {
  const lines = [`FMA probe peak: ${peak.toFixed(1)} GFLOP/s`, ''];
  const head = ['shape (m x n x k)', 'variant', 'ms', 'GFLOP/s', '% of probe'];
  const body = rows.map((r) => [r.shape, r.variant, r.ms.toFixed(2), r.gflops.toFixed(2), Number.isFinite(r.ofPeak) ? `${(100 * r.ofPeak).toFixed(1)}%` : '-']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  lines.push(fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt));
  return lines.join('\n');
}

/** `bench kernels [--json]`: prints the probe and the matmul table. */
export async function main(args: string[] = []): Promise<void> {
  const engine = await createEngine();
  try {
    process.stdout.write(`adapter: ${engine.describe()}\n`);
    const peak = await measureFmaPeak(engine);
    const rows = await benchMatmul(engine, { peak });
    // The probe again after the matmuls: a busy machine shows up as two different peaks.
    const peak2 = await measureFmaPeak(engine);
    if (args.includes('--json')) process.stdout.write(`${JSON.stringify({ adapter: engine.describe(), peak, peakAfter: peak2, rows })}\n`);
    else process.stdout.write(`${formatTable(rows, peak)}\n(probe again after the table: ${peak2.toFixed(1)} GFLOP/s)\n`);
  } finally {
    engine.dispose();
  }
}
