// A uint8 image dataset resident on the GPU: images packed four bytes to a u32 (which is just the bytes as they
// are: no host conversion, never float32 on the host), labels as u32, uploaded once. A training step records one
// `recordGather` that turns a shuffled window of examples into float batches (shaders/data.wgsl); per step the
// caller only rewrites the 4-byte `start` buffer, so a recorded step replays unchanged.
//
// Size limits: a dataset larger than one storage binding (maxStorageBufferBindingSize, 128 MiB on most adapters;
// CIFAR-10 train packs to 153.6 MB) is split into chunks of whole examples, each its own buffer and binding, and
// the gather records one dispatch per chunk (two for CIFAR-10 train).
import { DatasetError, ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { Engine } from '../gpu/engine.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { byteTable } from './preprocess.js';
import { exampleBytes, type ImageSet } from './types.js';
import { tuningOf } from '../kernels/tuning.js';

/** How a batch of uint8 examples becomes float32 inputs and labels (on the GPU, and in cpuGather, its CPU twin). */
export interface GatherOptions {
  /** x = byte * scale + offset (float32 arithmetic, via byteTable). Default scale 1/255, offset 0. */
  scale?: number;
  offset?: number;
  /** y[i] = label as u32 (for sparse categorical losses) instead of one-hot float rows. */
  sparse?: boolean;
}

/** How DeviceDataset.upload splits a dataset over GPU buffers. */
export interface UploadOptions {
  /** Largest chunk (bytes) per GPU buffer; default the adapter's storage-binding and buffer limits. */
  maxChunkBytes?: number;
}

interface Chunk {
  first: number;
  count: number;
  buffer: GPUBuffer;
}

const STORAGE = 0x0080;
const WRITE_SLICE = 16 * 1024 * 1024;

function checkLabels(labels: ArrayLike<number>, numClasses: number, what: string): void {
  for (let i = 0; i < labels.length; i++)
    if (labels[i]! >= numClasses) throw new DatasetError(`${what}: label of example ${i} is ${labels[i]}, outside 0..${numClasses - 1}.`);
}

function checkSet(set: ImageSet, what: string): number {
  const [n, h, w, c] = set.shape;
  const row = h * w * c;
  if (set.shape.length !== 4 || !set.shape.every((d) => Number.isInteger(d) && d >= 0) || set.images.length !== n * row || set.labels.length !== n)
    throw new ShapeError(`${what}: shape ${shapeStr(set.shape)} does not match ${set.images.length} image bytes and ${set.labels.length} labels.`);
  return row;
}

/**
 * How `count` examples of `rowBytes` bytes split into buffers of at most `limitBytes` (whole examples each; one
 * chunk, possibly empty, at least). CIFAR-10 train at a 128 MiB limit: 43690 + 6310 examples.
 */
export function chunkPlan(count: number, rowBytes: number, limitBytes: number): { first: number; count: number }[] {
  const maxChunk = Math.floor(limitBytes / 4) * 4;
  const perChunk = Math.floor(maxChunk / Math.max(1, rowBytes));
  if (perChunk < 1)
    throw new ShaderflowError(`DeviceDataset.upload: one example is ${rowBytes} bytes, more than a storage binding can hold here (${maxChunk} bytes).`);
  const out: { first: number; count: number }[] = [];
  for (let first = 0; first < count; first += perChunk) out.push({ first, count: Math.min(perChunk, count - first) });
  if (out.length === 0) out.push({ first: 0, count: 0 });
  return out;
}

/** A uint8 dataset uploaded once to the GPU (packed four bytes per u32, chunked under the buffer limits), from which each training step gathers its batch. */
export class DeviceDataset {
  /** Number of examples. */
  readonly count: number;
  /** Shape of one example, e.g. [28, 28, 1]. */
  readonly exampleShape: number[];
  /** Number of classes the labels index. */
  readonly numClasses: number;
  private readonly rowSize: number;
  private disposed = false;

  private constructor(
    private readonly engine: Engine,
    set: ImageSet,
    numClasses: number,
    private readonly chunks: Chunk[],
    private readonly labels: GPUBuffer,
  ) {
    this.count = set.shape[0];
    this.exampleShape = set.shape.slice(1);
    this.numClasses = numClasses;
    this.rowSize = exampleBytes(set);
  }

  /** Uploads `set` once: images packed four to a u32, in chunks of whole examples that fit one binding; labels as u32. */
  static upload(engine: Engine, set: ImageSet, numClasses: number, opts: UploadOptions = {}): DeviceDataset {
    const row = checkSet(set, 'DeviceDataset.upload');
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new ShaderflowError(`DeviceDataset.upload: numClasses must be >= 1, got ${numClasses}.`);
    checkLabels(set.labels, numClasses, 'DeviceDataset.upload');
    const n = set.shape[0];
    const limit = Math.min(engine.limits.maxStorageBufferBindingSize, engine.limits.maxBufferSize, opts.maxChunkBytes ?? Infinity);
    const plan = chunkPlan(n, row, limit);
    const device = engine.device;
    const chunks: Chunk[] = [];
    const acquired: GPUBuffer[] = [];
    try {
      for (const { first, count } of plan) {
        const bytes = count * row;
        const buffer = engine.acquire(Math.max(4, Math.ceil(bytes / 4) * 4), 'storage');
        acquired.push(buffer);
        const src = set.images.subarray(first * row, first * row + bytes);
        const aligned = bytes - (bytes % 4);
        for (let o = 0; o < aligned; o += WRITE_SLICE) {
          const len = Math.min(WRITE_SLICE, aligned - o);
          device.queue.writeBuffer(buffer, o, src.buffer, src.byteOffset + o, len);
        }
        if (aligned < bytes) {
          const tail = new Uint8Array(4);
          tail.set(src.subarray(aligned));
          device.queue.writeBuffer(buffer, aligned, tail.buffer, 0, 4);
        }
        chunks.push({ first, count, buffer });
      }
      const labels = engine.acquire(Math.max(4, n * 4), 'storage');
      acquired.push(labels);
      if (n > 0) {
        const lab = Uint32Array.from(set.labels);
        device.queue.writeBuffer(labels, 0, lab.buffer, 0, lab.byteLength);
      }
      return new DeviceDataset(engine, set, numClasses, chunks, labels);
    } catch (e) {
      for (const b of acquired) engine.release(b);
      throw e;
    }
  }

  /** Number of GPU buffers (bindings) the images were split into. */
  get chunkCount(): number {
    return this.chunks.length;
  }

  /** GPU bytes held (images and labels). */
  get byteLength(): number {
    return this.chunks.reduce((a, c) => a + c.buffer.size, 0) + this.labels.size;
  }

  /**
   * Records: for i < n: x[i, :] = float(image[order[start + i]]) * scale + offset; y[i, :] = one-hot(label), or
   * y[i] = label as u32 when sparse. `start` is a storage buffer (STORAGE | COPY_DST, >= 4 bytes) whose first u32
   * the caller rewrites per step (queue.writeBuffer of 4 bytes); the recording itself never changes. x must hold at
   * least n * prod(exampleShape) floats and y n * numClasses (or n); only the first n rows are written.
   */
  recordGather(rec: Recorder, order: Tensor, start: GPUBuffer, n: number, x: Tensor, y: Tensor, opts: GatherOptions = {}): void {
    if (this.disposed) throw new ShaderflowError('DeviceDataset.recordGather after dispose().');
    if (!Number.isInteger(n) || n < 1 || n > order.size)
      throw new ShapeError(`DeviceDataset.recordGather: batch size ${n} must be 1..${order.size} (the order's length).`);
    if (!(start.usage & STORAGE) || start.size < 4)
      throw new ShaderflowError('DeviceDataset.recordGather: `start` must be a storage buffer (STORAGE | COPY_DST) of at least 4 bytes.');
    const row = this.rowSize;
    const sparse = opts.sparse === true;
    const yPer = sparse ? 1 : this.numClasses;
    if (x.size < n * row) throw new ShapeError(`DeviceDataset.recordGather: x ${shapeStr(x.shape)} holds ${x.size} floats, a batch of ${n} needs ${n * row}.`);
    if (y.size < n * yPer)
      throw new ShapeError(`DeviceDataset.recordGather: y ${shapeStr(y.shape)} holds ${y.size} values, a batch of ${n} needs ${n * yPer} (${sparse ? 'sparse labels' : 'one-hot rows'}).`);
    const table = byteTable(opts.scale ?? 1 / 255, opts.offset ?? 0);
    const wg = tuningOf(rec.engine).elementwiseWorkgroup;
    const threads = Math.max(n * row, n * yPer);
    const types = 'u'.repeat(8) + 'f'.repeat(256);
    this.chunks.forEach((c, k) => {
      rec.dispatch({
        shader: 'data',
        constants: { WG: wg },
        bindings: [rec.uniform([n, row, this.numClasses, sparse ? 1 : 0, c.first, c.count, k === 0 ? 1 : 0, 0, ...table], types), { buffer: start, offset: 0, size: 4 }, order, c.buffer, this.labels, x, y],
        workgroups: grid1d(rec.engine, threads, wg),
        label: this.chunks.length > 1 ? `gather image batch (chunk ${k + 1}/${this.chunks.length})` : 'gather image batch',
        // one byte-to-float per output value: reads the order and a byte, writes x (and y)
        cost: { variant: 'scalar', threads: wg, serial: 1, flops: n * row, bytes: n * row * 5 + 4 * n * (yPer + 2) },
      });
    });
  }

  /** Frees the GPU buffers; the dataset cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const c of this.chunks) this.engine.release(c.buffer);
    this.engine.release(this.labels);
  }
}

/**
 * The CPU path of `recordGather`, for checks and CPU-only use: the same table, so x matches the GPU bit for bit.
 * y is float32 one-hot rows, or (sparse) a Uint32Array of labels, as the GPU buffer holds them.
 */
export function cpuGather(set: ImageSet, order: Uint32Array, start: number, n: number, numClasses: number, opts?: GatherOptions & { sparse?: false }): { x: Float32Array; y: Float32Array };
export function cpuGather(set: ImageSet, order: Uint32Array, start: number, n: number, numClasses: number, opts: GatherOptions & { sparse: true }): { x: Float32Array; y: Uint32Array };
export function cpuGather(set: ImageSet, order: Uint32Array, start: number, n: number, numClasses: number, opts: GatherOptions = {}): { x: Float32Array; y: Float32Array | Uint32Array } {
  const row = checkSet(set, 'cpuGather');
  if (start < 0 || start + n > order.length) throw new ShapeError(`cpuGather: positions ${start}..${start + n - 1} fall outside the order's ${order.length}.`);
  const table = byteTable(opts.scale ?? 1 / 255, opts.offset ?? 0);
  const x = new Float32Array(n * row);
  const y = opts.sparse ? new Uint32Array(n) : new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) {
    const ex = order[start + i]!;
    if (ex >= set.shape[0]) throw new ShapeError(`cpuGather: order[${start + i}] = ${ex} is not an example index (0..${set.shape[0] - 1}).`);
    const base = ex * row;
    for (let j = 0; j < row; j++) x[i * row + j] = table[set.images[base + j]!]!;
    const label = set.labels[ex]!;
    if (label >= numClasses) throw new DatasetError(`cpuGather: label of example ${ex} is ${label}, outside 0..${numClasses - 1}.`);
    if (opts.sparse) y[i] = label;
    else y[i * numClasses + label] = 1;
  }
  return { x, y };
}
