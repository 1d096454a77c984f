// Images in and out: PNG read/write (pngjs, in Node), the small conversions needed to feed a 28x28 gray model
// from any PNG (toGray, invert, resize, prepareDigit), and captioned image grids ("Label value = 5  Predicted
// value = 5", wrong predictions in red) for reports. Pixels are uint8 [h, w, c], c as stored.
import { DatasetError, ShaderflowError } from '../errors.js';
import { drawText, LINE_ADVANCE, measureText } from './font.js';
import { pngDecode, pngEncode, readBytesSync, writeBytesSync } from './provider.js';
import { exampleBytes, type Image, type ImageSet } from './types.js';

function checkImage(img: Image, what: string): [number, number, number] {
  const [h, w, c] = img.shape;
  if (img.shape.length !== 3 || !img.shape.every((d) => Number.isInteger(d) && d >= 0) || img.data.length !== h * w * c || c < 1 || c > 4)
    throw new ShaderflowError(`${what}: shape [${img.shape.join(', ')}] with ${img.data.length} bytes is not an image [h, w, c] with c = 1..4.`);
  return [h, w, c];
}

/** Decodes a PNG (bytes, named `name` in errors, or a file path): 8-bit channels as stored (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; palettes expand to RGB/RGBA; 16-bit is scaled to 8). */
export function readPng(src: Uint8Array | string, name?: string): Image {
  const file = typeof src === 'string' ? src : (name ?? '<png bytes>');
  let bytes: Uint8Array;
  if (typeof src === 'string') {
    try {
      bytes = readBytesSync(src);
    } catch (e) {
      if (e instanceof DatasetError) throw e;
      throw new DatasetError(`${src}: could not be read: ${(e as Error).message}`, src, 0, { cause: e });
    }
  } else bytes = src;
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 8 || signature.some((b, i) => bytes[i] !== b))
    throw new DatasetError(`${file}: not a PNG file (its first 8 bytes are not the PNG signature 89 50 4E 47 0D 0A 1A 0A); give a .png image.`, file, 0);
  let png;
  try {
    png = pngDecode(bytes);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${file}: not a readable PNG: ${(e as Error).message}`, file, 0, { cause: e });
  }
  const { width: w, height: h, colorType, alpha, rgba } = png;
  const gray = colorType === 0 || colorType === 4;
  const hasAlpha = colorType === 4 || colorType === 6 || alpha;
  const c = gray ? (hasAlpha ? 2 : 1) : hasAlpha ? 4 : 3;
  const data = new Uint8Array(h * w * c);
  for (let p = 0; p < h * w; p++) {
    const s = p * 4;
    const d = p * c;
    if (c === 1) data[d] = rgba[s]!;
    else if (c === 2) {
      data[d] = rgba[s]!;
      data[d + 1] = rgba[s + 3]!;
    } else {
      data[d] = rgba[s]!;
      data[d + 1] = rgba[s + 1]!;
      data[d + 2] = rgba[s + 2]!;
      if (c === 4) data[d + 3] = rgba[s + 3]!;
    }
  }
  return { data, shape: [h, w, c] };
}

/** Encodes `img` as an 8-bit PNG with its own channel count (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA); with a path, also writes it. */
export function writePng(img: Image): Uint8Array;
export function writePng(path: string, img: Image): Uint8Array;
export function writePng(a: string | Image, b?: Image): Uint8Array {
  const img = typeof a === 'string' ? b! : a;
  const [h, w, c] = checkImage(img, 'writePng');
  if (h === 0 || w === 0) throw new ShaderflowError(`writePng: a PNG needs at least 1x1 pixels, got [${img.shape.join(', ')}].`);
  const bytes = pngEncode(img.data, w, h, c as 1 | 2 | 3 | 4);
  if (typeof a === 'string') writeBytesSync(a, bytes);
  return bytes;
}

/** Nearest-neighbour enlargement by an integer factor (gray stays gray, colour stays colour, alpha kept). */
export function enlarge(img: Image, scale: number): Image {
  const [h, w, c] = img.shape;
  const out = new Uint8Array(h * scale * w * scale * c);
  const W = w * scale;
  for (let y = 0; y < h * scale; y++)
    for (let x = 0; x < W; x++) {
      const s = (Math.floor(y / scale) * w + Math.floor(x / scale)) * c;
      out.set(img.data.subarray(s, s + c), (y * W + x) * c);
    }
  return { data: out, shape: [h * scale, W, c] };
}

/** Example `i` of a set as an Image (a view, no copy). */
export function imageAt(set: ImageSet, i: number): Image {
  const per = exampleBytes(set);
  if (!Number.isInteger(i) || i < 0 || i >= set.shape[0]) throw new ShaderflowError(`imageAt: index ${i} outside 0..${set.shape[0] - 1}.`);
  return { data: set.images.subarray(i * per, (i + 1) * per), shape: [set.shape[1], set.shape[2], set.shape[3]] };
}

/** One gray channel (ITU-R 601 luma, rounded); alpha is composited over `background` (default white, 255). */
export function toGray(img: Image, opts: { background?: number } = {}): Image {
  const [h, w, c] = checkImage(img, 'toGray');
  if (c === 1) return { data: img.data.slice(), shape: [h, w, 1] };
  const bg = opts.background ?? 255;
  const out = new Uint8Array(h * w);
  for (let p = 0; p < h * w; p++) {
    const s = p * c;
    let v: number;
    let a = 255;
    if (c <= 2) {
      v = img.data[s]!;
      if (c === 2) a = img.data[s + 1]!;
    } else {
      v = 0.299 * img.data[s]! + 0.587 * img.data[s + 1]! + 0.114 * img.data[s + 2]!;
      if (c === 4) a = img.data[s + 3]!;
    }
    out[p] = Math.round((v * a + bg * (255 - a)) / 255);
  }
  return { data: out, shape: [h, w, 1] };
}

/** 255 - v on every colour channel (alpha kept). */
export function invert(img: Image): Image {
  const [, , c] = checkImage(img, 'invert');
  const out = img.data.slice();
  const hasAlpha = c === 2 || c === 4;
  for (let i = 0; i < out.length; i++) if (!(hasAlpha && i % c === c - 1)) out[i] = 255 - out[i]!;
  return { data: out, shape: [...img.shape] as [number, number, number] };
}

/** Weights of a 1-D resample from n to m samples: box (area) filter when shrinking, linear when growing. */
function weights(n: number, m: number): { idx: Int32Array; w: Float64Array; start: Int32Array } {
  const idx: number[] = [];
  const w: number[] = [];
  const start = new Int32Array(m + 1);
  const ratio = n / m;
  for (let o = 0; o < m; o++) {
    start[o] = idx.length;
    if (ratio >= 1) {
      const a = o * ratio;
      const b = a + ratio;
      for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) {
        const cover = Math.min(b, i + 1) - Math.max(a, i);
        if (cover > 1e-12) {
          idx.push(i);
          w.push(cover / ratio);
        }
      }
    } else {
      const x = Math.min(n - 1, Math.max(0, (o + 0.5) * ratio - 0.5));
      const i0 = Math.floor(x);
      const f = x - i0;
      idx.push(i0);
      w.push(1 - f);
      if (f > 0 && i0 + 1 < n) {
        idx.push(i0 + 1);
        w.push(f);
      }
    }
  }
  start[m] = idx.length;
  return { idx: Int32Array.from(idx), w: Float64Array.from(w), start };
}

/** Resamples to height x width (area averaging when shrinking, bilinear when growing); channels kept. */
export function resize(img: Image, height: number, width: number): Image {
  const [h, w, c] = checkImage(img, 'resize');
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1 || h < 1 || w < 1)
    throw new ShaderflowError(`resize: cannot resize [${img.shape.join(', ')}] to ${height}x${width}.`);
  const wx = weights(w, width);
  const wy = weights(h, height);
  const tmp = new Float64Array(h * width * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < width; x++)
      for (let k = wx.start[x]!; k < wx.start[x + 1]!; k++) {
        const s = (y * w + wx.idx[k]!) * c;
        const d = (y * width + x) * c;
        for (let ch = 0; ch < c; ch++) tmp[d + ch]! += img.data[s + ch]! * wx.w[k]!;
      }
  const out = new Uint8Array(height * width * c);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let ch = 0; ch < c; ch++) {
        let v = 0;
        for (let k = wy.start[y]!; k < wy.start[y + 1]!; k++) v += tmp[(wy.idx[k]! * width + x) * c + ch]! * wy.w[k]!;
        out[(y * width + x) * c + ch] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return { data: out, shape: [height, width, c] };
}

/**
 * Any picture of a single digit (or piece of clothing) to the 28x28x1 form MNIST models expect: gray, light
 * strokes on black (inverted when the border is light), cropped to the ink, fitted into 20x20 keeping the aspect
 * ratio, and centred by centre of mass in 28x28 (as the MNIST set was made).
 */
export function prepareDigit(img: Image, opts: { invert?: boolean | 'auto'; size?: number; box?: number; threshold?: number } = {}): Image {
  const size = opts.size ?? 28;
  const box = opts.box ?? Math.round((size * 20) / 28);
  let g = toGray(img, { background: 255 });
  const [h, w] = g.shape;
  let inv = opts.invert ?? 'auto';
  if (inv === 'auto') {
    let sum = 0;
    let cnt = 0;
    for (let x = 0; x < w; x++) {
      sum += g.data[x]! + g.data[(h - 1) * w + x]!;
      cnt += 2;
    }
    for (let y = 0; y < h; y++) {
      sum += g.data[y * w]! + g.data[y * w + w - 1]!;
      cnt += 2;
    }
    inv = sum / Math.max(1, cnt) > 127;
  }
  if (inv) g = invert(g);
  const thr = opts.threshold ?? 32;
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (g.data[y * w + x]! > thr) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
  const out = new Uint8Array(size * size);
  if (x1 < 0) return { data: out, shape: [size, size, 1] }; // blank
  const cw = x1 - x0 + 1;
  const chh = y1 - y0 + 1;
  const crop = new Uint8Array(cw * chh);
  for (let y = 0; y < chh; y++) crop.set(g.data.subarray((y0 + y) * w + x0, (y0 + y) * w + x0 + cw), y * cw);
  const s = box / Math.max(cw, chh);
  const nw = Math.max(1, Math.round(cw * s));
  const nh = Math.max(1, Math.round(chh * s));
  const fit = resize({ data: crop, shape: [chh, cw, 1] }, nh, nw);
  let mx = 0, my = 0, m = 0;
  for (let y = 0; y < nh; y++)
    for (let x = 0; x < nw; x++) {
      const v = fit.data[y * nw + x]!;
      mx += v * x;
      my += v * y;
      m += v;
    }
  const cx = m > 0 ? mx / m : (nw - 1) / 2;
  const cy = m > 0 ? my / m : (nh - 1) / 2;
  const ox = Math.round((size - 1) / 2 - cx);
  const oy = Math.round((size - 1) / 2 - cy);
  for (let y = 0; y < nh; y++)
    for (let x = 0; x < nw; x++) {
      const X = x + ox;
      const Y = y + oy;
      if (X >= 0 && Y >= 0 && X < size && Y < size) out[Y * size + X] = fit.data[y * nw + x]!;
    }
  return { data: out, shape: [size, size, 1] };
}

/** Three RGB channels: gray is replicated, alpha composited over `background` (default white). */
export function toRgb(img: Image, opts: { background?: number } = {}): Image {
  const [h, w, c] = checkImage(img, 'toRgb');
  if (c === 3) return { data: img.data.slice(), shape: [h, w, 3] };
  const bg = opts.background ?? 255;
  const out = new Uint8Array(h * w * 3);
  for (let p = 0; p < h * w; p++) {
    const s = p * c;
    const a = c === 2 ? img.data[s + 1]! : c === 4 ? img.data[s + 3]! : 255;
    for (let k = 0; k < 3; k++) {
      const v = c <= 2 ? img.data[s]! : img.data[s + k]!;
      out[p * 3 + k] = Math.round((v * a + bg * (255 - a)) / 255);
    }
  }
  return { data: out, shape: [h, w, 3] };
}

/**
 * Any decoded PNG as one uint8 example for a model with `inputShape` ([h, w, c], or [n] for a flat MLP input of
 * a square gray or RGB image). Gray square inputs go through prepareDigit (invert if light background, crop,
 * centre; `digit: false` only converts and resizes); RGB inputs are composited over white and resized.
 */
export function toModelInput(img: Image, inputShape: readonly number[], opts: { digit?: boolean } = {}): Uint8Array {
  let h: number, w: number, c: number;
  if (inputShape.length === 3) [h, w, c] = inputShape as [number, number, number];
  else if (inputShape.length === 1) {
    const n = inputShape[0]!;
    const gray = Math.round(Math.sqrt(n));
    const rgb = Math.round(Math.sqrt(n / 3));
    if (gray * gray === n) [h, w, c] = [gray, gray, 1];
    else if (rgb * rgb * 3 === n) [h, w, c] = [rgb, rgb, 3];
    else throw new ShaderflowError(`toModelInput: a flat input of ${n} values is not a square gray or RGB image.`);
  } else throw new ShaderflowError(`toModelInput: input shape [${inputShape.join(', ')}] is not an image shape [h, w, c] or [n].`);
  if (c === 1) {
    if ((opts.digit ?? true) && h === w) return prepareDigit(img, { size: h }).data;
    return resize(toGray(img), h, w).data;
  }
  if (c === 3) return resize(toRgb(img), h, w).data;
  throw new ShaderflowError(`toModelInput: ${c} channels; models here take 1 (gray) or 3 (RGB).`);
}

// ------------------------------------------------------------------ captioned grids

/** One cell of a captioned image grid. */
export interface GridPanel {
  /** The image (gray, gray+alpha, RGB or RGBA). */
  image: Image;
  /** Text under the image (ASCII, in the built-in 5x8 font). */
  caption?: string;
  /** Marks a wrong prediction: caption (and a frame) in `wrongColor` when `markWrong` is on. */
  wrong?: boolean;
}

/** Layout and colours of a captioned image grid. */
export interface GridOptions {
  /** Panels per row (default min(count, 5)). */
  columns?: number;
  /** Integer pixel scale of the images (default: images about 84 px on their longer side, at least 1). */
  scale?: number;
  /** Integer scale of the caption font (default 1: 5x8 glyphs, 6 px per character). */
  fontScale?: number;
  /** Space around and between cells, px (default 12). */
  padding?: number;
  background?: [number, number, number];
  textColor?: [number, number, number];
  wrongColor?: [number, number, number];
  /** Draw wrong panels' captions and frames in wrongColor (default true). */
  markWrong?: boolean;
}

/** The pixel geometry of a captioned image grid (gridLayout). */
export interface GridLayout {
  width: number;
  height: number;
  columns: number;
  rows: number;
  cellWidth: number;
  cellHeight: number;
  scale: number;
  /** Height of the caption area under each image (0 when no caption). */
  captionHeight: number;
}

const CAPTION_GAP = 4;

/** The grid's geometry: cells as wide as the widest image or caption, captions under the images. */
export function gridLayout(panels: GridPanel[], opts: GridOptions = {}): GridLayout {
  if (panels.length === 0) throw new ShaderflowError('imageGrid: no panels.');
  const shapes = panels.map((p, i) => checkImage(p.image, `imageGrid panel ${i}`));
  const maxH = Math.max(...shapes.map((s) => s[0]));
  const maxW = Math.max(...shapes.map((s) => s[1]));
  const scale = opts.scale ?? Math.max(1, Math.round(84 / Math.max(1, maxH, maxW)));
  const fontScale = opts.fontScale ?? 1;
  const pad = opts.padding ?? 12;
  const columns = Math.max(1, Math.min(panels.length, opts.columns ?? 5));
  const rows = Math.ceil(panels.length / columns);
  const texts = panels.map((p) => (p.caption ? measureText(p.caption, fontScale) : { width: 0, height: 0 }));
  const textH = Math.max(...texts.map((t) => t.height));
  const captionHeight = textH > 0 ? textH + CAPTION_GAP : 0;
  const cellWidth = Math.max(maxW * scale, ...texts.map((t) => t.width));
  const cellHeight = maxH * scale + captionHeight;
  return {
    width: columns * cellWidth + (columns + 1) * pad,
    height: rows * cellHeight + (rows + 1) * pad,
    columns,
    rows,
    cellWidth,
    cellHeight,
    scale,
    captionHeight,
  };
}

/** The grid as raw RGB pixels [height, width, 3] (what imageGrid encodes; also what a browser canvas wants). */
export function renderGrid(panels: GridPanel[], opts: GridOptions = {}): Image {
  const L = gridLayout(panels, opts);
  const bg = opts.background ?? [255, 255, 255];
  const fg = opts.textColor ?? [0, 0, 0];
  const bad = opts.wrongColor ?? [220, 20, 20];
  const markWrong = opts.markWrong ?? true;
  const pad = opts.padding ?? 12;
  const fontScale = opts.fontScale ?? 1;
  const W = L.width;
  const H = L.height;
  const out = new Uint8Array(W * H * 3);
  for (let p = 0; p < W * H; p++) out.set(bg, p * 3);
  const put = (x: number, y: number, rgb: readonly number[]) => {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    out.set(rgb, (y * W + x) * 3);
  };
  panels.forEach((panel, i) => {
    const col = i % L.columns;
    const row = Math.floor(i / L.columns);
    const cx = pad + col * (L.cellWidth + pad);
    const cy = pad + row * (L.cellHeight + pad);
    const [h, w, c] = panel.image.shape;
    const iw = w * L.scale;
    const ih = h * L.scale;
    const ix = cx + Math.floor((L.cellWidth - iw) / 2);
    const iy = cy;
    const d = panel.image.data;
    for (let y = 0; y < ih; y++)
      for (let x = 0; x < iw; x++) {
        const s = (Math.floor(y / L.scale) * w + Math.floor(x / L.scale)) * c;
        let r: number, g: number, b: number, a = 255;
        if (c <= 2) {
          r = g = b = d[s]!;
          if (c === 2) a = d[s + 1]!;
        } else {
          r = d[s]!;
          g = d[s + 1]!;
          b = d[s + 2]!;
          if (c === 4) a = d[s + 3]!;
        }
        const mix = (v: number, k: number) => Math.round((v * a + bg[k]! * (255 - a)) / 255);
        put(ix + x, iy + y, [mix(r, 0), mix(g, 1), mix(b, 2)]);
      }
    const wrong = markWrong && panel.wrong === true;
    if (wrong) {
      // A 2-px frame just outside the image, in the padding.
      for (let t = 1; t <= 2; t++) {
        for (let x = ix - t; x < ix + iw + t; x++) {
          put(x, iy - t, bad);
          put(x, iy + ih - 1 + t, bad);
        }
        for (let y = iy - t; y < iy + ih + t; y++) {
          put(ix - t, y, bad);
          put(ix + iw - 1 + t, y, bad);
        }
      }
    }
    if (panel.caption) {
      const lines = panel.caption.split('\n');
      lines.forEach((line, li) => {
        const tw = measureText(line, fontScale).width;
        const tx = cx + Math.floor((L.cellWidth - tw) / 2);
        const ty = cy + L.scale * h + CAPTION_GAP + li * LINE_ADVANCE * fontScale;
        drawText(out, W, H, 3, line, tx, ty, wrong ? bad : fg, fontScale);
      });
    }
  });
  return { data: out, shape: [H, W, 3] };
}

/** A captioned image grid as PNG bytes (e.g. panels of "Label value = 5  Predicted value = 3", wrong ones in red). */
export function imageGrid(panels: GridPanel[], opts: GridOptions = {}): Uint8Array {
  return writePng(renderGrid(panels, opts));
}
