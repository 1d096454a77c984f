// `npm run bench -- matmul [--json]` (issue 2): matmul GFLOP/s with the adapter's tuned variant at square sizes
// 256..2048 and at the seed models' Dense shapes (batch 128: 784->512, 6272->128 of the MNIST CNN, 16384->128 of
// the CIFAR CNN) with their backward transposes, next to the FMA probe measured in the same run.
import { createEngine } from '../src/gpu/engine.js';
import type { MatmulOptions } from '../src/kernels/matmul.js';
import { measureFmaPeak, timeMatmul } from './kernels.js';
import { tuningOf } from '../src/kernels/tuning.js';

interface Case {
  name: string;
  m: number;
  n: number;
  k: number;
  opts?: MatmulOptions;
}

function cases(): Case[] {
  const out: Case[] = [256, 512, 1024, 2048].map((s) => ({ name: `square ${s}`, m: s, n: s, k: s }));
  for (const [inF, outF] of [
    [784, 512],
    [6272, 128],
    [16384, 128],
  ] as const) {
    out.push({ name: `dense ${inF}->${outF} forward`, m: 128, n: outF, k: inF });
    out.push({ name: `dense ${inF}->${outF} dKernel (Aᵀ·B)`, m: inF, n: outF, k: 128, opts: { transA: true } });
    out.push({ name: `dense ${inF}->${outF} dInput (A·Bᵀ)`, m: 128, n: inF, k: outF, opts: { transB: true } });
  }
  return out;
}

export async function benchMatmulCommand(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const engine = await createEngine();
  try {
    const peak = await measureFmaPeak(engine);
    const t = tuningOf(engine).matmul;
    if (!json) {
      process.stdout.write(`adapter: ${engine.describe()}\nFMA probe: ${peak.toFixed(1)} GFLOP/s; matmul variant: ${t.variant} wg ${t.workgroup.join('x')}\n`);
      process.stdout.write(`${'case'.padEnd(34)} ${'m x n x k'.padEnd(18)} ${'ms'.padStart(9)} ${'GFLOP/s'.padStart(9)} ${'% of probe'.padStart(10)}\n`);
      process.stdout.write(`${'-'.repeat(34)} ${'-'.repeat(18)} ${'-'.repeat(9)} ${'-'.repeat(9)} ${'-'.repeat(10)}\n`);
    }
    for (const c of cases()) {
      const { m, n, k } = c;
      const o = c.opts ?? {};
      const { ms, gflops } = await timeMatmul(engine, m, n, k, o, m * n * k > 5e8 ? 3 : 5);
      if (json)
        process.stdout.write(`${JSON.stringify({ kernel: 'matmul', case: c.name, m, n, k, transA: !!o.transA, transB: !!o.transB, gflops: +gflops.toFixed(2), peak_gflops: +peak.toFixed(1) })}\n`);
      else
        process.stdout.write(`${c.name.padEnd(34)} ${`${m}x${n}x${k}`.padEnd(18)} ${ms.toFixed(2).padStart(9)} ${gflops.toFixed(2).padStart(9)} ${`${((100 * gflops) / peak).toFixed(1)}%`.padStart(10)}\n`);
    }
  } finally {
    engine.dispose();
  }
}
