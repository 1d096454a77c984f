// Dataset fixtures made by the tests themselves (tiny IDX raw and gzip, CIFAR batches and archives), written to a
// temp dir when a test needs files. Deterministic: the same seed gives the same bytes.
import { gzipSync } from 'fflate';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCifarBatch } from '../../src/data/cifar.js';
import { encodeIdx, type IdxArray } from '../../src/data/idx.js';
import { encodeTar } from '../../src/data/tar.js';
import type { Image, ImageSet } from '../../src/data/types.js';
import { mulberry32 } from '../../src/reference/random.js';

export function tempDir(prefix = 'sf-data-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function gzip(bytes: Uint8Array, level: 0 | 1 | 6 | 9 = 6): Uint8Array {
  return gzipSync(bytes, { level, mtime: 0 });
}

/** n images of h x w x c with pixel value a known function of (image, position), and labels i % classes. */
export function syntheticSet(n: number, h: number, w: number, c: number, classes = 10, seed = 1): ImageSet {
  const r = mulberry32(seed);
  const images = new Uint8Array(n * h * w * c);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(r() * 256);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = (i * 7 + seed) % classes;
  return { images, shape: [n, h, w, c], labels };
}

/** One image [h, w, c] of seeded uniform random bytes. */
export function randomImage(h: number, w: number, c: number, seed: number): Image {
  const r = mulberry32(seed);
  const data = new Uint8Array(h * w * c);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { data, shape: [h, w, c] };
}

export function idxImages(set: ImageSet): Uint8Array {
  const [n, h, w] = set.shape;
  return encodeIdx({ type: 'u8', dims: [n, h, w], data: set.images });
}

export function idxLabels(set: ImageSet): Uint8Array {
  return encodeIdx({ type: 'u8', dims: [set.shape[0]], data: set.labels });
}

/** One small IDX array of every type, with values that exercise sign and byte order. */
export function idxOfEveryType(): IdxArray[] {
  return [
    { type: 'u8', dims: [2, 3], data: Uint8Array.from([0, 1, 127, 128, 200, 255]) },
    { type: 'i8', dims: [5], data: Int8Array.from([-128, -1, 0, 1, 127]) },
    { type: 'i16', dims: [2, 2], data: Int16Array.from([-32768, -2, 258, 32767]) },
    { type: 'i32', dims: [3], data: Int32Array.from([-2147483648, 16909060, 2147483647]) },
    { type: 'f32', dims: [1, 2, 2], data: Float32Array.from([1.5, -0, Infinity, 3.1415927410125732]) },
    { type: 'f64', dims: [3], data: Float64Array.from([Math.PI, -1e300, 5e-324]) },
  ];
}

export const CIFAR_META = 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n';

/** Six small CIFAR batches (records per batch given) with known pixels, as the seven files of the binary version. */
export function cifarFiles(perBatch = [3, 2, 2, 1, 2], testCount = 3): { files: { name: string; data: Uint8Array }[]; train: ImageSet; test: ImageSet } {
  const sets = perBatch.map((n, b) => syntheticSet(n, 32, 32, 3, 10, 100 + b));
  const test = syntheticSet(testCount, 32, 32, 3, 10, 200);
  const files = sets.map((s, b) => ({ name: `cifar-10-batches-bin/data_batch_${b + 1}.bin`, data: encodeCifarBatch(s) }));
  files.splice(1, 0, { name: 'cifar-10-batches-bin/batches.meta.txt', data: new TextEncoder().encode(CIFAR_META) });
  files.push({ name: 'cifar-10-batches-bin/readme.html', data: new TextEncoder().encode('<html>readme</html>') });
  files.push({ name: 'cifar-10-batches-bin/test_batch.bin', data: encodeCifarBatch(test) });
  const total = sets.reduce((a, s) => a + s.shape[0], 0);
  const images = new Uint8Array(total * 3072);
  const labels = new Uint8Array(total);
  let at = 0;
  for (const s of sets) {
    images.set(s.images, at * 3072);
    labels.set(s.labels, at);
    at += s.shape[0];
  }
  return { files, train: { images, shape: [total, 32, 32, 3], labels }, test };
}

export function cifarTar(perBatch?: number[], testCount?: number): { tar: Uint8Array; train: ImageSet; test: ImageSet } {
  const { files, train, test } = cifarFiles(perBatch, testCount);
  return { tar: encodeTar(files), train, test };
}

/** Fast exact comparison of two typed arrays (vitest's deep equality is slow on large ones): reports the first mismatch. */
export function expectSameBytes(actual: ArrayBufferView, expected: ArrayBufferView, what = 'bytes'): void {
  const a = new Uint8Array(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = new Uint8Array(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.length !== b.length) throw new Error(`${what}: length ${a.length} != expected ${b.length}`);
  if (Buffer.from(a).equals(Buffer.from(b))) return;
  let i = 0;
  while (a[i] === b[i]) i++;
  throw new Error(`${what}: first difference at byte ${i}: ${a[i]} != expected ${b[i]}`);
}
