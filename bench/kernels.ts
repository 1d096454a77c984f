// Kernel benchmarks, one table: the adapter's peak FMA rate (shaders/probe.wgsl), matmul (shaders/matmul.wgsl) at
// 1024³ (the autotuned variant and the other candidates) and the seed MLP's Dense shapes, conv2d forward /
// backward-input / backward-filter at the seed CNNs' shapes and max-pool (bench/conv.ts), each with its fraction
// of the probe. Each timing is the median of several runs after a warm-up (which also compiles the pipeline); a
// run is one recorded dispatch, submitted and waited for with `engine.sync()`. FLOPs count 2 per multiply-add.
// `node dist/node/bench.js kernels [--json]`, or main() from here.
import { createEngine, type Engine } from '../src/gpu/engine.js';
import { Recorder } from '../src/gpu/recorder.js';
import type { Tensor } from '../src/gpu/tensor.js';
import { matmul, type MatmulOptions, type MatmulVariant } from '../src/kernels/matmul.js';
import { randomUniform } from '../src/reference/random.js';
import { matmulCandidates } from '../src/kernels/tuning.js';
import { benchConv } from './conv.js';
import { fitFilterRows } from '../src/kernels/conv2d.js';
import { tuningOf } from '../src/kernels/tuning.js';

export interface Row {
  shape: string;
  variant: string;
  ms: number;
  gflops: number;
  /** gflops / the FMA probe's GFLOP/s (NaN when the peak was not measured or the row is not FLOPs). */
  ofPeak: number;
  /** 'GFLOP/s' (default) or 'GB/s' (memory-bound kernels: pooling). */
  unit?: 'GFLOP/s' | 'GB/s';
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

/** Times matmul at 1024³ (the tuned choice first, then the other autotune candidates) and the seed MLP's Dense shapes with the tuned variant. */
export async function benchMatmul(engine: Engine, opts: { runs?: number; peak?: number; candidates?: boolean } = {}): Promise<Row[]> {
  const runs = opts.runs ?? 5;
  const peak = opts.peak ?? NaN;
  const tuned = tuningOf(engine).matmul;
  const cases: MatmulCase[] = [];
  cases.push({ shape: '1024x1024x1024', m: 1024, n: 1024, k: 1024 });
  if (opts.candidates ?? true)
    for (const c of matmulCandidates(engine.adapter.adapterClass)) {
      if (c.variant === tuned.variant && c.workgroup.join() === tuned.workgroup.join()) continue;
      cases.push({ shape: '1024x1024x1024', m: 1024, n: 1024, k: 1024, opts: { variant: c.variant, workgroup: c.workgroup } });
    }
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
    const o = c.opts ?? {};
    const variant = o.variant ?? tuned.variant;
    const wg = o.workgroup ?? tuned.workgroup;
    const isTuned = variant === tuned.variant && wg.join() === tuned.workgroup.join();
    const { ms, gflops } = await timeMatmul(engine, c.m, c.n, c.k, o, runs);
    rows.push({ shape: `matmul ${c.shape}`, variant: `${variant} wg ${wg.join('x')}${isTuned ? ' (tuned)' : ''}`, ms, gflops, ofPeak: gflops / peak });
  }
  return rows;
}

/** Median ms and GFLOP/s of one m x n x k matmul (operands laid out as `opts` transposes them) on random inputs. */
export async function timeMatmul(engine: Engine, m: number, n: number, k: number, opts: MatmulOptions = {}, runs = 5): Promise<{ ms: number; gflops: number }> {
  const a = engine.tensor(opts.transA ? [k, m] : [m, k], randomUniform(m * k, 1));
  const b = engine.tensor(opts.transB ? [n, k] : [k, n], randomUniform(k * n, 2));
  const out = engine.empty([m, n]);
  try {
    const ms = await timeRecording(engine, `matmul ${m}x${n}x${k}`, (rec) => matmul(rec, a, b, out, m, n, k, opts), runs);
    return { ms, gflops: (2 * m * n * k) / ms / 1e6 };
  } finally {
    for (const t of [a, b, out] as Tensor[]) t.dispose();
  }
}

/** Conv2D (forward, backward-input, backward-filter at the seed CNNs' shapes) and max-pool rows (bench/conv.ts). */
export async function benchConvRows(engine: Engine, peak: number, runs = 3): Promise<Row[]> {
  const t = tuningOf(engine).conv2d;
  // Filter rows (kH*kW*inC) per shape: backward-filter narrows its tile for few rows (fitFilterRows).
  const filterRows: Record<string, number> = { mnist: 9, cifar1: 27, cifar2: 288 };
  const tile = (what: string) => {
    const rows = filterRows[what.startsWith('mnist') ? 'mnist' : what.includes('conv1') ? 'cifar1' : 'cifar2']!;
    const c = what.includes('backward-input') ? t.backwardInput : what.includes('backward-filter') ? fitFilterRows(t.backwardFilter, rows) : t.forward;
    return `wg ${c.workgroup} px ${c.px} x ch ${4 * c.cv}`;
  };
  const results = await benchConv(engine, { runs, shapes: ['mnist', 'cifar1', 'cifar2'] });
  return results.map((r) => {
    if (r.name.startsWith('max-pool')) {
      // Bytes moved: forward reads x (4 B per element) and writes the max and its argmax (a quarter each);
      // backward reads those two and writes dx: 6 bytes per input element either way.
      const elements = r.gflops * r.ms * 1e6;
      const gbs = (6 * elements) / r.ms / 1e6;
      return { shape: r.name, variant: `wg ${tuningOf(engine).poolWorkgroup}`, ms: r.ms, gflops: gbs, ofPeak: NaN, unit: 'GB/s' as const };
    }
    return { shape: `conv2d ${r.name}`, variant: tile(r.name), ms: r.ms, gflops: r.gflops, ofPeak: r.gflops / peak };
  });
}

export function formatTable(rows: Row[], peak: number): string {
  const lines: string[] = [];
  const head = ['kernel and shape', 'variant', 'ms', 'rate', '% of probe'];
  const body = [
    ['FMA probe (16 independent FMA chains per invocation)', 'wg 64', '-', `${peak.toFixed(1)} GFLOP/s`, '100.0%'],
    ...rows.map((r) => [
      r.shape,
      r.variant,
      r.ms.toFixed(2),
      `${r.gflops.toFixed(2)} ${r.unit ?? 'GFLOP/s'}`,
      Number.isFinite(r.ofPeak) ? `${(100 * r.ofPeak).toFixed(1)}%` : '-',
    ]),
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  lines.push(fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt));
  return lines.join('\n');
}

/** `bench kernels [--json]`: the probe, matmul, conv2d and pooling in one table. */
export async function main(args: string[] = []): Promise<void> {
  const engine = await createEngine();
  try {
    const json = args.includes('--json');
    if (!json) process.stdout.write(`adapter: ${engine.describe()}\n`);
    const peak = await measureFmaPeak(engine);
    const rows = [...(await benchMatmul(engine, { peak })), ...(await benchConvRows(engine, peak))];
    // The probe again after the table: a busy machine shows up as two different peaks.
    const peak2 = await measureFmaPeak(engine);
    if (json) {
      process.stdout.write(`${JSON.stringify({ adapter: engine.describe(), peak_gflops: peak, peak_after_gflops: peak2, matmul: tuningOf(engine).matmul })}\n`);
      for (const r of rows) process.stdout.write(`${JSON.stringify({ kernel: r.shape, variant: r.variant, ms: r.ms, [r.unit === 'GB/s' ? 'gbs' : 'gflops']: r.gflops, fraction_of_probe: Number.isFinite(r.ofPeak) ? r.ofPeak : null })}\n`);
    } else process.stdout.write(`${formatTable(rows, peak)}\n(probe again after the table: ${peak2.toFixed(1)} GFLOP/s)\n`);
  } finally {
    engine.dispose();
  }
}
