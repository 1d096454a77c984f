import { describe, expect, it } from 'vitest';
import { DatasetError } from '../src/errors.js';
import { CIFAR_RECORD, decodeCifarBatch, decodeCifarMeta, encodeCifarBatch, readCifar10Archive } from '../src/data/cifar.js';
import { encodeTar, readTar } from '../src/data/tar.js';
import { CIFAR_META, cifarFiles, cifarTar, gzip, expectSameBytes } from './helpers/data-fixtures.js';

function datasetError(fn: () => unknown): DatasetError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('expected a DatasetError, nothing was thrown');
}

describe('CIFAR-10 binary decoder', () => {
  it('record layout: label, 1024 R, 1024 G, 1024 B -> HWC', () => {
    const rec = new Uint8Array(2 * CIFAR_RECORD);
    rec[0] = 3;
    rec[CIFAR_RECORD] = 9;
    // record 0: pixel p has R = p & 255, G = 7, B = 255 - (p & 255)
    for (let p = 0; p < 1024; p++) {
      rec[1 + p] = p & 255;
      rec[1 + 1024 + p] = 7;
      rec[1 + 2048 + p] = 255 - (p & 255);
    }
    rec[CIFAR_RECORD + 1 + 1024 + 33] = 200; // record 1, G of pixel (row 1, col 1)
    const set = decodeCifarBatch(rec, 'r.bin');
    expect(set.shape).toEqual([2, 32, 32, 3]);
    expect(Array.from(set.labels)).toEqual([3, 9]);
    expect(Array.from(set.images.subarray(0, 6))).toEqual([0, 7, 255, 1, 7, 254]);
    const p = 32 * 5 + 7; // row 5, col 7
    expect(Array.from(set.images.subarray(p * 3, p * 3 + 3))).toEqual([p & 255, 7, 255 - (p & 255)]);
    expect(set.images[3072 + 33 * 3 + 1]).toBe(200);
    expect(Array.from(encodeCifarBatch(set))).toEqual(Array.from(rec));
    expect(decodeCifarBatch(rec, 'r.bin', { limit: 1 }).shape).toEqual([1, 32, 32, 3]);
  });

  it('bad batches: partial record, bad label, empty', () => {
    const { files } = cifarFiles([2], 1);
    const batch = files[0]!.data;
    let e = datasetError(() => decodeCifarBatch(batch.subarray(0, CIFAR_RECORD + 100), 'b.bin'));
    expect(e.file).toBe('b.bin');
    expect(e.offset).toBe(CIFAR_RECORD);
    expect(e.message).toMatch(/not a whole number of 3073-byte/);
    const bad = batch.slice();
    bad[CIFAR_RECORD] = 10;
    e = datasetError(() => decodeCifarBatch(bad, 'b.bin'));
    expect(e.offset).toBe(CIFAR_RECORD);
    expect(e.message).toMatch(/label 10/);
    expect(datasetError(() => decodeCifarBatch(new Uint8Array(0), 'b.bin')).message).toMatch(/empty/);
  });

  it('class names from batches.meta.txt', () => {
    expect(decodeCifarMeta(new TextEncoder().encode(CIFAR_META))).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    expect(datasetError(() => decodeCifarMeta(new TextEncoder().encode('a\nb\n'), 'm.txt')).message).toMatch(/expected 10 class names/);
  });

  it('reads the whole set from .tar and .tar.gz in memory, exactly', () => {
    const { tar, train, test } = cifarTar();
    for (const [bytes, name] of [
      [tar, 'c.tar'],
      [gzip(tar), 'c.tar.gz'],
    ] as const) {
      const d = readCifar10Archive(bytes, name);
      expect(d.classNames[9]).toBe('truck');
      expect(d.train.shape).toEqual([10, 32, 32, 3]);
      expect(d.test.shape).toEqual([3, 32, 32, 3]);
      expectSameBytes(d.train.images, train.images);
      expectSameBytes(d.train.labels, train.labels);
      expectSameBytes(d.test.images, test.images);
      expectSameBytes(d.test.labels, test.labels);
      const cut = readCifar10Archive(bytes, name, { limit: 4, testLimit: 1 });
      expect(cut.train.shape[0]).toBe(4);
      expectSameBytes(cut.train.images, train.images.subarray(0, 4 * 3072));
      expect(cut.test.shape[0]).toBe(1);
    }
  });

  it('a tar missing members names them and what it holds', () => {
    const { files } = cifarFiles();
    const tar = encodeTar(files.filter((f) => !f.name.endsWith('data_batch_3.bin') && !f.name.endsWith('test_batch.bin')));
    const e = datasetError(() => readCifar10Archive(gzip(tar), 'c.tar.gz'));
    expect(e.file).toBe('c.tar.gz');
    expect(e.message).toMatch(/lacks data_batch_3.bin, test_batch.bin/);
    expect(e.offset).toBe(tar.length - 1024); // where the tar stream ended (its end-of-archive blocks)
    expect(e.message).toMatch(/data_batch_1.bin/);
  });

  it('tar damage: checksum, truncated member, wrong member size', () => {
    const { tar } = cifarTar();
    const bad = tar.slice();
    bad[10] ^= 1; // inside the first header's name
    let e = datasetError(() => readCifar10Archive(bad, 'c.tar'));
    expect(e.message).toMatch(/checksum/);
    expect(e.offset).toBe(0);
    e = datasetError(() => readCifar10Archive(tar.subarray(0, 512 + 1000), 'c.tar'));
    expect(e.message).toMatch(/truncated tar: member "cifar-10-batches-bin\/data_batch_1.bin" declares 9219 bytes from byte 512/);
    const odd = encodeTar([{ name: 'cifar-10-batches-bin/data_batch_1.bin', data: new Uint8Array(3000) }]);
    e = datasetError(() => readCifar10Archive(odd, 'c.tar'));
    expect(e.message).toMatch(/3000 bytes, expected a whole number of 3073-byte records/);
    expect(e.offset).toBe(512);
  });

  it('tar walker: GNU long names, pax paths, skipped members', () => {
    const long = 'x'.repeat(120) + '/data.bin';
    const payload = Uint8Array.from([1, 2, 3]);
    // GNU 'L' header: name ././@LongLink, data = long name
    const nameBytes = new TextEncoder().encode(long + '\0');
    const gnu = encodeTar([
      { name: '././@LongLink', data: nameBytes },
      { name: 'short', data: payload },
    ]);
    setType(gnu, 0, 'L');
    const r = readTar(gnu, 'g.tar', () => true);
    expect([...r.members.keys()]).toEqual([long]);
    expect(Array.from(r.members.get(long)!.data)).toEqual([1, 2, 3]);
    const rec = (k: string, v: string) => {
      const body = ` ${k}=${v}\n`;
      let n = body.length + 1;
      while (String(n).length + body.length !== n) n++;
      return `${n}${body}`;
    };
    const pax = encodeTar([
      { name: 'PaxHeader', data: new TextEncoder().encode(rec('path', 'deep/pax-name.bin')) },
      { name: 'ignored', data: payload },
      { name: 'other.txt', data: payload },
    ]);
    setType(pax, 0, 'x');
    const r2 = readTar(pax, 'p.tar', (n) => n.endsWith('.bin'));
    expect([...r2.members.keys()]).toEqual(['deep/pax-name.bin']);
    expect(r2.names).toEqual(['deep/pax-name.bin', 'other.txt']);
  });
});

/** Rewrites the type flag of the header at `at` and fixes its checksum. */
function setType(tar: Uint8Array, at: number, type: string): void {
  tar[at + 156] = type.charCodeAt(0);
  let sum = 0;
  for (let k = 0; k < 512; k++) sum += k >= 148 && k < 156 ? 0x20 : tar[at + k]!;
  const s = sum.toString(8).padStart(6, '0') + '\0 ';
  for (let i = 0; i < 8; i++) tar[at + 148 + i] = s.charCodeAt(i);
}
