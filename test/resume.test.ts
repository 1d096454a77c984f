// Lossless resume (issue 8): a child process trains with checkpoints every 5 steps and is SIGKILLed mid-epoch;
// a fresh child resumes from the checkpoint to the end; its final weights must equal, bit for bit, those of an
// uninterrupted run with the same seed (shuffling, dropout masks and Adam's step all restored). The children run
// test/helpers/resume-child.mjs on a bundle of src/node.ts built here (not dist/, which other builds rewrite).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const child = join(root, 'test/helpers/resume-child.mjs');
// Inside the repository so that the bundle's external imports (webgpu, fflate, pngjs) resolve from node_modules.
const bundle = join(root, 'node_modules/.cache/shaderflow-resume-test/index.js');
let tmp: string;

beforeAll(async () => {
  await build({
    absWorkingDir: root,
    entryPoints: ['src/node.ts'],
    outfile: bundle,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'node',
    packages: 'external',
    loader: { '.wgsl': 'text' },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'warning',
  });
  tmp = await mkdtemp(join(tmpdir(), 'shaderflow-resume-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface RunResult {
  mode: string;
  step: number;
  names: string[];
  weights: string;
  history: Record<string, number[]>;
  epochs: number[];
}

/** The adapter class the children run ('' for the adapter's own); set per describe block below. */
let adapterClass = '';

function start(mode: string, dir: string, out: string): { proc: ChildProcess; output: () => string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  // Every child uses the default kernel tiles: a timing-based matmul autotune could pick another tile (another
  // summation order) in each fresh process, and bit-exactness holds for one shader variant (README, determinism).
  const env: Record<string, string | undefined> = { ...process.env, SHADERFLOW_AUTOTUNE: '0' };
  if (adapterClass) env.SHADERFLOW_ADAPTER_CLASS = adapterClass;
  else delete env.SHADERFLOW_ADAPTER_CLASS;
  const proc = spawn(process.execPath, [child, bundle, mode, dir, out], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  return { proc, output: () => text, exit };
}

async function run(mode: string, dir: string): Promise<{ result: RunResult; output: string }> {
  const out = join(tmp, `${mode}${adapterClass}.json`);
  const c = start(mode, dir, out);
  const { code, signal } = await c.exit;
  if (code !== 0) throw new Error(`child '${mode}' exited with ${code ?? signal}:\n${c.output()}`);
  return { result: JSON.parse(readFileSync(out, 'utf8')) as RunResult, output: c.output() };
}

function floats(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function readMeta(dir: string): { epoch: number; batch: number; step: number; generation: string; rng: { seed: number; step: number; epoch: number } } | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8'));
  } catch {
    return null; // not written yet (the rename makes it appear whole)
  }
}

describe.each(['', 'gpu'])('checkpoints and lossless resume (adapter class %s)', (cls) => {
  it('SIGKILL mid-epoch, resume in a fresh process: final weights equal an uninterrupted run bit for bit', async () => {
    adapterClass = cls;
    const sub = join(tmp, cls || 'default');
    const full = await run('full', join(sub, 'unused'));
    expect(full.output).toMatch(cls ? /gpu class \(forced by SHADERFLOW_ADAPTER_CLASS\)/ : /(software|gpu) class \(/);
    expect(full.result.step).toBe(3 * 34);

    // Train with checkpoints every 5 steps; kill -9 once a checkpoint inside an epoch after the first exists and the
    // child has trained two more steps past it (so the resumed run must redo steps the killed one had done).
    const dir = join(sub, 'ckpt');
    const c = start('train', dir, join(tmp, `train${cls}.json`));
    let killedAt: ReturnType<typeof readMeta> = null;
    const lastPrinted = (): number[] => {
      const ls = c.output().split('\n').filter((l) => l.startsWith('batch '));
      return ls.length ? ls[ls.length - 1]!.split(' ').slice(1).map(Number) : [-1, -1];
    };
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const meta = readMeta(dir);
      const [e, b] = lastPrinted();
      // (Normally in the second epoch; a starved parent may first see it in the third.)
      if (meta && meta.epoch >= 1 && meta.batch > 0 && e === meta.epoch && b! >= meta.batch + 2) {
        c.proc.kill('SIGKILL');
        killedAt = meta;
        break;
      }
      if (c.proc.exitCode !== null) break;
      await new Promise((res) => setTimeout(res, 5));
    }
    const { code, signal } = await c.exit;
    expect(signal, `the training child must be killed, not finish (exit ${code}):\n${c.output()}`).toBe('SIGKILL');
    expect(killedAt).not.toBeNull();
    const lines = c.output().trim().split('\n').filter((l) => l.startsWith('batch '));
    const last = lines[lines.length - 1]!.split(' ').map(Number);
    const final = readMeta(dir)! as NonNullable<ReturnType<typeof readMeta>> & { optimizerTensors: number[] };
    console.log(
      `killed the training child mid-epoch: it had printed epoch ${last[1]! + 1} batch ${last[2]}; the checkpoint on disk is epoch ${final.epoch + 1} batch ${final.batch} (step ${final.step})`,
    );
    expect([1, 2]).toContain(final.epoch); // mid-epoch, after at least one whole epoch
    expect(final.batch).toBeGreaterThan(0);
    expect(final.batch).toBeLessThan(34);
    // What a checkpoint holds: model, weights, optimizer state, epoch, batch, step and the counter-based RNG state.
    expect(final.rng).toEqual({ seed: 5, step: final.step, epoch: final.epoch });
    for (const f of [`model-${final.generation}.json`, `weights-${final.generation}.bin`, `optimizer-${final.generation}.bin`]) expect(existsSync(join(dir, f))).toBe(true);
    // Adam's m and v, each over the whole parameter arena (weights plus alignment padding).
    expect(final.optimizerTensors.length).toBe(2);
    expect(readFileSync(join(dir, `optimizer-${final.generation}.bin`)).byteLength).toBe(8 * final.optimizerTensors[0]!);
    expect(final.optimizerTensors[0]! * 4).toBeGreaterThanOrEqual(readFileSync(join(dir, `weights-${final.generation}.bin`)).byteLength);

    const resumed = await run('resume', dir);
    expect(resumed.output).toMatch(new RegExp(`resuming at epoch ${final.epoch} batch ${final.batch} step ${final.step}`));
    expect(resumed.result.step).toBe(full.result.step);
    expect(resumed.result.names).toEqual(full.result.names);
    const a = floats(full.result.weights);
    const b = floats(resumed.result.weights);
    expect(b.length).toBe(a.length);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    console.log(`resume: max |weight difference| vs the uninterrupted run = ${maxDiff} over ${a.length} weights`);
    expect(maxDiff).toBe(0);
    expect(Buffer.from(b.buffer).equals(Buffer.from(a.buffer))).toBe(true); // bit for bit, signs of zeros included
    // The history (per-epoch loss, accuracy, validation) continues exactly too.
    expect(resumed.result.history).toEqual(full.result.history);
    expect(resumed.result.epochs).toEqual([0, 1, 2]);
    // The resumed run's own checkpoints replaced the killed run's; no stale generations or temp files remain.
    const files = readdirSync(dir).sort();
    const gen = readMeta(dir)!.generation;
    expect(files).toEqual(['checkpoint.json', `model-${gen}.json`, `optimizer-${gen}.bin`, `weights-${gen}.bin`].sort());
  });
});
