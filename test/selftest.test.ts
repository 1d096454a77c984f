// The self-test (src/selftest): every quick case passes on this adapter; the command line prints the table and the
// adapter and exits 0, and exits 1 naming the kernel when the test-only switch SHADERFLOW_SELFTEST_CORRUPT corrupts
// one kernel family's output (or one family:variant); --json is one parseable report. The page version runs in
// test/browser.test.ts.
import { execFile, execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tuningOf } from '../src/kernels/tuning.js';
import { createEngine, Engine, formatSelftestTable, runSelftest, SELFTEST_CASES, type SelftestReport } from '../src/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let engine: Engine;
beforeAll(async () => {
  engine = await createEngine();
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
}, 180_000);
afterAll(() => engine?.dispose());

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, ['dist/node/cli.js', ...args], { cwd: root, env: { ...process.env, ...env }, maxBuffer: 1 << 24, timeout: 540_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const FAMILIES = ['matmul', 'conv2d', 'pool', 'activation', 'elementwise', 'reduce', 'loss', 'optimizer', 'dropout', 'initializer', 'finite', 'data', 'gradients'];

describe('the case registry', () => {
  it('covers every kernel family, every matmul variant and every built-in layer, each case named', () => {
    expect([...new Set(SELFTEST_CASES.map((c) => c.kernel))].sort()).toEqual([...FAMILIES].sort());
    expect(new Set(SELFTEST_CASES.filter((c) => c.kernel === 'matmul').map((c) => c.variant))).toEqual(new Set(['naive', 'tile4', 'tile8', 'tile16', 'tile32x16', 'tile16x32']));
    const layers = SELFTEST_CASES.filter((c) => c.kernel === 'gradients').map((c) => c.variant.split(' ')[0]);
    for (const l of ['Dense', 'Conv2D', 'MaxPooling2D', 'AveragePooling2D', 'Flatten', 'Dropout', 'Activation', 'CNN']) expect(layers).toContain(l);
    for (const c of SELFTEST_CASES) expect(c.shapes.length, `${c.kernel} ${c.variant}`).toBeGreaterThan(0);
  });
});

describe('runSelftest', () => {
  it('--quick passes on this adapter, every family included', async () => {
    const r = await runSelftest(engine, { quick: true });
    const table = formatSelftestTable(r);
    console.log(table);
    const failing = r.rows.filter((x) => !x.pass).map((x) => `${x.kernel} ${x.variant}: ${x.failure ?? `${x.error} > ${x.bound} (${x.tensor})`}`);
    expect(failing, failing.join('\n')).toEqual([]);
    expect(r.pass).toBe(true);
    expect([...new Set(r.rows.map((x) => x.kernel))].sort()).toEqual([...FAMILIES].sort());
    // the tuned matmul tile is in the quick set, whichever it is on this adapter
    expect(r.rows.filter((x) => x.kernel === 'matmul').map((x) => x.variant)).toContain(tuningOf(engine).matmul.variant);
    for (const x of r.rows) expect(x.error, `${x.kernel} ${x.variant}`).toBeLessThanOrEqual(x.bound);
    expect(table).toMatch(/^adapter: .+\n\n\| kernel +\| variant +\| shapes +\| max error \| bound +\| pass \|/);
  }, 600_000);

  it('a case that throws is a failing row with the message, not an exception', async () => {
    const r = await runSelftest(engine, {
      cases: [{ kernel: 'broken', variant: 'v', shapes: '1', quick: true, run: () => Promise.reject(new Error('kaput')) }, SELFTEST_CASES.find((c) => c.kernel === 'finite')!],
    });
    expect(r.pass).toBe(false);
    expect(r.failed).toEqual(['broken (v)']);
    expect(formatSelftestTable(r)).toMatch(/broken \(v\) threw: Error: kaput/);
  });
});

describe('shaderflow selftest (command line)', () => {
  it('--quick prints the adapter and the table and exits 0', async () => {
    const r = await cli(['selftest', '--quick']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^adapter: .*\[/);
    expect(r.stdout).toMatch(/\| matmul +\| naive +\|/);
    expect(r.stdout).toMatch(/selftest --quick: all \d+ checks pass/);
  }, 600_000);

  it('exits 1 naming the kernel when SHADERFLOW_SELFTEST_CORRUPT corrupts it', async () => {
    const r = await cli(['selftest', '--quick'], { SHADERFLOW_SELFTEST_CORRUPT: 'matmul' });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\| matmul +\| naive +\|.*\| FAIL \|/);
    expect(r.stdout).toMatch(/checks FAIL: matmul \(naive\), matmul \(\w+\) \(/);
    expect(r.stdout).not.toMatch(/\| (conv2d|pool|gradients) .*FAIL/);
  }, 600_000);

  it('--json is one report; family:variant corrupts just that variant', async () => {
    const r = await cli(['selftest', '--quick', '--json'], { SHADERFLOW_SELFTEST_CORRUPT: 'conv2d:backwardInput' });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as SelftestReport;
    expect(report.adapter).toBe(engine.describe());
    expect(report.failed.length).toBeGreaterThan(0);
    expect(report.failed.every((f) => /^conv2d \(backwardInput4?\)$/.test(f)), report.failed.join()).toBe(true);
    const bad = report.rows.find((x) => !x.pass)!;
    expect(bad.tensor).toBe('dx');
    expect(bad.error).toBeGreaterThan(bad.bound);
  }, 600_000);

  it('bad options are usage errors', async () => {
    const r = await cli(['selftest', '--adapter-class', 'GPU!']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--adapter-class must be software or gpu/);
    const u = await cli(['selftest', '--nope']);
    expect(u.code).toBe(2);
  });
});
