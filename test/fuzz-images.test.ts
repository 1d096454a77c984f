// Seeded mutation fuzzing of the PNG and JPEG readers behind imageDatasetFromDirectory (decodeImage: header
// checks, then pngjs or jpeg-js): bit flips, truncations, inserted, deleted and overwritten bytes, and extreme
// sizes in the headers. Each mutated file must give a DatasetError or a self-consistent image within the size
// caps, quickly, the same on every decode (pngjs alone filters a truncated image out of uninitialised memory:
// provider.ts checks the inflated size first); nothing else may be thrown.
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { writePng } from '../src/data/image.js';
import { decodeImage, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, writeJpeg } from '../src/data/image-files.js';
import type { Image } from '../src/data/types.js';
import { mulberry32 } from '../src/reference/random.js';
import { fuzzDecoder, mutateBytes, randInt, type Rand } from './helpers/mutate.js';

const CASES = 1200; // per format
const MAX_MS = 2000; // per case

/** A digit-like picture: a smooth ring on a dark background, so both codecs see realistic data. */
function ring(h: number, w: number, c: number): Image {
  const data = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(y - h / 2, x - w / 2);
      for (let k = 0; k < c; k++) data[(y * w + x) * c + k] = Math.max(0, Math.min(255, Math.round(255 - 40 * Math.abs(d - h / 3)))) ^ (k * 40);
    }
  return { data, shape: [h, w, c] };
}

// Sizes written where headers keep them: PNG's IHDR is 32-bit, JPEG's SOF 16-bit, both big-endian.
const extremeValue = (bytes: number) => (b: Uint8Array, r: Rand, pos: (len: number) => number): string => {
  const at = pos(Math.max(1, b.length - bytes + 1));
  const values = bytes === 4 ? [0xffffffff, 0x7fffffff, 0x80000000, 0, 1, 16385, 0x00010000] : [0xffff, 0x8000, 0, 1, 16385, 0x4000];
  const v = values[randInt(r, values.length)]!;
  for (let i = 0; i < bytes && at + i < b.length; i++) b[at + i] = Math.floor(v / 256 ** (bytes - 1 - i)) & 255;
  return 'extreme size';
};

/**
 * Rewrites the CRC of every whole chunk, so that the mutation reaches pngjs' inflate, filters and colour code
 * instead of ending at its CRC check (half the PNG cases).
 */
function fixPngCrcs(b: Uint8Array): Uint8Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let at = 8; at + 12 <= b.length; ) {
    const len = v.getUint32(at);
    if (at + 12 + len > b.length) break;
    v.setUint32(at + 8 + len, crc32(b.subarray(at + 4, at + 8 + len)));
    at += 12 + len;
  }
  return b;
}

const FORMATS = [
  { name: 'PNG gray', fixture: writePng(ring(28, 28, 1)), special: extremeValue(4) },
  { name: 'PNG RGBA', fixture: writePng(ring(13, 17, 4)), special: extremeValue(4) },
  { name: 'JPEG', fixture: writeJpeg(ring(29, 37, 3), { quality: 85 }), special: extremeValue(2) },
];

describe('fuzzing the PNG and JPEG readers', () => {
  it.each(FORMATS.map((f, i) => [f.name, f, i] as const))('%s: only DatasetError or a valid image', (name, format, index) => {
    decodeImage(format.fixture, 'fixture'); // the unmutated fixture decodes
    const counts = fuzzDecoder({
      name,
      fixture: format.fixture,
      r: mulberry32(0x1a9e + index),
      cases: CASES,
      maxMs: MAX_MS,
      mutate: (src, r, c) => {
        const m = mutateBytes(src, r, format.special, 40);
        const fixCrc = format.name.startsWith('PNG') && c % 2 === 1;
        return fixCrc ? { bytes: fixPngCrcs(m.bytes), kind: `${m.kind}, CRCs fixed` } : m;
      },
      decode: (bytes, c) => {
        const img = decodeImage(bytes, `case-${c}`);
        const [h, w, ch] = img.shape;
        const ok = h >= 1 && w >= 1 && h <= MAX_IMAGE_SIDE && w <= MAX_IMAGE_SIDE && h * w <= MAX_IMAGE_PIXELS && ch >= 1 && ch <= 4 && img.data.length === h * w * ch;
        if (!ok) throw new Error(`inconsistent image [${img.shape.join(', ')}] with ${img.data.length} bytes`);
        // Decoding is a function of the bytes: a decoder reading uninitialised memory would differ here.
        const again = decodeImage(bytes, `case-${c}`);
        if (again.data.some((v, i) => v !== img.data[i])) throw new Error('two decodes of the same bytes differ');
      },
      onError: (e, c) => expect(e.message).toContain(`case-${c}`),
    });
    expect(counts.cases).toBe(CASES);
    expect(counts.DatasetError).toBeGreaterThan(0);
    expect(counts['valid decode']).toBeGreaterThan(0);
  });
});
