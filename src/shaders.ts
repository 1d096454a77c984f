// Every WGSL kernel family, by name. Add a line here when adding shaders/NAME.wgsl.
import elementwise from '../shaders/elementwise.wgsl';
import reduce from '../shaders/reduce.wgsl';
import matmul from '../shaders/matmul.wgsl';
import probe from '../shaders/probe.wgsl';
import gather from '../shaders/gather.wgsl';
import data from '../shaders/data.wgsl';
import conv2d from '../shaders/conv2d.wgsl';
import pool from '../shaders/pool.wgsl';
import activation from '../shaders/activation.wgsl'; import loss from '../shaders/loss.wgsl'; import optimizer from '../shaders/optimizer.wgsl'; import dropout from '../shaders/dropout.wgsl'; import initializer from '../shaders/initializer.wgsl';
import finite from '../shaders/finite.wgsl';
import batchnorm from '../shaders/batchnorm.wgsl';
import padding from '../shaders/padding.wgsl';
import depthwise from '../shaders/depthwise.wgsl';
import merge from '../shaders/merge.wgsl';
import indexing from '../shaders/indexing.wgsl';
import hash from '../shaders/hash.wgsl';
import augment from '../shaders/augment.wgsl';
import metrics from '../shaders/metrics.wgsl';

export const SHADERS = {
  elementwise,
  reduce: indexing + reduce,
  matmul,
  probe,
  gather,
  data,
  // Prepended helpers: shaders/indexing.wgsl (idiv, linearWorkgroup).
  conv2d: indexing + conv2d,
  pool: indexing + pool,
  activation,
  loss: indexing + loss,
  optimizer,
  // Prepended: shaders/hash.wgsl (pcg4d), the one random hash every random family shares.
  dropout: hash + dropout,
  initializer: hash + initializer,
  augment: hash + augment,
  finite,
  batchnorm: indexing + batchnorm,
  padding: indexing + padding,
  depthwise: indexing + depthwise,
  merge: indexing + merge,
  metrics: indexing + metrics,
} as const;

export type ShaderName = keyof typeof SHADERS;
