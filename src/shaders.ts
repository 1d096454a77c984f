// Every WGSL kernel family, by name. Add a line here when adding shaders/NAME.wgsl.
import elementwise from '../shaders/elementwise.wgsl';
import reduce from '../shaders/reduce.wgsl';

export const SHADERS = {
  elementwise,
  reduce,
} as const;

export type ShaderName = keyof typeof SHADERS;
