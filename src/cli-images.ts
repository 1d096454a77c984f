// The command line's image parts: `shaderflow image FILE` (the seed's first practice: what PIL and numpy print
// for a picture, plus an enlarged preview), `train --images DIR` (a preset trained on a folder of one's own
// class-named images) and the classes.json that `predict` reads back to print class names.
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { DatasetError, ShaderflowError } from './errors.js';
import { enlarge, toModelInput, writePng } from './data/image.js';
import { datasetOf } from './cli-args.js';
import type { Model } from './model/model.js';

export { enlarge };
import { imageDatasetFromDirectory } from './data/folder.js';
import { decodeImage, imageHeader, MAX_IMAGE_SIDE, type ImageHeader } from './data/image-files.js';
import { resizeImage, toChannels, type ColorMode, type ImageFolderSet, type Interpolation } from './data/image-dataset.js';
import { readBytesSync } from './data/provider.js';
import { PRESET_IMAGE_SHAPES, type PresetName } from './model/presets.js';
import type { Image } from './data/types.js';

// ------------------------------------------------------------------ numpy's str() of an integer array

/** numpy's str(array) for an integer array (array2string defaults: 75 columns, summary above 1000 items, 3 edge items). */
export function numpyStr(data: ArrayLike<number>, shape: readonly number[]): string {
  const size = shape.reduce((a, b) => a * b, 1);
  const summarize = size > 1000;
  const edge = 3;
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  // The formatter's width comes from the items that are printed (numpy's _leading_trailing).
  const shown = (axis: number): number[] => {
    const n = shape[axis]!;
    const all = Array.from({ length: n }, (_, i) => i);
    return summarize && n > 2 * edge ? [...all.slice(0, edge), ...all.slice(n - edge)] : all;
  };
  let width = 0;
  const visit = (axis: number, offset: number): void => {
    if (axis === shape.length) {
      width = Math.max(width, String(data[offset]).length);
      return;
    }
    for (const i of shown(axis)) visit(axis + 1, offset + i * strides[axis]!);
  };
  visit(0, 0);
  const lineWidth = 75;
  const recurse = (axis: number, offset: number, indent: string, currWidth: number): string => {
    if (axis === shape.length) return String(data[offset]).padStart(width, ' ');
    const n = shape[axis]!;
    const showSummary = summarize && 2 * edge < n;
    const items = showSummary ? [...Array.from({ length: edge }, (_, i) => i), -1, ...Array.from({ length: edge }, (_, i) => n - edge + i)] : Array.from({ length: n }, (_, i) => i);
    const nextIndent = `${indent} `;
    const nextWidth = currWidth - 1;
    let s = '';
    if (shape.length - axis === 1) {
      const elemWidth = currWidth - 1; // max(len(separator.rstrip()), len(']'))
      let line = indent;
      items.forEach((i, k) => {
        const word = i < 0 ? '...' : recurse(axis + 1, offset + i * strides[axis]!, nextIndent, nextWidth);
        if (line.length + word.length > elemWidth && line.length > indent.length) {
          s += `${line.trimEnd()}\n`;
          line = indent;
        }
        line += word;
        if (k < items.length - 1) line += ' ';
      });
      s += line;
    } else {
      const sep = '\n'.repeat(shape.length - axis - 1);
      items.forEach((i, k) => {
        s += indent + (i < 0 ? '...' : recurse(axis + 1, offset + i * strides[axis]!, nextIndent, nextWidth));
        if (k < items.length - 1) s += sep;
      });
    }
    return `[${s.slice(indent.length)}]`;
  };
  return shape.length === 0 ? String(data[0]) : recurse(0, 0, ' ', lineWidth);
}

const tuple = (dims: number[]): string => (dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`);
const PIL_MODES: Record<number, string> = { 1: 'L', 2: 'LA', 3: 'RGB', 4: 'RGBA' };

/**
 * The seed's first practice for one picture, line for line as it prints them: `image.size` (width, height),
 * `print(image)` (PIL's repr, without the object address), `np.array(image).shape`, the array reshaped to 1-D and
 * to H x W x C, then `print(np.array(image))` (numpy's summary: the corners of the pixel values).
 */
export function imageReport(img: Image, header: ImageHeader): string {
  const [h, w, c] = img.shape;
  const mode = PIL_MODES[c]!;
  const plugin = header.format === 'png' ? 'PngImagePlugin.PngImageFile' : 'JpegImagePlugin.JpegImageFile';
  const arrayShape = c === 1 ? [h, w] : [h, w, c];
  return [
    tuple([w, h]),
    `<PIL.${plugin} image mode=${mode} size=${w}x${h}>`,
    tuple(arrayShape),
    tuple([h * w * c]),
    tuple([h, w, c]),
    numpyStr(img.data, arrayShape),
  ].join('\n');
}

/** `shaderflow image FILE [--out PREVIEW.png] [--scale N]`. */
export async function imageCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: { out: { type: 'string' }, scale: { type: 'string' } }, allowPositionals: true, strict: true });
  if (positionals.length !== 1) throw new ShaderflowError('image needs one PNG or JPEG file: shaderflow image FILE.png [--out PREVIEW.png] [--scale N].');
  const file = positionals[0]!;
  let bytes: Uint8Array;
  try {
    bytes = readBytesSync(file);
  } catch (e) {
    throw new DatasetError(`${file}: could not be read: ${(e as Error).message}`, file, 0, { cause: e });
  }
  const header = imageHeader(bytes, file);
  const img = decodeImage(bytes, file);
  const [h, w] = img.shape;
  // Default: about 280 px on the longer side (a 28x28 digit ten times over), never above 4096.
  const scale = values.scale !== undefined ? Number(values.scale) : Math.max(1, Math.min(Math.round(280 / Math.max(h, w)), Math.floor(4096 / Math.max(h, w))));
  if (!Number.isInteger(scale) || scale < 1 || Math.max(h, w) * scale > MAX_IMAGE_SIDE)
    throw new ShaderflowError(`--scale must be a whole number >= 1 that keeps the preview within ${MAX_IMAGE_SIDE} px, got "${values.scale}".`);
  const out = values.out ?? join(dirname(file), `${basename(file, extname(file))}.preview.png`);
  process.stdout.write(`${imageReport(img, header)}\n`);
  const preview = enlarge(img, scale);
  writePng(out, preview);
  process.stdout.write(`Wrote ${out}: ${preview.shape[1]}x${preview.shape[0]} px (${scale}x, nearest neighbour, ${img.shape[2] === 1 ? 'gray' : 'colour'})\n`);
}

// ------------------------------------------------------------------ train --images, and predict's classes.json

/** classes.json, written beside model.json: how the folder's images were turned into inputs, and the class names. */
export interface ClassesFile {
  format: 'shaderflow-classes 1';
  classNames: string[];
  imageSize: [number, number];
  colorMode: ColorMode;
  interpolation: Interpolation;
}

export const CLASSES_FILE = 'classes.json';

function sizeArg(v: string | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)x(\d+)$/i.exec(v);
  const size = m ? ([Number(m[1]), Number(m[2])] as [number, number]) : undefined;
  if (!size || !size.every((d) => d >= 1 && d <= MAX_IMAGE_SIDE)) throw new ShaderflowError(`--image-size must be HxW (e.g. 28x28, each 1..${MAX_IMAGE_SIDE}), got "${v}".`);
  return size;
}

export interface FolderTraining {
  train: ImageFolderSet;
  validation: ImageFolderSet;
  classes: ClassesFile;
  imageShape: [number, number, number];
}

/**
 * Reads DIR for `train --images`: the preset's input size (or --image-size HxW), its channels as colour mode
 * (1 grayscale, 3 rgb), a seeded validation split (--validation-split, default 0.2) that also serves as the
 * test set, --limit files, and --skip-bad-images. All before the GPU starts.
 */
export async function loadTrainingFolder(
  dir: string,
  preset: PresetName,
  o: { imageSize?: string; validationSplit?: string; seed: number; limit: number; skipBad: boolean; log: (s: string) => void },
): Promise<FolderTraining> {
  const [ph, pw, channels] = PRESET_IMAGE_SHAPES[preset];
  const imageSize = sizeArg(o.imageSize) ?? [ph, pw];
  const colorMode: ColorMode = channels === 1 ? 'grayscale' : 'rgb';
  const validationSplit = o.validationSplit === undefined ? 0.2 : Number(o.validationSplit);
  if (!(validationSplit > 0 && validationSplit < 1)) throw new ShaderflowError(`--validation-split must be a fraction in (0, 1), got "${o.validationSplit}".`);
  const [train, validation] = await imageDatasetFromDirectory(dir, {
    imageSize,
    colorMode,
    validationSplit,
    subset: 'both',
    seed: o.seed,
    limit: o.limit > 0 ? o.limit : undefined,
    onBadImage: o.skipBad ? 'skip' : 'error',
    log: (l) => o.log(`${l}\n`),
  });
  return {
    train,
    validation,
    classes: { format: 'shaderflow-classes 1', classNames: train.classNames, imageSize, colorMode, interpolation: 'bilinear' },
    imageShape: [imageSize[0], imageSize[1], channels],
  };
}

/** The end of a folder run: classes.json beside the model, and the skipped files listed. */
export async function finishFolderTraining(folder: FolderTraining, out: string, log: (s: string) => void): Promise<void> {
  await writeFile(join(out, CLASSES_FILE), JSON.stringify(folder.classes, null, 1));
  const skipped = [...folder.train.skipped, ...folder.validation.skipped];
  if (skipped.length) log(`Skipped ${skipped.length} unreadable image${skipped.length > 1 ? 's' : ''}:\n${skipped.map((s) => `  ${s.reason}`).join('\n')}\n`);
}

/** classes.json of a model folder, or undefined when the model was not trained on a folder of images. */
export function readClassesFile(modelDir: string): ClassesFile | undefined {
  const path = join(modelDir, CLASSES_FILE);
  if (!existsSync(path)) return undefined;
  let c: ClassesFile;
  try {
    c = JSON.parse(readFileSync(path, 'utf8')) as ClassesFile;
  } catch (e) {
    throw new DatasetError(`${path}: not valid JSON (${(e as Error).message}); train --images writes it.`, path, 0, { cause: e });
  }
  const ok =
    c?.format === 'shaderflow-classes 1' &&
    Array.isArray(c.classNames) &&
    c.classNames.every((n) => typeof n === 'string') &&
    Array.isArray(c.imageSize) &&
    c.imageSize.length === 2 &&
    c.imageSize.every((d) => Number.isInteger(d) && d >= 1 && d <= MAX_IMAGE_SIDE) &&
    ['grayscale', 'rgb', 'rgba'].includes(c.colorMode) &&
    ['bilinear', 'nearest'].includes(c.interpolation);
  if (!ok) throw new DatasetError(`${path}: not a shaderflow classes file (format, classNames, imageSize, colorMode, interpolation); train --images writes it.`, path);
  return c;
}

/** A picture as the folder-trained model's input: the training's colour mode and resize, nothing else. */
/**
 * One picture as `model` takes it (what predict and inspect feed it): prepared as in training for a model trained on
 * a folder (classes.json), else fitted to the model's input (digits cropped and centred as MNIST was made).
 */
export function modelInputFor(model: Model, img: Image, classes: ClassesFile | undefined): Uint8Array {
  if (classes) return folderModelInput(img, classes);
  return toModelInput(img, model.inputShape as [number, number, number] | [number], { digit: datasetOf(model) === 'mnist' });
}

export function folderModelInput(img: Image, classes: ClassesFile): Uint8Array {
  const channels = ({ grayscale: 1, rgb: 3, rgba: 4 } as const)[classes.colorMode];
  return resizeImage(toChannels(img, channels), classes.imageSize[0], classes.imageSize[1], classes.interpolation).data;
}
