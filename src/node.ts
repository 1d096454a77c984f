// The Node entry point: everything in src/index.ts plus what needs the file system (saving/loading models,
// dataset loaders, PNG files). The browser bundle is built from src/index.ts alone.
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFormatError } from './errors.js';
import type { Engine } from './gpu/engine.js';
import { fromArtifacts, toArtifacts, type ModelJson } from './model/io.js';
import type { Checkpoint, Sequential } from './model/sequential.js';

export * from './index.js';
export * from './data/loaders.js';
export * from './data/image.js';

/** Writes `data` to `path` atomically: a temp file, fsync, then rename (a crash leaves the old file or the new one). */
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
}

/** Saves model.json and weights.bin (TensorFlow.js layers format) into `dir`. */
export async function saveModel(model: Sequential, dir: string): Promise<void> {
  const { modelJson, weights } = await toArtifacts(model);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'weights.bin'), new Uint8Array(weights));
  await writeFileAtomic(join(dir, 'model.json'), JSON.stringify(modelJson, null, 1));
}

/** Loads a TensorFlow.js layers-format model (model.json + the weight files its manifest names) from `dir`. */
export async function loadModel(engine: Engine, dir: string): Promise<Sequential> {
  const jsonPath = join(dir, 'model.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (e) {
    throw new ModelFormatError(`${jsonPath}: cannot read it as JSON (${(e as Error).message}).`, { cause: e });
  }
  const manifest = (json as { weightsManifest?: { paths?: unknown }[] }).weightsManifest;
  if (!Array.isArray(manifest)) throw new ModelFormatError(`${jsonPath}: weightsManifest is missing.`);
  const parts: Uint8Array[] = [];
  for (const g of manifest) {
    if (!Array.isArray(g?.paths)) throw new ModelFormatError(`${jsonPath}: a weightsManifest group has no paths.`);
    for (const p of g.paths) {
      if (typeof p !== 'string' || p.includes('..') || p.startsWith('/')) throw new ModelFormatError(`${jsonPath}: weight path ${JSON.stringify(p)} must be a file name next to model.json.`);
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
  return fromArtifacts(engine, json, all);
}

/**
 * Checkpoints in `dir`: each save writes a new generation (weights.bin, optimizer.bin, model.json) under
 * unique names, fsyncs them, then atomically replaces checkpoint.json (the pointer), then removes the previous
 * generation. A crash at any moment leaves either the old or the new checkpoint intact, never a mix.
 */
export function fileCheckpointer(dir: string, model: Sequential, o: { everySteps?: number } = {}): { save(c: Checkpoint): Promise<void>; everySteps?: number } {
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
      let previous: string | undefined;
      try {
        previous = (JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8')) as { generation?: string }).generation;
      } catch {
        previous = undefined;
      }
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
        optimizerTensors: c.optimizer.tensors.map((t) => t.length),
        history: c.history,
      };
      await writeFileAtomic(join(dir, 'checkpoint.json'), JSON.stringify(meta));
      if (previous && previous !== gen)
        for (const f of [`weights-${previous}.bin`, `optimizer-${previous}.bin`, `model-${previous}.json`]) await rm(join(dir, f), { force: true });
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

/** Reads the checkpoint in `dir` (as written by fileCheckpointer), or undefined when there is none. */
export async function readCheckpoint(dir: string): Promise<Checkpoint | undefined> {
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const gen = meta.generation as string;
  if (meta.format !== 'shaderflow-checkpoint-1' || typeof gen !== 'string') throw new ModelFormatError(`${join(dir, 'checkpoint.json')}: not a shaderflow checkpoint.`);
  const modelJson = JSON.parse(await readFile(join(dir, `model-${gen}.json`), 'utf8')) as ModelJson;
  const wbytes = await readFile(join(dir, `weights-${gen}.bin`));
  const obytes = await readFile(join(dir, `optimizer-${gen}.bin`));
  const w = new Float32Array(wbytes.buffer.slice(wbytes.byteOffset, wbytes.byteOffset + wbytes.byteLength));
  const ob = new Float32Array(obytes.buffer.slice(obytes.byteOffset, obytes.byteOffset + obytes.byteLength));
  let off = 0;
  const weights = modelJson.weightsManifest[0]!.weights.map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (off + n > w.length) throw new ModelFormatError(`${join(dir, `weights-${gen}.bin`)}: too short for "${s.name}" (byte ${off * 4}).`);
    const v = w.slice(off, off + n);
    off += n;
    return { name: s.name, shape: s.shape, values: v };
  });
  let o2 = 0;
  const tensors = (meta.optimizerTensors as number[]).map((n) => {
    if (o2 + n > ob.length) throw new ModelFormatError(`${join(dir, `optimizer-${gen}.bin`)}: too short (byte ${o2 * 4}).`);
    const v = ob.slice(o2, o2 + n);
    o2 += n;
    return v;
  });
  return {
    epoch: meta.epoch as number,
    batch: meta.batch as number,
    batchSize: meta.batchSize as number,
    trainCount: meta.trainCount as number,
    seed: meta.seed as number,
    stats: meta.stats as number[],
    weights,
    optimizer: { step: meta.step as number, tensors },
    history: meta.history as Checkpoint['history'],
  };
}
