// Seeded mutation fuzzing of every dataset format we read: bit flips, truncations, inserted, deleted and
// overwritten bytes. Each mutated file must give either a DatasetError or a self-consistent decode, quickly;
// nothing else may be thrown. The case counts per format and outcome are printed.
import { describe, expect, it } from 'vitest';
import { DatasetError } from '../src/errors.js';
import { readCifar10Archive, decodeCifarBatch } from '../src/data/cifar.js';
import { decodeIdx } from '../src/data/idx.js';
import { mulberry32 } from '../src/reference/random.js';
import { cifarTar, gzip, idxImages, syntheticSet } from './helpers/data-fixtures.js';
import { fuzzDecoder, mutateBytes, randInt, type Rand } from './helpers/mutate.js';

const CASES = 1500; // per format
const MAX_MS = 2000; // per case

// An extreme 32-bit value (dims, sizes, lengths), big-endian as IDX writes them.
const extremeU32 = (b: Uint8Array, r: Rand, pos: (len: number) => number): string => {
  const at = pos(Math.max(1, b.length - 3));
  const v = [0xffffffff, 0x7fffffff, 0x80000000, 0, 1, 0x00010000][randInt(r, 6)]!;
  for (let i = 0; i < 4 && at + i < b.length; i++) b[at + i] = (v >>> (8 * (3 - i))) & 255;
  return 'extreme u32';
};
const mutate = (src: Uint8Array, r: Rand) => mutateBytes(src, r, extremeU32);

interface Format {
  name: string;
  fixture: Uint8Array;
  /** Decodes and checks the result is self-consistent (throws a plain Error when it is not). */
  decode(bytes: Uint8Array): void;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`inconsistent decode: ${what}`);
}

function idxCheck(bytes: Uint8Array, file: string): void {
  const d = decodeIdx(bytes, file, { maxBytes: 64 * 1024 * 1024 });
  const n = d.dims.reduce((a, b) => a * b, 1);
  check(d.data.length === n, `${d.data.length} values for dims [${d.dims.join(', ')}]`);
}

// A structured (compressible) image set so the gzip fixture is realistic.
const idxSet = (() => {
  const s = syntheticSet(12, 28, 28, 1, 10, 7);
  for (let i = 0; i < s.images.length; i++) if ((i % 28) < 8 || (i % 784) < 200) s.images[i] = 0;
  return s;
})();
const idxRaw = idxImages(idxSet);
const { tar } = cifarTar([2, 1, 1, 1, 1], 2);

const FORMATS: Format[] = [
  { name: 'IDX raw', fixture: idxRaw, decode: (b) => idxCheck(b, 'fuzz.idx') },
  { name: 'IDX gzip', fixture: gzip(idxRaw), decode: (b) => idxCheck(b, 'fuzz.idx.gz') },
  {
    name: 'CIFAR .bin',
    fixture: cifarTar([3], 1).tar.subarray(512, 512 + 3 * 3073),
    decode: (b) => {
      const s = decodeCifarBatch(b, 'fuzz.bin');
      check(s.images.length === s.shape[0] * 3072 && s.labels.every((l) => l < 10), 'cifar batch');
    },
  },
  {
    name: 'CIFAR .tar',
    fixture: tar,
    decode: (b) => {
      const d = readCifar10Archive(b, 'fuzz.tar');
      check(d.train.images.length === d.train.shape[0] * 3072 && d.classNames.length === 10, 'cifar tar');
    },
  },
  {
    name: 'CIFAR .tar.gz',
    fixture: gzip(tar),
    decode: (b) => {
      const d = readCifar10Archive(b, 'fuzz.tar.gz');
      check(d.train.images.length === d.train.shape[0] * 3072 && d.test.labels.every((l) => l < 10), 'cifar tar.gz');
    },
  },
];

describe('fuzzing the dataset decoders', () => {
  const summary: Record<string, Record<string, number>> = {};

  it.each(FORMATS.map((f, i) => [f.name, f, i] as const))('%s: only DatasetError or a valid decode', (name, format, index) => {
    format.decode(format.fixture); // the unmutated fixture decodes
    const counts = fuzzDecoder({ name, fixture: format.fixture, r: mulberry32(0xf00d + index), cases: CASES, maxMs: MAX_MS, mutate, decode: (b) => format.decode(b) });
    summary[name] = counts;
    expect(counts.cases).toBe(CASES);
  });
});
