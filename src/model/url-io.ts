// Saving and loading models by URL, as TensorFlow.js' io handlers name them: `indexeddb://NAME` (this origin's
// IndexedDB, in a page or a worker), `downloads://NAME` (the browser downloads NAME.json + NAME.weights.bin) and
// `http(s)://…/model.json` (fetched; the weights by the manifest's paths, relative to model.json). The same
// model.json + weights bytes as on disk (src/model/io.ts). Also fit checkpoints kept in IndexedDB, each one record
// written in one transaction, so a reload or a crash leaves the previous checkpoint or the new one, never a mix.
import { ModelFormatError, ShaderflowError, StorageError } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { fromArtifacts, parseModelJson, toArtifacts, topologyOf, type ModelArtifacts, type ModelJson } from './io.js';
import { checkFingerprints, modelFingerprint } from './fingerprint.js';
import { checkpointFolders, type Checkpoint, type Checkpointer } from './fit.js';
import type { Model } from './model.js';

const DB_NAME = 'shaderflow';
const MODELS = 'models';
const CHECKPOINTS = 'checkpoints';
const MODEL_FORMAT = 'shaderflow-idb-model 1';
const CHECKPOINT_FORMAT = 'shaderflow-idb-checkpoint 1';

/** The scheme prefixes saveModel/loadModel take in a browser. */
export const INDEXEDDB_SCHEME = 'indexeddb://';
/** `downloads://NAME`: saveModel makes the browser download NAME.json and NAME.weights.bin (TF.js' names). */
export const DOWNLOADS_SCHEME = 'downloads://';

interface StoredModel {
  format: string;
  savedAt: string;
  modelJson: ModelJson;
  weights: ArrayBuffer;
  /** Beside the TF.js artifacts, as saveModel writes optimizer.json + optimizer.bin on disk: training continues. */
  optimizer?: { kind: string; seed: number; step: number; tensors: Float32Array[] };
}

interface StoredCheckpoint {
  format: string;
  savedAt: string;
  note?: unknown;
  checkpoint: Checkpoint;
}

/** What `indexedDbCheckpointInfo` tells about a stored checkpoint without loading its weights into a model. */
export interface CheckpointInfo {
  /** The epoch (0-based) and batch within it that a resumed fit starts at. */
  epoch: number;
  batch: number;
  batchSize: number;
  trainCount: number;
  seed: number;
  /** ISO time of the save. */
  savedAt: string;
  /** The model's fingerprint (modelFingerprint) and the training data's (dataFingerprint), as fit saved them. */
  model?: string;
  data?: string;
  /** Whatever the caller stored with it (indexedDbCheckpointer's `note`), e.g. a page's settings. */
  note?: unknown;
}

function nameOf(url: string, scheme: string, what: string): string {
  const name = url.slice(scheme.length);
  if (!name) throw new ShaderflowError(`${what}: "${url}" names nothing; write ${scheme}NAME.`);
  return name;
}

/** A StorageError for a failed IndexedDB request: quota, private mode, or whatever the browser says. */
function storageError(url: string, what: string, e: unknown): StorageError {
  const err = e as DOMException | null;
  const quota = err?.name === 'QuotaExceededError';
  const why = quota
    ? 'the browser storage quota is exceeded: free space (delete saved models or checkpoints, or site data) and try again'
    : `${err?.name ?? 'Error'}: ${err?.message ?? String(e)}`;
  return new StorageError(`${url}: ${what} failed (${why}).`, { cause: e });
}

async function openDb(url: string): Promise<IDBDatabase> {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb)
    throw new StorageError(`${url}: IndexedDB is not available here (a private window, storage disabled for this site, or not a browser). Download the model instead (downloads://NAME).`);
  return new Promise<IDBDatabase>((resolve, reject) => {
    let req: IDBOpenDBRequest;
    try {
      req = idb.open(DB_NAME, 1);
    } catch (e) {
      reject(storageError(url, 'opening IndexedDB', e));
      return;
    }
    req.onupgradeneeded = () => {
      for (const store of [MODELS, CHECKPOINTS]) if (!req.result.objectStoreNames.contains(store)) req.result.createObjectStore(store);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(storageError(url, 'opening IndexedDB', req.error));
    req.onblocked = () => reject(new StorageError(`${url}: IndexedDB is blocked by another tab of this site holding an older version open; close it and retry.`));
  });
}

/** Runs one request in its own transaction and resolves with its result once the transaction has committed. */
async function transact<T>(url: string, store: string, mode: IDBTransactionMode, what: string, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb(url);
  try {
    return await new Promise<T>((resolve, reject) => {
      let tx: IDBTransaction;
      let req: IDBRequest<T>;
      try {
        tx = db.transaction(store, mode, { durability: 'strict' });
        req = op(tx.objectStore(store));
      } catch (e) {
        reject(storageError(url, what, e));
        return;
      }
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(storageError(url, what, tx.error ?? req.error));
      tx.onabort = () => reject(storageError(url, what, tx.error ?? req.error));
    });
  } finally {
    db.close();
  }
}

// ------------------------------------------------------------------ models

/**
 * Saves a model by URL: `indexeddb://NAME` (model.json, weights and the optimizer state, in this origin's
 * IndexedDB; from a page or a worker) or `downloads://NAME` (the browser downloads NAME.json and NAME.weights.bin,
 * TensorFlow.js' names; pages only). In Node, the Node entry's saveModel also takes a folder.
 */
export async function saveModel(model: Model, url: string): Promise<void> {
  if (url.startsWith(DOWNLOADS_SCHEME)) return downloadArtifacts(await toArtifacts(model), nameOf(url, DOWNLOADS_SCHEME, 'saveModel'));
  if (!url.startsWith(INDEXEDDB_SCHEME))
    throw new ShaderflowError(`saveModel: "${url.slice(0, 80)}" is not a storage URL this build writes: use indexeddb://NAME or downloads://NAME (in Node, a folder).`);
  const name = nameOf(url, INDEXEDDB_SCHEME, 'saveModel');
  const { modelJson, weights } = await toArtifacts(model);
  const record: StoredModel = { format: MODEL_FORMAT, savedAt: new Date().toISOString(), modelJson, weights };
  if (model.optimizer) record.optimizer = { kind: model.optimizer.kind, seed: model.seed, ...(await model.getOptimizerState()) };
  await transact(url, MODELS, 'readwrite', 'saving the model', (s) => s.put(record, name));
}

/** The names of the models saved in IndexedDB (saveModel(model, 'indexeddb://NAME')), sorted. */
export async function listStoredModels(): Promise<string[]> {
  const keys = await transact(INDEXEDDB_SCHEME, MODELS, 'readonly', 'listing saved models', (s) => s.getAllKeys());
  return keys.map(String).sort();
}

/** Deletes `indexeddb://NAME` (a saved model) from IndexedDB; nothing happens when there is none. */
export async function removeStoredModel(url: string): Promise<void> {
  const name = nameOf(url, INDEXEDDB_SCHEME, 'removeStoredModel');
  await transact(url, MODELS, 'readwrite', 'deleting the model', (s) => s.delete(name));
}

/**
 * Makes the browser download `artifacts` as NAME.json and NAME.weights.bin (TensorFlow.js' names; the manifest
 * points at NAME.weights.bin, so the pair loads back together). Pages only: a worker has no document.
 */
export async function downloadArtifacts(artifacts: ModelArtifacts, name: string): Promise<void> {
  const doc = (globalThis as { document?: Document }).document;
  if (!doc?.createElement)
    throw new ShaderflowError(`saveModel: downloads://${name} needs a page (there is no document here, e.g. in a worker); get toArtifacts(model) and download them in the page.`);
  const { modelJson, weights } = artifacts;
  const weightsFile = `${name}.weights.bin`;
  const json = { ...modelJson, weightsManifest: [{ ...modelJson.weightsManifest[0]!, paths: [`./${weightsFile}`] }] };
  const click = (data: BlobPart, file: string, type: string) => {
    const href = URL.createObjectURL(new Blob([data], { type }));
    const a = doc.createElement('a');
    a.href = href;
    a.download = file;
    doc.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60_000);
  };
  click(JSON.stringify(json), `${name}.json`, 'application/json');
  // Two downloads from one click: a short gap, as TF.js leaves; browsers may ask once to allow both.
  await new Promise((r) => setTimeout(r, 100));
  click(weights, weightsFile, 'application/octet-stream');
}

/**
 * Loads a model by URL: `indexeddb://NAME` (saved by saveModel, optimizer state included) or `http(s)://…/model.json`
 * (TensorFlow.js layers format; each weights file fetched by its manifest path, relative to model.json; in a page a
 * relative URL is resolved against the page). A URL that fails, answers an HTTP error or is not a model.json is a
 * ModelFormatError naming the URL; a name with nothing stored, or no IndexedDB, a StorageError.
 */
export async function loadModel(engine: Engine, url: string): Promise<Model> {
  if (url.startsWith(INDEXEDDB_SCHEME)) return loadStored(engine, url);
  const base = (globalThis as { location?: { href: string } }).location?.href;
  let href: URL;
  try {
    href = new URL(url, base);
  } catch {
    throw new ModelFormatError(`loadModel: "${url.slice(0, 80)}" is not a URL: use indexeddb://NAME, http(s)://…/model.json${base ? ' or a path relative to this page' : ''}.`);
  }
  if (href.protocol !== 'http:' && href.protocol !== 'https:')
    throw new ModelFormatError(`loadModel: ${href.protocol} URLs are not loaded (${url.slice(0, 80)}); use indexeddb://NAME or http(s)://…/model.json.`);
  return loadFromHttp(engine, href);
}

async function fetchBytes(url: URL, what: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new ModelFormatError(`${url.href}: cannot fetch ${what} (${(e as Error).message}).`, { cause: e });
  }
  if (!res.ok) throw new ModelFormatError(`${url.href}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} for ${what}; check the URL and that the files are served beside each other.`);
  return new Uint8Array(await res.arrayBuffer());
}

async function loadFromHttp(engine: Engine, url: URL): Promise<Model> {
  const json = parseModelJson(await fetchBytes(url, 'model.json'), url.href);
  const manifest = (json as { weightsManifest?: unknown }).weightsManifest;
  if (!Array.isArray(manifest)) throw new ModelFormatError(`${url.href}: weightsManifest is missing; is this a TensorFlow.js layers model.json?`);
  const parts: Uint8Array[] = [];
  for (const group of manifest) {
    const paths = (group as { paths?: unknown })?.paths;
    if (!Array.isArray(paths)) throw new ModelFormatError(`${url.href}: a weightsManifest group has no paths.`);
    for (const p of paths) {
      if (typeof p !== 'string' || p === '') throw new ModelFormatError(`${url.href}: weight path ${JSON.stringify(p)?.slice(0, 80)} is not a file name.`);
      const at = new URL(p, url);
      // A model file may not send the page to another site for its weights.
      if (at.origin !== url.origin) throw new ModelFormatError(`${url.href}: weight path ${JSON.stringify(p).slice(0, 80)} leads to another origin (${at.origin}); weights must be served beside model.json.`);
      parts.push(await fetchBytes(at, 'the weights'));
    }
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.byteLength;
  }
  try {
    return fromArtifacts(engine, json, all);
  } catch (e) {
    if (e instanceof ModelFormatError) throw new ModelFormatError(`${url.href}: ${e.message}`, { cause: e });
    throw e;
  }
}

async function loadStored(engine: Engine, url: string): Promise<Model> {
  const name = nameOf(url, INDEXEDDB_SCHEME, 'loadModel');
  const record = (await transact(url, MODELS, 'readonly', 'reading the model', (s) => s.get(name))) as StoredModel | undefined;
  if (record === undefined) {
    const saved = await listStoredModels().catch(() => []);
    throw new StorageError(`${url}: no model is saved under this name${saved.length ? ` (saved: ${saved.map((n) => INDEXEDDB_SCHEME + n).join(', ')})` : ''}.`);
  }
  if (record?.format !== MODEL_FORMAT || !(record.weights instanceof ArrayBuffer)) throw new ModelFormatError(`${url}: not a model saved by shaderflow's saveModel (format ${JSON.stringify(record?.format)?.slice(0, 60)}).`);
  let model: Model;
  try {
    model = fromArtifacts(engine, record.modelJson, record.weights);
  } catch (e) {
    if (e instanceof ModelFormatError) throw new ModelFormatError(`${url}: ${e.message}`, { cause: e });
    throw e;
  }
  const opt = record.optimizer;
  // The state of another optimizer than model.json's training config compiles is left out, as on disk.
  if (opt && model.optimizer?.kind === opt.kind) {
    try {
      model.setOptimizerState({ step: opt.step, tensors: opt.tensors });
      model.seed = opt.seed;
    } catch (e) {
      model.dispose();
      throw new ModelFormatError(`${url}: the stored optimizer state does not fit the model: ${(e as Error).message}`, { cause: e });
    }
  }
  return model;
}

// ------------------------------------------------------------------ checkpoints

/** How often indexedDbCheckpointer saves, and what it stores beside the checkpoint. */
export interface IndexedDbCheckpointOptions {
  /** Also save every this many batches within an epoch (default: epoch ends only). */
  everySteps?: number;
  /** Anything structured-cloneable stored with each checkpoint (indexedDbCheckpointInfo returns it). */
  note?: unknown;
}

/**
 * A Checkpointer for fit that keeps the latest checkpoint under `indexeddb://NAME` (or NAME): weights, optimizer
 * state, epoch, batch, the epoch's running stats and history, and the model's and data's fingerprints fit adds.
 * Each save is one IndexedDB transaction that replaces the previous record, so an interrupted save leaves the
 * previous checkpoint. `fit(x, y, { checkpoint: 'indexeddb://NAME', checkpointEvery, resume: 'indexeddb://NAME' })`
 * uses it too. (`_model`: the signature fit's checkpoint folders have.)
 */
export function indexedDbCheckpointer(name: string, _model?: Model, o: IndexedDbCheckpointOptions = {}): Checkpointer {
  const key = name.startsWith(INDEXEDDB_SCHEME) ? nameOf(name, INDEXEDDB_SCHEME, 'indexedDbCheckpointer') : name;
  const url = INDEXEDDB_SCHEME + key;
  return {
    everySteps: o.everySteps,
    async save(c: Checkpoint): Promise<void> {
      const record: StoredCheckpoint = { format: CHECKPOINT_FORMAT, savedAt: new Date().toISOString(), note: o.note, checkpoint: c };
      await transact(url, CHECKPOINTS, 'readwrite', 'saving the checkpoint', (s) => s.put(record, key));
    },
  };
}

async function readCheckpointRecord(name: string): Promise<{ url: string; record: StoredCheckpoint } | undefined> {
  const key = name.startsWith(INDEXEDDB_SCHEME) ? nameOf(name, INDEXEDDB_SCHEME, 'readIndexedDbCheckpoint') : name;
  const url = INDEXEDDB_SCHEME + key;
  const record = (await transact(url, CHECKPOINTS, 'readonly', 'reading the checkpoint', (s) => s.get(key))) as StoredCheckpoint | undefined;
  if (record === undefined) return undefined;
  const c = record?.checkpoint;
  const whole = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  if (
    record?.format !== CHECKPOINT_FORMAT ||
    !c ||
    ![c.epoch, c.batch, c.batchSize, c.trainCount, c.seed, c.optimizer?.step].every(whole) ||
    !Array.isArray(c.weights) ||
    !c.weights.every((w) => typeof w?.name === 'string' && Array.isArray(w.shape) && w.values instanceof Float32Array) ||
    !Array.isArray(c.optimizer.tensors) ||
    !c.optimizer.tensors.every((t) => t instanceof Float32Array) ||
    !Array.isArray(c.stats) ||
    c.stats.length !== 4
  )
    throw new ModelFormatError(`${url}: not a checkpoint this version of shaderflow wrote (format ${JSON.stringify(record?.format)?.slice(0, 60)}); delete it (deleteIndexedDbCheckpoint) to start afresh.`);
  return { url, record };
}

/**
 * Reads the checkpoint under `indexeddb://NAME` (or NAME), or undefined when there is none. With `expect.model`
 * (the model about to resume) and `expect.data` (the data's dataFingerprint), a checkpoint of another model or
 * other data is refused at once: a ShaderflowError saying which and how they differ (fit checks the same).
 */
export async function readIndexedDbCheckpoint(name: string, expect: { model?: Model; data?: string } = {}): Promise<Checkpoint | undefined> {
  const got = await readCheckpointRecord(name);
  if (!got) return undefined;
  const { url, record } = got;
  checkFingerprints(url, record.checkpoint, { model: expect.model && modelFingerprint(expect.model), data: expect.data });
  return record.checkpoint;
}

/** Epoch, batch, settings and the caller's note of the checkpoint under `indexeddb://NAME`, or undefined when there is none. */
export async function indexedDbCheckpointInfo(name: string): Promise<CheckpointInfo | undefined> {
  const got = await readCheckpointRecord(name);
  if (!got) return undefined;
  const { record: r } = got;
  const c = r.checkpoint;
  return { epoch: c.epoch, batch: c.batch, batchSize: c.batchSize, trainCount: c.trainCount, seed: c.seed, savedAt: r.savedAt, model: c.model, data: c.data, note: r.note };
}

/** Deletes the checkpoint under `indexeddb://NAME` (or NAME); nothing happens when there is none. */
export async function deleteIndexedDbCheckpoint(name: string): Promise<void> {
  const key = name.startsWith(INDEXEDDB_SCHEME) ? nameOf(name, INDEXEDDB_SCHEME, 'deleteIndexedDbCheckpoint') : name;
  await transact(INDEXEDDB_SCHEME + key, CHECKPOINTS, 'readwrite', 'deleting the checkpoint', (s) => s.delete(key));
}

// fit({ checkpoint: 'indexeddb://NAME', resume: 'indexeddb://NAME' }) in a browser; other strings keep whatever the
// platform set (Node: folders, src/node.ts, which is evaluated after this module and sets its own).
const folderOpen = checkpointFolders.open;
const folderRead = checkpointFolders.read;
checkpointFolders.open = (dir, model, o) => {
  if (dir.startsWith(INDEXEDDB_SCHEME)) return indexedDbCheckpointer(dir, model, o);
  if (!folderOpen) throw new ShaderflowError(`fit: checkpoint "${dir.slice(0, 80)}": in a browser checkpoints go to indexeddb://NAME (or pass a {save(checkpoint)} object).`);
  return folderOpen(dir, model, o);
};
checkpointFolders.read = (dir) => {
  if (dir.startsWith(INDEXEDDB_SCHEME)) return readIndexedDbCheckpoint(dir);
  if (!folderRead) throw new ShaderflowError(`fit: resume "${dir.slice(0, 80)}": in a browser checkpoints are read from indexeddb://NAME (or pass the Checkpoint object).`);
  return folderRead(dir);
};
