// shaderflow's public API. The browser bundle exports exactly this; the Node entry (src/node.ts) adds file IO.
export * from './errors.js';
export { createEngine, Engine, sizeClass, type EngineOptions, type AdapterReport, type MemoryReport } from './gpu/engine.js';
export { Tensor, shapeSize, type DType } from './gpu/tensor.js';
export { Recorder, runOnce, grid1d, type Binding, type DispatchSpec } from './gpu/recorder.js';
export type { Tuning } from './kernels/tuning.js';
export * as kernels from './kernels/index.js';

export { Layer, resetLayerNames, type ActivationName, type InitializerName, type StepContext } from './layers/layer.js';
export { Dense, type DenseOptions } from './layers/dense.js';
export { Flatten } from './layers/flatten.js';
export { Conv2D } from './layers/conv2d.js';
export { MaxPooling2D, MaxPool2D, AveragePooling2D } from './layers/pooling.js';
export { Dropout } from './layers/dropout.js';
export { Activation } from './layers/activation.js';

export { Sequential, sequential, type CompileArgs, type FitOptions, type LossName, type Checkpoint, type Checkpointer } from './model/sequential.js';
export { History, type Callbacks, type Logs } from './model/history.js';
export * as optimizers from './model/optimizers.js';
export { buildPreset, PRESETS, RECIPES, isPreset, type PresetName, type PresetRecipe } from './model/presets.js';
export { toArtifacts, fromArtifacts, layersFromJson, type ModelJson, type ModelArtifacts } from './model/io.js';
export type { XInput, LabelInput } from './model/data.js';
export { formatBar, formatEpochLine } from './model/progress.js';
export { lineChartSvg, historyCharts } from './viz/plot.js';

// Datasets (src/data): decoders take bytes and run in the browser too; the keras-style loaders (mnist, fashionMnist,
// cifar10) and PNG files/grids come from the Node entry (src/node.ts).
export type { ImageSet, LoadedDataset, Image } from './data/types.js';
export { decodeIdx, encodeIdx, type IdxArray, type IdxType, type IdxData } from './data/idx.js';
export { decodeCifarBatch, decodeCifarMeta, readCifar10Archive, type CifarOptions } from './data/cifar.js';
export { readTar, type TarMember } from './data/tar.js';
export { isGzip, gunzipBounded } from './data/gzip.js';
export { DeviceDataset, cpuGather, chunkPlan, type GatherOptions, type UploadOptions } from './data/device.js';
// The seeded generator behind splits and shuffles (mulberry32), for reproducible data in user code and tests.
export { mulberry32 } from './reference/random.js';
export { numpyPermutation, trainTestSplit, toCategorical, normalize, byteTable, epochOrder, permutation, pixelStats, standardizeParams, type SplitOptions } from './data/preprocess.js';
// Images of one's own: Keras' image_dataset_from_directory logic (class folders, order, seeded shuffle, split,
// tf.image.resize) and, in a page, a picked folder (imageDatasetFromFiles) or single images (imageFromSource).
// The Node entry adds imageDatasetFromDirectory (a folder on disk), readImage and writeJpeg.
export {
  resizeImage,
  resizeFloat,
  toChannels,
  IMAGE_EXTENSIONS,
  type ImageDatasetOptions,
  type ImageFolderSet,
  type SkippedImage,
  type ColorMode,
  type LabelMode,
  type Interpolation,
  type Subset,
} from './data/image-dataset.js';
export { imageHeader, decodeImage, MAX_IMAGE_SIDE, MAX_IMAGE_PIXELS, type ImageHeader, type ImageFormat } from './data/image-files.js';
export { imageDatasetFromFiles, imageFromSource, groupFileList, type ImageSource, type NamedFile } from './data/browser-images.js';
