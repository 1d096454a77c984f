// shaderflow's public API (Node and browser bundles export the same names).
export * from './errors.js';
export { createEngine, Engine, sizeClass, type EngineOptions, type AdapterReport, type MemoryReport } from './gpu/engine.js';
export { Tensor, shapeSize, type DType } from './gpu/tensor.js';
export { Recorder, runOnce, grid1d, type Binding, type DispatchSpec } from './gpu/recorder.js';
export type { Tuning } from './gpu/tuning.js';
export * as kernels from './kernels/index.js';

// Datasets (src/data): decoders take bytes and run in the browser too; the keras-style loaders (mnist, fashionMnist,
// cifar10) and PNG files/grids come from the Node entry (src/node.ts).
export type { ImageSet, LoadedDataset, Image } from './data/types.js';
export { decodeIdx, encodeIdx, type IdxArray, type IdxType, type IdxData } from './data/idx.js';
export { decodeCifarBatch, decodeCifarMeta, readCifar10Archive, type CifarOptions } from './data/cifar.js';
export { readTar, type TarMember } from './data/tar.js';
export { isGzip, gunzipBounded } from './data/gzip.js';
export { DeviceDataset, cpuGather, chunkPlan, type GatherOptions, type UploadOptions } from './data/device.js';
export { trainTestSplit, toCategorical, normalize, byteTable, epochOrder, pixelStats, standardizeParams, type SplitOptions } from './data/preprocess.js';
