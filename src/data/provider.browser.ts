// Browser side of the data layer: no file system and no PNG codec (keeps the bundle small). Replaces provider.ts
// in the browser bundle. Decoders take bytes (e.g. from fetch) and work as in Node; `renderGrid` gives raw pixels
// for a canvas.
import { DatasetError } from '../errors.js';
import type { DecodedPng, JpegLimits } from './provider.js';

export type { DecodedPng, JpegLimits };
export const hasFileSystem = false;

const noFs = (what: string): never => {
  throw new DatasetError(
    `${what} needs Node.js (a file system). In the browser, fetch the bytes and pass them to decodeIdx / readCifar10Archive / decodeCifarBatch.`,
  );
};

export const joinPath = (...parts: string[]): string => parts.join('/').replace(/\/+/g, '/');
export const parentDir = (path: string): string => path.replace(/\/[^/]*$/, '') || '/';
export const isFile = (_path: string): boolean => false;
export const isDir = (_path: string): boolean => false;
export const exists = (_path: string): boolean => false;
export const readBytes = async (path: string): Promise<Uint8Array> => noFs(`Reading ${path}`);
export const readBytesSync = (path: string): Uint8Array => noFs(`Reading ${path}`);
export const writeBytesSync = (path: string, _bytes: Uint8Array): void => noFs(`Writing ${path}`);
export const env = (_name: string): string | undefined => undefined;
export const homeDir = (): string | undefined => undefined;
export const packageDir = (_name: string): string | undefined => undefined;

export function pngDecode(_bytes: Uint8Array): DecodedPng {
  throw new DatasetError('PNG decoding is Node-only in shaderflow; in the browser draw the image on a canvas and use getImageData().');
}

export function pngEncode(_data: Uint8Array, _width: number, _height: number, _channels: 1 | 2 | 3 | 4): Uint8Array {
  throw new DatasetError('PNG encoding is Node-only in shaderflow; in the browser use renderGrid() and put the pixels on a canvas.');
}

export function jpegDecode(_bytes: Uint8Array, _limits: JpegLimits): { width: number; height: number; rgb: Uint8Array } {
  throw new DatasetError('JPEG decoding from bytes is Node-only in shaderflow; in the browser use imageFromSource / imageDatasetFromFiles (createImageBitmap).');
}

export function jpegEncode(_rgba: Uint8Array, _width: number, _height: number, _quality: number): Uint8Array {
  throw new DatasetError('JPEG encoding is Node-only in shaderflow; in the browser use canvas.toBlob(..., "image/jpeg").');
}
