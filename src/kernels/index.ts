// Every kernel family's TypeScript side. Each records dispatches into a Recorder.
export * from './elementwise.js';
export * from './conv2d.js';
export * from './pool.js';
export * from './matmul.js';
