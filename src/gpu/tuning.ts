// Per-adapter kernel shapes. A software adapter (lavapipe/llvmpipe/SwiftShader) runs each invocation as a CPU
// SIMD lane: barrier-free, register-blocked kernels with big per-thread tiles win there. A discrete GPU wants
// larger workgroups and shared-memory tiles. The defaults below are starting points; bench/ autotunes.
import type { AdapterReport } from './engine.js';

/** A register-blocked conv tile (shaders/conv2d.wgsl): WG invocations, each PX rows by 4*CV channels. */
export interface ConvTile { workgroup: number; px: number; cv: number; /** Innermost steps per pass (default: from loopLimit). */ steps?: number }

export interface Tuning {
  /** Conv2D tiles per kernel (src/kernels/conv2d.ts); pooling workgroup size (src/kernels/pool.ts). */
  conv2d: { forward: ConvTile; backwardInput: ConvTile; backwardFilter: ConvTile; /** Loop iterations an invocation may run (0: no limit; llvmpipe stops at 65535). */ loopLimit: number };
  poolWorkgroup: number;
  /** Workgroup size for 1-D elementwise kernels. */
  elementwiseWorkgroup: number;
  /**
   * Matmul (shaders/matmul.wgsl): the variant (each invocation computes a tile x tile output block, tile 4, 8 or
   * 16) and the workgroup shape (x along n, y along m). Measured with `bench kernels`.
   */
  matmul: { variant: 'naive' | 'tile4' | 'tile8' | 'tile16'; workgroup: [number, number] };
}

// Software adapters (llvmpipe): each storage load costs a per-lane loop, so the biggest register block wins (16
// FMAs per loaded float); 8x4 invocations per workgroup. GPUs: a 4x4 block keeps registers low and occupancy high
// (untuned guess: no GPU was at hand).
const MATMUL_SOFTWARE: Tuning['matmul'] = { variant: 'tile16', workgroup: [8, 4] };
const MATMUL_GPU: Tuning['matmul'] = { variant: 'tile4', workgroup: [16, 16] };

export function chooseTuning(adapter: AdapterReport, limits: GPUSupportedLimits): Tuning {
  const maxInv = limits.maxComputeInvocationsPerWorkgroup;
  if (adapter.software) {
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
  if (software) return { conv2d: { forward: t(16, 16, 4), backwardInput: t(8, 16, 4), backwardFilter: t(8, 8, 2), loopLimit: 60000 }, poolWorkgroup: Math.min(64, maxInv) };
  return { conv2d: { forward: t(64, 4, 2), backwardInput: t(64, 4, 2), backwardFilter: t(64, 2, 2), loopLimit: 0 }, poolWorkgroup: Math.min(256, maxInv) };
}
