// Per-adapter kernel shapes. A software adapter (lavapipe/llvmpipe/SwiftShader) runs each invocation as a CPU
// SIMD lane: barrier-free, register-blocked kernels with big per-thread tiles win there. A discrete GPU wants
// larger workgroups and shared-memory tiles. The defaults below are starting points; bench/ autotunes.
import type { AdapterReport } from './engine.js';

/** A register-blocked conv tile (shaders/conv2d.wgsl): WG invocations, each PX rows by 4*CV channels. */
export interface ConvTile { workgroup: number; px: number; cv: number }

export interface Tuning {
  /** Conv2D tiles per kernel (src/kernels/conv2d.ts); pooling workgroup size (src/kernels/pool.ts). */
  conv2d: { forward: ConvTile; backwardInput: ConvTile; backwardFilter: ConvTile };
  poolWorkgroup: number;
  /** Workgroup size for 1-D elementwise kernels. */
  elementwiseWorkgroup: number;
  /** Workgroup shape (x, y) of the register-blocked matmul: each invocation computes a 4x4 block. */
  matmulWorkgroup: [number, number];
}

export function chooseTuning(adapter: AdapterReport, limits: GPUSupportedLimits): Tuning {
  const maxInv = limits.maxComputeInvocationsPerWorkgroup;
  if (adapter.software) {
    return { ...convTuning(true, maxInv), elementwiseWorkgroup: Math.min(64, maxInv), matmulWorkgroup: [8, 8] };
  }
  return { ...convTuning(false, maxInv), elementwiseWorkgroup: Math.min(256, maxInv), matmulWorkgroup: [16, 16] };
}

/** Conv2D and pooling tiles (measured on llvmpipe with bench/conv.ts; the GPU values are untuned guesses). */
function convTuning(software: boolean, maxInv: number): Pick<Tuning, 'conv2d' | 'poolWorkgroup'> {
  const t = (workgroup: number, px: number, cv: number): ConvTile => ({ workgroup: Math.min(workgroup, maxInv), px, cv });
  if (software) return { conv2d: { forward: t(64, 4, 2), backwardInput: t(64, 4, 2), backwardFilter: t(16, 4, 2) }, poolWorkgroup: Math.min(64, maxInv) };
  return { conv2d: { forward: t(64, 4, 2), backwardInput: t(64, 4, 2), backwardFilter: t(64, 2, 2) }, poolWorkgroup: Math.min(256, maxInv) };
}
