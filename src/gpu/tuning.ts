// Per-adapter kernel shapes. A software adapter (lavapipe/llvmpipe/SwiftShader) runs each invocation as a CPU
// SIMD lane: barrier-free, register-blocked kernels with big per-thread tiles win there. A discrete GPU wants
// larger workgroups and shared-memory tiles. The defaults below are starting points; bench/ autotunes.
import type { AdapterReport } from './engine.js';

export interface Tuning {
  /** Workgroup size for 1-D elementwise kernels. */
  elementwiseWorkgroup: number;
  /** Workgroup shape (x, y) of the register-blocked matmul: each invocation computes a 4x4 block. */
  matmulWorkgroup: [number, number];
}

export function chooseTuning(adapter: AdapterReport, limits: GPUSupportedLimits): Tuning {
  const maxInv = limits.maxComputeInvocationsPerWorkgroup;
  if (adapter.software) {
    return { elementwiseWorkgroup: Math.min(64, maxInv), matmulWorkgroup: [8, 8] };
  }
  return { elementwiseWorkgroup: Math.min(256, maxInv), matmulWorkgroup: [16, 16] };
}
