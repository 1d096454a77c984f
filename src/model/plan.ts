// The dispatch plan of a recorded step (`model.plan(batch)`, `shaderflow plan`): every operation with its kernel
// variant, workgroups, threads, serial loop, FLOPs and bytes as the kernels state them (DispatchCost), and a
// modeled time on a reference GPU. The model is a roofline with a latency term, per dispatch:
//   modeled = max(flops / peak, bytes / bandwidth, waves * serial * serialNs)
//   waves   = ceil(workgroups / (sms * resident)),  resident = min(workgroupsPerSm, floor(threadsPerSm / threads))
// It assumes perfect overlap inside each term, every byte moved once at full bandwidth, no launch overhead and
// no cache reuse across dispatches: a lower bound that exposes dispatches that cannot fill the GPU (few
// workgroups, long serial loops), not a prediction of the measured step (that is `profile`'s job).
import type { PlanEntry } from '../gpu/recorder.js';
import { ShaderflowError } from '../errors.js';

/** A reference GPU for the modeled times. */
export interface GpuSpec {
  name: string;
  /** Peak float32 (non-tensor-core) TFLOP/s. */
  fp32Tflops: number;
  /** Memory bandwidth in GB/s. */
  bandwidthGbs: number;
  /** Streaming multiprocessors (compute units). */
  sms: number;
  /** Resident threads per SM. */
  threadsPerSm: number;
  /** Resident workgroups per SM at most. */
  workgroupsPerSm: number;
  /** Nanoseconds per iteration of one invocation's serial loop (a dependent FMA, the loop, loads overlapped). */
  serialNs: number;
}

/**
 * NVIDIA H200 SXM: 67 TFLOP/s float32, 4.8 TB/s HBM3e, 132 SMs of 2048 threads and up to 32 resident blocks;
 * 4 ns per serial iteration is ~8 cycles at 1.98 GHz (a dependent FMA plus loop overhead).
 */
export const H200: GpuSpec = { name: 'NVIDIA H200 SXM', fp32Tflops: 67, bandwidthGbs: 4800, sms: 132, threadsPerSm: 2048, workgroupsPerSm: 32, serialNs: 4 };

export const GPU_SPECS: Record<string, GpuSpec> = { h200: H200 };

const SPEC_FIELDS: (keyof GpuSpec)[] = ['fp32Tflops', 'bandwidthGbs', 'sms', 'threadsPerSm', 'workgroupsPerSm', 'serialNs'];

/**
 * A GpuSpec from `--gpu-spec`: a known name (h200), or a JSON object with the GpuSpec fields; missing fields
 * keep the H200's values. Throws a ShaderflowError naming the bad field.
 */
export function parseGpuSpec(text: string): GpuSpec {
  const known = GPU_SPECS[text.trim().toLowerCase()];
  if (known) return known;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ShaderflowError(`--gpu-spec ${JSON.stringify(text)}: not a known GPU (${Object.keys(GPU_SPECS).join(', ')}) nor a JSON object like {"name":"my GPU","fp32Tflops":20,"bandwidthGbs":900,"sms":60}.`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new ShaderflowError(`--gpu-spec must be a JSON object, got ${text}.`);
  const d = data as Record<string, unknown>;
  const spec: GpuSpec = { ...H200, name: typeof d.name === 'string' ? d.name : 'custom GPU' };
  for (const k of Object.keys(d)) if (k !== 'name' && !SPEC_FIELDS.includes(k as keyof GpuSpec)) throw new ShaderflowError(`--gpu-spec: unknown field "${k}"; the fields are name, ${SPEC_FIELDS.join(', ')}.`);
  for (const k of SPEC_FIELDS) {
    if (d[k] === undefined) continue;
    const v = d[k];
    if (typeof v !== 'number' || !(v > 0)) throw new ShaderflowError(`--gpu-spec: "${k}" must be a positive number, got ${JSON.stringify(v)}.`);
    (spec[k] as number) = v;
  }
  return spec;
}

/** One dispatch of the plan, as `--json` prints it. */
export interface PlanRow {
  label: string;
  variant: string;
  /** Workgroups x·y·z, e.g. "64x2x1". */
  workgroups: string;
  /** Total workgroups (x·y·z). */
  groups: number;
  threads: number;
  serial: number;
  flops: number;
  bytes: number;
  modeled_us: number;
}

export interface Plan {
  gpu: GpuSpec;
  rows: PlanRow[];
  total_modeled_us: number;
}

/** Modeled microseconds of one dispatch on `gpu` (see the file comment). */
export function modeledMicros(groups: number, threads: number, serial: number, flops: number, bytes: number, gpu: GpuSpec): number {
  const compute = flops / (gpu.fp32Tflops * 1e12);
  const memory = bytes / (gpu.bandwidthGbs * 1e9);
  let latency = 0;
  if (groups > 0 && threads > 0) {
    const resident = Math.max(1, Math.min(gpu.workgroupsPerSm, Math.floor(gpu.threadsPerSm / threads)));
    const waves = Math.ceil(groups / (gpu.sms * resident));
    latency = waves * serial * gpu.serialNs * 1e-9;
  }
  return Math.max(compute, memory, latency) * 1e6;
}

/** The plan of recorded operations; throws when a dispatch states no cost (every kernel must). */
export function buildPlan(entries: readonly PlanEntry[], gpu: GpuSpec = H200): Plan {
  const rows = entries.map((e): PlanRow => {
    if (!e.cost) throw new ShaderflowError(`plan: dispatch "${e.label}" states no cost; its kernel must pass DispatchSpec.cost.`);
    const groups = e.workgroups[0] * e.workgroups[1] * e.workgroups[2];
    const c = e.cost;
    return {
      label: e.label,
      variant: c.variant,
      workgroups: e.workgroups.join('x'),
      groups,
      threads: c.threads,
      serial: c.serial,
      flops: c.flops,
      bytes: c.bytes,
      modeled_us: round3(modeledMicros(groups, c.threads, c.serial, c.flops, c.bytes, gpu)),
    };
  });
  return { gpu, rows, total_modeled_us: round3(rows.reduce((a, r) => a + r.modeled_us, 0)) };
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** FLOPs, bytes and the like in short SI units ("12.8M"). */
function si(v: number): string {
  if (v === 0) return '0';
  const units = ['', 'k', 'M', 'G', 'T'];
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)}${units[i]}`;
}

/** The plan as a text table with a total line. */
export function formatPlan(plan: Plan): string {
  const head = ['#', 'dispatch', 'variant', 'workgroups', 'threads', 'serial', 'FLOPs', 'bytes', 'modeled µs'];
  const body = plan.rows.map((r, i) => [String(i + 1), r.label, r.variant, `${r.workgroups} (${r.groups})`, String(r.threads), String(r.serial), si(r.flops), si(r.bytes), r.modeled_us.toFixed(2)]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((row) => row[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c >= 4 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ');
  const flops = plan.rows.reduce((a, r) => a + r.flops, 0);
  const bytes = plan.rows.reduce((a, r) => a + r.bytes, 0);
  return [
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
    `total: ${plan.rows.length} operations, ${si(flops)}FLOP, ${si(bytes)}B, modeled ${plan.total_modeled_us.toFixed(1)} µs on ${plan.gpu.name} (roofline: max of FLOPs/peak, bytes/bandwidth, waves x serial x ${plan.gpu.serialNs} ns)`,
  ].join('\n');
}
