// CIFAR-10, binary version: each batch file is a run of 3073-byte records (1 label byte, then 1024 red, 1024 green,
// 1024 blue bytes of a 32x32 image, row-major). Decoded straight into one NHWC uint8 array. The archive
// (cifar-10-binary.tar.gz, top folder cifar-10-batches-bin/) is read in memory, streaming: see tar.ts.
import { DatasetError } from '../errors.js';
import { readTar, type ReadTarOptions } from './tar.js';
import type { ImageSet, LoadedDataset } from './types.js';

export const CIFAR_SIDE = 32;
export const CIFAR_PIXELS = CIFAR_SIDE * CIFAR_SIDE;
export const CIFAR_RECORD = 1 + 3 * CIFAR_PIXELS; // 3073
export const CIFAR10_CLASSES = 10;
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] as const;
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_META_FILE = 'batches.meta.txt';
export const CIFAR10_FILES = [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE, CIFAR10_META_FILE] as const;
/** The folder the official archive unpacks to. */
export const CIFAR10_FOLDER = 'cifar-10-batches-bin';
/** Most records one batch file may hold (the official ones hold 10000): bounds what a tar header can make us buffer. */
export const CIFAR_MAX_RECORDS_PER_FILE = 60000;

/** Number of records in a batch file of `length` bytes; throws when it is not a whole number of records. */
export function cifarRecordCount(length: number, file: string): number {
  if (length === 0) throw new DatasetError(`${file}: empty CIFAR batch (expected ${CIFAR_RECORD}-byte records).`, file, 0);
  if (length % CIFAR_RECORD !== 0) {
    const whole = Math.floor(length / CIFAR_RECORD);
    throw new DatasetError(
      `${file}: ${length} bytes is not a whole number of ${CIFAR_RECORD}-byte CIFAR records (${whole} records, then ${length - whole * CIFAR_RECORD} stray bytes from byte ${whole * CIFAR_RECORD}); the file is truncated or not a CIFAR-10 binary batch.`,
      file,
      whole * CIFAR_RECORD,
    );
  }
  return length / CIFAR_RECORD;
}

/**
 * Decodes `count` records of a batch into `images` (NHWC, 32x32x3) and `labels`, starting at example `at`.
 * Labels must be < `classes`.
 */
export function decodeCifarInto(bytes: Uint8Array, file: string, images: Uint8Array, labels: Uint8Array, at: number, count: number, classes = CIFAR10_CLASSES): void {
  const per = CIFAR_PIXELS * 3;
  for (let r = 0; r < count; r++) {
    const rec = r * CIFAR_RECORD;
    const label = bytes[rec]!;
    if (label >= classes)
      throw new DatasetError(`${file}: record ${r} has label ${label} at byte ${rec}; CIFAR-10 labels are 0..${classes - 1}.`, file, rec);
    labels[at + r] = label;
    const dst = (at + r) * per;
    const R = rec + 1;
    const G = R + CIFAR_PIXELS;
    const B = G + CIFAR_PIXELS;
    for (let p = 0; p < CIFAR_PIXELS; p++) {
      const o = dst + p * 3;
      images[o] = bytes[R + p]!;
      images[o + 1] = bytes[G + p]!;
      images[o + 2] = bytes[B + p]!;
    }
  }
}

/** Decodes one CIFAR-10 binary batch (`limit` cuts it to its first records). */
export function decodeCifarBatch(bytes: Uint8Array, file = '<cifar batch>', opts: { limit?: number } = {}): ImageSet {
  const n = Math.min(cifarRecordCount(bytes.length, file), opts.limit ?? Infinity);
  const images = new Uint8Array(n * CIFAR_PIXELS * 3);
  const labels = new Uint8Array(n);
  decodeCifarInto(bytes, file, images, labels, 0, n);
  return { images, shape: [n, CIFAR_SIDE, CIFAR_SIDE, 3], labels };
}

/** Decodes several batches into one set (in order), reading only the records `limit` asks for. */
export function decodeCifarBatches(batches: { bytes: Uint8Array; file: string }[], limit = Infinity): ImageSet {
  const counts = batches.map((b) => cifarRecordCount(b.bytes.length, b.file));
  const total = Math.min(
    counts.reduce((a, b) => a + b, 0),
    limit,
  );
  const images = new Uint8Array(total * CIFAR_PIXELS * 3);
  const labels = new Uint8Array(total);
  let at = 0;
  for (let i = 0; i < batches.length && at < total; i++) {
    const n = Math.min(counts[i]!, total - at);
    decodeCifarInto(batches[i]!.bytes, batches[i]!.file, images, labels, at, n);
    at += n;
  }
  return { images, shape: [total, CIFAR_SIDE, CIFAR_SIDE, 3], labels };
}

/** batches.meta.txt: one class name per line (blank lines ignored). Exactly 10 names for CIFAR-10. */
export function decodeCifarMeta(bytes: Uint8Array, file = CIFAR10_META_FILE, classes = CIFAR10_CLASSES): string[] {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  const names = text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const bad = names.findIndex((s) => !/^[\x20-\x7e]{1,64}$/.test(s));
  if (names.length !== classes || bad >= 0)
    throw new DatasetError(
      `${file}: expected ${classes} class names (one printable name per line), found ${names.length}${bad >= 0 ? ` (line ${bad + 1} is not a plain name)` : ''}.`,
      file,
      0,
    );
  return names;
}

/** How readCifar10Archive and the CIFAR-10 loader read the archive and how much of it they keep. */
export interface CifarOptions extends ReadTarOptions {
  /** Keep only the first `limit` training examples. */
  limit?: number;
  /** Keep only the first `testLimit` test examples. */
  testLimit?: number;
}

/** Builds the dataset from the seven files (batches and meta), keyed by base name; `where` names the source. */
export function assembleCifar10(files: Map<string, { bytes: Uint8Array; file: string }>, where: string, opts: CifarOptions = {}): LoadedDataset {
  const missing = CIFAR10_FILES.filter((f) => !files.has(f));
  if (missing.length)
    throw new DatasetError(`${where}: missing CIFAR-10 files: ${missing.join(', ')} (expected all of ${CIFAR10_FILES.join(', ')}).`, where);
  const classNames = decodeCifarMeta(files.get(CIFAR10_META_FILE)!.bytes, files.get(CIFAR10_META_FILE)!.file);
  const train = decodeCifarBatches(
    CIFAR10_TRAIN_FILES.map((f) => files.get(f)!),
    opts.limit,
  );
  const test = decodeCifarBatches([files.get(CIFAR10_TEST_FILE)!], opts.testLimit);
  return { train, test, classNames };
}

function baseName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? path : path.slice(i + 1);
}

/**
 * Reads CIFAR-10 from the bytes of cifar-10-binary.tar.gz (or the .tar), in memory: members are matched by base
 * name (normally under cifar-10-batches-bin/), checked for size before they are buffered, then decoded.
 */
export function readCifar10Archive(bytes: Uint8Array, file = 'cifar-10-binary.tar.gz', opts: CifarOptions = {}): LoadedDataset {
  const wanted = new Set<string>(CIFAR10_FILES);
  // The official tar is ~184 MB; leave room for extra members but stop a bomb well before memory trouble.
  const maxBytes = opts.maxBytes ?? 512 * 1024 * 1024;
  const { members, names, end } = readTar(
    bytes,
    file,
    (name, size, offset) => {
      const base = baseName(name);
      if (!wanted.has(base)) return false;
      if (base === CIFAR10_META_FILE) {
        if (size > 64 * 1024) throw new DatasetError(`${file}: member "${name}" at byte ${offset} is ${size} bytes, too big for a class-name list.`, file, offset);
        return true;
      }
      if (size % CIFAR_RECORD !== 0 || size === 0 || size > CIFAR_MAX_RECORDS_PER_FILE * CIFAR_RECORD)
        throw new DatasetError(
          `${file}: member "${name}" (data at byte ${offset}) is ${size} bytes, expected a whole number of ${CIFAR_RECORD}-byte records (10000 records = ${10000 * CIFAR_RECORD} bytes).`,
          file,
          offset,
        );
      return true;
    },
    { ...opts, maxBytes },
  );
  const files = new Map<string, { bytes: Uint8Array; file: string }>();
  for (const m of members.values()) files.set(baseName(m.name), { bytes: m.data, file: `${file}:${m.name}` });
  const missing = CIFAR10_FILES.filter((f) => !files.has(f));
  if (missing.length)
    throw new DatasetError(
      `${file}: the archive lacks ${missing.join(', ')} (its tar stream ends at byte ${end} holding ${names.length ? names.slice(0, 12).join(', ') + (names.length > 12 ? ', ...' : '') : 'no files'}). Expected cifar-10-binary.tar.gz, the "binary version" of CIFAR-10.`,
      file,
      end,
    );
  return assembleCifar10(files, file, opts);
}

/** Encodes records in the official layout (for fixtures and tests): images NHWC 32x32x3. */
export function encodeCifarBatch(set: ImageSet): Uint8Array {
  const n = set.shape[0];
  const out = new Uint8Array(n * CIFAR_RECORD);
  for (let r = 0; r < n; r++) {
    const rec = r * CIFAR_RECORD;
    out[rec] = set.labels[r]!;
    for (let p = 0; p < CIFAR_PIXELS; p++)
      for (let ch = 0; ch < 3; ch++) out[rec + 1 + ch * CIFAR_PIXELS + p] = set.images[(r * CIFAR_PIXELS + p) * 3 + ch]!;
  }
  return out;
}
