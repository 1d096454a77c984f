// Keras' image_dataset_from_directory, the part shared by Node (a folder, src/data/folder.ts) and the browser (a
// FileList, src/data/browser-images.ts): class folders to class names, Keras' file order and seeded shuffle,
// the validation split, and the images converted to a colour mode and resized as tf.image.resize does, into one
// uint8 ImageSet like the MNIST loader's. Decoding is the caller's (it differs by platform).
import { DatasetError, ShaderflowError } from '../errors.js';
import { MAX_IMAGE_SIDE } from './image-files.js';
import { numpyPermutation, toCategorical } from './preprocess.js';
import type { Image, ImageSet } from './types.js';

export type ColorMode = 'grayscale' | 'rgb' | 'rgba';
export type LabelMode = 'int' | 'categorical' | 'binary';
export type Interpolation = 'bilinear' | 'nearest';
export type Subset = 'training' | 'validation' | 'both';

export interface ImageDatasetOptions {
  /** [height, width] every image is resized to (default [256, 256], as Keras). */
  imageSize?: [number, number];
  /** 'grayscale' (1 channel), 'rgb' (3, default) or 'rgba' (4). */
  colorMode?: ColorMode;
  /** Form of `targets`: 'int' class indices (default), 'categorical' one-hot rows, 'binary' 0/1 floats (two classes only). */
  labelMode?: LabelMode;
  /** The class folders to use, in this order (default: every class folder, sorted). */
  classNames?: string[];
  /** Fraction in (0, 1) of the files kept for validation (the last ones after the shuffle, as Keras). */
  validationSplit?: number;
  /** Which part to return when validationSplit is given; 'both' returns [training, validation]. */
  subset?: Subset;
  /** Seed of the file shuffle: numpy.random.RandomState(seed).shuffle, as Keras (default 0; Keras draws one at random). */
  seed?: number;
  /** Shuffle the file order (default true); false keeps Keras' sorted order. */
  shuffle?: boolean;
  /** 'bilinear' (default) or 'nearest', both sampled as tf.image.resize (half-pixel centres, no antialiasing). */
  interpolation?: Interpolation;
  /** Accepted for Keras' signature and kept on the result; shaderflow's fit batches itself (pass it to fit). */
  batchSize?: number | null;
  /** Keep only the first `limit` files after the shuffle, before the split (default all). */
  limit?: number;
  /** 'error' (default): a corrupt, truncated or unsupported image is a DatasetError; 'skip': left out and listed in `skipped`. */
  onBadImage?: 'error' | 'skip';
  /** Keras' "Found N files belonging to K classes." lines (default: none). */
  log?: (line: string) => void;
}

export interface SkippedImage {
  file: string;
  reason: string;
}

/** An ImageSet (uint8 [n, h, w, c] + class-index labels) from image files, with what Keras' dataset knows. */
export interface ImageFolderSet extends ImageSet {
  classNames: string[];
  /** The file of each example, in order (paths below the folder, or the FileList's relative paths). */
  files: string[];
  labelMode: LabelMode;
  /** The labels in `labelMode` form: 'int' = `labels`; 'categorical' Float32Array [n, classes]; 'binary' Float32Array [n]. */
  targets: Uint8Array | Float32Array;
  /** Images left out with onBadImage 'skip'. */
  skipped: SkippedImage[];
  batchSize: number | null;
}

/** Extensions Keras' image_dataset_from_directory collects (case-insensitive); others are ignored. GIF and BMP are then reported unsupported. */
export const IMAGE_EXTENSIONS = ['.bmp', '.gif', '.jpeg', '.jpg', '.png'];

export function isImageFileName(name: string): boolean {
  const lower = name.toLowerCase();
  return !name.startsWith('.') && IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
}

/** Python's sorted() order for strings (code points; equal to UTF-16 order outside astral characters). */
export const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Keras' walk order of the files below a class folder: sorted by folder path, then by file name. */
export function walkOrder(a: string, b: string): number {
  const cut = (p: string): [string, string] => {
    const i = p.lastIndexOf('/');
    return [p.slice(0, Math.max(0, i)), p.slice(i + 1)];
  };
  const [da, fa] = cut(a);
  const [db, fb] = cut(b);
  return byName(da, db) || byName(fa, fb);
}

export interface ResolvedOptions {
  imageSize: [number, number];
  colorMode: ColorMode;
  channels: 1 | 3 | 4;
  labelMode: LabelMode;
  classNames?: string[];
  validationSplit?: number;
  subset?: Subset;
  seed: number;
  shuffle: boolean;
  interpolation: Interpolation;
  batchSize: number | null;
  limit?: number;
  onBadImage: 'error' | 'skip';
  log: (line: string) => void;
}

/** Options with defaults, each checked (a ShaderflowError naming the option and what it takes). */
export function resolveImageDatasetOptions(o: ImageDatasetOptions = {}): ResolvedOptions {
  const fail = (m: string): never => {
    throw new ShaderflowError(`imageDatasetFromDirectory: ${m}`);
  };
  const imageSize = o.imageSize ?? [256, 256];
  if (!Array.isArray(imageSize) || imageSize.length !== 2 || !imageSize.every((d) => Number.isInteger(d) && d >= 1 && d <= MAX_IMAGE_SIDE))
    fail(`imageSize must be [height, width] of whole numbers in 1..${MAX_IMAGE_SIDE}, got ${JSON.stringify(o.imageSize)}.`);
  const colorMode = o.colorMode ?? 'rgb';
  const channels = ({ grayscale: 1, rgb: 3, rgba: 4 } as const)[colorMode];
  if (channels === undefined) fail(`colorMode must be 'grayscale', 'rgb' or 'rgba', got ${JSON.stringify(colorMode)}.`);
  const labelMode = o.labelMode ?? 'int';
  if (!['int', 'categorical', 'binary'].includes(labelMode)) fail(`labelMode must be 'int', 'categorical' or 'binary', got ${JSON.stringify(labelMode)}.`);
  const interpolation = o.interpolation ?? 'bilinear';
  if (interpolation !== 'bilinear' && interpolation !== 'nearest') fail(`interpolation must be 'bilinear' or 'nearest', got ${JSON.stringify(interpolation)}.`);
  const { validationSplit, subset } = o;
  if (validationSplit !== undefined && !(validationSplit > 0 && validationSplit < 1)) fail(`validationSplit must be a fraction in (0, 1), got ${validationSplit}.`);
  if (subset !== undefined && !['training', 'validation', 'both'].includes(subset)) fail(`subset must be 'training', 'validation' or 'both', got ${JSON.stringify(subset)}.`);
  if ((validationSplit === undefined) !== (subset === undefined))
    fail(validationSplit === undefined ? `subset '${subset}' needs a validationSplit.` : `validationSplit ${validationSplit} needs subset 'training', 'validation' or 'both'.`);
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) fail(`seed must be a whole number in 0..2^32-1 (numpy's RandomState), got ${seed}.`);
  const batchSize = o.batchSize ?? null;
  if (batchSize !== null && !(Number.isInteger(batchSize) && batchSize >= 1)) fail(`batchSize must be a whole number >= 1 or null, got ${batchSize}.`);
  if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit >= 1)) fail(`limit must be a whole number >= 1, got ${o.limit}.`);
  const onBadImage = o.onBadImage ?? 'error';
  if (onBadImage !== 'error' && onBadImage !== 'skip') fail(`onBadImage must be 'error' or 'skip', got ${JSON.stringify(onBadImage)}.`);
  if (o.classNames !== undefined && (!Array.isArray(o.classNames) || new Set(o.classNames).size !== o.classNames.length))
    fail('classNames must be a list of distinct class folder names.');
  return {
    imageSize: [imageSize[0], imageSize[1]],
    colorMode,
    channels,
    labelMode,
    classNames: o.classNames,
    validationSplit,
    subset,
    seed,
    shuffle: o.shuffle ?? true,
    interpolation,
    batchSize,
    limit: o.limit,
    onBadImage,
    log: o.log ?? (() => {}),
  };
}

export interface ListedImage {
  /** What errors and `files` call it (a path below the folder, or a FileList's relative path). */
  file: string;
  className: string;
}

export interface Sample {
  file: string;
  label: number;
}

export interface ImageDatasetPlan {
  classNames: string[];
  /** One part, or [training, validation] for subset 'both'. */
  parts: { subset: 'all' | 'training' | 'validation'; samples: Sample[] }[];
}

/**
 * Classes, order, shuffle and split, before anything is decoded. `listed` is in walk order per class;
 * `classFolders` every class folder found (an empty one is an error naming it, as is a folder with fewer than two
 * classes: nothing to tell apart). Keras' order: classes in classNames order, each class's files in walk order;
 * then numpy.random.RandomState(seed).shuffle; then validation = the last floor(split * n) files.
 */
export function planImageDataset(listed: ListedImage[], classFolders: string[], o: ResolvedOptions, source: string): ImageDatasetPlan {
  const found = [...classFolders].sort(byName);
  if (found.length === 0)
    throw new DatasetError(`${source}: no class folders. Put each class's images in a subfolder named after it (${source}/cat/1.png, ${source}/dog/2.jpg, ...).`, source);
  let classNames = found;
  if (o.classNames) {
    const missing = o.classNames.filter((c) => !found.includes(c));
    if (missing.length) throw new DatasetError(`${source}: classNames lists ${missing.map((m) => `"${m}"`).join(', ')}, but the class folders are ${found.join(', ')}.`, source);
    classNames = [...o.classNames];
  }
  if (classNames.length < 2)
    throw new DatasetError(`${source}: only one class folder ("${classNames[0]}"); a classifier needs at least two classes, each in its own subfolder.`, source);
  if (classNames.length > 256) throw new DatasetError(`${source}: ${classNames.length} classes; at most 256 are supported (labels are uint8).`, source);
  if (o.labelMode === 'binary' && classNames.length !== 2)
    throw new DatasetError(`${source}: labelMode 'binary' needs exactly 2 classes, found ${classNames.length} (${classNames.join(', ')}); use 'int' or 'categorical'.`, source);
  const index = new Map(classNames.map((c, i) => [c, i]));
  const perClass: Sample[][] = classNames.map(() => []);
  for (const l of listed) {
    const k = index.get(l.className);
    if (k !== undefined) perClass[k]!.push({ file: l.file, label: k });
  }
  const empty = classNames.filter((_, k) => perClass[k]!.length === 0);
  if (empty.length)
    throw new DatasetError(
      `${source}: class folder${empty.length > 1 ? 's' : ''} ${empty.map((e) => `"${e}"`).join(', ')} hold${empty.length > 1 ? '' : 's'} no images (.png, .jpg, .jpeg; searched recursively). Add images or remove the folder.`,
      source,
    );
  let samples = perClass.flat();
  o.log(`Found ${samples.length} files belonging to ${classNames.length} classes.`);
  if (o.shuffle) {
    const perm = numpyPermutation(samples.length, o.seed);
    const ordered = samples;
    samples = Array.from(perm, (i) => ordered[i]!);
  }
  if (o.limit !== undefined && o.limit < samples.length) {
    samples = samples.slice(0, o.limit);
    o.log(`Using the first ${samples.length} files (limit).`);
  }
  if (o.validationSplit === undefined) return { classNames, parts: [{ subset: 'all', samples }] };
  const nVal = Math.floor(o.validationSplit * samples.length);
  const nTrain = samples.length - nVal;
  if (nVal < 1 || nTrain < 1)
    throw new DatasetError(`${source}: validationSplit ${o.validationSplit} of ${samples.length} files leaves ${nVal < 1 ? 'no validation' : 'no training'} files.`, source);
  const training = { subset: 'training' as const, samples: samples.slice(0, nTrain) };
  const validation = { subset: 'validation' as const, samples: samples.slice(nTrain) };
  const parts = o.subset === 'both' ? [training, validation] : o.subset === 'training' ? [training] : [validation];
  for (const p of parts) o.log(`Using ${p.samples.length} files for ${p.subset}.`);
  return { classNames, parts };
}

// ------------------------------------------------------------------ channels and resizing, as TensorFlow does

/**
 * `img` with `channels` channels, as tf.io.decode_image(channels=...) gives them: alpha is dropped (not
 * composited), gray is replicated, colour to gray is the rounded ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B, as
 * libjpeg), and a missing alpha is 255.
 */
export function toChannels(img: Image, channels: 1 | 3 | 4): Image {
  const [h, w, c] = img.shape;
  if (c === channels) return img;
  const n = h * w;
  const src = img.data;
  const out = new Uint8Array(n * channels);
  for (let p = 0; p < n; p++) {
    const s = p * c;
    const gray = c <= 2;
    if (channels === 1) out[p] = gray ? src[s]! : Math.round(0.299 * src[s]! + 0.587 * src[s + 1]! + 0.114 * src[s + 2]!);
    else {
      const d = p * channels;
      for (let k = 0; k < 3; k++) out[d + k] = src[gray ? s : s + k]!;
      if (channels === 4) out[d + 3] = c === 2 ? src[s + 1]! : c === 4 ? src[s + 3]! : 255;
    }
  }
  return { data: out, shape: [h, w, channels] };
}

/** Sample positions along one axis: tf.image.resize's half-pixel centres, computed in float32 as TensorFlow does. */
function axis(inSize: number, outSize: number, interpolation: Interpolation): { lo: Int32Array; hi: Int32Array; t: Float64Array } {
  const scale = Math.fround(inSize / outSize);
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const t = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    if (interpolation === 'nearest') {
      // ResizeNearestNeighbor(half_pixel_centers): floor((o + 0.5) * scale), clamped.
      lo[o] = hi[o] = Math.max(0, Math.min(inSize - 1, Math.floor(Math.fround(Math.fround(o + 0.5) * scale))));
      continue;
    }
    // ResizeBilinear(half_pixel_centers): in = (o + 0.5) * scale - 0.5; lower = max(floor(in), 0), upper =
    // min(ceil(in), n - 1), lerp = in - floor(in). Outside the image the two taps coincide (edge clamping).
    const x = Math.fround(Math.fround(Math.fround(o + 0.5) * scale) - 0.5);
    const f = Math.floor(x);
    lo[o] = Math.max(f, 0);
    hi[o] = Math.min(Math.ceil(x), inSize - 1);
    t[o] = x - f;
  }
  return { lo, hi, t };
}

/** tf.image.resize (antialias off) without rounding: float64 values [height, width, c]. */
export function resizeFloat(img: Image, height: number, width: number, interpolation: Interpolation = 'bilinear'): Float64Array {
  const [h, w, c] = img.shape;
  if (!(h >= 1 && w >= 1 && Number.isInteger(height) && Number.isInteger(width) && height >= 1 && width >= 1))
    throw new ShaderflowError(`resizeImage: cannot resize [${img.shape.join(', ')}] to ${height}x${width}.`);
  const ax = axis(w, width, interpolation);
  const ay = axis(h, height, interpolation);
  const src = img.data;
  const out = new Float64Array(height * width * c);
  for (let y = 0; y < height; y++) {
    const top = ay.lo[y]! * w;
    const bottom = ay.hi[y]! * w;
    const ty = ay.t[y]!;
    for (let x = 0; x < width; x++) {
      const l = ax.lo[x]!;
      const r = ax.hi[x]!;
      const tx = ax.t[x]!;
      const d = (y * width + x) * c;
      for (let k = 0; k < c; k++) {
        const tl = src[(top + l) * c + k]!;
        const tr = src[(top + r) * c + k]!;
        const bl = src[(bottom + l) * c + k]!;
        const br = src[(bottom + r) * c + k]!;
        const upper = tl + (tr - tl) * tx;
        const lower = bl + (br - bl) * tx;
        out[d + k] = upper + (lower - upper) * ty;
      }
    }
  }
  return out;
}

/** Resizes as tf.image.resize(method=interpolation, antialias=False) does, then rounds to uint8 (Keras keeps float32). */
export function resizeImage(img: Image, height: number, width: number, interpolation: Interpolation = 'bilinear'): Image {
  const [h, w, c] = img.shape;
  if (h === height && w === width) return img;
  const f = resizeFloat(img, height, width, interpolation);
  const out = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = Math.round(f[i]!);
  return { data: out, shape: [height, width, c] };
}

// ------------------------------------------------------------------ decoding into one uint8 set

/**
 * Decodes a plan's part into an ImageFolderSet: each image converted to the colour mode and resized to imageSize.
 * `decode` throws a DatasetError for a bad image: fatal, or skipped and listed with onBadImage 'skip'.
 */
export async function assembleImageSet(
  samples: Sample[],
  classNames: string[],
  o: ResolvedOptions,
  decode: (file: string) => Image | Promise<Image>,
  source: string,
): Promise<ImageFolderSet> {
  const [h, w] = o.imageSize;
  const per = h * w * o.channels;
  if (samples.length * per > 2 ** 32 - 1)
    throw new DatasetError(`${source}: ${samples.length} images of ${h}x${w}x${o.channels} need ${samples.length * per} bytes, more than one array holds (4 GiB); use a smaller imageSize or limit.`, source);
  const images = new Uint8Array(samples.length * per);
  const labels = new Uint8Array(samples.length);
  const files: string[] = [];
  const skipped: SkippedImage[] = [];
  for (const s of samples) {
    let img: Image;
    try {
      img = await decode(s.file);
    } catch (e) {
      if (!(e instanceof DatasetError) || o.onBadImage !== 'skip') throw e;
      skipped.push({ file: s.file, reason: e.message });
      continue;
    }
    const ready = resizeImage(toChannels(img, o.channels), h, w, o.interpolation);
    images.set(ready.data, files.length * per);
    labels[files.length] = s.label;
    files.push(s.file);
  }
  const n = files.length;
  if (n === 0) throw new DatasetError(`${source}: none of the ${samples.length} images could be read (${skipped[0]?.reason ?? 'no images'}).`, source);
  const lab = n === samples.length ? labels : labels.slice(0, n);
  const targets = o.labelMode === 'int' ? lab : o.labelMode === 'categorical' ? toCategorical(lab, classNames.length) : Float32Array.from(lab);
  return {
    images: n === samples.length ? images : images.slice(0, n * per),
    shape: [n, h, w, o.channels],
    labels: lab,
    classNames: [...classNames],
    files,
    labelMode: o.labelMode,
    targets,
    skipped,
    batchSize: o.batchSize,
  };
}

/** Every part of a plan decoded (see assembleImageSet): one set, or [training, validation] for subset 'both'. */
export async function assemblePlan(
  plan: ImageDatasetPlan,
  o: ResolvedOptions,
  decode: (file: string) => Image | Promise<Image>,
  source: string,
): Promise<ImageFolderSet | [ImageFolderSet, ImageFolderSet]> {
  const sets: ImageFolderSet[] = [];
  for (const part of plan.parts) sets.push(await assembleImageSet(part.samples, plan.classNames, o, decode, source));
  return o.subset === 'both' ? [sets[0]!, sets[1]!] : sets[0]!;
}
