// Per-adapter kernel shapes. A software adapter (lavapipe/llvmpipe/SwiftShader) runs each invocation as a CPU
// SIMD lane: barrier-free, register-blocked kernels with big per-thread tiles win there. A discrete GPU wants
// larger workgroups and smaller per-invocation tiles, staged in workgroup memory. chooseTuning gives the
// defaults per adapter class; src/kernels/autotune.ts times the candidates listed here per shape when a model's
// step is first prepared, cached on disk in Node (gpu/provider.ts) and in memory in a browser.
import type { MatmulVariant } from './matmul.js';
import type { AdapterReport, Engine } from '../gpu/engine.js';

const tunings = new WeakMap<Engine, Tuning>();

/**
 * The kernel shapes of `engine`: chosen from its adapter class and limits on first use (chooseTuning), then
 * refined by the autotune. Kept here, not on the Engine, because the device layer knows no kernels.
 */
export function tuningOf(engine: Engine): Tuning {
  let t = tunings.get(engine);
  if (!t) tunings.set(engine, (t = chooseTuning(engine.adapter, engine.limits)));
  return t;
}

/** A register-blocked conv tile (shaders/conv2d.wgsl): WG invocations, each PX rows by 4*CV channels. */
export interface ConvTile { workgroup: number; px: number; cv: number; /** Innermost steps per pass (default: from loopLimit). */ steps?: number }

/** Workgroup and tile shapes one engine's kernels use (chosen per adapter class, and per shape by the autotune). */
export interface Tuning {
  /** Conv2D tiles per kernel (src/kernels/conv2d.ts); pooling workgroup size (src/kernels/pool.ts). */
  conv2d: {
    forward: ConvTile; backwardInput: ConvTile; backwardFilter: ConvTile; /** Loop iterations an invocation may run (0: no limit; llvmpipe stops at 65535). */ loopLimit: number;
    /**
     * GPU class: the implicit-GEMM kernels (workgroup-memory tiles, split-K backward-filter, tree bias sum) instead
     * of the register-blocked tiles above, which remain the fallback when no GEMM tile fits the adapter's limits.
     */
    implicitGemm: boolean;
  };
  poolWorkgroup: number;
  /** Workgroup size for 1-D elementwise kernels. */
  elementwiseWorkgroup: number;
  /**
   * Matmul (shaders/matmul.wgsl): the variant (a register-blocked tile per invocation, or a workgroup-memory
   * GEMM) and the workgroup shape (x along n, y along m; a GEMM's own). Measured with `bench kernels`.
   */
  matmul: MatmulChoice;
}

/** The matmul variant and workgroup shape in use. */
export interface MatmulChoice {
  variant: MatmulVariant;
  workgroup: [number, number];
}

// Defaults when the autotune is off (tests, SHADERFLOW_AUTOTUNE=0). Software adapters (llvmpipe): each storage
// load costs a per-lane loop, so big register blocks win; tile16 rather than the usually faster tile32x16 because
// its pipelines compile in ~2 s instead of 5-10 s on llvmpipe (the autotune picks tile32x16 wg 8x8 there:
// 12.8 ms vs 16.3 ms for tile16 at 512^3). GPUs: the 64x64 workgroup-memory GEMM (256 invocations, 4x4 outputs
// each; split along K where its tiles alone give too few workgroups); src/kernels/matmul.ts takes the 32x32 one
// for shapes only it spreads over 256 workgroups, and falls back where an adapter's limits are too small.
const MATMUL_SOFTWARE: Tuning['matmul'] = { variant: 'tile16', workgroup: [8, 4] };
const MATMUL_GPU: Tuning['matmul'] = { variant: 'gemm64x64', workgroup: [16, 16] };

export function chooseTuning(adapter: AdapterReport, limits: GPUSupportedLimits): Tuning {
  const maxInv = limits.maxComputeInvocationsPerWorkgroup;
  if (adapter.adapterClass === 'software') {
    return { ...convTuning(true, maxInv), elementwiseWorkgroup: Math.min(64, maxInv), matmul: MATMUL_SOFTWARE };
  }
  return { ...convTuning(false, maxInv), elementwiseWorkgroup: Math.min(256, maxInv), matmul: MATMUL_GPU };
}

/** Conv2D and pooling tiles (measured on llvmpipe with bench/conv.ts; the GPU values are untuned guesses). */
function convTuning(software: boolean, maxInv: number): Pick<Tuning, 'conv2d' | 'poolWorkgroup'> {
  const t = (workgroup: number, px: number, cv: number): ConvTile => ({ workgroup: Math.min(workgroup, maxInv), px, cv });
  // llvmpipe (measured, min of runs, CIFAR 32x32x32->64): 16 pixels x 16 channels per invocation runs forward
  // and backward-input at ~20 GFLOP/s, while some smaller tiles fall off a cliff (px 8 x cv 4: 4 GFLOP/s), so
  // retune after changing the shader; backward-filter is best at 8 rows x 8 channels (~6 GFLOP/s). loopLimit:
  // llvmpipe silently ends any loop after 65535 iterations (see conv2dStepsPerPass).
  if (software) return { conv2d: { forward: t(16, 16, 4), backwardInput: t(8, 16, 4), backwardFilter: t(8, 8, 2), loopLimit: 60000, implicitGemm: false }, poolWorkgroup: Math.min(64, maxInv) };
  return { conv2d: { forward: t(64, 4, 2), backwardInput: t(64, 4, 2), backwardFilter: t(64, 2, 2), loopLimit: 0, implicitGemm: true }, poolWorkgroup: Math.min(256, maxInv) };
}

// ------------------------------------------------------------------ autotune candidates

/** The matmul variants the autotune times, per adapter kind (each is valid on every adapter of that kind). */
export function matmulCandidates(adapterClass: AdapterReport['adapterClass']): MatmulChoice[] {
  const software = adapterClass === 'software';
  if (software)
    return [
      { variant: 'tile16', workgroup: [8, 4] },
      { variant: 'tile32x16', workgroup: [8, 4] },
      { variant: 'tile16x32', workgroup: [8, 4] },
      { variant: 'tile32x16', workgroup: [8, 8] },
    ];
  // GPUs: only the GEMMs, which split K and so keep every shape's serial loop within the plan rule (the
  // register-blocked tiles walk all of K); tile4 remains the fallback for adapters too small for either.
  return [
    { variant: 'gemm64x64', workgroup: [16, 16] },
    { variant: 'gemm32x32', workgroup: [8, 8] },
  ];
}
