// Images of one's own: tf.image.resize's sampling against float64 references, colour modes, PNG/JPEG headers and
// their caps, imageDatasetFromDirectory on PNG and JPEG trees written here from real MNIST (order, seeded shuffle,
// splits, label modes, limit), every bad input it must refuse, the browser's FileList grouping, and the seed's
// first practice (`shaderflow image`: numpy's printout of a picture).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enlarge, imageReport, numpyStr } from '../src/cli-images.js';
import { groupFileList } from '../src/data/browser-images.js';
import { imageDatasetFromDirectory, writeImageFolder } from '../src/data/folder.js';
import { readPng, writePng } from '../src/data/image.js';
import { planImageDataset, resizeFloat, resizeImage, resolveImageDatasetOptions, toChannels, type ImageFolderSet } from '../src/data/image-dataset.js';
import { decodeImage, imageHeader, writeJpeg } from '../src/data/image-files.js';
import { mnist } from '../src/data/loaders.js';
import { numpyPermutation } from '../src/data/preprocess.js';
import type { Image, ImageSet } from '../src/data/types.js';
import { DatasetError, ShaderflowError } from '../src/errors.js';
import { randomImage, tempDir } from './helpers/data-fixtures.js';

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('sf-images-');
});
afterAll(() => tmp.cleanup());

/** float64 bilinear resize with exact half-pixel sample positions, clamped to the image (TensorFlow's definition). */
function bilinearReference(img: Image, H: number, W: number): Float64Array {
  const [h, w, c] = img.shape;
  const out = new Float64Array(H * W * c);
  const pos = (o: number, n: number, m: number) => {
    const x = Math.min(n - 1, Math.max(0, ((o + 0.5) * n) / m - 0.5));
    const i0 = Math.floor(x);
    return { i0, i1: Math.min(i0 + 1, n - 1), f: x - i0 };
  };
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const py = pos(y, h, H);
      const px = pos(x, w, W);
      for (let k = 0; k < c; k++) {
        const at = (yy: number, xx: number) => img.data[(yy * w + xx) * c + k]!;
        out[(y * W + x) * c + k] =
          (1 - py.f) * ((1 - px.f) * at(py.i0, px.i0) + px.f * at(py.i0, px.i1)) + py.f * ((1 - px.f) * at(py.i1, px.i0) + px.f * at(py.i1, px.i1));
      }
    }
  return out;
}

describe('resizing as tf.image.resize (half-pixel centres, no antialiasing)', () => {
  it("bilinear 2x2 -> 4x4 gives TensorFlow's values", () => {
    const img: Image = { data: Uint8Array.from([0, 80, 160, 240]), shape: [2, 2, 1] };
    const unit = [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3];
    expect(Array.from(resizeFloat(img, 4, 4))).toEqual(unit.map((v) => v * 80));
  });

  it('nearest 2x2 -> 4x4 repeats pixels; 3x3 -> 2x2 takes floor((o + 0.5) * 1.5)', () => {
    const img: Image = { data: Uint8Array.from([1, 2, 3, 4]), shape: [2, 2, 1] };
    expect(Array.from(resizeImage(img, 4, 4, 'nearest').data)).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
    const three: Image = { data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), shape: [3, 3, 1] };
    expect(Array.from(resizeImage(three, 2, 2, 'nearest').data)).toEqual([1, 3, 7, 9]);
  });

  const cases: [number, number, number, number, number][] = [
    [1, 1, 1, 5, 3],
    [3, 7, 3, 1, 1],
    [28, 28, 1, 20, 33],
    [33, 17, 4, 64, 40],
    [7, 127, 2, 13, 257],
    [257, 3, 3, 28, 28],
  ];
  it.each(cases)('bilinear [%i, %i, %i] -> %ix%i equals the float64 reference, rounded', (h, w, c, H, W) => {
    const img = randomImage(h, w, c, h * 31 + w);
    const got = resizeFloat(img, H, W);
    const ref = bilinearReference(img, H, W);
    const u8 = resizeImage(img, H, W).data;
    expect(u8).toHaveLength(H * W * c);
    // Sample positions are float32 as in TensorFlow: a few ulps of the input size off the exact ones, which moves a
    // value by at most 255 x that per axis. Only a value that close to .5 may round the other way.
    const bound = 255 * (h + w) * 2 ** -21;
    let worst = 0;
    for (let i = 0; i < ref.length; i++) {
      worst = Math.max(worst, Math.abs(got[i]! - ref[i]!));
      if (Math.abs((ref[i]! % 1) - 0.5) > bound) expect(u8[i], `element ${i}`).toBe(Math.round(ref[i]!));
    }
    expect(worst).toBeLessThan(bound);
  });

  it.each(cases)('nearest [%i, %i, %i] -> %ix%i takes floor((o + 0.5) * in / out)', (h, w, c, H, W) => {
    const img = randomImage(h, w, c, h + w * 7);
    const got = resizeImage(img, H, W, 'nearest').data;
    const src = (o: number, n: number, m: number) => Math.min(n - 1, Math.floor(((2 * o + 1) * n) / (2 * m)));
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        for (let k = 0; k < c; k++) expect(got[(y * W + x) * c + k]).toBe(img.data[(src(y, h, H) * w + src(x, w, W)) * c + k]);
  });

  it('the same size is the identity; bad target sizes are refused', () => {
    const img = randomImage(5, 6, 3, 1);
    expect(resizeImage(img, 5, 6).data).toEqual(img.data);
    expect(Array.from(resizeFloat(img, 5, 6))).toEqual(Array.from(img.data));
    expect(() => resizeFloat(img, 0, 3)).toThrow(ShaderflowError);
  });
});

describe('colour modes as tf.io.decode_image(channels=...)', () => {
  const px = (img: Image) => Array.from(img.data);
  it('gray to rgb / rgba replicates, alpha 255', () => {
    const g: Image = { data: Uint8Array.from([7, 200]), shape: [1, 2, 1] };
    expect(px(toChannels(g, 3))).toEqual([7, 7, 7, 200, 200, 200]);
    expect(px(toChannels(g, 4))).toEqual([7, 7, 7, 255, 200, 200, 200, 255]);
  });
  it('alpha is dropped, not composited; colour to gray is the rounded 601 luma', () => {
    const rgba: Image = { data: Uint8Array.from([255, 0, 0, 0, 10, 20, 30, 128]), shape: [1, 2, 4] };
    expect(px(toChannels(rgba, 3))).toEqual([255, 0, 0, 10, 20, 30]);
    expect(px(toChannels(rgba, 1))).toEqual([Math.round(0.299 * 255), Math.round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)]);
    const la: Image = { data: Uint8Array.from([9, 3]), shape: [1, 1, 2] };
    expect(px(toChannels(la, 1))).toEqual([9]);
    expect(px(toChannels(la, 4))).toEqual([9, 9, 9, 3]);
  });
});

/** A PNG whose IHDR claims width x height (no pixel data follows). */
function pngWithSize(width: number, height: number): Uint8Array {
  const b = writePng({ data: new Uint8Array(1), shape: [1, 1, 1] }).slice(0, 33);
  const v = new DataView(b.buffer);
  v.setUint32(16, width);
  v.setUint32(20, height);
  return b;
}

function expectDatasetError(f: () => unknown, ...parts: (string | RegExp)[]): DatasetError {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'a DatasetError').toBeInstanceOf(DatasetError);
  for (const p of parts) expect((err as Error).message).toMatch(p);
  return err as DatasetError;
}

describe('image headers, read before decoding', () => {
  it('PNG and JPEG: format, size and channels', () => {
    for (const c of [1, 2, 3, 4]) {
      const h = imageHeader(writePng(randomImage(7, 33, c, c)), 'x.png');
      expect([h.format, h.width, h.height, h.channels]).toEqual(['png', 33, 7, c]);
    }
    const j = imageHeader(writeJpeg(randomImage(7, 33, 3, 1)), 'x.jpg');
    expect([j.format, j.width, j.height, j.channels, j.bitDepth]).toEqual(['jpeg', 33, 7, 3, 8]);
  });

  it('sizes below 1x1 or above the caps are DatasetErrors naming the file and offset, before any decoding', () => {
    expect(expectDatasetError(() => decodeImage(pngWithSize(0, 5), 'zero.png'), /zero\.png/, /at least 1x1/).offset).toBe(16);
    expectDatasetError(() => decodeImage(pngWithSize(20000, 2), 'wide.png'), /wide\.png/, /20000x2 px is larger than/, /16384/);
    expectDatasetError(() => decodeImage(pngWithSize(10000, 10000), 'big.png'), /64 megapixels/);
    // A JPEG frame header claiming 0 x 0 and one claiming 60000 x 60000.
    const jpg = writeJpeg(randomImage(4, 4, 3, 2));
    const sof = jpg.findIndex((v, i) => v === 0xff && jpg[i + 1] === 0xc0);
    const set = (h: number, w: number) => {
      const b = jpg.slice();
      new DataView(b.buffer).setUint16(sof + 5, h);
      new DataView(b.buffer).setUint16(sof + 7, w);
      return b;
    };
    expectDatasetError(() => decodeImage(set(0, 0), 'z.jpg'), /z\.jpg/, /at least 1x1/);
    expectDatasetError(() => decodeImage(set(60000, 60000), 'huge.jpg'), /larger than/);
    const lossless = jpg.slice();
    lossless[sof + 1] = 0xc3;
    expectDatasetError(() => decodeImage(lossless, 'll.jpg'), /unsupported JPEG: frame type SOF3/);
  });

  it('files that are not PNG or JPEG say so, naming the file', () => {
    expect(expectDatasetError(() => decodeImage(new TextEncoder().encode('hello, world'), 'a.png'), /a\.png: not a PNG or JPEG/, /68 65 6C 6C/).offset).toBe(0);
    expectDatasetError(() => decodeImage(new TextEncoder().encode('GIF89a....'), 'b.gif'), /b\.gif: this format is not read/);
    expectDatasetError(() => decodeImage(new Uint8Array(0), 'empty.jpg'), /the file is empty/);
    const png = writePng(randomImage(9, 9, 3, 4));
    expectDatasetError(() => decodeImage(png.subarray(0, png.length - 20), 'cut.png'), /cut\.png/);
    const jpg = writeJpeg(randomImage(9, 9, 3, 4));
    expectDatasetError(() => decodeImage(jpg.subarray(0, jpg.length - 30), 'cut.jpg'), /cut\.jpg: not a readable JPEG/);
  });

  it('a PNG whose image data inflates short (valid CRCs) is refused, not filled from uninitialised memory', () => {
    const png = writePng(randomImage(9, 11, 3, 6));
    const v = new DataView(png.buffer, png.byteOffset);
    const idat = 33; // writePng writes IHDR then one IDAT
    expect(String.fromCharCode(...png.subarray(idat + 4, idat + 8))).toBe('IDAT');
    const raw = inflateSync(png.subarray(idat + 8, idat + 8 + v.getUint32(idat)));
    expect(raw.length).toBe(9 * (1 + 11 * 3));
    const chunk = (type: string, data: Uint8Array) => {
      const b = new Uint8Array(12 + data.length);
      const d = new DataView(b.buffer);
      d.setUint32(0, data.length);
      b.set(new TextEncoder().encode(type), 4);
      b.set(data, 8);
      d.setUint32(8 + data.length, crc32(b.subarray(4, 8 + data.length)));
      return b;
    };
    for (const rows of [5, 12]) {
      const data = rows < 9 ? raw.subarray(0, rows * 34) : Buffer.concat([raw, raw.subarray(0, 3 * 34)]);
      const bad = Buffer.concat([png.subarray(0, idat), chunk('IDAT', deflateSync(data)), chunk('IEND', new Uint8Array(0))]);
      expectDatasetError(() => decodeImage(bad, `rows-${rows}.png`), new RegExp(`rows-${rows}\\.png: not a readable PNG: its image data holds`));
    }
  });

  it('a JPEG round trip stays close; the content decides the format, not the name', () => {
    const img = randomImage(16, 24, 3, 9);
    for (let i = 0; i < img.data.length; i++) img.data[i] = 100 + (img.data[i]! >> 4); // smooth enough for JPEG
    const back = decodeImage(writeJpeg(img, { quality: 95 }), 'named.png');
    expect(back.shape).toEqual([16, 24, 3]);
    let diff = 0;
    for (let i = 0; i < img.data.length; i++) diff += Math.abs(back.data[i]! - img.data[i]!);
    expect(diff / img.data.length).toBeLessThan(4);
  });
});

// ------------------------------------------------------------------ folders of real MNIST digits

const N = 150;
let digits: ImageSet;
let mixedDir: string;

async function setup(): Promise<void> {
  digits = (await mnist.loadData({ limit: N })).train;
  mixedDir = join(tmp.dir, 'mnist-mixed');
  writeImageFolder(digits, mixedDir, { format: 'mixed' });
  // Ignored as by Keras: files in the root, non-image extensions, dot-names.
  writeFileSync(join(mixedDir, 'README.txt'), 'not an image');
  writeFileSync(join(mixedDir, '3', 'notes.txt'), 'not an image');
  mkdirSync(join(mixedDir, '.cache'));
  writeFileSync(join(mixedDir, '.cache', 'x.png'), 'not an image');
}

/** Index into `digits` of a file written by writeImageFolder ("<class>/<index>.png"). */
const indexOf = (file: string) => Number(file.split('/').pop()!.split('.')[0]);
const example = (set: ImageSet, i: number) => {
  const per = set.shape[1] * set.shape[2] * set.shape[3];
  return set.images.subarray(i * per, (i + 1) * per);
};

describe('imageDatasetFromDirectory on MNIST digits saved as PNG and JPEG', () => {
  beforeAll(setup, 120_000);

  it('grayscale 28x28, unshuffled: class names, Keras order, PNG pixels exact, JPEG close', async () => {
    const set = await imageDatasetFromDirectory(mixedDir, { imageSize: [28, 28], colorMode: 'grayscale', shuffle: false });
    expect(set.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(set.shape).toEqual([N, 28, 28, 1]);
    // Classes in order, each class's files sorted.
    const expected = digits.labels.reduce<string[][]>((acc, l, i) => (acc[l]!.push(`${l}/${String(i).padStart(3, '0')}.${i % 2 ? 'jpg' : 'png'}`), acc), Array.from({ length: 10 }, () => [])).flatMap((f) => f.sort());
    expect(set.files).toEqual(expected);
    let jpegError = 0;
    let jpegCount = 0;
    set.files.forEach((f, i) => {
      const k = indexOf(f);
      expect(set.labels[i]).toBe(digits.labels[k]);
      const got = example(set, i);
      const want = example(digits, k);
      if (f.endsWith('.png')) expect(got).toEqual(want);
      else {
        for (let p = 0; p < 784; p++) jpegError += Math.abs(got[p]! - want[p]!);
        jpegCount += 784;
      }
    });
    expect(jpegError / jpegCount, 'mean |JPEG - original| per pixel').toBeLessThan(3);
    expect(set.targets).toBe(set.labels);
    expect(set.skipped).toEqual([]);
  });

  it('rgb and rgba: gray replicated (alpha 255), the same images otherwise', async () => {
    const gray = await imageDatasetFromDirectory(mixedDir, { imageSize: [28, 28], colorMode: 'grayscale', shuffle: false });
    const rgb = await imageDatasetFromDirectory(mixedDir, { imageSize: [28, 28], shuffle: false });
    const rgba = await imageDatasetFromDirectory(mixedDir, { imageSize: [28, 28], colorMode: 'rgba', shuffle: false });
    expect(rgb.shape).toEqual([N, 28, 28, 3]);
    expect(rgba.shape).toEqual([N, 28, 28, 4]);
    rgb.files.forEach((f, i) => {
      const img: Image = { data: example(rgb, i), shape: [28, 28, 3] };
      expect(toChannels(img, 1).data, f).toEqual(example(gray, i));
      if (f.endsWith('.png')) for (let p = 0; p < 784; p++) expect(img.data[p * 3 + 2]).toBe(img.data[p * 3]);
      const a = example(rgba, i);
      for (let p = 0; p < 784; p++) expect(a[p * 4 + 3]).toBe(255);
    });
  });

  it.each(['bilinear', 'nearest'] as const)('resized to 20x33 (%s): each PNG digit equals the resize of its original', async (interpolation) => {
    const set = await imageDatasetFromDirectory(mixedDir, { imageSize: [20, 33], colorMode: 'grayscale', interpolation, shuffle: false });
    expect(set.shape).toEqual([N, 20, 33, 1]);
    set.files.forEach((f, i) => {
      if (!f.endsWith('.png')) return;
      const original: Image = { data: example(digits, indexOf(f)), shape: [28, 28, 1] };
      expect(example(set, i), f).toEqual(resizeImage(original, 20, 33, interpolation).data);
    });
  });

  it("the shuffle is Keras': numpy.random.RandomState(seed).shuffle of the sorted file list", async () => {
    const sorted = await imageDatasetFromDirectory(mixedDir, { imageSize: [8, 8], colorMode: 'grayscale', shuffle: false });
    const shuffled = await imageDatasetFromDirectory(mixedDir, { imageSize: [8, 8], colorMode: 'grayscale', seed: 1337 });
    const perm = numpyPermutation(N, 1337);
    expect(shuffled.files).toEqual(Array.from(perm, (i) => sorted.files[i]));
    expect(Array.from(shuffled.labels)).toEqual(Array.from(perm, (i) => sorted.labels[i]));
    expect(example(shuffled, 5)).toEqual(example(sorted, perm[5]!));
    const again = await imageDatasetFromDirectory(mixedDir, { imageSize: [8, 8], colorMode: 'grayscale', seed: 1337 });
    expect(again.images).toEqual(shuffled.images);
    const other = await imageDatasetFromDirectory(mixedDir, { imageSize: [8, 8], colorMode: 'grayscale', seed: 1 });
    expect(other.files).not.toEqual(shuffled.files);
  });

  it('validation splits with a seed are deterministic, disjoint and complete; training/validation calls agree with both', async () => {
    const opts = { imageSize: [12, 12] as [number, number], colorMode: 'grayscale' as const, validationSplit: 0.3, seed: 7 };
    const all = await imageDatasetFromDirectory(mixedDir, { imageSize: [12, 12], colorMode: 'grayscale', seed: 7 });
    const [train, val] = await imageDatasetFromDirectory(mixedDir, { ...opts, subset: 'both' });
    const nVal = Math.floor(0.3 * N);
    expect([train.shape[0], val.shape[0]]).toEqual([N - nVal, nVal]);
    expect([...train.files, ...val.files]).toEqual(all.files);
    expect(new Set([...train.files, ...val.files]).size).toBe(N);
    const trainOnly = await imageDatasetFromDirectory(mixedDir, { ...opts, subset: 'training' });
    const valOnly = await imageDatasetFromDirectory(mixedDir, { ...opts, subset: 'validation' });
    expect(trainOnly.files).toEqual(train.files);
    expect(valOnly.images).toEqual(val.images);
    expect(Array.from(valOnly.labels)).toEqual(Array.from(val.labels));
    const [train2] = await imageDatasetFromDirectory(mixedDir, { ...opts, seed: 8, subset: 'both' });
    expect(train2.files).not.toEqual(train.files);
  });

  it('label modes, limit, classNames and the Keras log lines', async () => {
    const lines: string[] = [];
    const cat = await imageDatasetFromDirectory(mixedDir, { imageSize: [4, 4], labelMode: 'categorical', limit: 40, seed: 2, log: (l) => lines.push(l) });
    expect(lines).toEqual([`Found ${N} files belonging to 10 classes.`, 'Using the first 40 files (limit).']);
    expect(cat.shape[0]).toBe(40);
    const t = cat.targets as Float32Array;
    expect(t).toHaveLength(400);
    for (let i = 0; i < 40; i++) expect(Array.from(t.subarray(i * 10, i * 10 + 10)).indexOf(1)).toBe(cat.labels[i]);
    const two = await imageDatasetFromDirectory(mixedDir, { imageSize: [4, 4], labelMode: 'binary', classNames: ['7', '1'], shuffle: false });
    expect(two.classNames).toEqual(['7', '1']);
    expect(two.files.every((f) => f.startsWith('7/') || f.startsWith('1/'))).toBe(true);
    expect(two.targets).toBeInstanceOf(Float32Array);
    two.files.forEach((f, i) => expect(two.targets[i]).toBe(f.startsWith('7/') ? 0 : 1));
    await expect(imageDatasetFromDirectory(mixedDir, { labelMode: 'binary' })).rejects.toThrow(/'binary' needs exactly 2 classes, found 10/);
    await expect(imageDatasetFromDirectory(mixedDir, { classNames: ['1', 'cat'] })).rejects.toThrow(/"cat", but the class folders are 0, 1/);
  });

  it("the browser's FileList grouping gives the same classes and order as the folder", async () => {
    const onDisk = await imageDatasetFromDirectory(mixedDir, { imageSize: [4, 4], seed: 3, validationSplit: 0.2, subset: 'validation' });
    // The FileList a <input webkitdirectory> gives for this folder, in any order.
    const rels = [...onDisk.files, 'README.txt', '3/notes.txt', '.cache/x.png'];
    const all = (await imageDatasetFromDirectory(mixedDir, { imageSize: [4, 4], shuffle: false })).files;
    const fake = [...all, 'README.txt', '3/notes.txt', '.cache/x.png'].reverse().map((f) => ({ name: f.split('/').pop()!, webkitRelativePath: `picked/${f}` }));
    const g = groupFileList(fake);
    expect(g.root).toBe('picked');
    expect(g.listed.map((l) => l.file)).toEqual(all);
    expect(g.classFolders.sort()).toEqual(onDisk.classNames);
    const o = resolveImageDatasetOptions({ imageSize: [4, 4], seed: 3, validationSplit: 0.2, subset: 'validation' });
    const plan = planImageDataset(g.listed, g.classFolders, o, 'picked');
    expect(plan.parts[0]!.samples.map((s) => s.file)).toEqual(onDisk.files);
    expect(rels).toContain('README.txt');
    // Real File objects work too (Node 20 has File; webkitRelativePath is what the browser adds).
    const file = Object.assign(new File([new Uint8Array(4)], 'a.png'), { webkitRelativePath: 'root/cat/a.png' });
    expect(groupFileList([file, Object.assign(new File([], 'b.jpg'), { webkitRelativePath: 'root/dog/b.jpg' })]).listed).toEqual([
      { file: 'cat/a.png', className: 'cat' },
      { file: 'dog/b.jpg', className: 'dog' },
    ]);
    expect(() => groupFileList([new File([], 'loose.png')])).toThrow(/no folder path \(webkitRelativePath\)/);
    expect(() => groupFileList([file, Object.assign(new File([], 'c.png'), { webkitRelativePath: 'other/cat/c.png' })])).toThrow(/two folders/);
  });
});

describe('bad folders and bad images: clear errors before any training', () => {
  let n = 0;
  /** A folder with the given class folders, each with `count` small PNGs, plus extra files. */
  function tree(classes: Record<string, number>, extra: Record<string, Uint8Array> = {}): string {
    const dir = join(tmp.dir, `bad-${n++}`);
    mkdirSync(dir);
    for (const [c, count] of Object.entries(classes)) {
      mkdirSync(join(dir, c));
      for (let i = 0; i < count; i++) writePng(join(dir, c, `${i}.png`), randomImage(5, 6, 1, i + 1));
    }
    for (const [f, b] of Object.entries(extra)) writeFileSync(join(dir, f), b);
    return dir;
  }
  const rejects = async (p: Promise<unknown>, ...parts: RegExp[]) => {
    const e = await p.then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(e, 'a DatasetError').toBeInstanceOf(DatasetError);
    for (const part of parts) expect((e as Error).message).toMatch(part);
    return e as DatasetError;
  };

  it('an empty class folder, one class, no class folders, no folder', async () => {
    await rejects(imageDatasetFromDirectory(tree({ cat: 2, dog: 0, emu: 1 })), /class folder "dog" holds no images/);
    await rejects(imageDatasetFromDirectory(tree({ cat: 2, dog: 0 }, { 'dog/readme.txt': new Uint8Array(3) })), /"dog" holds no images/);
    await rejects(imageDatasetFromDirectory(tree({ cat: 3 })), /only one class folder \("cat"\); a classifier needs at least two/);
    await rejects(imageDatasetFromDirectory(tree({}, { 'a.png': writePng(randomImage(2, 2, 1, 1)) })), /no class folders/);
    await rejects(imageDatasetFromDirectory(join(tmp.dir, 'nowhere')), /nowhere: no such folder/);
  });

  it('a .png that is not a PNG names the file; skip leaves it out and lists it; .gif is unsupported', async () => {
    const dir = tree({ cat: 3, dog: 3 }, { 'dog/fake.png': new TextEncoder().encode('this is text') });
    const e = await rejects(imageDatasetFromDirectory(dir, { imageSize: [5, 6] }), /dog\/fake\.png: not a PNG or JPEG file/);
    expect(e.file).toBe(join(dir, 'dog', 'fake.png'));
    expect(e.offset).toBe(0);
    const set = (await imageDatasetFromDirectory(dir, { imageSize: [5, 6], onBadImage: 'skip', shuffle: false })) as ImageFolderSet;
    expect(set.shape[0]).toBe(6);
    expect(set.files).not.toContain('dog/fake.png');
    expect(set.skipped.map((s) => s.file)).toEqual(['dog/fake.png']);
    expect(set.skipped[0]!.reason).toMatch(/not a PNG or JPEG/);
    await rejects(imageDatasetFromDirectory(tree({ cat: 1, dog: 1 }, { 'cat/x.gif': new TextEncoder().encode('GIF89a') })), /x\.gif: this format is not read/);
  });

  it('truncated and oversized images, each naming its file', async () => {
    const png = writePng(randomImage(40, 40, 3, 5));
    await rejects(imageDatasetFromDirectory(tree({ a: 1, b: 1 }, { 'b/cut.png': png.subarray(0, 200) })), /cut\.png/);
    const jpg = writeJpeg(randomImage(40, 40, 3, 5));
    await rejects(imageDatasetFromDirectory(tree({ a: 1, b: 1 }, { 'a/cut.jpg': jpg.subarray(0, jpg.length >> 1) })), /cut\.jpg: not a readable JPEG/);
    await rejects(imageDatasetFromDirectory(tree({ a: 1, b: 1 }, { 'a/big.png': pngWithSize(16385, 16) })), /big\.png: 16385x16 px is larger than/);
  });

  it('options that do not fit are ShaderflowErrors naming them', async () => {
    const dir = tree({ a: 2, b: 2 });
    await expect(imageDatasetFromDirectory(dir, { validationSplit: 0.2 })).rejects.toThrow(/validationSplit 0.2 needs subset/);
    await expect(imageDatasetFromDirectory(dir, { subset: 'training' })).rejects.toThrow(/subset 'training' needs a validationSplit/);
    await expect(imageDatasetFromDirectory(dir, { imageSize: [0, 4] })).rejects.toThrow(/imageSize must be/);
    await expect(imageDatasetFromDirectory(dir, { colorMode: 'cmyk' as never })).rejects.toThrow(/colorMode must be/);
    await expect(imageDatasetFromDirectory(dir, { interpolation: 'bicubic' as never })).rejects.toThrow(/interpolation must be 'bilinear' or 'nearest'/);
    await rejects(imageDatasetFromDirectory(dir, { validationSplit: 0.1, subset: 'both' }), /leaves no validation files/);
  });
});

// ------------------------------------------------------------------ the seed's first practice

describe("shaderflow image: what the seed's first practice prints", () => {
  it("numpy's str(): full below 1000 items, wrapped at 75 columns", () => {
    expect(numpyStr(Array.from({ length: 30 }, (_, i) => 100 + i), [30])).toBe(
      '[100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117\n 118 119 120 121 122 123 124 125 126 127 128 129]',
    );
    expect(numpyStr(Array.from({ length: 100 }, (_, i) => i), [100]).split('\n')[0]).toBe('[ 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19 20 21 22 23');
    expect(numpyStr([0, 5, 10, 255, 1, 2, 3, 4], [2, 4])).toBe('[[  0   5  10 255]\n [  1   2   3   4]]');
  });

  it("a 32x32 colour picture prints the corners as the seed's output shows them", () => {
    const img = randomImage(32, 32, 3, 11);
    const put = (y: number, x: number, rgb: number[]) => img.data.set(rgb, (y * 32 + x) * 3);
    // The pixels the seed's printout shows (its first row's ends and its last row's end).
    [[125, 125, 116], [110, 101, 91], [102, 90, 83]].forEach((v, x) => put(0, x, v));
    [[202, 207, 214], [200, 205, 212], [202, 208, 214]].forEach((v, x) => put(0, 29 + x, v));
    [[143, 117, 82], [143, 116, 84], [144, 116, 86]].forEach((v, x) => put(31, 29 + x, v));
    const report = imageReport(img, { format: 'png', width: 32, height: 32, channels: 3, bitDepth: 8, colorType: 2 });
    const lines = report.split('\n');
    expect(lines.slice(0, 5)).toEqual(['(32, 32)', '<PIL.PngImagePlugin.PngImageFile image mode=RGB size=32x32>', '(32, 32, 3)', '(3072,)', '(32, 32, 3)']);
    expect(lines.slice(5, 12).join('\n')).toBe('[[[125 125 116]\n  [110 101  91]\n  [102  90  83]\n  ...\n  [202 207 214]\n  [200 205 212]\n  [202 208 214]]');
    expect(lines.slice(-3).join('\n')).toBe('  [143 117  82]\n  [143 116  84]\n  [144 116  86]]]');
    // numpy's layout: 3 leading and 3 trailing blocks of 7 lines, a blank line between blocks, " ..." between halves.
    expect(lines.slice(5)).toHaveLength(6 * 7 + 6 + 1);
    expect(lines[5 + 7]).toBe('');
    expect(lines.slice(5).filter((l) => l === ' ...')).toHaveLength(1);
  });

  it('a gray 28x28 digit: shapes (28, 28), (784,), (28, 28, 1), every pixel printed; the preview is a 10x nearest enlargement', () => {
    const img = randomImage(28, 28, 1, 3);
    const report = imageReport(img, { format: 'png', width: 28, height: 28, channels: 1, bitDepth: 8, colorType: 0 });
    const lines = report.split('\n');
    expect(lines.slice(0, 5)).toEqual(['(28, 28)', '<PIL.PngImagePlugin.PngImageFile image mode=L size=28x28>', '(28, 28)', '(784,)', '(28, 28, 1)']);
    // 28 rows of 18 + 10 values: two lines each.
    expect(lines.slice(5)).toHaveLength(56);
    const values = lines.slice(5).join(' ').replace(/[[\]]/g, ' ').trim().split(/\s+/).map(Number);
    expect(values).toEqual(Array.from(img.data));
    const big = enlarge(img, 10);
    expect(big.shape).toEqual([280, 280, 1]);
    expect(big.data[(279 * 280 + 279)]).toBe(img.data[27 * 28 + 27]);
    expect(big.data[(15 * 280 + 34)]).toBe(img.data[1 * 28 + 3]);
    const back = readPng(writePng(big));
    expect(back.shape).toEqual([280, 280, 1]);
  });
});
