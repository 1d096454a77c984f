// Node's side of the data layer: files, the home folder, package resolution, PNG (pngjs) and JPEG (jpeg-js). The browser bundle
// swaps this file for provider.browser.ts (scripts/build.mjs swaps every `./provider.js`), so no Node built-in
// reaches the browser path; decoders (idx, cifar, tar, gzip) take bytes and work in both.
import { existsSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export const hasFileSystem = true;

export function joinPath(...parts: string[]): string {
  return join(...parts);
}

export function parentDir(path: string): string {
  return dirname(path);
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export function exists(path: string): boolean {
  return existsSync(path);
}

/** The whole file as a plain Uint8Array (not a pooled Buffer slice). */
export async function readBytes(path: string): Promise<Uint8Array> {
  const b = await readFile(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function readBytesSync(path: string): Uint8Array {
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function writeBytesSync(path: string, bytes: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

export function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

export function homeDir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

/** The folder of an installed npm package, or undefined when it is not installed. */
export function packageDir(name: string): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

export interface DecodedPng {
  width: number;
  height: number;
  /** PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
  colorType: number;
  /** A tRNS chunk (or an alpha channel) is present. */
  alpha: boolean;
  /** RGBA, 8 bits per channel. */
  rgba: Uint8Array;
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/**
 * Checks that a PNG's image data inflates to exactly the size its header implies (one filter byte per row, per
 * Adam7 pass when interlaced). pngjs does not: it filters short data out of an uninitialised buffer (so a
 * truncated or corrupt file decodes to whatever memory held) and inflates interlaced data without a bound.
 */
function checkPngData(bytes: Uint8Array): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 33) return; // pngjs reports it
  const width = v.getUint32(16);
  const height = v.getUint32(20);
  const bits = bytes[24]! * (PNG_CHANNELS[bytes[25]!] ?? 0);
  const passes = bytes[28] === 1 ? ADAM7 : [[0, 0, 1, 1]];
  let expected = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const w = width > x0! ? Math.ceil((width - x0!) / dx!) : 0;
    const h = height > y0! ? Math.ceil((height - y0!) / dy!) : 0;
    if (w > 0 && h > 0) expected += h * (1 + Math.ceil((w * bits) / 8));
  }
  const parts: Uint8Array[] = [];
  for (let at = 8; at + 8 <= bytes.length; ) {
    const len = v.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    if (at + 12 + len > bytes.length) throw new Error(`truncated: the ${type} chunk at byte ${at} runs past the end of the file`);
    if (type === 'IDAT') parts.push(bytes.subarray(at + 8, at + 8 + len));
    if (type === 'IEND') break;
    at += 12 + len;
  }
  let inflated: Uint8Array;
  try {
    inflated = inflateSync(Buffer.concat(parts), { maxOutputLength: expected + 1 });
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new Error(code === 'ERR_BUFFER_TOO_LARGE' ? `its image data holds more than the ${expected} bytes its ${width}x${height} header implies` : `its image data does not inflate (${(e as Error).message})`);
  }
  if (inflated.length !== expected) throw new Error(`its image data holds ${inflated.length} bytes where its ${width}x${height} header implies ${expected} (truncated or corrupt)`);
}

export function pngDecode(bytes: Uint8Array): DecodedPng {
  checkPngData(bytes);
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as PNG & { colorType?: number; alpha?: boolean };
  return {
    width: png.width,
    height: png.height,
    colorType: png.colorType ?? 6,
    alpha: png.alpha ?? true,
    rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength),
  };
}

/** Encodes 8-bit pixels with `channels` per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), stored as given. */
export function pngEncode(data: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4): Uint8Array {
  const colorType = channels === 1 ? 0 : channels === 2 ? 4 : channels === 3 ? 2 : 6;
  const png = new PNG({ width, height, colorType, inputColorType: colorType, bitDepth: 8, inputHasAlpha: channels === 2 || channels === 4 });
  png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out = PNG.sync.write(png, { colorType, inputColorType: colorType, bitDepth: 8, inputHasAlpha: channels === 2 || channels === 4 });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export interface JpegLimits {
  /** jpeg-js refuses images above this many megapixels (checked on the frame header, before any pixel is decoded). */
  maxResolutionInMP: number;
  /** jpeg-js refuses to allocate more than this in total while decoding. */
  maxMemoryUsageInMB: number;
}

/**
 * Decodes a baseline or progressive JPEG with jpeg-js (pure JavaScript, no native code) to RGB, 8 bits per
 * channel (a gray JPEG comes back with R = G = B). jpeg-js' default tolerance is kept: scan data beyond the
 * frame's last block row (written by some cameras) is ignored; a truncated file is still an error.
 */
export function jpegDecode(bytes: Uint8Array, limits: JpegLimits): { width: number; height: number; rgb: Uint8Array } {
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, ...limits });
  return { width: img.width, height: img.height, rgb: img.data };
}

/** Encodes RGBA pixels as a baseline JPEG (jpeg-js; 4:2:0 YCbCr, alpha dropped) at `quality` 1..100. */
export function jpegEncode(rgba: Uint8Array, width: number, height: number, quality: number): Uint8Array {
  const out = jpeg.encode({ width, height, data: rgba }, quality).data;
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
