import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../src/errors.js';
import { CHAR_ADVANCE, measureText } from '../src/data/font.js';
import { gridLayout, imageAt, imageGrid, invert, prepareDigit, readPng, renderGrid, resize, toGray, toModelInput, toRgb, writePng } from '../src/data/image.js';
import type { Image } from '../src/data/types.js';
import { randomImage, syntheticSet, tempDir, expectSameBytes } from './helpers/data-fixtures.js';

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('sf-image-');
});
afterAll(() => tmp.cleanup());

describe('PNG', () => {
  it.each([
    [1, 'gray'],
    [2, 'gray+alpha'],
    [3, 'RGB'],
    [4, 'RGBA'],
  ])('round trip is exact with c=%i (%s), bytes and file', (c) => {
    const img = randomImage(13, 17, c, c);
    const bytes = writePng(img);
    // the PNG stores the channel layout it was given
    const colorType = [0, 4, 2, 6][c - 1];
    expect(bytes[25]).toBe(colorType); // IHDR colour type byte
    const back = readPng(bytes);
    expect(back.shape).toEqual([13, 17, c]);
    expectSameBytes(back.data, img.data);
    const path = join(tmp.dir, `rt-${c}.png`);
    writePng(path, img);
    expectSameBytes(readPng(path).data, img.data);
  });

  it('palette PNGs expand to RGB; bad PNGs are DatasetErrors naming the file', () => {
    const png = new PNG({ width: 2, height: 1, colorType: 2 });
    png.data = Buffer.from([10, 20, 30, 255, 40, 50, 60, 255]);
    const rgb = readPng(new Uint8Array(PNG.sync.write(png, { colorType: 2 })));
    expect(rgb.shape).toEqual([1, 2, 3]);
    expect(Array.from(rgb.data)).toEqual([10, 20, 30, 40, 50, 60]);
    const e = (() => {
      try {
        readPng(join(tmp.dir, 'missing.png'));
      } catch (err) {
        return err as DatasetError;
      }
    })();
    expect(e).toBeInstanceOf(DatasetError);
    expect(e!.file).toBe(join(tmp.dir, 'missing.png'));
    const junk = writePng(randomImage(4, 4, 3, 1)).slice(0, 40);
    expect(() => readPng(junk)).toThrow(DatasetError);
  });
});

describe('conversions', () => {
  it('toGray, invert, resize', () => {
    const rgba: Image = { data: Uint8Array.from([255, 0, 0, 255, 0, 0, 0, 0]), shape: [1, 2, 4] };
    expect(Array.from(toGray(rgba).data)).toEqual([76, 255]); // red luma; transparent -> white background
    expect(Array.from(toGray(rgba, { background: 0 }).data)).toEqual([76, 0]);
    expect(Array.from(invert({ data: Uint8Array.from([0, 200, 255, 9]), shape: [1, 2, 2] }).data)).toEqual([255, 200, 0, 9]);
    const flat: Image = { data: new Uint8Array(56 * 56).fill(77), shape: [56, 56, 1] };
    const small = resize(flat, 28, 28);
    expect(small.shape).toEqual([28, 28, 1]);
    expect(small.data.every((v) => v === 77)).toBe(true);
    // 2x2 -> 1x1 is the mean; 1x2 -> 1x4 interpolates
    expect(Array.from(resize({ data: Uint8Array.from([0, 100, 100, 200]), shape: [2, 2, 1] }, 1, 1).data)).toEqual([100]);
    expect(Array.from(resize({ data: Uint8Array.from([0, 200]), shape: [1, 2, 1] }, 1, 4).data)).toEqual([0, 50, 150, 200]);
  });

  it('prepareDigit: any RGB drawing (dark on light) -> 28x28x1 light on dark, centred', () => {
    // A dark vertical bar on a white 90x60 RGB canvas, off centre.
    const h = 90, w = 60;
    const data = new Uint8Array(h * w * 3).fill(255);
    for (let y = 10; y < 70; y++) for (let x = 5; x < 15; x++) data.set([0, 0, 0], (y * w + x) * 3);
    const d = prepareDigit({ data, shape: [h, w, 3] });
    expect(d.shape).toEqual([28, 28, 1]);
    expect(d.data[0]).toBe(0); // background is black now
    let m = 0, cx = 0, cy = 0;
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++) {
        const v = d.data[y * 28 + x]!;
        m += v;
        cx += v * x;
        cy += v * y;
      }
    expect(Math.abs(cx / m - 13.5)).toBeLessThan(1);
    expect(Math.abs(cy / m - 13.5)).toBeLessThan(1);
    const rows = new Set<number>();
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) if (d.data[y * 28 + x]! > 128) rows.add(y);
    expect(rows.size).toBeGreaterThanOrEqual(19); // the bar's long side fills the 20-px box
    expect(rows.size).toBeLessThanOrEqual(21);
  });
});

describe('toModelInput', () => {
  it('any PNG to the input of a 28x28x1, flat 784, or 32x32x3 model', () => {
    const rgba = randomImage(40, 30, 4, 3);
    const png = readPng(writePng(rgba));
    expect(toModelInput(png, [28, 28, 1]).length).toBe(784);
    expect(toModelInput(png, [784])).toEqual(toModelInput(png, [28, 28, 1]));
    expect(toModelInput(png, [32, 32, 3]).length).toBe(3072);
    expect(toModelInput(png, [3072]).length).toBe(3072);
    expect(() => toModelInput(png, [10])).toThrow(/not a square/);
    expect(Array.from(toRgb({ data: Uint8Array.from([9, 0]), shape: [1, 1, 2] }).data)).toEqual([255, 255, 255]);
  });
});

describe('imageGrid', () => {
  it('a captioned grid of the expected size, caption pixels drawn, wrong ones red', () => {
    const set = syntheticSet(7, 28, 28, 1);
    const panels = Array.from({ length: 7 }, (_, i) => ({
      image: imageAt(set, i),
      caption: `Label value = ${set.labels[i]}  Predicted value = ${i === 3 ? 9 : set.labels[i]}`,
      wrong: i === 3,
    }));
    const opts = { columns: 3, scale: 2, padding: 6 };
    const L = gridLayout(panels, opts);
    const textW = measureText(panels[0]!.caption).width;
    expect(textW).toBe(36 * CHAR_ADVANCE - 1);
    const cellW = Math.max(56, textW);
    const cellH = 56 + 4 + 8; // image, gap, one line of 8-px glyphs
    expect(L).toMatchObject({ columns: 3, rows: 3, cellWidth: cellW, cellHeight: cellH });
    expect(L.width).toBe(3 * cellW + 4 * 6);
    expect(L.height).toBe(3 * cellH + 4 * 6);
    const png = imageGrid(panels, opts);
    const img = readPng(png);
    expect(img.shape).toEqual([L.height, L.width, 3]);
    const raw = renderGrid(panels, opts);
    expectSameBytes(img.data, raw.data);
    // Count caption pixels (non-background) in each caption strip: black for right, red for wrong.
    const at = (x: number, y: number) => Array.from(img.data.subarray((y * L.width + x) * 3, (y * L.width + x) * 3 + 3));
    const strip = (i: number) => {
      const col = i % 3, row = Math.floor(i / 3);
      const x0 = 6 + col * (cellW + 6), y0 = 6 + row * (cellH + 6) + 56 + 4;
      let black = 0, red = 0;
      for (let y = y0; y < y0 + 8; y++)
        for (let x = x0; x < x0 + cellW; x++) {
          const [r, g, b] = at(x, y);
          if (r === 0 && g === 0 && b === 0) black++;
          if (r === 220 && g === 20 && b === 20) red++;
        }
      return { black, red };
    };
    expect(strip(0).black).toBeGreaterThan(100);
    expect(strip(0).red).toBe(0);
    expect(strip(3).red).toBeGreaterThan(100);
    expect(strip(3).black).toBe(0);
    // the image itself is drawn at 2x: pixel (0, 0) of panel 0
    const ix = 6 + Math.floor((cellW - 56) / 2);
    const v = set.images[0]!;
    expect(at(ix, 6)).toEqual([v, v, v]);
    expect(at(ix + 1, 7)).toEqual([v, v, v]);
    // the empty ninth cell is background
    expect(at(6 + 2 * (cellW + 6) + 10, 6 + 2 * (cellH + 6) + 10)).toEqual([255, 255, 255]);
  });

  it('writes a grid a person can look at', () => {
    const set = syntheticSet(4, 28, 28, 1);
    const png = imageGrid(
      Array.from({ length: 4 }, (_, i) => ({ image: imageAt(set, i), caption: `Label value = ${i}\nPredicted value = ${i === 2 ? 7 : i}`, wrong: i === 2 })),
      { columns: 2 },
    );
    expect(png.length).toBeGreaterThan(100);
  });
});
