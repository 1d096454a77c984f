// Browser: imageDatasetFromDirectory's twin for a folder the user picked (<input type="file" webkitdirectory>:
// each File's webkitRelativePath is "<folder>/<class>/.../<name>"), and single images from the page's own image
// objects. Decoding is the browser's (createImageBitmap, then a canvas' getImageData); the header is read first,
// so sizes are checked before anything is decoded. No Node built-in is used here.
import { DatasetError, ShaderflowError } from '../errors.js';
import { imageHeader, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE } from './image-files.js';
import {
  assemblePlan,
  isImageFileName,
  planImageDataset,
  resolveImageDatasetOptions,
  toChannels,
  walkOrder,
  type ColorMode,
  type ImageDatasetOptions,
  type ImageFolderSet,
  type ListedImage,
} from './image-dataset.js';
import type { Image } from './types.js';

/** What a FileList entry needs to be grouped (a File has both). */
export interface NamedFile {
  name: string;
  webkitRelativePath?: string;
}

export interface GroupedFiles<F extends NamedFile> {
  /** The picked folder's name. */
  root: string;
  /** Image files with their class, in Keras' walk order; `file` is the path below the picked folder. */
  listed: ListedImage[];
  /** Every class folder seen (a folder holding only non-image files counts, so it is reported empty). */
  classFolders: string[];
  byFile: Map<string, F>;
}

/**
 * Groups a picked folder's files into classes by the first folder below the picked one, as
 * imageDatasetFromDirectory does on disk: files directly in the picked folder are ignored, as are dot-names and
 * non-image extensions. (A browser lists no empty folders, so an empty class folder cannot be seen here.)
 */
export function groupFileList<F extends NamedFile>(files: ArrayLike<F>): GroupedFiles<F> {
  const listed: ListedImage[] = [];
  const classFolders = new Set<string>();
  const byFile = new Map<string, F>();
  let root: string | undefined;
  for (let i = 0; i < files.length; i++) {
    const f = files[i]!;
    const rel = f.webkitRelativePath ?? '';
    if (!rel)
      throw new DatasetError(
        `${f.name}: this file has no folder path (webkitRelativePath). Pick a folder with <input type="file" webkitdirectory>, holding one subfolder per class.`,
        f.name,
      );
    const parts = rel.split('/');
    if (root === undefined) root = parts[0]!;
    else if (parts[0] !== root) throw new DatasetError(`${rel}: files from two folders ("${root}" and "${parts[0]}"); pick one folder holding the class folders.`, rel);
    if (parts.length < 3 || parts.slice(1).some((p) => p.startsWith('.'))) continue;
    classFolders.add(parts[1]!);
    if (!isImageFileName(parts[parts.length - 1]!)) continue;
    const file = parts.slice(1).join('/');
    listed.push({ file, className: parts[1]! });
    byFile.set(file, f);
  }
  if (root === undefined) throw new DatasetError('The picked folder holds no files; it should hold one subfolder of images per class.');
  listed.sort((a, b) => walkOrder(a.file, b.file));
  return { root, listed, classFolders: [...classFolders], byFile };
}

/** The browser's image objects shaderflow reads (a Blob or File is decoded too). */
export type ImageSource = ImageBitmap | ImageData | HTMLCanvasElement | OffscreenCanvas | HTMLImageElement | Blob;

const has = (name: string): boolean => typeof (globalThis as Record<string, unknown>)[name] === 'function';

function canvasOf(width: number, height: number): OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D {
  const canvas = has('OffscreenCanvas') ? new OffscreenCanvas(width, height) : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null;
  if (!ctx) throw new ShaderflowError('This browser gave no 2D canvas context to read image pixels with.');
  return ctx;
}

function checkDrawable(width: number, height: number, what: string): void {
  if (!(width >= 1 && height >= 1)) throw new DatasetError(`${what}: ${width}x${height} px; an image needs at least 1x1 pixels (is an <img> loaded yet? await img.decode()).`, what);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS)
    throw new DatasetError(`${what}: ${width}x${height} px is larger than shaderflow reads (at most ${MAX_IMAGE_SIDE} px per side and ${MAX_IMAGE_PIXELS / 1e6} megapixels).`, what);
}

/** RGBA pixels of a drawable, unpremultiplied (what getImageData gives). */
function pixelsOf(src: CanvasImageSource, width: number, height: number, what: string): Image {
  checkDrawable(width, height, what);
  const ctx = canvasOf(width, height);
  ctx.drawImage(src, 0, 0, width, height);
  const d = ctx.getImageData(0, 0, width, height).data;
  return { data: new Uint8Array(d.buffer, d.byteOffset, d.byteLength), shape: [height, width, 4] };
}

/** Decodes a PNG or JPEG Blob/File: header checked first, then createImageBitmap; channels as stored (1..4). */
async function decodeBlob(blob: Blob, what: string): Promise<Image> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const header = imageHeader(bytes, what);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch (e) {
    throw new DatasetError(`${what}: the browser could not decode this ${header.format.toUpperCase()} (corrupt or truncated): ${(e as Error)?.message ?? e}.`, what, undefined, { cause: e });
  }
  try {
    const rgba = pixelsOf(bitmap, bitmap.width, bitmap.height, what);
    // Keep the stored channels, as in Node: a gray file gives 1 (or 2 with alpha), a colour one 3 (or 4).
    const c = header.format === 'png' && header.colorType === 3 ? 4 : header.channels;
    return c === 4 ? rgba : c === 2 ? grayAlpha(rgba) : toChannels(rgba, c === 1 ? 1 : 3);
  } finally {
    bitmap.close();
  }
}

function grayAlpha(rgba: Image): Image {
  const [h, w] = rgba.shape;
  const out = new Uint8Array(h * w * 2);
  for (let p = 0; p < h * w; p++) {
    out[p * 2] = rgba.data[p * 4]!;
    out[p * 2 + 1] = rgba.data[p * 4 + 3]!;
  }
  return { data: out, shape: [h, w, 2] };
}

/**
 * One image from the page: an ImageBitmap, ImageData, canvas, loaded <img>, or a PNG/JPEG Blob or File, as
 * uint8 [h, w, c]: RGBA (c = 4) from drawables, or `colorMode` when given (alpha dropped, luma for gray).
 */
export async function imageFromSource(src: ImageSource, opts: { colorMode?: ColorMode } = {}): Promise<Image> {
  let img: Image;
  const is = (name: string): boolean => has(name) && src instanceof (globalThis as unknown as Record<string, new () => unknown>)[name]!;
  if (is('Blob')) img = await decodeBlob(src as Blob, (src as File).name || 'image blob');
  else if (is('ImageData')) {
    const d = src as ImageData;
    checkDrawable(d.width, d.height, 'ImageData');
    img = { data: new Uint8Array(d.data.buffer.slice(d.data.byteOffset, d.data.byteOffset + d.data.byteLength)), shape: [d.height, d.width, 4] };
  } else if (is('HTMLImageElement')) {
    const el = src as HTMLImageElement;
    if (!el.complete) throw new DatasetError(`<img src="${el.src}">: not loaded yet; await img.decode() first.`, el.src);
    img = pixelsOf(el, el.naturalWidth, el.naturalHeight, `<img src="${el.src}">`);
  } else if (is('ImageBitmap') || is('HTMLCanvasElement') || is('OffscreenCanvas')) {
    const d = src as ImageBitmap | HTMLCanvasElement | OffscreenCanvas;
    img = pixelsOf(d, d.width, d.height, d.constructor.name);
  } else throw new ShaderflowError('imageFromSource: give an ImageBitmap, ImageData, HTMLCanvasElement, OffscreenCanvas, HTMLImageElement or a PNG/JPEG Blob.');
  if (opts.colorMode === undefined) return img;
  return toChannels(img, ({ grayscale: 1, rgb: 3, rgba: 4 } as const)[opts.colorMode]);
}

/**
 * imageDatasetFromDirectory for a folder picked in the page (`input.files` of `<input type="file" webkitdirectory>`):
 * the same options, order, shuffle, split and result; images decoded by the browser.
 */
export async function imageDatasetFromFiles(files: ArrayLike<File>, opts: ImageDatasetOptions & { subset: 'both' }): Promise<[ImageFolderSet, ImageFolderSet]>;
export async function imageDatasetFromFiles(files: ArrayLike<File>, opts?: ImageDatasetOptions): Promise<ImageFolderSet>;
export async function imageDatasetFromFiles(files: ArrayLike<File>, opts: ImageDatasetOptions = {}): Promise<ImageFolderSet | [ImageFolderSet, ImageFolderSet]> {
  const o = resolveImageDatasetOptions(opts);
  const { root, listed, classFolders, byFile } = groupFileList(files);
  const plan = planImageDataset(listed, classFolders, o, root);
  const decode = (file: string) => decodeBlob(byFile.get(file)!, `${root}/${file}`);
  return assemblePlan(plan, o, decode, root);
}
