// shaderflow's public API. The browser bundle exports exactly this; the Node entry (src/node.ts) adds file IO.
export * from './errors.js';
export { createEngine, Engine, sizeClass, type EngineOptions, type AdapterReport, type MemoryReport, type AdapterClass, type PipelineSpec } from './gpu/engine.js';
export { Tensor, shapeSize, type DType } from './gpu/tensor.js';
export { Recorder, runOnce, grid1d, type Binding, type DispatchSpec, type DispatchCost, type PlanEntry, type TimingMethod } from './gpu/recorder.js';
export type { Tuning, MatmulChoice, ConvTile } from './kernels/tuning.js';
export type { Plan, PlanRow, GpuSpec } from './model/plan.js';
export type { BackendName } from './gpu/provider.js';
/** The kernel families' TypeScript side: each function records one or more dispatches into a Recorder. */
export * as kernels from './kernels/index.js';

export { Layer, resetLayerNames, type ActivationName, type InitializerName, type StepContext, type ParamSpec, type MultiInputLayer } from './layers/layer.js';
export { SymbolicTensor } from './layers/symbolic.js';
export { InputLayer, input } from './layers/input.js';
export { Add, Multiply, Concatenate, Merge, type MergeOptions } from './layers/merge.js';
export { Dense, type DenseOptions } from './layers/dense.js';
export { Flatten } from './layers/flatten.js';
export { Conv2D, type Conv2DOptions } from './layers/conv2d.js';
export { MaxPooling2D, MaxPool2D, AveragePooling2D, type Padding, type Pooling2DOptions } from './layers/pooling.js';
export { Dropout } from './layers/dropout.js';
export { BatchNormalization, type BatchNormalizationOptions } from './layers/normalization.js';
export { ZeroPadding2D, type ZeroPadding, type ZeroPadding2DOptions } from './layers/padding.js';
export { DepthwiseConv2D, SeparableConv2D, type DepthwiseConv2DOptions, type SeparableConv2DOptions } from './layers/depthwise.js';
export { GlobalAveragePooling2D, GlobalMaxPooling2D, type GlobalPooling2DOptions } from './layers/global-pooling.js';
export { Activation, LeakyReLU, type LeakyReLUOptions } from './layers/activation.js';
export {
  RandomFlip, RandomTranslation, RandomRotation, RandomZoom, RandomCrop, RandomContrast, RandomBrightness, ImageAugmentation,
  checkAugmentationOrder, type AugmentFactor, type AugmentOptions, type ResampleOptions, type FlipMode,
} from './layers/augment.js';
export type { FillMode } from './kernels/augment.js';
export { defineLayer, CustomLayer, wgslBindings, type CustomLayerDefinition, type CustomLayerClass, type CustomKernel, type CustomParam, type CustomDims, type WgslBinding } from './layers/custom.js';
export { registerLayer, registeredLayer, type SerializableLayerClass } from './layers/registry.js';
// Numeric gradient and kernel checks (src/check), and the self-test built on them (src/selftest).
export { checkGradients, centralDifferences, formatGradientFailure, type GradientCheckOptions, type GradientReport, type TensorCheck } from './check/gradients.js';
export { checkKernel, type KernelCheckSpec, type KernelCheckOptions, type KernelReport, type KernelTensorSpec } from './check/kernel.js';
export { runSelftest, formatSelftestTable, type SelftestOptions, type SelftestReport, type SelftestRow } from './selftest/run.js';
export { SELFTEST_CASES, type SelftestCase, type CaseOutcome } from './selftest/cases.js';

export { Sequential, sequential } from './model/sequential.js';
export { Model, model, type CompileArgs, type ModelArgs } from './model/model.js';
export type { FitOptions, Checkpoint, Checkpointer, DeviceLossInfo } from './model/fit.js';
export type { LossName, NamedValues, StepPlan, GraphNode, ParamSlot, StatsSummary, StepPlanGraph, StepPlanConfig, StepCache } from './model/step-plan.js';
export { History, type Callbacks, type Logs, type CallbackModel, type TrainingParams, type NamedWeights } from './model/history.js';
/** Keras' training callbacks with TF.js names: earlyStopping, modelCheckpoint, reduceLROnPlateau, learningRateScheduler, csvLogger, terminateOnNaN. */
export * as callbacks from './model/callbacks.js';
export type { LearningRate } from './model/learning-rate.js';
/** Learning-rate schedules (Keras' LearningRateSchedule): exponentialDecay, inverseTimeDecay, piecewiseConstantDecay, cosineDecay; also optimizers.schedules. */
export * as schedules from './model/schedules.js';
export type { StepProfile, ProfileEntry } from './model/profile.js';
/** The optimizers (sgd, adam, rmsprop), their Keras defaults, and their model.json configs. */
export * as optimizers from './model/optimizers.js';
export { buildPreset, PRESETS, RECIPES, isPreset, type PresetName, type PresetRecipe, type KerasFigures } from './model/presets.js';
export { toArtifacts, fromArtifacts, layersFromJson, modelFromJson, type ModelJson, type ModelArtifacts, type WeightSpec, type JsonGraph } from './model/io.js';
export type { XInput, LabelInput, BatchSource } from './data/batches.js';
// Storage by URL (indexeddb://, downloads://, http(s)://…/model.json) and IndexedDB checkpoints. The Node entry's
// saveModel/loadModel also take folders.
export {
  saveModel,
  loadModel,
  downloadArtifacts,
  listStoredModels,
  removeStoredModel,
  indexedDbCheckpointer,
  readIndexedDbCheckpoint,
  indexedDbCheckpointInfo,
  deleteIndexedDbCheckpoint,
  INDEXEDDB_SCHEME,
  DOWNLOADS_SCHEME,
  type CheckpointInfo,
  type IndexedDbCheckpointOptions,
} from './model/url-io.js';
export { modelFingerprint, dataFingerprint } from './model/fingerprint.js';
// Training in a dedicated Worker (the worker bundle is dist/browser/shaderflow-worker.js), or on this thread.
export { createTrainer, type Trainer, type TrainerOptions, type TrainerCallbacks, type TrainerFitCall, type TrainerFitOptions, type TrainerModelInfo, type TrainerEvent, type HistoryData } from './worker/trainer.js';
export { formatBar, formatEpochLine, type ProgressSink, type Verbosity } from './model/progress.js';
export { lineChartSvg, historyCharts, type ChartOptions, type Series } from './viz/plot.js';
export { featureMapsPicture, filtersPicture, minMaxBytes, type NamedArray, PICTURE_COLUMNS, PICTURE_CELL, PICTURE_PADDING, TITLE_HEIGHT } from './viz/featuremaps.js';
// Metrics beyond accuracy (compile({ metrics })), and the confusion matrix as a heat map (SVG, or RGB pixels for a
// canvas), sklearn's classification report and a grid of wrong predictions; the Node entry adds confusionMatrixPng.
export type { MetricName, MetricConfig, MetricArg, MetricSet, ResolvedMetric } from './model/metrics.js';
export type { EvaluateOptions, EvaluationReport } from './model/evaluate.js';
export { confusionMatrixSvg, confusionMatrixImage, heatColor, type ConfusionPlotOptions } from './viz/confusion.js';
export { classificationReport, type ClassificationReport, type ReportRow } from './viz/report.js';
export { findMisclassified, misclassifiedImage, type Misclassified } from './viz/misclassified.js';

// Datasets (src/data): decoders take bytes and run in the browser too; the keras-style loaders (mnist, fashionMnist,
// cifar10) and PNG files/grids come from the Node entry (src/node.ts).
export type { ImageSet, LoadedDataset, Image } from './data/types.js';
export { decodeIdx, encodeIdx, type IdxArray, type IdxType, type IdxData, type IdxOptions } from './data/idx.js';
export { decodeCifarBatch, decodeCifarMeta, readCifar10Archive, type CifarOptions } from './data/cifar.js';
export { readTar, type TarMember, type TarSelect, type ReadTarOptions } from './data/tar.js';
export { isGzip, gunzipBounded, type InflateOptions } from './data/gzip.js';
export { DeviceDataset, cpuGather, chunkPlan, type GatherOptions, type UploadOptions } from './data/device.js';
// The seeded generator behind splits and shuffles (mulberry32), for reproducible data in user code and tests.
export { mulberry32 } from './reference/random.js';
export { numpyPermutation, trainTestSplit, toCategorical, normalize, byteTable, epochOrder, permutation, pixelStats, standardizeParams, type SplitOptions, type Labels } from './data/preprocess.js';
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
  type ListedImage,
} from './data/image-dataset.js';
export { imageHeader, decodeImage, MAX_IMAGE_SIDE, MAX_IMAGE_PIXELS, type ImageHeader, type ImageFormat } from './data/image-files.js';
export { imageDatasetFromFiles, imageFromSource, groupFileList, type ImageSource, type NamedFile, type GroupedFiles } from './data/browser-images.js';
