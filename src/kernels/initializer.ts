// GPU initializers (shaders/initializer.wgsl), seeded through the counter-based hash. CPU twin:
// src/reference/initializer.ts. Keras semantics:
//   glorot_uniform U[-l, l), l = sqrt(6 / (fanIn + fanOut));  he_uniform l = sqrt(6 / fanIn)
//   glorot_normal, he_normal: truncated normal (|z| <= 2 sd) with sd = sqrt(scale / fan) / 0.87962566103423978,
//   scale/fan = 2/(fanIn + fanOut) or 2/fanIn; the divisor makes the truncated distribution's sd sqrt(scale/fan).
//   zeros, ones: constants.
import { ShaderflowError } from '../errors.js';
import { grid1d, type Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { InitializerName } from '../layers/layer.js';
import { tuningOf } from './tuning.js';

/** Keras' stddev correction for a normal truncated at 2 standard deviations. */
export const TRUNCATION_CORRECTION = 0.87962566103423978;

/** A seeded GPU initializer: its kind, its fan-in and fan-out, and the seed stream. */
export interface InitializerSpec {
  initializer: InitializerName;
  fanIn: number;
  fanOut: number;
}

/** How the kernel draws: the entry point and its parameter (value, limit, or pre-truncation stddev). */
export function initializerPlan(spec: InitializerSpec): { entry: 'fill' | 'uniformDraw' | 'truncatedNormal'; a: number } {
  const { initializer, fanIn, fanOut } = spec;
  const fans = (need: number[]) => {
    if (!need.every((f) => Number.isFinite(f) && f > 0))
      throw new ShaderflowError(`initialize(${initializer}): fanIn ${fanIn} and fanOut ${fanOut} must be positive.`);
  };
  switch (initializer) {
    case 'zeros':
      return { entry: 'fill', a: 0 };
    case 'ones':
      return { entry: 'fill', a: 1 };
    case 'glorot_uniform':
      fans([fanIn, fanOut]);
      return { entry: 'uniformDraw', a: Math.sqrt(6 / (fanIn + fanOut)) };
    case 'he_uniform':
      fans([fanIn]);
      return { entry: 'uniformDraw', a: Math.sqrt(6 / fanIn) };
    case 'glorot_normal':
      fans([fanIn, fanOut]);
      return { entry: 'truncatedNormal', a: Math.sqrt(2 / (fanIn + fanOut)) / TRUNCATION_CORRECTION };
    case 'he_normal':
      fans([fanIn]);
      return { entry: 'truncatedNormal', a: Math.sqrt(2 / fanIn) / TRUNCATION_CORRECTION };
    default:
      throw new ShaderflowError(`Unknown initializer "${initializer as string}" (use glorot_uniform, glorot_normal, he_normal, he_uniform, zeros or ones).`);
  }
}

/** Fills t per `spec`, drawing from the counter-based hash keyed by `seed` (same seed, same values). */
export function initialize(rec: Recorder, t: Tensor, spec: InitializerSpec, seed: number): void {
  const plan = initializerPlan(spec);
  if (t.size === 0) return;
  const wg = tuningOf(rec.engine).elementwiseWorkgroup;
  rec.dispatch({
    shader: 'initializer',
    entry: plan.entry,
    constants: { WG: wg },
    bindings: [rec.uniform([t.size, seed >>> 0, plan.a, 0], 'uufu'), t],
    workgroups: grid1d(rec.engine, t.size, wg),
    label: `initializer.${spec.initializer}`,
    // truncatedNormal redraws until |z| <= 2, at most 8 tries (ATTEMPTS in initializer.wgsl)
    cost: { variant: plan.entry, threads: wg, serial: plan.entry === 'truncatedNormal' ? 8 : 1, flops: (plan.entry === 'fill' ? 0 : plan.entry === 'uniformDraw' ? 2 : 20) * t.size, bytes: 4 * t.size },
  });
}
