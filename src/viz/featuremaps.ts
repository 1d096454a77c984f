// Pictures of what a CNN sees: each conv layer's feature maps for one example and the learned filters, as labelled
// grids (RGB pixels; PNG in Node through writePng, a canvas in a page). Every map and filter is min-max
// normalised on its own (black = its minimum, white = its maximum; a constant one is black), since what matters
// is where a map responds, and maps differ in scale by orders of magnitude.
// Filters: those of a layer with 1 input channel are drawn as they are (gray), with 3 (RGB images) in colour;
// a layer over more channels (every later conv) shows each filter's mean over its input channels, one gray
// kh x kw map per filter: a summary, since a filter over 32 channels is no picture.
import { ShaderflowError } from '../errors.js';
import { drawText, LINE_ADVANCE } from '../data/font.js';
import { renderGrid, type GridPanel } from '../data/image.js';
import type { Image } from '../data/types.js';

/** A named array as getWeights and model.activations return it. */
export interface NamedArray {
  name: string;
  shape: readonly number[];
  values: ArrayLike<number>;
}

/** Maps (or filters) per grid row. */
export const PICTURE_COLUMNS = 8;
/** Each map is enlarged by floor(PICTURE_CELL / its longer side) (at least 1). */
export const PICTURE_CELL = 64;
/** Space around and between the cells of a grid, px. */
export const PICTURE_PADDING = 4;
/** Height of a section's title line (the 5x8 font plus space), px. */
export const TITLE_HEIGHT = LINE_ADVANCE + PICTURE_PADDING;

/** `values` scaled to 0..255 by their own minimum and maximum (all 0 when constant). */
export function minMaxBytes(values: ArrayLike<number>): Uint8Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = new Uint8Array(values.length);
  if (!(hi > lo)) return out;
  for (let i = 0; i < values.length; i++) out[i] = Math.round(((values[i]! - lo) / (hi - lo)) * 255);
  return out;
}

/** One section: a title line over a grid of captioned cells (captions: the map or filter index). */
function section(title: string, images: Image[]): Image {
  const [h, w] = images[0]!.shape;
  const scale = Math.max(1, Math.floor(PICTURE_CELL / Math.max(h, w)));
  const panels: GridPanel[] = images.map((image, k) => ({ image, caption: String(k) }));
  const grid = renderGrid(panels, { columns: Math.min(images.length, PICTURE_COLUMNS), scale, padding: PICTURE_PADDING });
  const [gh, gw] = grid.shape;
  const out = new Uint8Array(gw * (gh + TITLE_HEIGHT) * 3).fill(255);
  out.set(grid.data, gw * TITLE_HEIGHT * 3);
  drawText(out, gw, gh + TITLE_HEIGHT, 3, title, PICTURE_PADDING, PICTURE_PADDING, [0, 0, 0]);
  return { data: out, shape: [gh + TITLE_HEIGHT, gw, 3] };
}

/** Sections one under another, on white, as wide as the widest. */
function stack(sections: Image[], what: string): Image {
  if (sections.length === 0) throw new ShaderflowError(`${what}: nothing to draw (the model has no conv layers).`);
  const W = Math.max(...sections.map((s) => s.shape[1]));
  const H = sections.reduce((a, s) => a + s.shape[0], 0);
  const out = new Uint8Array(W * H * 3).fill(255);
  let y = 0;
  for (const s of sections) {
    const [h, w] = s.shape;
    for (let r = 0; r < h; r++) out.set(s.data.subarray(r * w * 3, (r + 1) * w * 3), ((y + r) * W) * 3);
    y += h;
  }
  return { data: out, shape: [H, W, 3] };
}

/**
 * Every feature map of each activation (shape [n, h, w, c], as model.activations returns a conv layer's output)
 * for example `example`: one section per layer titled "name hxwxc", its c maps in a grid, each min-max normalised.
 */
export function featureMapsPicture(acts: readonly NamedArray[], example = 0): Image {
  return stack(
    acts.map((a) => {
      if (a.shape.length !== 4) throw new ShaderflowError(`featureMapsPicture: "${a.name}" has shape [${a.shape.join(', ')}]; feature maps are [n, h, w, c].`);
      const [n, h, w, c] = a.shape as [number, number, number, number];
      if (!(example >= 0 && example < n)) throw new ShaderflowError(`featureMapsPicture: example ${example} is outside the ${n} of "${a.name}".`);
      const base = example * h * w * c;
      const maps = Array.from({ length: c }, (_, k) => {
        const v = new Float64Array(h * w);
        for (let p = 0; p < h * w; p++) v[p] = a.values[base + p * c + k]!;
        return { data: minMaxBytes(v), shape: [h, w, 1] as [number, number, number] };
      });
      return section(`${a.name} ${h}x${w}x${c}`, maps);
    }),
    'featureMapsPicture',
  );
}

/**
 * The filters of conv kernels (shape [kh, kw, inC, filters], Keras' layout, as getWeights returns `conv/kernel`):
 * one section per kernel titled "name khxkw inC->filters"; each filter min-max normalised, drawn as it is for
 * inC = 1 (gray) or 3 (colour), else as its mean over the input channels (see the top of this file).
 */
export function filtersPicture(kernels: readonly NamedArray[]): Image {
  return stack(
    kernels.map((k) => {
      if (k.shape.length !== 4) throw new ShaderflowError(`filtersPicture: "${k.name}" has shape [${k.shape.join(', ')}]; conv kernels are [kh, kw, inC, filters].`);
      const [kh, kw, cin, cout] = k.shape as [number, number, number, number];
      const at = (y: number, x: number, i: number, f: number) => k.values[((y * kw + x) * cin + i) * cout + f]!;
      const asIs = cin === 1 || cin === 3;
      const filters = Array.from({ length: cout }, (_, f) => {
        const ch = asIs ? cin : 1;
        const v = new Float64Array(kh * kw * ch);
        for (let y = 0; y < kh; y++)
          for (let x = 0; x < kw; x++)
            if (asIs) for (let i = 0; i < cin; i++) v[(y * kw + x) * cin + i] = at(y, x, i, f);
            else {
              let s = 0;
              for (let i = 0; i < cin; i++) s += at(y, x, i, f);
              v[y * kw + x] = s / cin;
            }
        return { data: minMaxBytes(v), shape: [kh, kw, ch] as [number, number, number] };
      });
      return section(`${k.name.replace(/\/kernel$/, '')} ${kh}x${kw} ${cin}->${cout}${asIs ? '' : ' (mean over inputs)'}`, filters);
    }),
    'filtersPicture',
  );
}
