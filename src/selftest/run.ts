// The self-test: every case of src/selftest/cases.ts on this engine's adapter, as table rows. Platform-neutral
// (the CLI, src/selftest/cli.ts, and the page, web/selftest.ts, print it).
import type { Engine } from '../gpu/engine.js';
import type { TensorCheck } from '../check/compare.js';
import { SELFTEST_CASES, type SelftestCase } from './cases.js';

/** One self-test case's result: the kernel (variant, shapes), its worst tensor against its bound, and the time taken. */
export interface SelftestRow {
  kernel: string;
  variant: string;
  shapes: string;
  /** The tensor closest to its bound, and there |gpu − expected| and the bound, both relative to max(|expected|, scale). */
  tensor: string;
  error: number;
  bound: number;
  pass: boolean;
  /** Set when the case threw instead of comparing (a WebGPU error, say). */
  failure?: string;
  ms: number;
}

/** A whole self-test run: the adapter, every row, what failed and how long it took. */
export interface SelftestReport {
  adapter: string;
  quick: boolean;
  rows: SelftestRow[];
  pass: boolean;
  /** kernel (variant) of every failing row. */
  failed: string[];
  seconds: number;
}

/** Options of runSelftest: quick subset, the cases to run, a progress callback and a test-only corruption switch. */
export interface SelftestOptions {
  /** Only the cases marked quick (default false). */
  quick?: boolean;
  /**
   * Test-only: corrupt the output of every case of this kernel family ('matmul') or family:variant
   * ('conv2d:forward'), to prove the self-test fails and names it (env SHADERFLOW_SELFTEST_CORRUPT for the CLI).
   */
  corrupt?: string;
  /** Called after each case (progress). */
  onRow?(row: SelftestRow, index: number, total: number): void;
  /** The cases to run (default SELFTEST_CASES). */
  cases?: SelftestCase[];
}

/** Runs the self-test on `engine`; never throws for a failing case (the report says), only for a lost device. */
export async function runSelftest(engine: Engine, options: SelftestOptions = {}): Promise<SelftestReport> {
  const t0 = Date.now();
  const quick = options.quick ?? false;
  const inQuick = (c: SelftestCase) => (typeof c.quick === 'function' ? c.quick(engine) : c.quick);
  const cases = (options.cases ?? SELFTEST_CASES).filter((c) => (!quick || inQuick(c)) && (c.available?.(engine) ?? true));
  // Every kernel case's pipelines compiled at once (createComputePipelineAsync, in parallel where the driver can):
  // the first run on a machine is mostly shader compilation.
  await engine.compilePipelines(cases.flatMap((c) => c.pipelines?.(engine) ?? []));
  const rows: SelftestRow[] = [];
  for (const [i, c] of cases.entries()) {
    const start = Date.now();
    const corrupt = options.corrupt !== undefined && (options.corrupt === c.kernel || options.corrupt === `${c.kernel}:${c.variant}`);
    let row: SelftestRow;
    try {
      const out = await c.run(engine, corrupt);
      // the row shows the tensor closest to (or furthest past) its bound, failing tensors first
      const ratio = (t: TensorCheck) => (t.pass ? 0 : 1e300) + (t.bound > 0 ? Math.abs(t.gpu - t.expected) / t.bound : t.gpu === t.expected ? 0 : 1e299);
      const worst = out.tensors.reduce<TensorCheck | undefined>((w, t) => (!w || ratio(t) > ratio(w) ? t : w), undefined);
      const rel = (v: number, t: TensorCheck) => v / Math.max(Math.abs(t.expected), t.scale, Number.MIN_VALUE);
      row = {
        kernel: c.kernel,
        variant: out.variant ?? c.variant,
        shapes: c.shapes,
        tensor: worst?.tensor ?? '',
        error: worst ? rel(Number.isFinite(worst.gpu) ? Math.abs(worst.gpu - worst.expected) : Infinity, worst) : NaN,
        bound: worst ? rel(worst.bound, worst) : NaN,
        pass: out.tensors.length > 0 && out.tensors.every((t) => t.pass),
        ms: Date.now() - start,
      };
    } catch (e) {
      engine.assertAlive('selftest');
      row = { kernel: c.kernel, variant: c.variant, shapes: c.shapes, tensor: '', error: NaN, bound: NaN, pass: false, failure: `${(e as Error).name}: ${(e as Error).message}`, ms: Date.now() - start };
    }
    rows.push(row);
    options.onRow?.(row, i, cases.length);
  }
  const failed = rows.filter((r) => !r.pass).map((r) => `${r.kernel} (${r.variant})`);
  return { adapter: engine.describe(), quick, rows, pass: failed.length === 0, failed, seconds: (Date.now() - t0) / 1000 };
}

const num = (v: number) => (Number.isNaN(v) ? '-' : Number.isFinite(v) ? v.toExponential(1) : 'inf');

/** The report as a Markdown table (kernel, variant, shapes, error, bound, pass) with the adapter and a summary line. */
export function formatSelftestTable(report: SelftestReport): string {
  const head = ['kernel', 'variant', 'shapes', 'max error', 'bound', 'pass'];
  const body = report.rows.map((r) => [r.kernel, r.variant, r.shapes, r.failure ? 'threw' : `${num(r.error)}${r.tensor && !r.pass ? ` (${r.tensor})` : ''}`, num(r.bound), r.pass ? 'ok' : 'FAIL']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const lines = [`adapter: ${report.adapter}`, '', line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line), ''];
  for (const r of report.rows) if (r.failure) lines.push(`${r.kernel} (${r.variant}) threw: ${r.failure}`);
  lines.push(
    report.pass
      ? `selftest${report.quick ? ' --quick' : ''}: all ${report.rows.length} checks pass (${report.seconds.toFixed(1)} s). Errors are relative to max(|expected|, the tensor's scale) at the element closest to its bound.`
      : `selftest${report.quick ? ' --quick' : ''}: ${report.failed.length} of ${report.rows.length} checks FAIL: ${report.failed.join(', ')} (${report.seconds.toFixed(1)} s)`,
  );
  return lines.join('\n');
}
