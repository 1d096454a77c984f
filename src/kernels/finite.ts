// The NaN guard's gradient check: shaders/finite.wgsl. CPU reference: firstNonFinite below (a scan).
import { ShaderflowError } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { useVec4 } from './elementwise.js';
import { tuningOf } from './tuning.js';

/**
 * Records: if any value of `x` is NaN or infinite and state[1] is 0, state[1] = state[0]. `state` is the
 * model's u32 step state [t, firstBadStep, 0, 0]: a training step records this after its backward pass, so
 * state[1] ends up holding the first step whose gradients were not finite (0: none since it was cleared).
 */
export function flagNonFinite(rec: Recorder, x: Tensor, state: GPUBuffer, opts: { vec4?: boolean } = {}): void {
  if (x.dtype !== 'f32') throw new ShaderflowError(`flagNonFinite: needs an f32 tensor, got ${x.dtype}.`);
  if (state.size < 8) throw new ShaderflowError(`flagNonFinite: the state buffer holds ${state.size} bytes; it needs [t, flag] (8).`);
  if (x.size === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  // GPU class, size a multiple of 4 (a model's arena always is): one vec4 per invocation.
  const v4 = useVec4(rec, x.size, opts.vec4);
  const items = v4 ? x.size / 4 : x.size;
  rec.dispatch({
    shader: 'finite',
    entry: v4 ? 'main4' : 'main',
    constants: { WG: wg },
    bindings: [rec.uniform([items, 0, 0, 0]), x, state],
    workgroups: grid1d(rec.engine, items, wg),
    label: 'finite.flagNonFinite',
    cost: { variant: v4 ? 'vec4' : 'scalar', threads: wg, serial: 1, flops: x.size, bytes: 4 * x.size + 8 },
  });
}

/** CPU twin: index of the first NaN or infinite value, or -1. */
export function firstNonFinite(x: ArrayLike<number>): number {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) return i;
  return -1;
}
