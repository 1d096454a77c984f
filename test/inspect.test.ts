// `shaderflow inspect --model DIR IMAGE`: writes featuremaps.png and filters.png. The PNGs are decoded back: their
// sizes follow the documented layout (src/viz/featuremaps.ts), and the pixels of every first-layer map and filter
// are exactly the min-max normalised values of model.activations / the kernel, enlarged by nearest neighbour.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Conv2D, createEngine, Dense, Engine, Flatten, MaxPooling2D, resetLayerNames, Sequential } from '../src/index.js';
import { loadModel, saveModel } from '../src/node.js';
import { readPng, writePng } from '../src/data/image.js';
import { inspectCommand } from '../src/cli-inspect.js';
import { modelInputFor } from '../src/cli-images.js';
import { PICTURE_PADDING, TITLE_HEIGHT } from '../src/viz/featuremaps.js';
import type { Image } from '../src/data/types.js';

let engine: Engine;
const tmp = mkdtempSync(join(tmpdir(), 'sf-inspect-'));
const modelDir = join(tmp, 'model');
const imageFile = join(tmp, 'digit.png');

beforeAll(async () => {
  engine = await createEngine();
  resetLayerNames();
  const model = new Sequential(
    [
      new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [12, 12, 1] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Conv2D({ filters: 3, kernelSize: 3, activation: 'tanh' }),
      new Flatten(),
      new Dense({ units: 10, activation: 'softmax' }),
    ],
    { name: 'mnist_small' },
  );
  model.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy', seed: 2 });
  await saveModel(model, modelDir);
  model.dispose();
  // A 16x20 RGB picture of a light stroke on a dark ground (prepared as predict prepares digits)
  const img = new Uint8Array(20 * 16 * 3).fill(20);
  for (let y = 3; y < 17; y++) for (let x = 6 + (y >> 2); x < 10 + (y >> 2); x++) img.fill(230, (y * 16 + x) * 3, (y * 16 + x) * 3 + 3);
  writePng(imageFile, { data: img, shape: [20, 16, 3] });
});
afterAll(() => {
  engine?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

/** The min-max bytes of `v`, as the pictures normalise each map (constant: 0). */
function minMax(v: number[]): number[] {
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return v.map((x) => (hi > lo ? Math.round(((x - lo) / (hi - lo)) * 255) : 0));
}

/** Checks that the cell of a grid's map `k` (columns 8 at most, cell `side` px, maps h x w) shows `expected` exactly. */
function expectCell(png: Image, top: number, k: number, cellW: number, h: number, w: number, scale: number, expected: number[]): void {
  const W = png.shape[1];
  const x0 = PICTURE_PADDING + (k % 8) * (cellW + PICTURE_PADDING) + Math.floor((cellW - w * scale) / 2);
  const y0 = top + TITLE_HEIGHT + PICTURE_PADDING;
  let bad = 0;
  for (let y = 0; y < h * scale; y++)
    for (let x = 0; x < w * scale; x++) {
      const want = expected[Math.floor(y / scale) * w + Math.floor(x / scale)]!;
      const o = ((y0 + y) * W + x0 + x) * png.shape[2];
      if (png.data[o] !== want || png.data[o + 1] !== want || png.data[o + 2] !== want) bad++;
    }
  expect(bad, `map ${k}: pixels that differ`).toBe(0);
  expect(new Set(expected).size, `map ${k} is not constant`).toBeGreaterThan(2);
}

describe('shaderflow inspect', () => {
  it('writes featuremaps.png and filters.png with the layout sizes and exact first-layer pixels', async () => {
    const out = join(tmp, 'out');
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (lines.push(String(s)), true));
    try {
      await inspectCommand({ model: modelDir, out }, [imageFile]);
    } finally {
      spy.mockRestore();
    }
    expect(lines.join('')).toMatch(/Wrote .*featuremaps\.png \(260x192\): conv2d 12x12x4, conv2d_1 4x4x3\nWrote .*filters\.png \(272x194\): conv2d\/kernel 3x3x1x4, conv2d_1\/kernel 3x3x4x3\n/);
    const maps = readPng(join(out, 'featuremaps.png'));
    const filters = readPng(join(out, 'filters.png'));
    // featuremaps: 12x12 maps x5 (60 px) in 4 columns: 4*60 + 5*4 = 260 wide; 60 + 12 caption + 8 padding + 14 title
    // = 94 high; then 4x4 maps x16 (64 px), 3 columns: 64 + 12 + 8 + 14 = 98 high. filters: 3x3 x21 (63 px).
    expect(maps.shape).toEqual([94 + 98, 260, 3]);
    expect(filters.shape).toEqual([97 + 97, 4 * 63 + 5 * 4, 3]);
    // The pixels, against the model run here on the same prepared input
    const model = await loadModel(engine, modelDir);
    const input = modelInputFor(model, readPng(imageFile), undefined);
    const [conv1, conv2] = await model.activations({ images: input, shape: [1, 12, 12, 1] }, ['conv2d', 'conv2d_1']);
    for (let k = 0; k < 4; k++) expectCell(maps, 0, k, 60, 12, 12, 5, minMax(Array.from({ length: 144 }, (_, p) => conv1!.values[p * 4 + k]!)));
    for (let k = 0; k < 3; k++) expectCell(maps, 94, k, 64, 4, 4, 16, minMax(Array.from({ length: 16 }, (_, p) => conv2!.values[p * 3 + k]!)));
    const kernel = (await model.getWeights()).find((w) => w.name === 'conv2d/kernel')!;
    for (let f = 0; f < 4; f++) expectCell(filters, 0, f, 63, 3, 3, 21, minMax(Array.from({ length: 9 }, (_, p) => kernel.values[p * 4 + f]!)));
    // later filters: the mean over the 4 input channels
    const k2 = (await model.getWeights()).find((w) => w.name === 'conv2d_1/kernel')!;
    for (let f = 0; f < 3; f++)
      expectCell(filters, 97, f, 63, 3, 3, 21, minMax(Array.from({ length: 9 }, (_, p) => [0, 1, 2, 3].reduce((s, i) => s + k2.values[(p * 4 + i) * 3 + f]!, 0) / 4)));
    model.dispose();
  });

  it('refuses a missing model folder and a model without conv layers, naming them', async () => {
    await expect(inspectCommand({ model: join(tmp, 'nope') }, [imageFile])).rejects.toThrow(/--model .*nope: no such folder/);
    resetLayerNames();
    const mlp = new Sequential([new Flatten({ inputShape: [12, 12, 1] }), new Dense({ units: 10, activation: 'softmax' })], { name: 'mnist_mlp_small' });
    mlp.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy' });
    await saveModel(mlp, join(tmp, 'mlp'));
    mlp.dispose();
    await expect(inspectCommand({ model: join(tmp, 'mlp'), out: join(tmp, 'out2') }, [imageFile])).rejects.toThrow(/has no conv layers/);
  });
});
