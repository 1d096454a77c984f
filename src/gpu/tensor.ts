// A GPU-resident tensor: a shape and a byte range of a GPU buffer. Float32 unless made as u32/i32.
// A tensor either owns its buffer (from the engine's pool; `dispose()` returns it) or is a view into a buffer
// owned by someone else (a model's parameter arena), and then `dispose()` does nothing.
import { ShaderflowError, shapeStr } from '../errors.js';
import type { Engine } from './engine.js';

/** Element type of a tensor: 32-bit float, unsigned or signed integer. */
export type DType = 'f32' | 'u32' | 'i32';

/** Number of elements of a shape (the product of its dimensions). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShaderflowError(`Invalid tensor shape ${shapeStr(shape)}: dimensions must be whole numbers >= 0.`);
    n *= d;
  }
  return n;
}

/** A GPU buffer with a shape and an element type, taken from its engine's pool; dispose() returns it. */
export class Tensor {
  readonly size: number;
  private disposed = false;

  private constructor(
    readonly engine: Engine,
    readonly buffer: GPUBuffer,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly owned: boolean,
  ) {
    this.size = shapeSize(shape);
  }

  /** A new tensor of `shape` (contents undefined until written). */
  static allocate(engine: Engine, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const size = shapeSize(shape);
    return new Tensor(engine, engine.acquire(size * 4), 0, [...shape], dtype, true);
  }

  /** A view of `shape` at byte `offset` of a buffer this tensor does not own. */
  static view(engine: Engine, buffer: GPUBuffer, offset: number, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    return new Tensor(engine, buffer, offset, [...shape], dtype, false);
  }

  get byteLength(): number {
    return this.size * 4;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The same bytes seen with another shape of the same size (a view; the original keeps ownership). */
  reshape(shape: readonly number[]): Tensor {
    if (shapeSize(shape) !== this.size)
      throw new ShaderflowError(`Cannot reshape ${shapeStr(this.shape)} (${this.size} values) to ${shapeStr(shape)}.`);
    return new Tensor(this.engine, this.buffer, this.offset, shape, this.dtype, false);
  }

  /** The binding for a bind group entry. */
  binding(): GPUBufferBinding {
    this.assertLive();
    return { buffer: this.buffer, offset: this.offset, size: Math.max(4, this.byteLength) };
  }

  /**
   * The binding for a kernel that reads the tensor as array<vec4<f32>>: the size rounded up to 16 bytes, which
   * must still lie inside the buffer (pooled buffers have that slack). `what` names the kernel and operand in the
   * ShaderflowError when it does not.
   */
  vec4Binding(what: string): GPUBufferBinding {
    this.assertLive();
    const size = Math.max(16, Math.ceil(this.byteLength / 16) * 16);
    if (this.offset + size > this.buffer.size)
      throw new ShaderflowError(`${what} ${shapeStr(this.shape)} ends within 16 bytes of its buffer's end; the kernel reads whole vec4s. Pad the buffer by 16 bytes.`);
    return { buffer: this.buffer, offset: this.offset, size };
  }

  /** Writes `data` into the tensor from element `elementOffset` on (queued, no wait). */
  write(data: ArrayLike<number> | Float32Array | Uint32Array | Int32Array, elementOffset = 0): void {
    this.assertLive();
    const arr =
      this.dtype === 'f32'
        ? data instanceof Float32Array ? data : Float32Array.from(data)
        : this.dtype === 'u32'
          ? data instanceof Uint32Array ? data : Uint32Array.from(data)
          : data instanceof Int32Array ? data : Int32Array.from(data);
    if (elementOffset + arr.length > this.size) throw new ShaderflowError(`Writing ${arr.length} values at ${elementOffset} overflows tensor ${shapeStr(this.shape)}.`);
    if (this.engine.isVirtual(this.buffer)) return; // a placeholder of a dry plan holds nothing
    this.engine.device.queue.writeBuffer(this.buffer, this.offset + elementOffset * 4, arr.buffer, arr.byteOffset, arr.byteLength);
  }

  /** Downloads the values (waits for the GPU; reports any pending WebGPU error first). */
  async data(): Promise<Float32Array>;
  async data<T extends Float32Array | Uint32Array | Int32Array>(): Promise<T>;
  async data(): Promise<Float32Array | Uint32Array | Int32Array> {
    this.assertLive();
    const bytes = await this.engine.read(this.buffer, this.offset, this.byteLength);
    return this.dtype === 'f32' ? new Float32Array(bytes) : this.dtype === 'u32' ? new Uint32Array(bytes) : new Int32Array(bytes);
  }

  /** Returns the buffer to the engine's pool; the tensor cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.owned) this.engine.release(this.buffer);
  }

  private assertLive(): void {
    if (this.disposed) throw new ShaderflowError(`Tensor ${shapeStr(this.shape)} was used after dispose().`);
  }
}
