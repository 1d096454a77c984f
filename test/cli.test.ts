// End-to-end tests of the `shaderflow` command line (dist/node/cli.js, rebuilt when older than the sources):
// train on real MNIST and the files it writes, evaluate and predict on the saved model, summaries of the four
// presets, the CIFAR preset on CIFAR-10 binary files written here, and the errors a user meets.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gridLayout, readPng, writePng } from '../src/data/image.js';
import type { Image } from '../src/data/types.js';
import { loadDataset } from '../src/data/loaders.js';
import { encodeTar } from '../src/data/tar.js';
import { numpyPermutation, sklearnSplitIndices } from '../src/model/presets.js';
import { writeImageFolder } from '../src/data/folder.js';
import { writeJpeg } from '../src/data/image-files.js';
import { gzip } from './helpers/data-fixtures.js';
import { confusionMatrixImage } from '../src/viz/confusion.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cliJs = join(root, 'dist/node/cli.js');

/** Newest modification time (ms) of the files under `dir` whose names end with one of `exts`. */
function newest(dir: string, exts: string[]): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, exts));
    else if (exts.some((x) => e.name.endsWith(x))) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

function cli(args: string[], opts: { timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [cliJs, ...args], { cwd: root, env: { ...process.env, SHADERFLOW_DATA: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 110_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

/** The JSON object on the last line of stdout. */
function lastJson(out: string): Record<string, unknown> {
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

const tmp = mkdtempSync(join(tmpdir(), 'sf-cli-'));
const timings: string[] = [];
function timed(what: string, r: Run): Run {
  timings.push(`${what}: ${r.seconds.toFixed(1)} s`);
  return r;
}

beforeAll(() => {
  const sources = Math.max(newest(join(root, 'src'), ['.ts']), newest(join(root, 'shaders'), ['.wgsl']), newest(join(root, 'datasets'), ['.json']));
  const stale = !existsSync(cliJs) || statSync(cliJs).mtimeMs < sources;
  if (stale) execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
}, 300_000);

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  process.stderr.write(`cli.test timings: ${timings.join('; ')}\n`);
});

const JSON_KEYS = ['preset', 'epochs', 'train_loss', 'train_accuracy', 'val_loss', 'val_accuracy', 'epochs_run', 'lr', 'test_loss', 'test_accuracy', 'seconds', 'ms_per_step', 'adapter'];

describe('shaderflow train / evaluate / predict on real MNIST', () => {
  const out = join(tmp, 'mnist-cnn');
  let result: Record<string, unknown> = {};

  it('train --preset mnist-cnn --optimizer adam --limit 5000 --epochs 3 reaches >= 90% test accuracy and writes its outputs', async () => {
    const r = timed('train mnist-cnn', await cli(['train', '--preset', 'mnist-cnn', '--optimizer', 'adam', '--limit', '5000', '--epochs', '3', '--json', '--out', out], { timeoutMs: 400_000 }));
    expect(r.code, r.stderr).toBe(0);
    result = lastJson(r.stdout);
    timings.push(`mnist-cnn adam 3 epochs: test accuracy ${(result.test_accuracy as number).toFixed(4)}, val ${(result.val_accuracy as number).toFixed(4)}`);
    expect(Object.keys(result).sort()).toEqual([...JSON_KEYS].sort());
    expect(result.preset).toBe('mnist-cnn');
    expect(result.epochs).toBe(3);
    for (const k of JSON_KEYS.filter((k) => k !== 'preset' && k !== 'adapter')) expect(Number.isFinite(result[k]), k).toBe(true);
    expect(typeof result.adapter).toBe('string');
    expect(result.test_accuracy as number).toBeGreaterThanOrEqual(0.9);
    expect(result.val_accuracy as number).toBeGreaterThanOrEqual(0.85);
    // --json keeps stdout to the one line: the summary and progress go to stderr.
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('Total params: 804,554');
    expect(r.stderr).toContain('Epoch 3/3');

    // history.json: Keras' history.history, one entry per epoch, the last ones equal to the JSON line.
    const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as Record<string, number[]>;
    expect(Object.keys(history).sort()).toEqual(['accuracy', 'loss', 'lr', 'val_accuracy', 'val_loss']);
    expect(history.lr).toEqual([0.001, 0.001, 0.001].map(Math.fround)); // Adam's default rate, each epoch
    for (const k of Object.keys(history)) expect(history[k], k).toHaveLength(3);
    expect(history.loss![2]).toBe(result.train_loss);
    expect(history.val_accuracy![2]).toBe(result.val_accuracy);
    expect(history.loss![2]!).toBeLessThan(history.loss![0]!);

    // The two plots, titled and labelled as the seed's: plt.title('Accuracy'|'Loss'), xlabel('epoch'), ylabel(...).
    for (const [file, title, ylabel] of [['accuracy.svg', 'Accuracy', 'accuracy'], ['loss.svg', 'Loss', 'loss']] as const) {
      const svg = readFileSync(join(out, file), 'utf8');
      expect(svg.startsWith('<svg'), file).toBe(true);
      const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
      expect(texts, file).toContain(title);
      expect(texts, file).toContain('epoch');
      expect(texts, file).toContain(ylabel);
      expect(texts, file).toContain('train');
      const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]*)"/g)].map((m) => m[1]!.trim().split(' ').length);
      expect(lines, `${file}: train and validation curves of 3 points`).toEqual([3, 3]);
    }

    // predictions.png: three test digits captioned "Label value = x  Predicted value = y".
    const png = readPng(join(out, 'predictions.png'));
    const caption = 'Label value = 0  Predicted value = 0';
    const blank: Image = { data: new Uint8Array(28 * 28), shape: [28, 28, 1] };
    const layout = gridLayout([0, 1, 2].map(() => ({ image: blank, caption })), { scale: 4 });
    expect(png.shape).toEqual([layout.height, layout.width, 3]);
    // 3 cells as wide as the 36-character caption (6 px a glyph, 215 px) and 4 paddings of 12; 112 px images + 12 px captions.
    expect([layout.width, layout.height]).toEqual([693, 148]);

    // confusion.svg: 10x10 cells whose counts cover the 10,000 test digits, the trace giving the test accuracy;
    // confusion.png: exactly the bitmap rendering of those counts.
    const svg = readFileSync(join(out, 'confusion.svg'), 'utf8');
    const counts = [...svg.matchAll(/fill="(?:white|black)">(\d+)<\/text>/g)].map((m) => Number(m[1]));
    expect(counts).toHaveLength(100);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(counts.filter((_, i) => i % 11 === 0).reduce((a, b) => a + b, 0) / 10_000).toBe(result.test_accuracy);
    expect(svg.match(/<rect class="cell"/g)).toHaveLength(100);
    for (const t of ['Confusion matrix', 'True class', 'Predicted class', '0', '9']) expect(svg).toContain(`>${t}<`);
    const cmPng = readPng(join(out, 'confusion.png'));
    const cmWant = confusionMatrixImage(counts, { classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] });
    expect(cmPng.shape).toEqual(cmWant.shape);
    expect(Buffer.from(cmPng.data).equals(Buffer.from(cmWant.data))).toBe(true);
    // cells of 29 px (4-digit diagonal counts: 23 px + 6), 10 of them beside the 5 px row labels; scale 2
    expect(cmPng.shape).toEqual([2 * (36 + 290 + 8), 2 * (8 + 5 + 8 + 290 + 8), 3]);
    // misclassified.png: 25 wrong test digits in 5 rows of 5, captioned "true 7 / pred 2" (images at scale 3: 84 px).
    const wrongPng = readPng(join(out, 'misclassified.png'));
    const wrongLayout = gridLayout(Array.from({ length: 25 }, () => ({ image: blank, caption: 'true 0\npred 0' })), { columns: 5 });
    expect(wrongPng.shape).toEqual([wrongLayout.height, wrongLayout.width, 3]);
    expect([wrongLayout.width, wrongLayout.height]).toEqual([6 * 12 + 5 * 84, 6 * 12 + 5 * (84 + wrongLayout.captionHeight)]);

    // The saved model, TF.js layers format: model.json (topology + weightsManifest) and weights.bin (float32).
    const model = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'));
    expect(model.format).toBe('layers-model');
    expect(model.modelTopology.class_name).toBe('Sequential');
    expect(model.modelTopology.config.layers.map((l: { class_name: string }) => l.class_name)).toEqual(['Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dense']);
    expect(model.weightsManifest).toHaveLength(1);
    expect(model.weightsManifest[0].paths).toEqual(['weights.bin']);
    const floats = model.weightsManifest[0].weights.reduce((s: number, w: { shape: number[]; dtype: string }) => {
      expect(w.dtype).toBe('float32');
      return s + w.shape.reduce((a, b) => a * b, 1);
    }, 0);
    expect(floats).toBe(804_554);
    expect(statSync(join(out, 'weights.bin')).size).toBe(804_554 * 4);
    // The kill limit is generous: 3 epochs take ~40 s on an idle 2-core llvmpipe machine and minutes on a shared one.
  }, 420_000);

  it('evaluate --model DIR prints the test figures the training printed', async () => {
    expect(result.test_loss, 'the train test ran first').toBeDefined();
    const trained = readFileSync(join(out, 'confusion.svg'), 'utf8');
    const evalOut = join(tmp, 'mnist-cnn-evaluate');
    const r = timed('evaluate', await cli(['evaluate', '--model', out, '--out', evalOut]));
    expect(r.code, r.stderr).toBe(0);
    const m = /mnist test: loss (\d+\.\d{4}) - accuracy (\d+\.\d{4})/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expect(m![1]).toBe((result.test_loss as number).toFixed(4));
    expect(m![2]).toBe((result.test_accuracy as number).toFixed(4));
    // sklearn's classification_report with 4 digits: a header, one row per class, accuracy and the two averages
    const lines = r.stdout.split('\n');
    const header = lines.findIndex((l) => l === '              precision    recall  f1-score   support');
    expect(header, r.stdout).toBeGreaterThan(0);
    const rows = lines.slice(header + 2, header + 12).map((l) => l.trim().split(/\s+/));
    expect(rows.map((c) => c[0])).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    // MNIST's test set: 980 zeros, 1135 ones, ... (its class counts)
    expect(rows.map((c) => Number(c[4]))).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    expect(lines[header + 13]!.trim().split(/\s+/)).toEqual(['accuracy', (result.test_accuracy as number).toFixed(4), '10000']);
    expect(lines[header + 14]).toMatch(/^ {3}macro avg {5}0\.\d{4} {4}0\.\d{4} {4}0\.\d{4} {5}10000$/);
    // the same model on the same data: the very confusion.svg train wrote
    expect(readFileSync(join(evalOut, 'confusion.svg'), 'utf8')).toBe(trained);
    expect(readPng(join(evalOut, 'confusion.png')).shape).toEqual(readPng(join(out, 'confusion.png')).shape);
  });

  it('predict --model DIR classifies real MNIST test digits written as gray, RGB and 56x56 PNGs', async () => {
    expect(result.test_loss, 'the train test ran first').toBeDefined();
    const mnist = await loadDataset('mnist', { testLimit: 3 });
    const dir = join(tmp, 'digits');
    mkdirSync(dir);
    const files: { file: string; label: number; digit: number }[] = [];
    for (let i = 0; i < 3; i++) {
      const gray = mnist.test.images.slice(i * 784, (i + 1) * 784);
      const label = mnist.test.labels[i]!;
      const rgb = new Uint8Array(784 * 3);
      for (let p = 0; p < 784; p++) rgb.fill(gray[p]!, p * 3, p * 3 + 3);
      const big = new Uint8Array(56 * 56);
      for (let y = 0; y < 56; y++) for (let x = 0; x < 56; x++) big[y * 56 + x] = gray[(y >> 1) * 28 + (x >> 1)]!;
      const variants: [string, Image][] = [
        [`digit${i}-gray28.png`, { data: gray, shape: [28, 28, 1] }],
        [`digit${i}-rgb28.png`, { data: rgb, shape: [28, 28, 3] }],
        [`digit${i}-gray56.png`, { data: big, shape: [56, 56, 1] }],
      ];
      for (const [name, img] of variants) {
        writePng(join(dir, name), img);
        files.push({ file: join(dir, name), label, digit: i });
      }
    }
    const r = timed('predict', await cli(['predict', '--model', out, ...files.map((f) => f.file)]));
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(files.length);
    const rows = lines.map((line, k) => {
      const m = /^(.*): class (\d) \(p = (\d\.\d{4})\)\s+probabilities: (.*)$/.exec(line);
      expect(m, line).not.toBeNull();
      expect(m![1]).toBe(files[k]!.file);
      const probs = m![4]!.trim().split(/\s+/).map(Number);
      expect(probs).toHaveLength(10);
      // Printed to 4 decimals: ten roundings of at most 0.00005 each.
      expect(Math.abs(probs.reduce((a, b) => a + b, 0) - 1)).toBeLessThanOrEqual(0.0006);
      const cls = Number(m![2]);
      expect(probs[cls]).toBe(Math.max(...probs));
      return { ...files[k]!, cls, p: Number(m![3]) };
    });
    // The three test digits (7, 2, 1) are easy: each is classified confidently and right in every form.
    expect(rows.filter((r) => r.file.endsWith('gray28.png')).map((r) => r.label)).toEqual([7, 2, 1]);
    for (const row of rows) {
      expect(row.cls, row.file).toBe(row.label);
      expect(row.p, row.file).toBeGreaterThan(0.8);
    }
    // A gray image and its RGB copy are the same input.
    for (let i = 0; i < 3; i++) expect(lines[i * 3 + 1]!.split(': ').slice(1)).toEqual(lines[i * 3]!.split(': ').slice(1));
  });
});

describe('shaderflow train with training control (--lr-schedule, --early-stopping, --csv)', () => {
  it('writes the schedule\'s rate per epoch into history.json and the CSV, and stops early with the best weights', async () => {
    const out = join(tmp, 'control');
    const csv = join(tmp, 'control-log.csv');
    const r = timed(
      'train mnist-mlp control',
      await cli(['train', '--preset', 'mnist-mlp', '--limit', '1500', '--epochs', '3', '--lr', '0.05', '--lr-schedule', 'exponential:0.5:10', '--early-stopping', '1', '--csv', csv, '--json', '--out', out]),
    );
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as Record<string, number[]>;
    const epochs = j.epochs_run as number;
    expect(epochs).toBeGreaterThanOrEqual(2); // patience 1: at least two epochs run
    // 1200 training examples in batches of the preset's 128: 10 steps an epoch; the rate of each epoch's last step
    const stepsPerEpoch = Math.ceil(1200 / 128);
    expect(history.lr).toEqual(Array.from({ length: epochs }, (_, e) => Math.fround(0.05 * 0.5 ** (((e + 1) * stepsPerEpoch - 1) / 10))));
    expect(j.lr).toBe(history.lr![epochs - 1]);
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('epoch,accuracy,loss,lr,val_accuracy,val_loss');
    expect(rows.slice(1).map((l) => Number(l.split(',')[3]))).toEqual(history.lr);
  });
});

describe("the presets' train/validation split is the seed's train_test_split(test_size=0.2, random_state=9)", () => {
  // Reference values printed by numpy 2.4: numpy.random.RandomState(9).permutation(n) (the legacy stream is frozen).
  it('numpyPermutation equals numpy.random.RandomState(9).permutation', () => {
    const p = numpyPermutation(60000, 9);
    expect(Array.from(p.subarray(0, 10))).toEqual([13131, 14170, 37932, 50105, 40269, 11929, 52723, 58524, 46502, 42902]);
    expect(Array.from(p.subarray(-5))).toEqual([22584, 501, 55934, 20828, 57726]);
    let h = 0;
    for (const v of p) h = (Math.imul(h, 31) + v) >>> 0;
    expect(h, 'polynomial hash of the whole permutation, as computed from numpy').toBe(3783689470);
    expect(Array.from(numpyPermutation(64, 9))).toEqual([
      36, 6, 7, 38, 30, 31, 2, 39, 23, 37, 14, 32, 55, 25, 17, 5, 15, 47, 34, 45, 48, 20, 3, 21, 4, 8, 41, 61, 60, 26, 43, 44, 51, 13, 16, 9, 19, 11, 35, 57, 59,
      18, 12, 42, 50, 10, 24, 46, 0, 63, 29, 33, 27, 49, 40, 52, 58, 1, 22, 56, 54, 53, 28, 62,
    ]);
  });

  it('sklearnSplitIndices takes validation = perm[:ceil(0.2 n)], train = the rest', () => {
    const { train, test } = sklearnSplitIndices(60000, 0.2, 9);
    expect([train.length, test.length]).toEqual([48000, 12000]);
    expect(test[0]).toBe(13131);
    expect(train[train.length - 1]).toBe(57726);
    expect(new Set([...train, ...test]).size).toBe(60000);
    const cifar = sklearnSplitIndices(50000, 0.2, 9);
    expect([cifar.train.length, cifar.test.length, cifar.test[0], cifar.train[0]]).toEqual([40000, 10000, 9112, 30309]);
    const small = sklearnSplitIndices(64, 0.2, 9);
    expect([small.train.length, small.test.length]).toEqual([51, 13]);
  });
});

describe('shaderflow plan', () => {
  it('--json prints one line per dispatch with the issue 11 fields and a total line; bad flags are clear errors', async () => {
    const r = await cli(['plan', '--preset', 'mnist-mlp', '--batch-size', '128', '--adapter-class', 'gpu', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
    const total = rows.pop()!;
    expect(Object.keys(total)).toEqual(['total_modeled_us']);
    expect(rows.length).toBeGreaterThan(5);
    for (const row of rows) expect(Object.keys(row).sort()).toEqual(['bytes', 'flops', 'label', 'modeled_us', 'serial', 'threads', 'variant', 'workgroups']);
    expect(total.total_modeled_us as number).toBeCloseTo(rows.reduce((a, row) => a + (row.modeled_us as number), 0), 1);
    const text = await cli(['plan', '--preset', 'mnist-cnn', '--adapter-class', 'gpu']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/gpu class kernels/);
    expect(text.stdout).toMatch(/total: \d+ operations, .* modeled [\d.]+ µs on NVIDIA H200/);
    const bad = await cli(['plan', '--preset', 'mnist-cnn', '--adapter-class', 'fast']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--adapter-class must be software or gpu');
  });
});

describe('shaderflow summary', () => {
  it.each([
    ['mnist-mlp', '407,050'],
    ['mnist-cnn', '804,554'],
    ['fashion-cnn', '804,554'],
    ['cifar-cnn', '2,125,578'],
    ['cifar-cnn-augmented', '2,125,578'],
  ])('summary --preset %s prints Total params: %s', async (preset, total) => {
    const r = timed(`summary ${preset}`, await cli(['summary', '--preset', preset]));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Total params: ${total}`);
    expect(r.stdout).toContain(`Trainable params: ${total}`);
    expect(r.stdout).toContain('Non-trainable params: 0');
    expect(r.stdout).toContain('Layer (type)                 Output Shape              Param #');
  });
});

describe('shaderflow --version, help and COMMAND --help', () => {
  const pkgVersion = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const COMMAND_NAMES = ['train', 'summary', 'evaluate', 'predict', 'image', 'inspect', 'plan', 'profile', 'selftest', 'adapter'];

  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${pkgVersion}\n`);
  });

  it('help (and no command at all) lists every command with a line each', async () => {
    for (const args of [['help'], [], ['--help']]) {
      const r = await cli(args);
      expect(r.code, r.stderr).toBe(0);
      for (const name of [...COMMAND_NAMES, 'help [COMMAND]']) expect(r.stdout).toMatch(new RegExp(`^  ${name.replace(/[[\]]/g, '\\$&')} +\\S`, 'm'));
      expect(r.stdout).toContain('SHADERFLOW_VERBOSE=1');
    }
  });

  it('help COMMAND and COMMAND --help print the same page: usage, every flag, an example', async () => {
    // Every flag train accepts: an unknown one is an error (below), so the page must name exactly these.
    const trainFlags = ['preset', 'epochs', 'batch-size', 'optimizer', 'lr', 'data', 'out', 'seed', 'limit', 'json', 'verbose', 'checkpoint', 'checkpoint-every', 'resume', 'images', 'image-size', 'validation-split', 'skip-bad-images', 'early-stopping', 'reduce-lr-on-plateau', 'lr-schedule', 'csv'];
    for (const name of COMMAND_NAMES) {
      const a = await cli(['help', name]);
      const b = await cli([name, '--help']);
      expect(a.code, a.stderr).toBe(0);
      expect(b.stdout).toBe(a.stdout);
      expect(a.stdout).toMatch(new RegExp(`^Usage: shaderflow ${name}`, 'm'));
      expect(a.stdout).toMatch(new RegExp(`^Examples?:\\n  shaderflow ${name}`, 'm'));
    }
    const train = (await cli(['train', '-h'])).stdout;
    const listed = [...train.matchAll(/^  --([a-z-]+)/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual([...trainFlags].sort());
  });

  it('help for an unknown command is the one-line error', async () => {
    const r = await cli(['help', 'fit']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^shaderflow: ShaderflowError: Unknown command "fit": use train, summary, evaluate, predict, image, inspect, plan, profile, selftest, adapter or help/);
  });
});

/** A CIFAR-10 batch in the official binary layout: per record 1 label byte, then 1024 red, 1024 green, 1024 blue bytes (row-major 32x32). */
function cifarBatch(count: number, seed: number): Uint8Array {
  const out = new Uint8Array(count * 3073);
  for (let r = 0; r < count; r++) {
    const label = (r + seed) % 10;
    out[r * 3073] = label;
    for (let ch = 0; ch < 3; ch++)
      for (let p = 0; p < 1024; p++) out[r * 3073 + 1 + ch * 1024 + p] = (label * 25 + ch * 40 + ((p * (seed + 3) + r) % 31)) & 255;
  }
  return out;
}

describe('shaderflow train --preset cifar-cnn on CIFAR-10 binary files', () => {
  const data = join(tmp, 'cifar');
  const out = join(tmp, 'cifar-out');
  const files = [
    ...[1, 2, 3, 4, 5].map((k) => ({ name: `data_batch_${k}.bin`, data: cifarBatch(16, k) })),
    { name: 'test_batch.bin', data: cifarBatch(12, 7) },
    { name: 'batches.meta.txt', data: new TextEncoder().encode('airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n') },
  ];

  it('trains end to end on a folder of batch files, writes its outputs, and the JSON line parses', async () => {
    mkdirSync(data);
    for (const f of files) writeFileSync(join(data, f.name), f.data);
    const r = timed(
      'train cifar-cnn',
      await cli(['train', '--preset', 'cifar-cnn', '--data', data, '--limit', '64', '--epochs', '1', '--batch-size', '32', '--json', '--out', out]),
    );
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(Object.keys(j).sort()).toEqual([...JSON_KEYS].sort());
    expect(j.preset).toBe('cifar-cnn');
    expect(j.epochs).toBe(1);
    for (const k of ['train_loss', 'val_loss', 'test_loss', 'train_accuracy', 'val_accuracy', 'test_accuracy']) expect(Number.isFinite(j[k]), k).toBe(true);
    // 64 examples: 51 train (2 steps of 32), 13 validation; the 12 test records.
    expect(r.stderr).toContain('Train on 51 samples, validate on 13 samples');
    expect(r.stderr).toContain('Total params: 2,125,578');
    for (const f of ['history.json', 'accuracy.svg', 'loss.svg', 'predictions.png', 'model.json', 'weights.bin']) expect(existsSync(join(out, f)), f).toBe(true);
    expect(statSync(join(out, 'weights.bin')).size).toBe(2_125_578 * 4);
    // CIFAR captions name the class: "Label value = 3 (cat)  Predicted value = ...".
    const png = readPng(join(out, 'predictions.png'));
    expect(png.shape[2]).toBe(3);
    expect(png.shape[1]).toBeGreaterThan(3 * 32 * 4);
  });

  it('trains cifar-cnn-augmented (flips and shifts on the GPU) end to end; the saved model keeps its augmentation layers', async () => {
    expect(existsSync(join(data, 'test_batch.bin')), 'the cifar-cnn train test wrote the data').toBe(true);
    const augOut = join(tmp, 'cifar-aug-out');
    const r = timed(
      'train cifar-cnn-augmented',
      await cli(['train', '--preset', 'cifar-cnn-augmented', '--data', data, '--limit', '64', '--epochs', '1', '--batch-size', '32', '--json', '--out', augOut]),
    );
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.preset).toBe('cifar-cnn-augmented');
    for (const k of ['train_loss', 'val_loss', 'test_loss', 'train_accuracy', 'val_accuracy', 'test_accuracy']) expect(Number.isFinite(j[k]), k).toBe(true);
    expect(r.stderr).toContain('random_flip (RandomFlip)     (None, 32, 32, 3)         0');
    expect(r.stderr).toContain('Total params: 2,125,578');
    const topo = JSON.parse(readFileSync(join(augOut, 'model.json'), 'utf8')).modelTopology.config.layers as { class_name: string; config: Record<string, unknown> }[];
    expect(topo.slice(0, 2).map((l) => l.class_name)).toEqual(['RandomFlip', 'RandomTranslation']);
    expect(topo[1]!.config).toMatchObject({ height_factor: 0.1, width_factor: 0.1, fill_mode: 'reflect', interpolation: 'bilinear' });
    const ev = timed('evaluate cifar-cnn-augmented', await cli(['evaluate', '--model', augOut, '--data', data, '--json']));
    expect(ev.code, ev.stderr).toBe(0);
    // evaluation is inference: the augmentation layers are the identity, so it reproduces train's test figures
    expect(lastJson(ev.stdout).test_loss).toBeCloseTo(j.test_loss as number, 5);
  });

  it('cifar-resnet (the residual BN preset) trains end to end on the same files', async () => {
    const resOut = join(tmp, 'cifar-resnet-out');
    const r = timed('train cifar-resnet', await cli(['train', '--preset', 'cifar-resnet', '--data', data, '--limit', '64', '--epochs', '1', '--batch-size', '32', '--json', '--out', resOut]));
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j.preset).toBe('cifar-resnet');
    for (const k of ['train_loss', 'val_loss', 'test_loss', 'test_accuracy']) expect(Number.isFinite(j[k]), k).toBe(true);
    expect(r.stderr).toContain('Total params: 291,306');
    expect(r.stderr).toContain('Non-trainable params: 1,216');
    expect(statSync(join(resOut, 'weights.bin')).size).toBe(291_306 * 4);
    // the preset's cosine decay is laid over this run's updates: ceil(floor(0.8 * 64) / 32) = 2, not the recipe's 3,130
    const saved = JSON.parse(readFileSync(join(resOut, 'model.json'), 'utf8'));
    expect(saved.trainingConfig.optimizer_config.config.learning_rate).toEqual({
      class_name: 'CosineDecay',
      config: { initial_learning_rate: 0.001, decay_steps: 2, alpha: 0, warmup_target: null, warmup_steps: 0 },
    });
    // --reduce-lr-on-plateau needs a settable rate: the schedule gives way to its starting rate, held constant
    const plateauOut = join(tmp, 'cifar-resnet-plateau');
    const p = timed('train cifar-resnet --reduce-lr-on-plateau', await cli(['train', '--preset', 'cifar-resnet', '--data', data, '--limit', '64', '--epochs', '1', '--batch-size', '32', '--reduce-lr-on-plateau', '5', '--json', '--out', plateauOut]));
    expect(p.code, p.stderr).toBe(0);
    const plateauRate = JSON.parse(readFileSync(join(plateauOut, 'model.json'), 'utf8')).trainingConfig.optimizer_config.config.learning_rate;
    expect(typeof plateauRate).toBe('number');
    expect(Math.fround(plateauRate)).toBe(Math.fround(0.001));
  });

  it('evaluate reads the same data as cifar-10-binary.tar.gz', async () => {
    expect(existsSync(join(out, 'model.json')), 'the train test ran first').toBe(true);
    const archiveDir = join(tmp, 'cifar-tgz');
    mkdirSync(archiveDir);
    writeFileSync(join(archiveDir, 'cifar-10-binary.tar.gz'), gzip(encodeTar(files.map((f) => ({ name: `cifar-10-batches-bin/${f.name}`, data: f.data })))));
    const fromFolder = timed('evaluate cifar folder', await cli(['evaluate', '--model', out, '--data', data, '--json']));
    const fromArchive = timed('evaluate cifar tar.gz', await cli(['evaluate', '--model', out, '--data', archiveDir, '--json']));
    expect(fromFolder.code, fromFolder.stderr).toBe(0);
    expect(fromArchive.code, fromArchive.stderr).toBe(0);
    expect(fromFolder.stdout.trim().split('\n'), 'with --json, stdout is the JSON line only').toHaveLength(1);
    const a = lastJson(fromFolder.stdout);
    expect(a.dataset).toBe('cifar10');
    expect(lastJson(fromArchive.stdout)).toEqual(a);
  });
});

describe('shaderflow errors: exit code != 0, one line naming what is at fault, no stack trace', () => {
  function expectOneLineError(r: Run, ...mustName: string[]): void {
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^shaderflow: /);
    for (const s of mustName) expect(lines[0]).toContain(s);
    expect(r.stderr).not.toMatch(/\n\s+at |\.js:\d+:\d+/);
    expect(r.stdout).toBe('');
  }

  it('unknown preset', async () => {
    expectOneLineError(await cli(['train', '--preset', 'mnist-rnn']), '--preset', 'mnist-rnn', 'mnist-cnn');
    expectOneLineError(await cli(['summary', '--preset', 'resnet50']), 'resnet50');
  });

  it('--model pointing at a missing folder, or at one without model.json', async () => {
    const missing = join(tmp, 'no-such-model');
    expectOneLineError(await cli(['evaluate', '--model', missing]), missing, 'no such folder');
    expectOneLineError(await cli(['predict', '--model', missing, 'x.png']), missing);
    const empty = join(tmp, 'model-without-json');
    mkdirSync(empty);
    expectOneLineError(await cli(['evaluate', '--model', empty]), empty, 'model.json');
  });

  it('a file that is not a PNG given to predict', async () => {
    const model = join(tmp, 'mnist-cnn');
    expect(existsSync(join(model, 'model.json')), 'the train test ran first').toBe(true);
    const notPng = join(tmp, 'notes.png');
    writeFileSync(notPng, 'this is text, not an image\n');
    expectOneLineError(await cli(['predict', '--model', model, notPng]), notPng, 'not a PNG');
    const missing = join(tmp, 'missing.png');
    expectOneLineError(await cli(['predict', '--model', model, missing]), missing);
  });

  it('--data pointing at an empty folder or at none', async () => {
    const empty = join(tmp, 'empty-data');
    mkdirSync(empty);
    expectOneLineError(await cli(['train', '--preset', 'mnist-mlp', '--data', empty]), empty, 'empty');
    expectOneLineError(await cli(['train', '--preset', 'cifar-cnn', '--data', empty]), empty, 'cifar10');
    expectOneLineError(await cli(['train', '--preset', 'mnist-mlp', '--data', join(tmp, 'nowhere')]), join(tmp, 'nowhere'), 'no such folder');
  });

  it('training-control flags: a bad schedule, a bad patience, a schedule with reduce-lr-on-plateau', async () => {
    expectOneLineError(await cli(['train', '--preset', 'mnist-mlp', '--lr-schedule', 'linear']), '--lr-schedule', 'cosine', 'exponential:RATE:STEPS');
    expectOneLineError(await cli(['train', '--preset', 'mnist-mlp', '--lr-schedule', 'exponential:0.9']), '--lr-schedule', '"exponential:0.9"');
    expectOneLineError(await cli(['train', '--preset', 'mnist-mlp', '--early-stopping', 'two']), '--early-stopping', 'whole number >= 0');
    expectOneLineError(await cli(['train', '--preset', 'mnist-mlp', '--lr-schedule', 'cosine', '--reduce-lr-on-plateau', '2']), '--lr-schedule', '--reduce-lr-on-plateau');
  });

  it('unknown command and unknown option', async () => {
    expectOneLineError(await cli(['fit']), '"fit"', 'train');
    expectOneLineError(await cli(['train', '--preset', 'mnist-mlp', '--epoch', '3']), '--epoch');
  });
});

describe('shaderflow train --images / predict / image: a folder of your own images', () => {
  const folder = join(tmp, 'digits-folder');
  const out = join(tmp, 'folder-model');
  const classNames = ['zero', 'one', 'two'];

  beforeAll(async () => {
    // The MNIST 0s, 1s and 2s among the first 300 training digits, as <name>/<index>.png|jpg, plus one bad file.
    const { train } = await loadDataset('mnist', { limit: 300 });
    const keep = Array.from(train.labels.keys()).filter((i) => train.labels[i]! < 3);
    const images = new Uint8Array(keep.length * 784);
    keep.forEach((k, i) => images.set(train.images.subarray(k * 784, (k + 1) * 784), i * 784));
    writeImageFolder({ images, shape: [keep.length, 28, 28, 1], labels: Uint8Array.from(keep, (k) => train.labels[k]!) }, folder, { classNames });
    writeFileSync(join(folder, 'two', 'broken.png'), 'not a png');
  }, 120_000);

  it('train --images DIR --image-size 20x20 --skip-bad-images trains on the classes, writes classes.json, lists the skipped file; predict names the class', async () => {
    const r = await cli(['train', '--preset', 'mnist-cnn', '--images', folder, '--image-size', '20x20', '--skip-bad-images', '--epochs', '1', '--optimizer', 'adam', '--json', '--out', out], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    const n = readdirSync(join(folder, 'zero')).length + readdirSync(join(folder, 'one')).length + readdirSync(join(folder, 'two')).length;
    expect(r.stderr).toContain(`Found ${n} files belonging to 3 classes.`);
    expect(r.stderr).toContain(`Using ${Math.floor(0.2 * n)} files for validation.`);
    expect(r.stderr).toMatch(/Skipped 1 unreadable image:\n  .*two\/broken\.png: not a PNG or JPEG file/);
    expect(r.stderr).toContain('(None, 20, 20, 32)'); // the input size from --image-size
    expect(r.stderr).toContain('(None, 3)'); // one output per class
    expect(r.stderr).toContain(`validation subset`);
    const result = lastJson(r.stdout);
    expect(Number.isFinite(result.test_accuracy)).toBe(true);
    const classes = JSON.parse(readFileSync(join(out, 'classes.json'), 'utf8'));
    // Sorted as Keras sorts the class folders.
    expect(classes).toEqual({ format: 'shaderflow-classes 1', classNames: ['one', 'two', 'zero'], imageSize: [20, 20], colorMode: 'grayscale', interpolation: 'bilinear' });

    const png = join(folder, 'one', readdirSync(join(folder, 'one')).find((f) => f.endsWith('.png'))!);
    const jpg = join(folder, 'two', readdirSync(join(folder, 'two')).find((f) => f.endsWith('.jpg'))!);
    const p = await cli(['predict', '--model', out, png, jpg]);
    expect(p.code, p.stderr).toBe(0);
    const lines = p.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const [line, file] of [[lines[0]!, png], [lines[1]!, jpg]])
      expect(line).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: (zero|one|two) \\(class [012], p = [01]\\.\\d{4}\\)  probabilities: one [01]\\.\\d{4}  two [01]\\.\\d{4}  zero [01]\\.\\d{4}$`));
    const j = await cli(['predict', '--model', out, '--json', png]);
    expect(JSON.parse(j.stdout.trim())).toMatchObject({ file: png, name: expect.stringMatching(/^(zero|one|two)$/) });
  }, 400_000);

  it('bad folders fail before the GPU starts, naming what is at fault', async () => {
    const oneClass = join(tmp, 'one-class');
    mkdirSync(join(oneClass, 'cat'), { recursive: true });
    writePng(join(oneClass, 'cat', 'a.png'), { data: new Uint8Array(4), shape: [2, 2, 1] });
    for (const [args, ...names] of [
      [['--images', oneClass], oneClass, 'only one class folder ("cat")'],
      [['--images', join(tmp, 'no-such-folder')], 'no-such-folder', 'no such folder'],
      [['--images', folder, '--image-size', '20'], '--image-size must be HxW'],
      [['--images', folder, '--validation-split', '1.5'], '--validation-split'],
    ] as [string[], ...string[]][]) {
      const r = await cli(['train', '--preset', 'mnist-cnn', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      for (const s of names) expect(r.stderr).toContain(s);
      expect(r.stdout).not.toContain('Adapter:');
    }
    mkdirSync(join(oneClass, 'dog'));
    const r = await cli(['train', '--preset', 'mnist-cnn', '--images', oneClass]);
    expect(r.stderr).toMatch(/DatasetError: .*one-class: class folder "dog" holds no images/);
  });

  it("image FILE prints the seed's first practice exactly and writes the enlarged preview", async () => {
    const img: Image = { data: Uint8Array.from({ length: 6 * 5 * 3 }, (_, i) => (i * 37) % 256), shape: [6, 5, 3] };
    const file = join(tmp, 'colour.png');
    writePng(file, img);
    const r = await cli(['image', file]);
    expect(r.code, r.stderr).toBe(0);
    const preview = join(tmp, 'colour.preview.png');
    const rows = Array.from({ length: 6 }, (_, y) =>
      Array.from({ length: 5 }, (_, x) => `[${Array.from(img.data.subarray((y * 5 + x) * 3, (y * 5 + x) * 3 + 3), (v) => String(v).padStart(3)).join(' ')}]`),
    );
    const array = rows.map((row, y) => `${y === 0 ? '[[' : ' ['}${row.join('\n  ')}]`).join('\n\n');
    expect(r.stdout).toBe(
      ['(5, 6)', '<PIL.PngImagePlugin.PngImageFile image mode=RGB size=5x6>', '(6, 5, 3)', '(90,)', '(6, 5, 3)', `${array}]`, `Wrote ${preview}: 235x282 px (47x, nearest neighbour, colour)`, ''].join('\n'),
    );
    const big = readPng(preview);
    expect(big.shape).toEqual([282, 235, 3]);
    expect(Array.from(big.data.subarray(((47 * 2 + 5) * 235 + 47 * 3 + 1) * 3, ((47 * 2 + 5) * 235 + 47 * 3 + 1) * 3 + 3))).toEqual(Array.from(img.data.subarray((2 * 5 + 3) * 3, (2 * 5 + 3) * 3 + 3)));
    const out = join(tmp, 'gray-preview.png');
    const gray = join(tmp, 'gray.jpg');
    writeJpeg(gray, { data: new Uint8Array(28 * 28).fill(128), shape: [28, 28, 1] });
    const g = await cli(['image', gray, '--out', out, '--scale', '3']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout.split('\n').slice(0, 5)).toEqual(['(28, 28)', '<PIL.JpegImagePlugin.JpegImageFile image mode=RGB size=28x28>', '(28, 28, 3)', '(2352,)', '(28, 28, 3)']);
    expect(readPng(out).shape).toEqual([84, 84, 3]);
    const bad = await cli(['image', join(tmp, 'notes-image.png')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('could not be read');
  });
});
