// shaderflow's public API (Node and browser bundles export the same names).
export * from './errors.js';
export { createEngine, Engine, sizeClass, type EngineOptions, type AdapterReport, type MemoryReport } from './gpu/engine.js';
export { Tensor, shapeSize, type DType } from './gpu/tensor.js';
export { Recorder, runOnce, grid1d, type Binding, type DispatchSpec } from './gpu/recorder.js';
export type { Tuning } from './gpu/tuning.js';
export * as kernels from './kernels/index.js';
