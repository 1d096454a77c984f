import { describe, expect, it } from 'vitest';
import { DatasetError } from '../src/errors.js';
import { crc32, gunzipBounded, inflateGzip } from '../src/data/gzip.js';
import { decodeIdx, encodeIdx } from '../src/data/idx.js';
import { gzip, idxOfEveryType } from './helpers/data-fixtures.js';

/** Runs `fn`, expects a DatasetError, returns it. */
function datasetError(fn: () => unknown): DatasetError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('expected a DatasetError, nothing was thrown');
}

describe('IDX decoder', () => {
  it.each(idxOfEveryType().map((a) => [a.type, a] as const))('decodes type %s raw and gzip, exactly', (_t, arr) => {
    const raw = encodeIdx(arr);
    for (const bytes of [raw, gzip(raw), gzip(raw, 0), gzip(raw, 9)]) {
      const d = decodeIdx(bytes, 'fixture');
      expect(d.type).toBe(arr.type);
      expect(d.dims).toEqual(arr.dims);
      expect(d.data.constructor).toBe(arr.data.constructor);
      expect(Array.from(d.data)).toEqual(Array.from(arr.data));
      if (arr.type === 'f32') expect(Object.is(d.data[1], -0)).toBe(true);
    }
  });

  it('reads big-endian bytes as written by hand', () => {
    // i16 dims [2] values 0x0102, -2 ; i32 [1] 0x01020304 ; f32 [1] 1.0 (3f 80 00 00)
    expect(Array.from(decodeIdx(Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 2, 1, 2, 0xff, 0xfe])).data)).toEqual([258, -2]);
    expect(Array.from(decodeIdx(Uint8Array.from([0, 0, 0x0c, 1, 0, 0, 0, 1, 1, 2, 3, 4])).data)).toEqual([0x01020304]);
    expect(Array.from(decodeIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0x3f, 0x80, 0, 0])).data)).toEqual([1]);
    // zero-sized and zero-dimension arrays are legal IDX
    expect(decodeIdx(Uint8Array.from([0, 0, 8, 2, 0, 0, 0, 0, 0, 0, 0, 5])).data.length).toBe(0);
    expect(Array.from(decodeIdx(Uint8Array.from([0, 0, 8, 0, 42])).data)).toEqual([42]);
  });

  it('u8 data is a view of the file, not a copy; multi-byte types are native arrays', () => {
    const raw = encodeIdx({ type: 'u8', dims: [4], data: Uint8Array.from([1, 2, 3, 4]) });
    const d = decodeIdx(raw);
    expect(d.data.buffer).toBe(raw.buffer);
    expect(d.data.byteOffset).toBe(8);
  });

  const good = encodeIdx({ type: 'u8', dims: [2, 3], data: Uint8Array.from([1, 2, 3, 4, 5, 6]) });

  it('truncated header and data: names the file and the offset', () => {
    let e = datasetError(() => decodeIdx(good.subarray(0, 3), 'a.idx'));
    expect(e.file).toBe('a.idx');
    expect(e.offset).toBe(3);
    e = datasetError(() => decodeIdx(good.subarray(0, 9), 'a.idx'));
    expect(e.message).toMatch(/truncated IDX header/);
    expect(e.offset).toBe(9);
    e = datasetError(() => decodeIdx(good.subarray(0, 15), 'a.idx'));
    expect(e.message).toMatch(/truncated IDX data.*need 6 bytes.*has 3/);
    expect(e.offset).toBe(15);
  });

  it('wrong magic, unknown type byte, dims that disagree with the byte count', () => {
    const bad = good.slice();
    bad[1] = 1;
    let e = datasetError(() => decodeIdx(bad, 'm.idx'));
    expect(e.message).toMatch(/expected magic 00 00/);
    expect(e.offset).toBe(1);
    const t = good.slice();
    t[2] = 0x0a;
    e = datasetError(() => decodeIdx(t, 't.idx'));
    expect(e.message).toMatch(/unknown IDX type byte 0x0a at byte 2/);
    expect(e.offset).toBe(2);
    const extra = new Uint8Array(good.length + 2);
    extra.set(good);
    e = datasetError(() => decodeIdx(extra, 'x.idx'));
    expect(e.message).toMatch(/declare 6 data bytes but 8 follow/);
    expect(e.offset).toBe(good.length);
    const huge = good.slice();
    huge[4] = 0xff; // first dim = 0xff000002
    e = datasetError(() => decodeIdx(huge, 'h.idx'));
    expect(e.message).toMatch(/declares dims/);
  });

  it('gzip: truncated, corrupt, bad CRC, trailing junk', () => {
    const gz = gzip(encodeIdx({ type: 'u8', dims: [100, 100], data: new Uint8Array(10000).map((_, i) => (i * 7) & 255) }));
    let e = datasetError(() => decodeIdx(gz.subarray(0, gz.length - 20), 'g.gz'));
    expect(e.file).toBe('g.gz');
    expect(e.message).toMatch(/truncated|CRC|trailer/);
    const flipped = gz.slice();
    flipped[gz.length - 6] ^= 0x40; // inside the CRC trailer
    e = datasetError(() => decodeIdx(flipped, 'g.gz'));
    expect(e.message).toMatch(/CRC-32/);
    expect(e.offset).toBe(gz.length - 8);
    const junk = new Uint8Array(gz.length + 12).fill(7);
    junk.set(gz);
    e = datasetError(() => decodeIdx(junk, 'g.gz'));
    expect(e.message).toMatch(/after the last gzip member|CRC|trailer/);
    const method = gz.slice();
    method[2] = 7;
    expect(datasetError(() => decodeIdx(method, 'g.gz')).offset).toBe(2);
  });

  it('gzip bomb: stops inflating at the size the IDX header declares', () => {
    // Header says [10] u8, then 50 MB of zeros: compresses to ~50 KB.
    const big = new Uint8Array(50_000_000 + 12);
    big.set([0, 0, 8, 1, 0, 0, 0, 10]);
    const gz = gzip(big, 1);
    let seen = 0;
    const t0 = performance.now();
    const e = datasetError(() => decodeIdx(gz, 'bomb.gz'));
    expect(e.message).toMatch(/inflates past the 18 bytes its IDX header declares/);
    expect(e.offset).toBe(18);
    expect(performance.now() - t0).toBeLessThan(1000);
    // Slices shrink with the compression ratio: it stops within a few MB, not at 50 MB.
    expect(() =>
      inflateGzip(gz, 'bomb.gz', (c) => {
        seen += c.length;
        if (seen > 1_000_000) throw new DatasetError('stop', 'bomb.gz', seen);
      }),
    ).toThrow(DatasetError);
    expect(seen).toBeLessThan(1_000_000 + 8 * 1024 * 1032);
  });

  it('a header declaring more than the gzip can hold is refused before allocating', () => {
    const hdr = Uint8Array.from([0, 0, 8, 2, 0x7f, 0, 0, 0, 0, 0, 0, 4]); // 2^31 * 4 bytes
    const e = datasetError(() => decodeIdx(gzip(hdr), 'lie.gz'));
    expect(e.message).toMatch(/can inflate to|limit/);
  });

  it('gzip helpers: CRC-32 matches the standard check value; multi-member files inflate whole', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const a = encodeIdx({ type: 'u8', dims: [6], data: Uint8Array.from([1, 2, 3, 4, 5, 6]) });
    const two = new Uint8Array([...gzip(a.subarray(0, 7)), ...gzip(a.subarray(7))]);
    expect(Array.from(gunzipBounded(two, 'two.gz'))).toEqual(Array.from(a));
    expect(Array.from(decodeIdx(two, 'two.gz').data)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
