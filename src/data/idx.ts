// The IDX format (MNIST, Fashion-MNIST, EMNIST): 2 zero bytes, a type byte, a dimension count, then one big-endian
// u32 per dimension and the values, big-endian, row-major. gzip files (magic 1f 8b) are inflated on the fly, and
// never past the size the header declares. Pure: takes bytes, no file system (see loaders.ts for files).
import { DatasetError } from '../errors.js';
import { inflateGzip, isGzip, maxInflatedSize } from './gzip.js';

/** Element type of an IDX file (the type byte of its magic number: 0x08 u8 ... 0x0e f64). */
export type IdxType = 'u8' | 'i8' | 'i16' | 'i32' | 'f32' | 'f64';
/** The typed array that holds an IDX file's values, by IdxType. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file (the MNIST format): element type, dimensions and values. */
export interface IdxArray {
  /** Element type. */
  type: IdxType;
  /** Dimensions, outermost first, e.g. [60000, 28, 28]. */
  dims: number[];
  /** The values in row-major order, native byte order. */
  data: IdxData;
}

export const IDX_TYPES: Record<number, { type: IdxType; bytes: number }> = {
  0x08: { type: 'u8', bytes: 1 },
  0x09: { type: 'i8', bytes: 1 },
  0x0b: { type: 'i16', bytes: 2 },
  0x0c: { type: 'i32', bytes: 4 },
  0x0d: { type: 'f32', bytes: 4 },
  0x0e: { type: 'f64', bytes: 8 },
};

const TYPE_CODES: Record<IdxType, number> = { u8: 0x08, i8: 0x09, i16: 0x0b, i32: 0x0c, f32: 0x0d, f64: 0x0e };

/** Limits of decodeIdx. */
export interface IdxOptions {
  /** Largest data size accepted, in bytes (default 2 GiB): a header declaring more is rejected before allocating. */
  maxBytes?: number;
}

const DEFAULT_MAX = 2 ** 31;

interface Header {
  type: IdxType;
  elemBytes: number;
  dims: number[];
  headerBytes: number;
  dataBytes: number;
}

/** Parses the header at the start of `b` (which holds at least 4 + 4 * ndim bytes); checks the declared size. */
function parseHeader(b: Uint8Array, file: string, maxBytes: number, limitWhat: string, where: string): Header {
  if (b[0] !== 0 || b[1] !== 0)
    throw new DatasetError(
      `${file}: not an IDX file: expected magic 00 00 at ${where}byte 0, found ${hex(b[0]!)} ${hex(b[1]!)}.`,
      file,
      b[0] !== 0 ? 0 : 1,
    );
  const t = IDX_TYPES[b[2]!];
  if (!t)
    throw new DatasetError(
      `${file}: unknown IDX type byte 0x${hex(b[2]!)} at ${where}byte 2 (expected 08 u8, 09 i8, 0B i16, 0C i32, 0D f32 or 0E f64).`,
      file,
      2,
    );
  const ndim = b[3]!;
  const headerBytes = 4 + 4 * ndim;
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const at = 4 + 4 * i;
    const d = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
    dims.push(d);
    count *= d; // may reach Infinity; a zero dim is handled below (Infinity * 0 would be NaN)
  }
  if (dims.includes(0)) count = 0;
  const dataBytes = count * t.bytes;
  if (!(dataBytes <= maxBytes))
    throw new DatasetError(
      `${file}: the IDX header declares dims [${dims.join(', ')}] of ${t.type} = ${dataBytes} bytes, more than ${limitWhat} (${maxBytes} bytes).`,
      file,
      4,
    );
  return { type: t.type, elemBytes: t.bytes, dims, headerBytes, dataBytes };
}

function hex(v: number): string {
  return v === undefined ? '--' : v.toString(16).padStart(2, '0');
}

/** Big-endian values at `bytes[offset ..]` as a native typed array (u8 and i8 are views, the rest copies). */
function toTyped(bytes: Uint8Array, offset: number, h: Header): IdxData {
  const n = h.dataBytes / h.elemBytes;
  const abs = bytes.byteOffset + offset;
  switch (h.type) {
    case 'u8':
      return new Uint8Array(bytes.buffer, abs, n);
    case 'i8':
      return new Int8Array(bytes.buffer, abs, n);
    default: {
      const out =
        h.type === 'i16' ? new Int16Array(n) : h.type === 'i32' ? new Int32Array(n) : h.type === 'f32' ? new Float32Array(n) : new Float64Array(n);
      const dst = new Uint8Array(out.buffer);
      const src = bytes.subarray(offset, offset + h.dataBytes);
      const w = h.elemBytes;
      // Byte-swap big-endian to little-endian (every platform WebGPU runs on is little-endian).
      for (let i = 0; i < src.length; i += w) for (let k = 0; k < w; k++) dst[i + k] = src[i + w - 1 - k]!;
      return out;
    }
  }
}

/**
 * Decodes an IDX file (raw, or gzip by magic). `file` names it in errors. Every malformation is a DatasetError
 * naming the file, what was expected and the byte offset (for gzip: into the inflated stream unless said otherwise).
 */
export function decodeIdx(bytes: Uint8Array, file = '<idx bytes>', opts: IdxOptions = {}): IdxArray {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX;
  if (isGzip(bytes)) return decodeIdxGzip(bytes, file, maxBytes);
  if (bytes.length < 4) throw new DatasetError(`${file}: truncated IDX header: ${bytes.length} bytes, expected at least 4.`, file, bytes.length);
  const ndim = bytes[3]!;
  if (bytes[0] === 0 && bytes[1] === 0 && IDX_TYPES[bytes[2]!] && bytes.length < 4 + 4 * ndim)
    throw new DatasetError(`${file}: truncated IDX header: ${ndim} dimensions need ${4 + 4 * ndim} bytes, the file has ${bytes.length}.`, file, bytes.length);
  const h = parseHeader(bytes, file, maxBytes, 'the size limit', '');
  const have = bytes.length - h.headerBytes;
  if (have < h.dataBytes)
    throw new DatasetError(
      `${file}: truncated IDX data: dims [${h.dims.join(', ')}] of ${h.type} need ${h.dataBytes} bytes after the ${h.headerBytes}-byte header, the file has ${have}.`,
      file,
      bytes.length,
    );
  if (have > h.dataBytes)
    throw new DatasetError(
      `${file}: IDX dims [${h.dims.join(', ')}] of ${h.type} declare ${h.dataBytes} data bytes but ${have} follow the header (${have - h.dataBytes} extra from byte ${h.headerBytes + h.dataBytes}).`,
      file,
      h.headerBytes + h.dataBytes,
    );
  return { type: h.type, dims: h.dims, data: toTyped(bytes, h.headerBytes, h) };
}

function decodeIdxGzip(gz: Uint8Array, file: string, maxBytes: number): IdxArray {
  const possible = maxInflatedSize(gz.length);
  // Until the header is complete, inflated bytes gather in `head`; then `out` (exactly the declared size) takes over.
  let head = new Uint8Array(0);
  let h: Header | null = null;
  let out: Uint8Array | null = null;
  let filled = 0;
  const take = (chunk: Uint8Array, offset: number) => {
    if (!h) {
      const joined = new Uint8Array(head.length + chunk.length);
      joined.set(head);
      joined.set(chunk, head.length);
      head = joined;
      if (head.length < 4) return;
      const need = 4 + 4 * head[3]!;
      if (head[0] === 0 && head[1] === 0 && IDX_TYPES[head[2]!] && head.length < need) return;
      h = parseHeader(
        head,
        file,
        Math.min(maxBytes, possible),
        possible < maxBytes ? `a ${gz.length}-byte gzip can inflate to` : 'the size limit',
        'inflated ',
      );
      const total = h.headerBytes + h.dataBytes;
      out = new Uint8Array(total);
      const n = Math.min(head.length, total);
      out.set(head.subarray(0, n));
      filled = n;
      if (head.length > total) overflow(total);
      head = new Uint8Array(0);
      return;
    }
    const total = out!.length;
    if (offset + chunk.length > total) {
      out!.set(chunk.subarray(0, total - offset), offset);
      overflow(total);
    }
    out!.set(chunk, offset);
    filled = offset + chunk.length;
  };
  const overflow = (total: number): never => {
    throw new DatasetError(
      `${file}: gzip data inflates past the ${total} bytes its IDX header declares (dims [${h!.dims.join(', ')}] of ${h!.type}); stopped inflating at inflated byte ${total}.`,
      file,
      total,
    );
  };
  inflateGzip(gz, file, take, { maxBytes: possible });
  if (!h) {
    const hd: Uint8Array = head;
    if (hd.length >= 4 && !(hd[0] === 0 && hd[1] === 0 && IDX_TYPES[hd[2]!])) parseHeader(hd, file, maxBytes, 'the size limit', 'inflated '); // names the bad magic/type
    throw new DatasetError(
      `${file}: truncated IDX header: the gzip inflates to ${hd.length} bytes, expected at least ${hd.length >= 4 ? 4 + 4 * hd[3]! : 4}.`,
      file,
      hd.length,
    );
  }
  const hh: Header = h;
  if (filled < out!.length)
    throw new DatasetError(
      `${file}: truncated IDX data: dims [${hh.dims.join(', ')}] of ${hh.type} need ${hh.dataBytes} bytes after the header, the gzip inflates to only ${filled - hh.headerBytes}.`,
      file,
      filled,
    );
  return { type: hh.type, dims: hh.dims, data: toTyped(out!, hh.headerBytes, hh) };
}

/** Encodes an IDX file (big-endian, as the format wants). For fixtures, tests and exporting data. */
export function encodeIdx(arr: IdxArray): Uint8Array {
  const code = TYPE_CODES[arr.type];
  const w = IDX_TYPES[code]!.bytes;
  const n = arr.dims.reduce((a, b) => a * b, 1);
  if (n !== arr.data.length) throw new DatasetError(`encodeIdx: dims [${arr.dims.join(', ')}] hold ${n} values but data has ${arr.data.length}.`);
  const hdr = 4 + 4 * arr.dims.length;
  const out = new Uint8Array(hdr + n * w);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = arr.dims.length;
  arr.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  const src = new Uint8Array(arr.data.buffer, arr.data.byteOffset, n * w);
  for (let i = 0; i < n * w; i += w) for (let k = 0; k < w; k++) out[hdr + i + k] = src[i + w - 1 - k]!;
  return out;
}
