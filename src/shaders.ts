// Every WGSL kernel family, by name. Add a line here when adding shaders/NAME.wgsl.
import elementwise from '../shaders/elementwise.wgsl';
import reduce from '../shaders/reduce.wgsl';
import conv2d from '../shaders/conv2d.wgsl';
import pool from '../shaders/pool.wgsl';

export const SHADERS = {
  elementwise,
  reduce,
  conv2d,
  pool,
} as const;

export type ShaderName = keyof typeof SHADERS;
