// The Node entry point: everything in src/index.ts plus what needs the file system (saving/loading models,
// dataset loaders, PNG files). The browser bundle is built from src/index.ts alone.
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ModelFormatError } from './errors.js';
import type { Engine } from './gpu/engine.js';
import { fromArtifacts, parseModelJson, toArtifacts, type ModelJson } from './model/io.js';
import { loadModel as loadModelFromUrl, saveModel as saveModelToUrl } from './model/url-io.js';
import { stateNames } from './model/optimizers.js';
import { csvFiles, modelFolders } from './model/callbacks.js';
import { checkpointFolders, type Checkpoint, type Checkpointer } from './model/fit.js';
import type { Model } from './model/model.js';
import type { Sequential } from './model/sequential.js';

export * from './index.js';
export * from './data/loaders.js';
export * from './data/image.js';
export * from './data/image-files.js';
export * from './data/folder.js';
export { confusionMatrixPng } from './viz/confusion.js';

/**
 * Writes `data` to `path` atomically: a temp file in the same folder, fsync, rename over `path`, then fsync the
 * folder so the rename itself is durable. A crash at any moment leaves the old file or the new one, never a mix.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  let dh;
  try {
    dh = await open(dir, 'r');
    await dh.sync();
  } catch {
    // Some platforms (Windows) cannot open or fsync a folder; the rename is still atomic there.
  } finally {
    await dh?.close();
  }
}

/**
 * Saves model.json and weights.bin (TensorFlow.js layers format) into the folder `dir`, with the optimizer state
 * beside them unless `includeOptimizer` is false (modelCheckpoint's saveWeightsOnly). The browser's storage URLs
 * (indexeddb://, downloads://) go to the browser saver, which says why they cannot work here.
 */
export async function saveModel(model: Model, dir: string, o: { includeOptimizer?: boolean } = {}): Promise<void> {
  if (/^(indexeddb|downloads):\/\//.test(dir)) return saveModelToUrl(model, dir);
  const { modelJson, weights } = await toArtifacts(model);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'weights.bin'), new Uint8Array(weights));
  // Beside the TF.js files (which TF.js ignores): the optimizer's state, so training can continue where it stopped.
  if (model.optimizer && o.includeOptimizer !== false) {
    const state = await model.getOptimizerState();
    const names = stateNames(model.optimizer);
    await writeFileAtomic(join(dir, OPTIMIZER_BIN), new Uint8Array(flatten(state.tensors).buffer));
    const meta: OptimizerFile = { format: OPTIMIZER_FORMAT, optimizer: model.optimizer.kind, seed: model.seed, step: state.step, tensors: state.tensors.map((t, i) => ({ name: names[i] ?? `state${i}`, size: t.length })) };
    await writeFileAtomic(join(dir, OPTIMIZER_JSON), JSON.stringify(meta, null, 1));
  } else for (const f of [OPTIMIZER_JSON, OPTIMIZER_BIN]) await rm(join(dir, f), { force: true }); // no stale state beside new weights
  await writeFileAtomic(join(dir, 'model.json'), JSON.stringify(modelJson, null, 1));
}

const OPTIMIZER_JSON = 'optimizer.json';
const OPTIMIZER_BIN = 'optimizer.bin';
const OPTIMIZER_FORMAT = 'shaderflow-optimizer-state 1';
interface OptimizerFile {
  format: string;
  optimizer: string;
  /** The model's seed: with the step count, the whole random state (dropout masks, shuffles) of further training. */
  seed: number;
  step: number;
  tensors: { name: string; size: number }[];
}

/**
 * Restores optimizer.json + optimizer.bin (written by saveModel) into a loaded model, when present and when the
 * model was compiled with the same optimizer; a file that does not match is a ModelFormatError naming it.
 */
async function restoreOptimizerState(model: Model, dir: string): Promise<void> {
  const jsonPath = join(dir, OPTIMIZER_JSON);
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch {
    return; // saved without optimizer state (or by TF.js): nothing to restore
  }
  const bad = (what: string): never => {
    throw new ModelFormatError(`${jsonPath}: ${what} Delete optimizer.json and optimizer.bin to load the model without its optimizer state.`);
  };
  let meta: OptimizerFile;
  try {
    meta = JSON.parse(text) as OptimizerFile;
  } catch (e) {
    return bad(`not valid JSON (${(e as Error).message}).`);
  }
  if (meta?.format !== OPTIMIZER_FORMAT) bad(`format must be "${OPTIMIZER_FORMAT}", got ${JSON.stringify(meta?.format)?.slice(0, 60)}.`);
  if (!model.optimizer || meta.optimizer !== model.optimizer.kind)
    bad(`holds ${JSON.stringify(meta.optimizer)?.slice(0, 40)} state but model.json's training config compiles ${model.optimizer?.kind ?? 'no optimizer'}.`);
  if (!Number.isInteger(meta.seed) || meta.seed < 0 || meta.seed > 0xffffffff) bad(`seed must be a whole number in [0, 2^32), got ${JSON.stringify(meta.seed)?.slice(0, 40)}.`);
  if (!Number.isInteger(meta.step) || meta.step < 0 || meta.step > 0xffffffff) bad(`step must be a whole number in [0, 2^32), got ${JSON.stringify(meta.step)?.slice(0, 40)}.`);
  if (!Array.isArray(meta.tensors) || !meta.tensors.every((t) => Number.isInteger(t?.size) && t.size >= 0)) bad('tensors must list {name, size}.');
  const binPath = join(dir, OPTIMIZER_BIN);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(binPath));
  } catch (e) {
    return bad(`names ${OPTIMIZER_BIN}, which cannot be read (${(e as Error).message}).`);
  }
  const total = meta.tensors.reduce((n, t) => n + t.size, 0);
  if (bytes.byteLength !== total * 4) bad(`${OPTIMIZER_BIN} holds ${bytes.byteLength} bytes; the listed tensors need ${total * 4}.`);
  const fileBad = (file: string, what: string): never => bad(`${file} ${what}`);
  const all = floats(bytes, OPTIMIZER_BIN, fileBad);
  for (let i = 0; i < all.length; i++) if (!Number.isFinite(all[i]!)) bad(`${OPTIMIZER_BIN} holds ${all[i]} at byte offset ${i * 4}; state must be finite.`);
  const tensors = splitFloats(all, meta.tensors.map((t) => t.size), OPTIMIZER_BIN, OPTIMIZER_JSON, fileBad);
  try {
    model.setOptimizerState({ step: meta.step, tensors });
    model.seed = meta.seed;
  } catch (e) {
    bad(`does not fit this model: ${(e as Error).message}`);
  }
}

/**
 * Loads a TensorFlow.js layers-format model (model.json + the weight files its manifest names) from the folder
 * `dir`, and the optimizer state saveModel wrote beside it (optimizer.json + optimizer.bin) when present, so
 * training continues. An `http(s)://…/model.json` URL is fetched as in a browser (weights by the manifest's paths).
 */
export async function loadModel(engine: Engine, dir: string): Promise<Model> {
  if (/^(https?|indexeddb):\/\//.test(dir)) return loadModelFromUrl(engine, dir);
  const jsonPath = join(dir, 'model.json');
  let text: Uint8Array;
  try {
    text = await readFile(jsonPath);
  } catch (e) {
    throw new ModelFormatError(`${jsonPath}: cannot read it (${(e as Error).message}).`, { cause: e });
  }
  const json = parseModelJson(text, jsonPath);
  const manifest = (json as { weightsManifest?: { paths?: unknown }[] }).weightsManifest;
  if (!Array.isArray(manifest)) throw new ModelFormatError(`${jsonPath}: weightsManifest is missing.`);
  const parts: Uint8Array[] = [];
  for (const g of manifest) {
    if (!Array.isArray(g?.paths)) throw new ModelFormatError(`${jsonPath}: a weightsManifest group has no paths.`);
    for (const p of g.paths) {
      if (typeof p !== 'string' || p === '' || p.includes('..') || p.startsWith('/') || p.includes('\\') || p.includes('\0'))
        throw new ModelFormatError(`${jsonPath}: weight path ${JSON.stringify(p)?.slice(0, 80)} must be a file name next to model.json.`);
      try {
        parts.push(new Uint8Array(await readFile(join(dir, p))));
      } catch (e) {
        throw new ModelFormatError(`${join(dir, p)}: cannot read the weights file (${(e as Error).message}).`, { cause: e });
      }
    }
  }
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const all = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.byteLength;
  }
  let model: Model;
  try {
    model = fromArtifacts(engine, json, all);
  } catch (e) {
    // Name the files: fromArtifacts only knows them as model.json and weights.bin.
    if (e instanceof ModelFormatError) throw new ModelFormatError(`${dir}: ${e.message}`, { cause: e });
    throw e;
  }
  try {
    await restoreOptimizerState(model, dir);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/**
 * Checkpoints in `dir`: each save writes a new generation (weights.bin, optimizer.bin, model.json) under
 * unique names, each atomically (temp file, fsync, rename), then atomically replaces checkpoint.json (the
 * pointer: epoch, batch, step, seed, the epoch's running stats, history and the RNG state), then removes
 * older generations and leftover temp files. A crash at any moment leaves either the old or the new checkpoint
 * intact, never a mix.
 */
export function fileCheckpointer(dir: string, model: Model, o: { everySteps?: number } = {}): Checkpointer {
  return {
    everySteps: o.everySteps,
    async save(c: Checkpoint): Promise<void> {
      await mkdir(dir, { recursive: true });
      const gen = `${Date.now().toString(36)}-${c.epoch}-${c.batch}`;
      const { modelJson } = await toArtifacts(model);
      const weights = flatten(c.weights.map((w) => w.values));
      const opt = flatten(c.optimizer.tensors);
      await writeFileAtomic(join(dir, `weights-${gen}.bin`), new Uint8Array(weights.buffer));
      await writeFileAtomic(join(dir, `optimizer-${gen}.bin`), new Uint8Array(opt.buffer));
      await writeFileAtomic(join(dir, `model-${gen}.json`), JSON.stringify({ ...modelJson, weightsManifest: [{ ...modelJson.weightsManifest[0]!, paths: [`weights-${gen}.bin`] }] }));
      const meta = {
        format: 'shaderflow-checkpoint-1',
        generation: gen,
        epoch: c.epoch,
        batch: c.batch,
        batchSize: c.batchSize,
        trainCount: c.trainCount,
        seed: c.seed,
        stats: c.stats,
        step: c.optimizer.step,
        // The random state is counter-based: shuffling is a function of (seed, epoch), dropout masks of
        // (seed, layer, step), so these two numbers restore every random stream exactly.
        rng: { seed: c.seed, step: c.optimizer.step, epoch: c.epoch },
        optimizerTensors: c.optimizer.tensors.map((t) => t.length),
        history: c.history,
        model: c.model,
        data: c.data,
      };
      await writeFileAtomic(join(dir, 'checkpoint.json'), JSON.stringify(meta));
      // The pointer now names this generation: remove older ones, and files a killed process left half written.
      for (const f of await readdir(dir)) {
        const m = /^(?:weights|optimizer|model)-([a-z0-9-]+)\.(?:bin|json)(\.tmp-\d+)?$|^checkpoint\.json\.tmp-\d+$/.exec(f);
        if (m && (m[1] !== gen || m[2])) await rm(join(dir, f), { force: true });
      }
    },
  };
}

function flatten(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Reads the checkpoint in `dir` (as written by fileCheckpointer), or undefined when there is none; every field is checked. */
export async function readCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  const metaPath = join(dir, 'checkpoint.json');
  let metaText: string;
  try {
    metaText = await readFile(metaPath, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelFormatError(`${metaPath}: cannot read it (${(e as Error).message}).`, { cause: e });
  }
  const bad = (file: string, what: string): never => {
    throw new ModelFormatError(`${join(dir, file)}: ${what} Delete the checkpoint folder to start afresh.`);
  };
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(metaText);
  } catch (e) {
    return bad('checkpoint.json', `malformed JSON (${(e as Error).message}).`);
  }
  if (typeof meta !== 'object' || meta === null || meta.format !== 'shaderflow-checkpoint-1') return bad('checkpoint.json', 'not a shaderflow checkpoint.');
  const gen = meta.generation;
  if (typeof gen !== 'string' || !/^[a-z0-9-]+$/.test(gen)) return bad('checkpoint.json', `generation ${JSON.stringify(gen)} is not a checkpoint name.`);
  const whole = (k: string, min = 0): number => {
    const v = meta[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) bad('checkpoint.json', `${k} ${JSON.stringify(v)} is not a whole number >= ${min}.`);
    return v as number;
  };
  const [epoch, batch, batchSize, trainCount, seed, step] = [whole('epoch'), whole('batch'), whole('batchSize', 1), whole('trainCount', 1), whole('seed'), whole('step')];
  // JSON has no NaN: a fit with nanGuard off may have saved a non-finite loss sum as null.
  const stats = Array.isArray(meta.stats) ? meta.stats.map((v) => (v === null ? NaN : v)) : undefined;
  if (!stats || stats.length < 4 || stats.length % 2 !== 0 || !stats.every((v) => typeof v === 'number')) bad('checkpoint.json', 'stats must be four numbers, then the metric counts in pairs.');
  const counts = meta.optimizerTensors;
  if (!Array.isArray(counts) || counts.length > 4 || !counts.every((n) => Number.isInteger(n) && n >= 0)) bad('checkpoint.json', 'optimizerTensors must list the state tensor sizes.');
  const history = meta.history as Checkpoint['history'];
  const numbers = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'number' || x === null);
  if (typeof history !== 'object' || history === null || !numbers(history.epoch) || typeof history.history !== 'object' || history.history === null || Array.isArray(history.history))
    bad('checkpoint.json', 'history must be {epoch: [...], history: {name: [...]}}.');
  for (const [k, v] of Object.entries(history.history)) if (!numbers(v)) bad('checkpoint.json', `history.${k} is not a list of numbers.`);
  // JSON wrote NaN losses (nanGuard off) as null.
  for (const k of Object.keys(history.history)) history.history[k] = history.history[k]!.map((x) => (x === null ? NaN : x));

  const modelFile = `model-${gen}.json`;
  const weightsFile = `weights-${gen}.bin`;
  const optFile = `optimizer-${gen}.bin`;
  const read = async (file: string): Promise<Uint8Array> => {
    try {
      return new Uint8Array(await readFile(join(dir, file)));
    } catch (e) {
      return bad(file, `cannot read it (${(e as Error).message}); checkpoint.json points to generation ${gen}.`);
    }
  };
  const modelJson = parseModelJson(await read(modelFile), join(dir, modelFile)) as ModelJson;
  const specs = Array.isArray(modelJson.weightsManifest) ? modelJson.weightsManifest[0]?.weights : undefined;
  if (!Array.isArray(specs)) bad(modelFile, 'weightsManifest is missing.');
  const w = floats(await read(weightsFile), weightsFile, bad);
  const ob = floats(await read(optFile), optFile, bad);
  let off = 0;
  const weights = specs!.map((s, i) => {
    const shape = s?.shape;
    if (typeof s?.name !== 'string' || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 1))
      bad(modelFile, `weight ${i} has no name or a bad shape ${JSON.stringify(shape)?.slice(0, 80)}.`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (off + n > w.length) bad(weightsFile, `too short for "${s.name}" ${JSON.stringify(shape)}: it needs bytes ${off * 4}..${(off + n) * 4} of ${w.length * 4}.`);
    // Values are not checked for NaN: with the guard on fit never saves them, with nanGuard: false it may.
    const v = w.slice(off, off + n);
    off += n;
    return { name: s.name, shape: [...shape], values: v };
  });
  if (off !== w.length) bad(weightsFile, `has ${w.length * 4} bytes but ${modelFile} describes ${off * 4}.`);
  const tensors = splitFloats(ob, counts as number[], optFile, 'checkpoint.json', bad);
  const text = (k: string): string | undefined => {
    const v = meta[k];
    if (v !== undefined && typeof v !== 'string') bad('checkpoint.json', `${k} ${JSON.stringify(v)?.slice(0, 60)} is not a fingerprint string.`);
    return v as string | undefined;
  };
  return { epoch, batch, batchSize, trainCount, seed, stats: stats!, weights, optimizer: { step, tensors }, history, model: text('model'), data: text('data') };
}

/** `all` cut into consecutive tensors of `sizes`, which must cover it exactly (`describedBy` names the file listing them). */
function splitFloats(all: Float32Array, sizes: number[], file: string, describedBy: string, bad: (file: string, what: string) => never): Float32Array[] {
  let off = 0;
  const out = sizes.map((n, i) => {
    if (off + n > all.length) bad(file, `too short for state tensor ${i}: it needs bytes ${off * 4}..${(off + n) * 4} of ${all.length * 4}.`);
    return all.slice(off, (off += n));
  });
  if (off !== all.length) bad(file, `has ${all.length * 4} bytes but ${describedBy} describes ${off * 4}.`);
  return out;
}

function floats(bytes: Uint8Array, file: string, bad: (file: string, what: string) => never): Float32Array {
  if (bytes.byteLength % 4 !== 0) bad(file, `${bytes.byteLength} bytes is not a whole number of float32 values.`);
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

// fit({checkpoint: DIR, resume: DIR}) in Node: folders are written and read by the functions above.
// indexeddb:// names keep going to IndexedDB (src/model/url-io.ts), which says it is not available in Node.
const urlOpen = checkpointFolders.open!;
const urlRead = checkpointFolders.read!;
checkpointFolders.open = (dir, model, o) => (dir.startsWith('indexeddb://') ? urlOpen(dir, model, o) : fileCheckpointer(dir, model, o));
checkpointFolders.read = (dir) => (dir.startsWith('indexeddb://') ? urlRead(dir) : readCheckpoint(dir));
modelFolders.save = (model, dir, o) => saveModel(model, dir, { includeOptimizer: !o.weightsOnly });
csvFiles.open = async (path, append) => {
  if (dirname(path) !== '.') await mkdir(dirname(path), { recursive: true });
  const f = await open(path, append ? 'a+' : 'w');
  const hasContent = append && (await f.stat()).size > 0;
  return { hasContent, write: async (text) => void (await f.appendFile(text)), close: () => f.close() };
};
