// The per-dispatch profile of one training step (`model.profile(batchSize)`, `shaderflow profile`): the
// recorder's plan (label, variant, workgroups, stated FLOPs and bytes) joined with the measured time of each
// operation, and the table and JSON lines the CLI and the device bundle print.
import type { PlanEntry, TimingMethod } from '../gpu/recorder.js';

/** One recorded operation of a profiled step: its plan (variant, workgroups, stated cost) and measured time and rates. */
export interface ProfileEntry {
  label: string;
  kind: PlanEntry['kind'];
  /** The kernel variant the kernel stated ('copy' / 'clear' for those; '?' when it stated none). */
  variant: string;
  workgroups: [number, number, number];
  threads: number;
  flops: number;
  bytes: number;
  /** Measured microseconds; null where the method cannot time the operation (copies and clears under timestamps). */
  us: number | null;
  gflops: number | null;
  gbs: number | null;
  /** us / the sum of all measured times. */
  share: number | null;
}

/** The profile of one training step (`model.profile`): the model, adapter, timing method, step time and each operation. */
export interface StepProfile {
  model: string;
  batchSize: number;
  adapter: string;
  adapterClass: string;
  /** How the per-operation times were taken. */
  method: TimingMethod;
  /** The synchronous step (submit, wait), median, measured in the same call. */
  stepMs: number;
  /** The sum of the measured per-operation times, in ms. */
  sumMs: number;
  entries: ProfileEntry[];
}

/** Joins a recorder's plan with the times `Recorder.profile` measured for the same operations. */
export function stepProfile(p: Omit<StepProfile, 'sumMs' | 'entries'> & { plan: PlanEntry[]; us: (number | null)[] }): StepProfile {
  const sumUs = p.us.reduce<number>((a, v) => a + (v ?? 0), 0);
  const entries = p.plan.map((e, i): ProfileEntry => {
    const us = p.us[i] ?? null;
    const flops = e.cost?.flops ?? 0;
    const bytes = e.cost?.bytes ?? 0;
    const rate = (amount: number) => (us !== null && us > 0 && amount > 0 ? amount / us / 1e3 : null);
    return {
      label: e.label,
      kind: e.kind,
      variant: e.cost?.variant ?? '?',
      workgroups: e.workgroups,
      threads: e.cost?.threads ?? 0,
      flops,
      bytes,
      us,
      gflops: rate(flops),
      gbs: rate(bytes),
      share: us !== null && sumUs > 0 ? us / sumUs : null,
    };
  });
  const { plan: _plan, us: _us, ...rest } = p;
  return { ...rest, sumMs: sumUs / 1e3, entries };
}

const fixed = (v: number | null, digits: number) => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits));

/** The profile as a table: one row per operation, then the sum next to the measured step. */
export function formatProfile(p: StepProfile): string {
  const head = ['#', 'dispatch', 'variant', 'workgroups', 'µs', 'GFLOP/s', 'GB/s', 'share'];
  const body = p.entries.map((e, i) => [
    String(i + 1),
    e.label,
    e.variant,
    e.kind === 'dispatch' ? e.workgroups.join('x') : '-',
    fixed(e.us, 1),
    fixed(e.gflops, 1),
    fixed(e.gbs, 1),
    e.share === null ? '-' : `${(100 * e.share).toFixed(1)}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 4 || i === 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const ratio = p.stepMs > 0 ? p.sumMs / p.stepMs : NaN;
  return [
    `${p.model}, batch ${p.batchSize}, ${p.adapter} (class ${p.adapterClass}); timed by ${p.method === 'timestamp' ? 'GPU timestamps (one compute pass per dispatch)' : 'wall clock (each operation replayed alone, less the empty-submit overhead)'}`,
    line(head),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(line),
    `sum of the ${p.entries.length} operations: ${p.sumMs.toFixed(3)} ms; synchronous step (submit + wait, median): ${p.stepMs.toFixed(3)} ms; sum / step = ${fixed(ratio, 2)}`,
  ].join('\n');
}

/** `--json`: one line per operation, then one summary line. */
export function profileJsonLines(p: StepProfile): string[] {
  const r = (v: number | null, d = 3) => (v === null ? null : Math.round(v * 10 ** d) / 10 ** d);
  return [
    ...p.entries.map((e) =>
      JSON.stringify({
        label: e.label,
        kind: e.kind,
        variant: e.variant,
        workgroups: e.workgroups,
        threads: e.threads,
        us: r(e.us),
        gflops: r(e.gflops),
        gbs: r(e.gbs),
        share: r(e.share, 4),
        method: p.method,
      }),
    ),
    JSON.stringify({
      model: p.model,
      batch_size: p.batchSize,
      adapter: p.adapter,
      adapter_class: p.adapterClass,
      method: p.method,
      operations: p.entries.length,
      sum_ms: r(p.sumMs),
      step_ms: r(p.stepMs),
      sum_over_step: r(p.stepMs > 0 ? p.sumMs / p.stepMs : null),
    }),
  ];
}
