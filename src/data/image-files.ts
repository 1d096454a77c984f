// PNG and JPEG files of any size: the header read without decoding (format, size, channels; sizes checked
// against the caps below before a pixel is decoded), decoding to uint8 [h, w, c] as stored (PNG by pngjs, JPEG by
// jpeg-js, both in src/data/provider.ts; Node only), and JPEG writing. Every failure is a DatasetError naming the
// file and, where known, the byte offset.
import { DatasetError, ShaderflowError } from '../errors.js';
import { readPng } from './image.js';
import { jpegDecode, jpegEncode, readBytesSync, writeBytesSync } from './provider.js';
import type { Image } from './types.js';

/** Largest width or height accepted, px: the largest 2-D texture WebGPU guarantees (maxTextureDimension2D = 8192) twice over, and far beyond any training image. */
export const MAX_IMAGE_SIDE = 16384;
/** Largest image accepted, in pixels (64 megapixels: 256 MB as RGBA while decoding). */
export const MAX_IMAGE_PIXELS = 64 * 1000 * 1000;
/** jpeg-js' own budget for one decode (its coefficient buffers plus the output), MB. */
const JPEG_MEMORY_MB = 1024;

export type ImageFormat = 'png' | 'jpeg';

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
  /** Channels after decoding to 8 bits: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (PNG palettes expand to 3 or 4; JPEG CMYK to 3). */
  channels: 1 | 2 | 3 | 4;
  /** Bits per sample in the file (PNG 1, 2, 4, 8 or 16; JPEG 8). */
  bitDepth: number;
  /** PNG colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA) or JPEG component count (1, 3, 4). */
  colorType: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
const hex = (b: Uint8Array, n: number): string =>
  Array.from(b.subarray(0, n), (v) => v.toString(16).padStart(2, '0').toUpperCase()).join(' ') || '(none: the file is empty)';

/** The size check shared by both formats: at least 1x1, at most MAX_IMAGE_SIDE per side and MAX_IMAGE_PIXELS in all. */
function checkSize(file: string, width: number, height: number, at: number): void {
  if (width < 1 || height < 1) throw new DatasetError(`${file}: the header gives a size of ${width}x${height} px; an image needs at least 1x1 pixels.`, file, at);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS)
    throw new DatasetError(
      `${file}: ${width}x${height} px is larger than shaderflow reads (at most ${MAX_IMAGE_SIDE} px per side and ${MAX_IMAGE_PIXELS / 1e6} megapixels); shrink it first.`,
      file,
      at,
    );
}

function pngHeader(b: Uint8Array, file: string): ImageHeader {
  if (b.length < 33) throw new DatasetError(`${file}: truncated PNG: ${b.length} bytes, too short for the IHDR header (33 bytes).`, file, b.length);
  if (u32(b, 8) !== 13 || String.fromCharCode(b[12]!, b[13]!, b[14]!, b[15]!) !== 'IHDR')
    throw new DatasetError(`${file}: not a valid PNG: the first chunk at byte 8 is not a 13-byte IHDR.`, file, 8);
  const width = u32(b, 16);
  const height = u32(b, 20);
  const bitDepth = b[24]!;
  const colorType = b[25]!;
  const depths: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
  if (!depths[colorType]?.includes(bitDepth))
    throw new DatasetError(`${file}: not a valid PNG: colour type ${colorType} with bit depth ${bitDepth} (byte 24) is not a PNG combination.`, file, 24);
  if (b[28]! > 1) throw new DatasetError(`${file}: not a valid PNG: interlace method ${b[28]} at byte 28 (PNG has 0 and 1).`, file, 28);
  checkSize(file, width, height, 16);
  // A palette with a tRNS chunk decodes to RGBA; pngjs tells after decoding, so palettes count as 3 here.
  const channels = colorType === 0 ? 1 : colorType === 4 ? 2 : colorType === 6 ? 4 : 3;
  return { format: 'png', width, height, channels, bitDepth, colorType };
}

function jpegHeader(b: Uint8Array, file: string): ImageHeader {
  let at = 2;
  while (at < b.length) {
    if (b[at] !== 0xff) throw new DatasetError(`${file}: not a valid JPEG: expected a marker (FF) at byte ${at}, found ${b[at]!.toString(16).toUpperCase()}.`, file, at);
    while (b[at] === 0xff && at < b.length) at++; // fill bytes
    if (at >= b.length) break;
    const marker = b[at]!;
    const start = at - 1;
    at++;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // markers without a length
    if (marker === 0xd9 || marker === 0xda)
      throw new DatasetError(`${file}: not a valid JPEG: ${marker === 0xd9 ? 'end of image' : 'scan data'} at byte ${start} before any frame header (SOF).`, file, start);
    if (at + 2 > b.length) break;
    const length = u16(b, at);
    if (length < 2) throw new DatasetError(`${file}: not a valid JPEG: segment length ${length} at byte ${at}.`, file, at);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (at + 8 > b.length) break;
      if (marker > 0xc2)
        throw new DatasetError(
          `${file}: unsupported JPEG: frame type SOF${marker - 0xc0} at byte ${start} (lossless, hierarchical or arithmetic-coded); only baseline, extended and progressive JPEGs are read. Re-save it as a standard JPEG or PNG.`,
          file,
          start,
        );
      const bitDepth = b[at + 2]!;
      const height = u16(b, at + 3);
      const width = u16(b, at + 5);
      const comps = b[at + 7]!;
      if (bitDepth !== 8) throw new DatasetError(`${file}: unsupported JPEG: ${bitDepth}-bit samples (byte ${at + 2}); only 8-bit JPEGs are read.`, file, at + 2);
      if (comps !== 1 && comps !== 3 && comps !== 4)
        throw new DatasetError(`${file}: unsupported JPEG: ${comps} colour components (byte ${at + 7}); 1 (gray), 3 (YCbCr/RGB) or 4 (CMYK) are read.`, file, at + 7);
      checkSize(file, width, height, at + 3);
      return { format: 'jpeg', width, height, channels: comps === 1 ? 1 : 3, bitDepth, colorType: comps };
    }
    at += length;
  }
  throw new DatasetError(`${file}: truncated JPEG: its ${b.length} bytes end before the frame header (SOF) that gives the image's size.`, file, b.length);
}

/** Format, size and channels from the first bytes (no pixel decoded); a DatasetError unless a readable PNG or JPEG within the size caps. */
export function imageHeader(bytes: Uint8Array, file = '<image bytes>'): ImageHeader {
  if (bytes.length >= 8 && PNG_SIGNATURE.every((v, i) => bytes[i] === v)) return pngHeader(bytes, file);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return jpegHeader(bytes, file);
  const what = /\.(gif|bmp|webp|tiff?)$/i.test(file) ? 'this format is not read' : 'not a PNG or JPEG file';
  throw new DatasetError(
    `${file}: ${what} (its first bytes are ${hex(bytes, 8)}; a PNG starts 89 50 4E 47, a JPEG FF D8 FF). Convert it to PNG or JPEG, or remove it.`,
    file,
    0,
  );
}

/**
 * Decodes a PNG or JPEG (told apart by content, not by name) to uint8 [h, w, c] with its own channels: PNG as
 * readPng (1, 2, 3 or 4; 16-bit scaled to 8), JPEG 1 (gray) or 3 (RGB; CMYK converted). The header is checked first.
 */
export function decodeImage(bytes: Uint8Array, file = '<image bytes>'): Image {
  const header = imageHeader(bytes, file);
  if (header.format === 'png') return readPng(bytes, file);
  let rgb: Uint8Array;
  let width: number;
  let height: number;
  try {
    ({ width, height, rgb } = jpegDecode(bytes, { maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: JPEG_MEMORY_MB }));
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    throw new DatasetError(`${file}: not a readable JPEG (corrupt or truncated): ${message}.`, file, undefined, { cause: e });
  }
  if (width !== header.width || height !== header.height || rgb.length !== width * height * 3)
    throw new DatasetError(`${file}: not a readable JPEG: the decoder gave ${width}x${height} px for a ${header.width}x${header.height} header.`, file);
  if (header.channels === 3) return { data: rgb, shape: [height, width, 3] };
  const gray = new Uint8Array(width * height);
  for (let p = 0; p < gray.length; p++) gray[p] = rgb[p * 3]!;
  return { data: gray, shape: [height, width, 1] };
}

/** Reads and decodes a PNG or JPEG file (Node). */
export function readImage(path: string): Image {
  let bytes: Uint8Array;
  try {
    bytes = readBytesSync(path);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`${path}: could not be read: ${(e as Error).message}`, path, 0, { cause: e });
  }
  return decodeImage(bytes, path);
}

/** Encodes `img` (1..4 channels; alpha dropped, gray stored as YCbCr) as a baseline JPEG; with a path, also writes it. */
export function writeJpeg(img: Image, opts?: { quality?: number }): Uint8Array;
export function writeJpeg(path: string, img: Image, opts?: { quality?: number }): Uint8Array;
export function writeJpeg(a: string | Image, b?: Image | { quality?: number }, c?: { quality?: number }): Uint8Array {
  const img = typeof a === 'string' ? (b as Image) : a;
  const quality = (typeof a === 'string' ? c : (b as { quality?: number } | undefined))?.quality ?? 90;
  const [h, w, ch] = img.shape;
  if (h < 1 || w < 1 || ch < 1 || ch > 4 || img.data.length !== h * w * ch)
    throw new ShaderflowError(`writeJpeg: shape [${img.shape.join(', ')}] with ${img.data.length} bytes is not an image [h >= 1, w >= 1, c = 1..4].`);
  const rgba = new Uint8Array(h * w * 4);
  for (let p = 0; p < h * w; p++) {
    const s = p * ch;
    for (let k = 0; k < 3; k++) rgba[p * 4 + k] = img.data[ch <= 2 ? s : s + k]!;
    rgba[p * 4 + 3] = 255;
  }
  const bytes = jpegEncode(rgba, w, h, quality);
  if (typeof a === 'string') writeBytesSync(a, bytes);
  return bytes;
}
