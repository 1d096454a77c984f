// Every kernel family's TypeScript side. Each records dispatches into a Recorder.
export * from './elementwise.js';
export * from './matmul.js';
export * from './conv2d.js';
export * from './pool.js';
export * from './activation.js'; export * from './loss.js'; export * from './optimizer.js'; export * from './dropout.js'; export * from './initializer.js';
export * from './finite.js';
export * from './batchnorm.js';
export * from './padding.js';
export * from './depthwise.js';
export * from './merge.js';
export * from './metrics.js';
export * from './augment.js';
