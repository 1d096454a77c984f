// The error family every public entry point throws. Each message names what is at fault (layer, shape, file and
// byte offset, kernel) and says what to do; raw WebGPU messages are wrapped, never passed on bare.

/** The base of every error shaderflow throws: its message names what is at fault and says what to do. */
export class ShaderflowError extends Error {
  override name = 'ShaderflowError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Shapes that disagree: names the layer and both shapes. */
export class ShapeError extends ShaderflowError {
  override name = 'ShapeError';
}

/** A dataset file that is missing, truncated or malformed: names the file and byte offset. */
export class DatasetError extends ShaderflowError {
  override name = 'DatasetError';
  constructor(
    message: string,
    readonly file?: string,
    readonly offset?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** No adapter, a lost device, a WebGPU validation or out-of-memory error: names the kernel involved. */
export class DeviceError extends ShaderflowError {
  override name = 'DeviceError';
}

/** A loss or gradient that is not finite. */
export class NumericError extends ShaderflowError {
  override name = 'NumericError';
}

/** A model.json / weights.bin that does not describe a model we can build. */
export class ModelFormatError extends ShaderflowError {
  override name = 'ModelFormatError';
}

/**
 * Browser storage that cannot be used: no IndexedDB (a private window, storage disabled), a quota exceeded, a
 * name with nothing stored under it. Names the storage URL and what to do.
 */
export class StorageError extends ShaderflowError {
  override name = 'StorageError';
}

/** A shape as error messages print it: [n, 28, 28, 1]. */
export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
