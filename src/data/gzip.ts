// Bounded gzip inflation for dataset files (fflate's streaming Gunzip, fed in 64 KiB slices).
// The caller's sink sees each inflated chunk as it comes and may stop the stream (by throwing a DatasetError) the
// moment the output passes what the file's own header declares: a gzip bomb is never inflated past that size.
// Every member's CRC-32 and length are checked against its trailer, so a corrupt stream is a DatasetError
// rather than silently wrong pixels. Nothing here touches Node built-ins (the browser bundle uses it too).
import { Gunzip } from 'fflate';
import { DatasetError } from '../errors.js';

/** True when `bytes` start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Deflate cannot expand data more than 1032:1 (a 258-byte match in 2 bits), so no honest gzip of n bytes inflates past this. */
export function maxInflatedSize(compressedBytes: number): number {
  return compressedBytes * 1032 + 1024;
}

// ------------------------------------------------------------------ CRC-32 (slicing by 8)

const CRC_TABLES: Uint32Array = (() => {
  const t = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
})();

/** Updates a running CRC-32 (start with 0) with `data`; returns the new value (unsigned). */
export function crc32(data: Uint8Array, crc = 0): number {
  const t = CRC_TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const n = data.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    const a = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) ^ c;
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
    i += 8;
  }
  for (; i < n; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

// ------------------------------------------------------------------ bounded streaming inflate

/** Receives inflated bytes in order; `offset` is where `chunk` starts in the inflated stream. Throw to stop. */
export type InflateSink = (chunk: Uint8Array, offset: number) => void;

/** Limits of gunzipBounded: how large the inflated data may grow before it is refused. */
export interface InflateOptions {
  /** Hard cap on the inflated size (bytes); passing it is a DatasetError. Default: what deflate could produce at most. */
  maxBytes?: number;
  /** Most compressed bytes handed to fflate per push (default 256 KiB). */
  sliceBytes?: number;
  /** Inflated bytes aimed at per push (default 4 MiB): slices shrink as the compression ratio grows. */
  targetOutputBytes?: number;
}

const SLICE = 256 * 1024;

function readU32LE(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/**
 * Inflates the gzip file `bytes` (named `file` in errors) into `sink`, chunk by chunk, and returns the inflated
 * size. Errors are DatasetErrors: a bad header, corrupt deflate data, a truncated stream, a CRC or length that
 * disagrees with a member's trailer, or output past `maxBytes`. A DatasetError thrown by the sink is passed on
 * unchanged (and stops inflation at once).
 */
export function inflateGzip(bytes: Uint8Array, file: string, sink: InflateSink, opts: InflateOptions = {}): number {
  if (!isGzip(bytes)) throw new DatasetError(`${file}: not a gzip file (expected magic 1f 8b at byte 0).`, file, 0);
  if (bytes.length < 18) throw new DatasetError(`${file}: truncated gzip file (${bytes.length} bytes; a gzip member needs at least 18).`, file, bytes.length);
  if (bytes[2] !== 8) throw new DatasetError(`${file}: unsupported gzip compression method ${bytes[2]} at byte 2 (expected 8, deflate).`, file, 2);
  if (bytes[3]! & 0xe0) throw new DatasetError(`${file}: corrupt gzip header: reserved flag bits set in byte 3 (0x${bytes[3]!.toString(16)}).`, file, 3);
  const maxBytes = Math.min(opts.maxBytes ?? Infinity, maxInflatedSize(bytes.length));
  const slice = Math.max(1024, opts.sliceBytes ?? SLICE);
  const target = opts.targetOutputBytes ?? 4 * 1024 * 1024;

  let total = 0;
  // Per member: start offset in the compressed file, inflated length, running CRC.
  const memberStarts: number[] = [0];
  const memberCrc: number[] = [0];
  const memberLen: number[] = [0];
  let pos = 0; // compressed bytes pushed so far
  let lastStep = 0;
  let sinkError: unknown = null;

  const gz = new Gunzip((chunk: Uint8Array) => {
    if (chunk.length === 0) return;
    if (total + chunk.length > maxBytes) {
      sinkError = new DatasetError(
        `${file}: inflated data passes ${maxBytes} bytes, more than this file can honestly hold; stopped inflating (at compressed byte ${pos}).`,
        file,
        pos,
      );
      throw sinkError;
    }
    const m = memberCrc.length - 1;
    memberCrc[m] = crc32(chunk, memberCrc[m]);
    memberLen[m] = memberLen[m]! + chunk.length;
    try {
      sink(chunk, total);
    } catch (e) {
      sinkError = e;
      throw e;
    }
    total += chunk.length;
  });
  gz.onmember = (offset: number) => {
    memberStarts.push(offset);
    memberCrc.push(0);
    memberLen.push(0);
  };

  try {
    // Slices adapt to the compression ratio seen so far so that one push inflates about `target` bytes: large
    // slices for ordinary data (fast), small ones for a stream that expands 1000:1 (a bomb is stopped within ~4 MB).
    let step = Math.min(slice, 4096);
    while (pos < bytes.length) {
      const end = Math.min(bytes.length, pos + step);
      lastStep = end - pos;
      const piece = bytes.subarray(pos, end);
      pos = end;
      gz.push(piece, end === bytes.length);
      const ratio = Math.max(1, total / pos);
      step = Math.max(1024, Math.min(slice, Math.floor(target / ratio)));
    }
  } catch (e) {
    if (sinkError !== null) throw sinkError;
    const code = (e as { code?: number }).code;
    const at = Math.max(0, pos - lastStep);
    const what =
      code === 0
        ? 'truncated gzip data (the deflate stream ends early)'
        : code === 6
          ? 'bytes after the last gzip member are not another gzip member'
          : `corrupt gzip data (${(e as Error).message ?? String(e)})`;
    throw new DatasetError(`${file}: ${what}, within compressed bytes ${at}..${pos} of ${bytes.length}.`, file, at, { cause: e });
  }

  // Trailers: member k's 8-byte trailer sits just before member k+1 starts; the last one ends the file.
  for (let k = 0; k < memberStarts.length; k++) {
    const trailerEnd = k + 1 < memberStarts.length ? memberStarts[k + 1]! : bytes.length;
    const at = trailerEnd - 8;
    if (at < memberStarts[k]! + 10) throw new DatasetError(`${file}: truncated gzip member ${k} (no room for its trailer).`, file, Math.max(0, at));
    const crc = readU32LE(bytes, at);
    const len = readU32LE(bytes, at + 4);
    if (crc !== memberCrc[k])
      throw new DatasetError(
        `${file}: corrupt gzip data: CRC-32 of the inflated member ${k} is ${memberCrc[k]!.toString(16)} but its trailer at byte ${at} says ${crc.toString(16)}.`,
        file,
        at,
      );
    if (len !== memberLen[k]! % 2 ** 32)
      throw new DatasetError(
        `${file}: corrupt gzip data: member ${k} inflated to ${memberLen[k]} bytes but its trailer at byte ${at + 4} says ${len}.`,
        file,
        at + 4,
      );
  }
  return total;
}

/** Inflates a whole gzip file into one array (bounded by `maxBytes`). For small files and tests. */
export function gunzipBounded(bytes: Uint8Array, file: string, opts: InflateOptions = {}): Uint8Array {
  const chunks: Uint8Array[] = [];
  const n = inflateGzip(bytes, file, (c) => void chunks.push(c), opts);
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
