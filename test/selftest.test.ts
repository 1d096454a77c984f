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

const FAMILIES = ['matmul', 'conv2d', 'pool', 'activation', 'elementwise', 'reduce', 'loss', 'metrics', 'optimizer', 'dropout', 'initializer', 'finite', 'merge', 'data', 'augment', 'gradients', 'batchnorm', 'padding', 'depthwise'];

describe('the case registry', () => {
  it('covers every kernel family, every matmul variant and every built-in layer, each case named', () => {
    expect([...new Set(SELFTEST_CASES.map((c) => c.kernel))].sort()).toEqual([...FAMILIES].sort());
    expect(new Set(SELFTEST_CASES.filter((c) => c.kernel === 'matmul').map((c) => c.variant))).toEqual(
      new Set(['naive', 'tile4', 'tile8', 'tile16', 'tile32x16', 'tile16x32', 'gemm64x64', 'gemm32x32']),
    );
    const names = SELFTEST_CASES.map((c) => `${c.kernel} ${c.variant} ${c.shapes}`);
    for (const v of ['gemm64x64', 'gemm32x32']) expect(names).toContain(`matmul ${v} 33x17x300 +bias relu split-K 5x64`);
    for (const v of ['gemm64x64', 'gemm64x32', 'gemm32x32'])
      for (const pass of ['forward', 'backwardInput', 'backwardFilter'])
        expect(names.some((n) => n.startsWith(`conv2d ${pass} ${v}`)), `${pass} ${v}`).toBe(true);
    for (const v of ['conv2d backwardBias biasChunks', 'reduce columnSum tree (chunked)', 'reduce rowSum tree (chunked)', 'loss softmaxCrossEntropy sparse tree', 'elementwise axpby vec4', 'elementwise scale vec4', 'activation relu.forward vec4', 'optimizer adam vec4', 'finite flagNonFinite vec4'])
      expect(names.some((n) => n.startsWith(v)), v).toBe(true);
    const layers = SELFTEST_CASES.filter((c) => c.kernel === 'gradients').map((c) => c.variant.split(' ')[0]);
    for (const l of ['Dense', 'Conv2D', 'MaxPooling2D', 'AveragePooling2D', 'Flatten', 'Dropout', 'Activation', 'CNN', 'RandomFlip', 'RandomCrop', 'RandomContrast', 'RandomBrightness', 'BatchNormalization', 'ZeroPadding2D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'DepthwiseConv2D', 'SeparableConv2D'])
      expect(layers).toContain(l);
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

  it('--quick under the forced GPU class runs the GEMMs, tree sums and vec4 entries, and they pass', async () => {
    const gpu = await createEngine({ adapterClass: 'gpu' });
    try {
      const r = await runSelftest(gpu, { quick: true });
      const failing = r.rows.filter((x) => !x.pass).map((x) => `${x.kernel} ${x.variant}: ${x.failure ?? `${x.error} > ${x.bound} (${x.tensor})`}`);
      expect(failing, failing.join('\n')).toEqual([]);
      expect([...new Set(r.rows.map((x) => x.kernel))].sort()).toEqual([...FAMILIES].sort());
      const rows = r.rows.map((x) => `${x.kernel} ${x.variant} ${x.shapes}`);
      const has = (prefix: string) => expect(rows.some((x) => x.startsWith(prefix)), prefix).toBe(true);
      for (const v of ['gemm64x64', 'gemm32x32']) {
        has(`matmul ${v} 33x17x127`);
        has(`matmul ${v} 33x17x300 +bias relu split-K 5x64`);
      }
      for (const v of ['gemm64x64', 'gemm64x32', 'gemm32x32']) for (const pass of ['forward', 'backwardInput', 'backwardFilter']) has(`conv2d ${pass} ${v}`);
      for (const v of ['conv2d backwardBias biasChunks', 'reduce columnSum tree (chunked)', 'reduce rowSum tree (chunked)', 'loss softmaxCrossEntropy sparse tree 300x10', 'loss meanSquaredError tree'])
        has(v);
      for (const v of ['elementwise axpby vec4', 'elementwise scale vec4', 'activation tanh.backward vec4', 'optimizer sgd vec4', 'optimizer adam vec4', 'optimizer rmsprop vec4', 'finite flagNonFinite vec4']) has(v);
      // what this class does not train with stays out of --quick: the software tiles and scalar arena updates
      expect(rows.filter((x) => /^matmul (tile|naive)/.test(x)).map((x) => x.split(' ')[1])).toEqual(['naive']);
      expect(rows.filter((x) => /^(conv2d (forward|backwardInput|backwardFilter) [0-9]|optimizer \S+ \d|finite flagNonFinite \d|reduce \w+Sum \d|conv2d backwardBias biasPartial)/.test(x))).toEqual([]);
    } finally {
      gpu.dispose();
    }
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

  it('under the GPU class, a corrupted matmul fails every GEMM case, naming it', async () => {
    const r = await cli(['selftest', '--quick', '--json', '--adapter-class', 'gpu'], { SHADERFLOW_SELFTEST_CORRUPT: 'matmul' });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as SelftestReport;
    expect(report.adapter).toMatch(/gpu class/);
    expect(new Set(report.failed)).toEqual(new Set(['matmul (naive)', 'matmul (gemm64x64)', 'matmul (gemm32x32)']));
    const bad = report.rows.filter((x) => !x.pass);
    expect(bad.map((x) => x.shapes)).toContain('33x17x300 +bias relu split-K 5x64');
    expect(bad.length).toBe(report.rows.filter((x) => x.kernel === 'matmul').length);
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
