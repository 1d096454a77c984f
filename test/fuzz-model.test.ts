// Seeded mutation fuzzing of the model files we load (issue 8): model.json as bytes (bit flips, truncations,
// inserted/deleted bytes, random runs), model.json as a structure (deleted fields, values swapped for other
// types, extreme numbers, duplicated or dropped layers and weights) and weights.bin (bit flips, truncations,
// extensions, NaN/Inf patterns). Every case must either load (a usable, compiled model) or throw a ShaderflowError
// subclass: never a TypeError/RangeError, never a crash or a hang, and a refused file never leaves GPU buffers
// behind. The case counts per format and outcome are printed.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Activation,
  AveragePooling2D,
  Conv2D,
  createEngine,
  Dense,
  Dropout,
  Engine,
  Flatten,
  fromArtifacts,
  History,
  MaxPooling2D,
  resetLayerNames,
  Sequential,
  ShaderflowError,
  toArtifacts,
  type Model,
  type ModelJson,
} from '../src/index.js';
import { readCheckpoint } from '../src/node.js';
import { parseModelJson } from '../src/model/io.js';
import { mulberry32 } from '../src/reference/random.js';
import { mutateBytes, randInt, type Rand } from './helpers/mutate.js';

const CASES = 2000; // per format
const MAX_MS = 2000; // per case


let engine: Engine;
let fixtureJson: ModelJson;
let fixtureText: Uint8Array;
let fixtureWeights: Uint8Array;
let checkpointModel: Sequential;
let checkpointFiles: Map<string, Uint8Array>;
let tmp: string;

beforeAll(async () => {
  engine = await createEngine();
  resetLayerNames();
  const model = new Sequential([
    new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 1] }),
    new MaxPooling2D({ poolSize: 2 }),
    new Conv2D({ filters: 2, kernelSize: 2, strides: 1, activation: 'tanh' }),
    new AveragePooling2D({ poolSize: 3 }),
    new Flatten(),
    new Dense({ units: 6, activation: 'relu' }),
    new Dropout({ rate: 0.2 }),
    new Activation({ activation: 'sigmoid' }),
    new Dense({ units: 3, activation: 'softmax' }),
  ]);
  model.compile(engine, { optimizer: 'adam', loss: 'categorical_crossentropy', metrics: ['accuracy'], seed: 3 });
  const art = await toArtifacts(model);
  model.dispose();
  fixtureJson = JSON.parse(JSON.stringify(art.modelJson)) as ModelJson;
  fixtureText = new TextEncoder().encode(JSON.stringify(art.modelJson, null, 1));
  fixtureWeights = new Uint8Array(art.weights);

  // A checkpoint folder (Adam: weights, m, v) from a short fit, kept in memory; each case writes a mutated copy.
  tmp = await mkdtemp(join(tmpdir(), 'shaderflow-fuzz-model-'));
  resetLayerNames();
  checkpointModel = new Sequential([new Dense({ units: 5, activation: 'relu', inputDim: 4 }), new Dropout({ rate: 0.1 }), new Dense({ units: 3, activation: 'softmax' })]);
  checkpointModel.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed: 2 });
  const x = Float32Array.from({ length: 48 }, (_, i) => Math.sin(i));
  const y = Uint8Array.from({ length: 12 }, (_, i) => i % 3);
  const dir = join(tmp, 'fixture');
  await checkpointModel.fit(x, y, { batchSize: 4, epochs: 1, verbose: 0, checkpoint: dir, checkpointEvery: 2 });
  checkpointFiles = new Map();
  for (const f of await readdir(dir)) checkpointFiles.set(f, new Uint8Array(await readFile(join(dir, f))));
});
afterAll(async () => {
  checkpointModel?.dispose();
  engine?.dispose();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const int = randInt;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;

// A float32 pattern that is not a weight (NaN, infinities) or an extreme one, little-endian at a 4-byte boundary.
const specialFloat = (b: Uint8Array, r: Rand, pos: (len: number) => number): string => {
  const at = Math.floor(pos(Math.max(1, b.length - 3)) / 4) * 4;
  const v = pick(r, [0x7fc00000, 0x7f800000, 0xff800000, 0x7f7fffff, 0x00000001, 0xffffffff]);
  for (let i = 0; i < 4 && at + i < b.length; i++) b[at + i] = (v >>> (8 * i)) & 255;
  return 'special float';
};
const mutateFileBytes = (src: Uint8Array, r: Rand, headerBias = 64) => mutateBytes(src, r, specialFloat, headerBias);

/** Every [container, key] in a JSON value, depth first. */
function slots(v: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []): [Record<string, unknown> | unknown[], string | number][] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), slots(x, out)));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) out.push([v as Record<string, unknown>, k]), slots(x, out);
  return out;
}

const REPLACEMENTS: unknown[] = [
  null, true, false, 0, -1, 1, 2, 1.5, -0.5, 3e38, 1e12, 2 ** 24, 2 ** 24 + 1, 2 ** 31, 2 ** 32, -(2 ** 31), Number.MAX_SAFE_INTEGER,
  '', 'x', '1', 'Dense', 'Conv2D', 'InputLayer', 'Flatten', 'Sequential', 'same', 'valid', 'relu', 'softmax', 'linear', 'float32', 'int32', 'channels_first', 'dense/kernel', '../x',
  [], [null], [1], [0, 0], [null, 8, 8, 1], [3, 3], [-1, 2], ['a'], {}, { class_name: 'Dense' }, { class_name: 7 }, { name: 'a' },
];

function mutateStructure(src: ModelJson, r: Rand): { json: unknown; kind: string } {
  const json = JSON.parse(JSON.stringify(src)) as unknown;
  const kinds: string[] = [];
  const times = 1 + int(r, 3);
  for (let t = 0; t < times; t++) {
    const all = slots(json);
    if (all.length === 0) break;
    const [container, key] = pick(r, all);
    const k = int(r, 5);
    if (k === 0) {
      if (Array.isArray(container)) container.splice(key as number, 1);
      else delete container[key as string];
      kinds.push('field deleted');
    } else if (k === 1) {
      (container as Record<string | number, unknown>)[key] = pick(r, REPLACEMENTS);
      kinds.push('type swap');
    } else if (k === 2) {
      const cur = (container as Record<string | number, unknown>)[key];
      (container as Record<string | number, unknown>)[key] = typeof cur === 'number' ? pick(r, [0, -cur, cur * 2, cur + 1, cur - 1, cur * 1e6, cur + 0.5]) : pick(r, REPLACEMENTS);
      kinds.push('number changed');
    } else if (k === 3 && Array.isArray(container)) {
      container.splice(key as number, 0, JSON.parse(JSON.stringify(container[key as number] ?? null)));
      kinds.push('element duplicated');
    } else {
      // Swap two siblings (reorders layers, weights, dims).
      const keys: (string | number)[] = Array.isArray(container) ? container.map((_, i) => i) : Object.keys(container);
      const other = pick(r, keys);
      const c = container as Record<string | number, unknown>;
      [c[key], c[other]] = [c[other], c[key]];
      kinds.push('siblings swapped');
    }
  }
  return { json, kind: kinds[0]! };
}

interface Format {
  name: string;
  /** One mutated input, loaded; returns the kind of mutation. Throws whatever loading throws. */
  attempt(r: Rand): { kind: string; load: () => Model };
}

const FORMATS: Format[] = [
  {
    name: 'model.json bytes',
    attempt: (r) => {
      const { bytes, kind } = mutateFileBytes(fixtureText, r, 400);
      return { kind, load: () => fromArtifacts(engine, parseModelJson(bytes, 'fuzz/model.json'), fixtureWeights) };
    },
  },
  {
    name: 'model.json structure',
    attempt: (r) => {
      const { json, kind } = mutateStructure(fixtureJson, r);
      return { kind, load: () => fromArtifacts(engine, json, fixtureWeights) };
    },
  },
  {
    name: 'weights.bin',
    attempt: (r) => {
      const { bytes, kind } = mutateFileBytes(fixtureWeights, r);
      return { kind, load: () => fromArtifacts(engine, JSON.parse(JSON.stringify(fixtureJson)), bytes) };
    },
  },
];

/** What resume does with a checkpoint: restore weights and optimizer state into a compiled model of that shape. */
function applyCheckpoint(c: NonNullable<Awaited<ReturnType<typeof readCheckpoint>>>): void {
  checkpointModel.setWeights(c.weights);
  checkpointModel.setOptimizerState(c.optimizer);
  // ... and carry on its history (as fit does).
  const h = new History();
  for (const [k, v] of Object.entries(c.history.history)) h.history[k] = [...v];
  h.epoch.push(...c.history.epoch);
}

describe('fuzzing checkpoints', () => {
  it(`checkpoint folders: only a ShaderflowError or a checkpoint that restores`, async () => {
    const CHECKPOINT_CASES = 1000;
    const r = mulberry32(0xc4ec);
    const meta = checkpointFiles.get('checkpoint.json')!;
    const metaJson = JSON.parse(new TextDecoder().decode(meta)) as ModelJson; // any JSON object will do for the structure mutator
    expect(await readCheckpoint(join(tmp, 'fixture'))).toBeDefined();
    const counts: Record<string, number> = { cases: 0, restored: 0 };
    for (let c = 0; c < CHECKPOINT_CASES; c++) {
      const dir = join(tmp, `case-${c % 4}`);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir);
      const files = new Map(checkpointFiles);
      const target = pick(r, [...files.keys()]);
      let kind: string;
      if (target === 'checkpoint.json' && r() < 0.5) {
        const m = mutateStructure(metaJson, r);
        files.set(target, new TextEncoder().encode(JSON.stringify(m.json)));
        kind = `checkpoint.json ${m.kind}`;
      } else {
        const m = mutateFileBytes(files.get(target)!, r);
        files.set(target, m.bytes);
        kind = `${target.replace(/-.*\./, '-*.')} ${m.kind}`;
      }
      if (r() < 0.05) {
        files.delete(pick(r, [...files.keys()]));
        kind = 'file missing';
      }
      for (const [f, b] of files) await writeFile(join(dir, f), b);
      try {
        const ckpt = await readCheckpoint(dir);
        if (ckpt) applyCheckpoint(ckpt);
        counts.restored!++;
      } catch (e) {
        if (!(e instanceof ShaderflowError)) throw new Error(`checkpoint case ${c} (${kind}): threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
        counts[e.name] = (counts[e.name] ?? 0) + 1;
      }
      counts.cases!++;
      const k = kind.replace(/ .*/, '');
      counts[k] = (counts[k] ?? 0) + 1;
    }
    console.log(`fuzz checkpoint folders: ${JSON.stringify(counts)}`);
    expect(counts.cases).toBe(CHECKPOINT_CASES);
    expect(counts.restored).toBeGreaterThan(0);
    expect(counts.cases! - counts.restored!).toBeGreaterThan(0);
  });
});

describe('fuzzing the model loader', () => {
  it('the unmutated fixture loads', () => {
    const m = fromArtifacts(engine, parseModelJson(fixtureText), fixtureWeights);
    expect(m.layers.length).toBe(9);
    m.dispose();
  });

  it.each(FORMATS.map((f, i) => [f.name, f, i] as const))('%s: only a ShaderflowError or a usable model', async (name, format, index) => {
    const r = mulberry32(0x5eed + index);
    const counts: Record<string, number> = { cases: 0, loaded: 0 };
    const probe = new Float32Array(8 * 8);
    let worst = 0;
    for (let c = 0; c < CASES; c++) {
      const { kind, load } = format.attempt(r);
      const live = engine.memory().liveBuffers;
      const t0 = performance.now();
      let model: Model | undefined;
      // The bound is on the loader (parse, validate, upload); the predict below is excluded because its first
      // run per shape compiles pipelines, seconds on a busy software adapter, which says nothing about the file.
      let ms = 0;
      try {
        model = load();
        ms = performance.now() - t0;
        counts.loaded!++;
      } catch (e) {
        ms = performance.now() - t0;
        if (!(e instanceof ShaderflowError)) throw new Error(`${name} case ${c} (${kind}): threw ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
        expect(e.message.length).toBeGreaterThan(10);
        counts[e.name] = (counts[e.name] ?? 0) + 1;
        // Refused before the GPU was touched, or cleaned up: no buffer left behind.
        expect(engine.memory().liveBuffers, `${name} case ${c} (${kind}) leaked buffers`).toBe(live);
      }
      if (model) {
        // A file that loads gives a working model (every 50th is run once; all are disposed without leaks).
        if (counts.loaded! % 50 === 1) {
          const inputSize = model.inputShape.reduce((a, b) => a * b, 1);
          const out = await model.predict(inputSize === probe.length ? probe : new Float32Array(inputSize));
          expect(out.length).toBe(model.outputShape[0]);
        }
        model.dispose();
        expect(engine.memory().liveBuffers, `${name} case ${c} (${kind}): dispose left buffers`).toBe(live);
      }
      worst = Math.max(worst, ms);
      if (ms > MAX_MS) throw new Error(`${name} case ${c} (${kind}) took ${ms.toFixed(0)} ms to load or refuse`);
      counts.cases!++;
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
    counts['worst ms'] = Math.round(worst * 10) / 10;
    console.log(`fuzz ${name}: ${JSON.stringify(counts)}`);
    expect(counts.cases).toBe(CASES);
    // Both outcomes occur: the mutations reach past the first check.
    expect(counts.loaded).toBeGreaterThan(0);
    expect(counts.cases! - counts.loaded!).toBeGreaterThan(0);
  });
});
