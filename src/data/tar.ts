// A streaming tar reader (ustar, GNU long names, pax path/size records) for pulling a few members out of an
// archive without unpacking it: fed in chunks (straight from the gzip inflater) or all at once. Only the members
// the caller selects are kept; the rest are skipped as they stream past. Pure: no file system.
import { DatasetError } from '../errors.js';
import { inflateGzip, isGzip, type InflateOptions } from './gzip.js';

/** One file of a tar archive, as readTar lists it. */
export interface TarMember {
  /** Full path inside the archive. */
  name: string;
  /** Size of its data in bytes. */
  size: number;
  /** Byte offset of the member's data in the (uncompressed) tar stream. */
  offset: number;
  data: Uint8Array;
}

/**
 * Decides whether a member is kept: return true to keep it. May throw a DatasetError (e.g. a size that cannot be
 * right) before any of the member's bytes are buffered.
 */
export type TarSelect = (name: string, size: number, offset: number) => boolean;

const BLOCK = 512;

function field(h: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && h[end] !== 0) end++;
  let s = '';
  for (let i = at; i < end; i++) s += String.fromCharCode(h[i]!);
  return s;
}

function utf8(b: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false }).decode(b);
}

/** Tar numbers: octal text (NUL/space padded), or GNU base-256 when the top bit of the first byte is set. */
function number(h: Uint8Array, at: number, len: number, what: string, file: string, offset: number): number {
  if (h[at]! & 0x80) {
    let v = h[at]! & 0x3f;
    for (let i = at + 1; i < at + len; i++) v = v * 256 + h[i]!;
    if (h[at]! & 0x40 || v > Number.MAX_SAFE_INTEGER) throw new DatasetError(`${file}: tar header at byte ${offset}: ${what} out of range.`, file, offset + at);
    return v;
  }
  const s = field(h, at, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s))
    throw new DatasetError(`${file}: corrupt tar header at byte ${offset}: ${what} field is "${s.replace(/[^\x20-\x7e]/g, '?')}", expected octal digits.`, file, offset + at);
  return parseInt(s, 8);
}

export class TarStream {
  private readonly members = new Map<string, TarMember>();
  private readonly seen: string[] = [];
  private hdr = new Uint8Array(BLOCK);
  private hdrFill = 0;
  /** Position in the tar stream (bytes consumed so far). */
  private pos = 0;
  private state: 'header' | 'data' | 'end' = 'header';
  private endAt = -1; // where the end-of-archive marker starts
  private remaining = 0; // data bytes left in the current member
  private padding = 0; // padding bytes left after it
  private cur: { name: string; size: number; offset: number; kind: 'keep' | 'skip' | 'longname' | 'pax'; buf: Uint8Array | null; fill: number } | null = null;
  private longName: string | null = null;
  private paxPath: string | null = null;
  private paxSize: number | null = null;

  constructor(
    readonly file: string,
    private readonly select: TarSelect,
    /** Largest member text (long name / pax record) accepted. */
    private readonly maxMeta = 1 << 20,
  ) {}

  get ended(): boolean {
    return this.state === 'end';
  }

  /** Feeds the next bytes of the tar stream. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && this.state !== 'end') {
      if (this.state === 'header') {
        const n = Math.min(BLOCK - this.hdrFill, chunk.length - i);
        this.hdr.set(chunk.subarray(i, i + n), this.hdrFill);
        this.hdrFill += n;
        i += n;
        this.pos += n;
        if (this.hdrFill === BLOCK) {
          this.hdrFill = 0;
          this.header(this.pos - BLOCK);
        }
        continue;
      }
      // data (then padding)
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, chunk.length - i);
        const c = this.cur!;
        if (c.kind !== 'skip') {
          if (c.buf === null && n === c.size) {
            c.buf = chunk.subarray(i, i + n); // whole member inside this chunk: keep a view, no copy
          } else {
            if (c.buf === null) c.buf = new Uint8Array(c.size);
            c.buf.set(chunk.subarray(i, i + n), c.fill);
          }
          c.fill += n;
        }
        this.remaining -= n;
        i += n;
        this.pos += n;
        if (this.remaining === 0) this.finishMember();
        continue;
      }
      const n = Math.min(this.padding, chunk.length - i);
      this.padding -= n;
      i += n;
      this.pos += n;
      if (this.padding === 0) this.state = 'header';
    }
  }

  private header(at: number): void {
    const h = this.hdr;
    let zero = true;
    for (let k = 0; k < BLOCK; k++)
      if (h[k] !== 0) {
        zero = false;
        break;
      }
    if (zero) {
      this.endAt = at;
      this.state = 'end'; // end-of-archive marker (a second zero block may follow; nothing after it is read)
      return;
    }
    const stored = number(h, 148, 8, 'checksum', this.file, at);
    let sum = 0;
    for (let k = 0; k < BLOCK; k++) sum += k >= 148 && k < 156 ? 0x20 : h[k]!;
    if (sum !== stored)
      throw new DatasetError(`${this.file}: corrupt tar header at byte ${at}: checksum ${stored} but the header sums to ${sum} (not a tar file, or damaged).`, this.file, at);
    const type = String.fromCharCode(h[156]!);
    let size = number(h, 124, 12, 'size', this.file, at);
    let name = field(h, 0, 100);
    const magic = field(h, 257, 6);
    if (magic === 'ustar' || magic === 'ustar ') {
      const prefix = field(h, 345, 155);
      if (prefix && magic === 'ustar') name = `${prefix}/${name}`;
    }
    if (this.longName !== null) name = this.longName;
    if (this.paxPath !== null) name = this.paxPath;
    if (this.paxSize !== null && type !== 'x' && type !== 'g' && type !== 'L') size = this.paxSize;
    const dataAt = at + BLOCK;
    let kind: 'keep' | 'skip' | 'longname' | 'pax' = 'skip';
    if (type === 'L' || type === 'x') {
      if (size > this.maxMeta) throw new DatasetError(`${this.file}: tar header at byte ${at}: a ${size}-byte ${type === 'L' ? 'long name' : 'pax'} record is not plausible.`, this.file, at);
      kind = type === 'L' ? 'longname' : 'pax';
    } else {
      this.longName = null;
      this.paxPath = null;
      this.paxSize = null;
      const regular = type === '0' || type === '\0' || type === '7';
      if (regular) {
        this.seen.push(name);
        if (this.select(name, size, dataAt)) {
          if (size > 2 ** 31) throw new DatasetError(`${this.file}: tar member "${name}" at byte ${at} declares ${size} bytes, more than can be held.`, this.file, at);
          kind = 'keep';
        }
      }
    }
    this.cur = { name, size, offset: dataAt, kind, buf: null, fill: 0 };
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.state = 'data';
    if (size === 0) this.finishMember();
  }

  private finishMember(): void {
    const c = this.cur!;
    const data = c.buf ?? new Uint8Array(0);
    if (c.kind === 'keep') this.members.set(c.name, { name: c.name, size: c.size, offset: c.offset, data });
    else if (c.kind === 'longname') this.longName = utf8(data).replace(/\0+$/, '');
    else if (c.kind === 'pax') this.pax(data, c.offset);
    this.cur = null;
    if (this.padding === 0) this.state = 'header';
  }

  private pax(rec: Uint8Array, at: number): void {
    let i = 0;
    while (i < rec.length) {
      let sp = i;
      while (sp < rec.length && rec[sp] !== 0x20) sp++;
      const len = parseInt(utf8(rec.subarray(i, sp)), 10);
      if (!Number.isFinite(len) || len <= 0 || i + len > rec.length)
        throw new DatasetError(`${this.file}: corrupt pax record at byte ${at + i}.`, this.file, at + i);
      const kv = utf8(rec.subarray(sp + 1, i + len - 1));
      const eq = kv.indexOf('=');
      const k = kv.slice(0, eq);
      const v = kv.slice(eq + 1);
      if (k === 'path') this.paxPath = v;
      else if (k === 'size') {
        if (!/^[0-9]+$/.test(v)) throw new DatasetError(`${this.file}: corrupt pax size "${v}" at byte ${at + i}.`, this.file, at + i);
        this.paxSize = Number(v);
      }
      i += len;
    }
  }

  /** Call after the last chunk: checks the archive did not stop inside a member. Returns the kept members by name. */
  finish(): Map<string, TarMember> {
    if (this.state === 'data' && (this.remaining > 0 || this.padding > 0)) {
      const c = this.cur;
      if (this.remaining > 0 && c)
        throw new DatasetError(
          `${this.file}: truncated tar: member "${c.name}" declares ${c.size} bytes from byte ${c.offset}, but the archive ends at byte ${this.pos}.`,
          this.file,
          this.pos,
        );
      // Only the padding after the last member is missing: the data is whole, accept it.
    }
    if (this.state === 'header' && this.hdrFill > 0)
      throw new DatasetError(`${this.file}: truncated tar: a header block starts at byte ${this.pos - this.hdrFill} but the archive ends ${this.hdrFill} bytes into it.`, this.file, this.pos);
    return this.members;
  }

  /** Where the archive's content ends: its end-of-archive marker, or the bytes consumed so far. */
  get position(): number {
    return this.endAt >= 0 ? this.endAt : this.pos;
  }

  /** Regular files seen so far (for "missing member" messages). */
  get names(): readonly string[] {
    return this.seen;
  }
}

/** Limits of readTar (gzip-compressed archives are inflated under them). */
export interface ReadTarOptions extends InflateOptions {}

/**
 * Reads the members `select` keeps from a tar or tar.gz (gzip by magic), inflating a .tar.gz as a stream (the
 * whole tar is never held in memory; only kept members are). Returns them by path, and every regular file's path.
 */
export function readTar(bytes: Uint8Array, file: string, select: TarSelect, opts: ReadTarOptions = {}): { members: Map<string, TarMember>; names: readonly string[]; end: number } {
  const tar = new TarStream(file, select);
  if (isGzip(bytes)) {
    inflateGzip(bytes, file, (chunk) => tar.push(chunk), opts);
  } else {
    if (bytes.length > 0 && bytes.length < BLOCK)
      throw new DatasetError(`${file}: not a tar archive: ${bytes.length} bytes, shorter than one 512-byte header.`, file, 0);
    tar.push(bytes);
  }
  return { members: tar.finish(), names: tar.names, end: tar.position };
}

/** Writes a ustar archive (regular files only). For fixtures and tests. */
export function encodeTar(files: { name: string; data: Uint8Array }[]): Uint8Array {
  let total = BLOCK * 2;
  for (const f of files) total += BLOCK + Math.ceil(f.data.length / BLOCK) * BLOCK;
  const out = new Uint8Array(total);
  let o = 0;
  const put = (h: Uint8Array, at: number, s: string) => {
    for (let i = 0; i < s.length; i++) h[at + i] = s.charCodeAt(i);
  };
  for (const f of files) {
    if (f.name.length > 100) throw new DatasetError(`encodeTar: name longer than 100 bytes: ${f.name}`);
    const h = out.subarray(o, o + BLOCK);
    put(h, 0, f.name);
    put(h, 100, '0000644\0');
    put(h, 108, '0001750\0');
    put(h, 116, '0001750\0');
    put(h, 124, f.data.length.toString(8).padStart(11, '0') + '\0');
    put(h, 136, '00000000000\0');
    h[156] = 0x30;
    put(h, 257, 'ustar\0');
    put(h, 263, '00');
    let sum = 0;
    for (let k = 0; k < BLOCK; k++) sum += k >= 148 && k < 156 ? 0x20 : h[k]!;
    put(h, 148, sum.toString(8).padStart(6, '0') + '\0 ');
    out.set(f.data, o + BLOCK);
    o += BLOCK + Math.ceil(f.data.length / BLOCK) * BLOCK;
  }
  return out;
}
