// Browser WebGPU provider: navigator.gpu. Replaces provider.ts in the browser bundle.
import type { BackendName, GpuCandidate } from './provider.js';

export type { BackendName, GpuCandidate };
export const runtime = 'browser' as const;

export async function gpuCandidates(_backend: BackendName): Promise<GpuCandidate[]> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav?.gpu) return [];
  return [
    { label: 'navigator.gpu (core)', gpu: nav.gpu, featureLevel: 'core' },
    { label: 'navigator.gpu (compatibility)', gpu: nav.gpu, featureLevel: 'compatibility' },
  ];
}

export const installHint =
  'This browser has no WebGPU (navigator.gpu is missing or gave no adapter). Use a current Chrome, Edge or ' +
  'Safari, or start Chromium with --enable-unsafe-webgpu.';

// Per-adapter tuning cache: in memory for the life of the page (no file system in a browser).
const memoryCache = new Map<string, string>();

export function readCache(name: string): { text: string; where: string } | null {
  const text = memoryCache.get(name);
  return text === undefined ? null : { text, where: `memory:${name}` };
}

export function writeCache(name: string, text: string): string {
  memoryCache.set(name, text);
  return `memory:${name}`;
}
