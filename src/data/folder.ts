// Node: Keras' image_dataset_from_directory over a folder of class-named subfolders of PNG and JPEG files, and
// its inverse (an ImageSet written out as such a folder). The shared logic is in image-dataset.ts.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError } from '../errors.js';
import { writePng } from './image.js';
import { decodeImage, writeJpeg } from './image-files.js';
import {
  assemblePlan,
  isImageFileName,
  planImageDataset,
  resolveImageDatasetOptions,
  walkOrder,
  type ImageDatasetOptions,
  type ImageFolderSet,
  type ListedImage,
} from './image-dataset.js';
import { exampleBytes, type ImageSet } from './types.js';

/** Every image file below `dir` (recursively, dot-names skipped), as paths relative to it with '/' separators, in walk order. */
async function listImages(root: string, rel: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (sub: string): Promise<void> => {
    for (const e of await readdir(join(root, sub), { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = `${sub}/${e.name}`;
      if (e.isDirectory()) await walk(p);
      else if (isImageFileName(e.name) && (e.isFile() || (e.isSymbolicLink() && (await stat(join(root, p)).catch(() => null))?.isFile()))) out.push(p);
    }
  };
  await walk(rel);
  return out.sort(walkOrder);
}

/**
 * Keras' `image_dataset_from_directory`: `dir`/<class>/**.png|jpg|jpeg as a uint8 ImageSet with `classNames`
 * (the subfolders, sorted), resized to `imageSize` like tf.image.resize. With `subset: 'both'`, [training,
 * validation]. Everything is read, checked and decoded here, so every bad input is reported before training.
 */
export async function imageDatasetFromDirectory(dir: string, opts: ImageDatasetOptions & { subset: 'both' }): Promise<[ImageFolderSet, ImageFolderSet]>;
export async function imageDatasetFromDirectory(dir: string, opts?: ImageDatasetOptions): Promise<ImageFolderSet>;
export async function imageDatasetFromDirectory(dir: string, opts: ImageDatasetOptions = {}): Promise<ImageFolderSet | [ImageFolderSet, ImageFolderSet]> {
  const o = resolveImageDatasetOptions(opts);
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new DatasetError(`${dir}: no such folder (it should hold one subfolder of images per class).`, dir);
  const classFolders = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  const listed: ListedImage[] = [];
  for (const c of classFolders) for (const file of await listImages(dir, c)) listed.push({ file, className: c });
  const plan = planImageDataset(listed, classFolders, o, dir);
  const decode = async (file: string) => {
    const path = join(dir, file);
    let bytes: Uint8Array;
    try {
      const b = await readFile(path);
      bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      throw new DatasetError(`${path}: could not be read: ${(e as Error).message}`, path, 0, { cause: e });
    }
    return decodeImage(bytes, path);
  };
  return assemblePlan(plan, o, decode, dir);
}

export interface WriteFolderOptions {
  /** Folder names of the classes (default the label numbers). */
  classNames?: string[];
  /** 'png', 'jpeg', or 'mixed' (default): even examples as PNG, odd ones as JPEG. */
  format?: 'png' | 'jpeg' | 'mixed';
  /** JPEG quality 1..100 (default 90). */
  quality?: number;
}

/** Writes `set` as `dir`/<class>/<index>.png|jpg, the layout imageDatasetFromDirectory reads; returns the files written. */
export function writeImageFolder(set: ImageSet, dir: string, opts: WriteFolderOptions = {}): string[] {
  const per = exampleBytes(set);
  const [n, h, w, c] = set.shape;
  const format = opts.format ?? 'mixed';
  const width = String(Math.max(1, n - 1)).length;
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const label = set.labels[i]!;
    const name = opts.classNames?.[label] ?? String(label);
    const img = { data: set.images.subarray(i * per, (i + 1) * per), shape: [h, w, c] as [number, number, number] };
    const jpeg = format === 'jpeg' || (format === 'mixed' && i % 2 === 1);
    const file = join(dir, name, `${String(i).padStart(width, '0')}.${jpeg ? 'jpg' : 'png'}`);
    if (jpeg) writeJpeg(file, img, { quality: opts.quality });
    else writePng(file, img);
    files.push(file);
  }
  return files;
}
