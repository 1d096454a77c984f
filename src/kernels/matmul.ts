// Matrix multiply with a fused bias / ReLU / accumulate epilogue: shaders/matmul.wgsl.
// CPU reference: src/reference/matmul.ts. The variant comes from the engine's adapter class (src/kernels/tuning.ts)
// and the per-shape autotune: register-blocked tiles on software adapters, the workgroup-memory GEMM with a
// fixed-order split-K on GPUs. This file is the one place that picks a variant, its split and its fallbacks.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { DispatchCost, Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { pow2Bucket, tunedChoice } from './autotune.js';
import { matmulCandidates, tuningOf, type MatmulChoice } from './tuning.js';

/** Register-blocked variants (no workgroup memory): the software class's set, and the GPU class's last fallback. */
export type RegisterVariant = 'naive' | 'tile4' | 'tile8' | 'tile16' | 'tile32x16' | 'tile16x32';
/** Workgroup-memory GEMMs (the GPU class's set), named by their output tile. */
export type GemmVariant = 'gemm64x64' | 'gemm32x32';
/** Every matmul kernel variant, simplest first: naive, register-blocked tiles, then the workgroup-memory GEMMs. */
export type MatmulVariant = RegisterVariant | GemmVariant;

/** Output [rows, columns] each invocation of a variant computes. */
export const MATMUL_TILE: Record<MatmulVariant, readonly [number, number]> = {
  naive: [1, 1],
  tile4: [4, 4],
  tile8: [8, 8],
  tile16: [16, 16],
  tile32x16: [32, 16],
  tile16x32: [16, 32],
  gemm64x64: [4, 4],
  gemm32x32: [4, 4],
};

/**
 * The workgroup-memory GEMMs (entry `gemm`): invocations [x along n, y along m], 4x4 outputs each, and the K-tile
 * depth BK. 64x64 is the main tile (256 invocations, 8.5 KiB of workgroup memory); 32x32 (64 invocations) gives
 * 4x the workgroups on small outputs, where the 64x64 grid cannot reach the plan rule's 256 even split along K.
 * BK 16 keeps the 64x64 tile inside WebGPU's default 16 KiB of workgroup storage; BK / WGX and BK / WGY (the
 * vec4 loads per invocation and step) must stay whole and <= 4 (the shader's register arrays).
 */
export const GEMM_SHAPES: Record<GemmVariant, { workgroup: readonly [number, number]; bk: number }> = {
  gemm64x64: { workgroup: [16, 16], bk: 16 },
  gemm32x32: { workgroup: [8, 8], bk: 16 },
};

/** Whether a matmul variant is one of the workgroup-memory GEMMs (GEMM_SHAPES). */
export const isGemm = (v: MatmulVariant): v is GemmVariant => v in GEMM_SHAPES;

/** Bytes of workgroup memory a GEMM variant stages: two BK-deep tiles with one vec4 of padding per depth row. */
export function gemmWorkgroupBytes(v: GemmVariant): number {
  const { workgroup: [x, y], bk } = GEMM_SHAPES[v];
  return 16 * bk * (x + 1 + (y + 1));
}

/** The plan rule every GPU-class dispatch follows (issue 11): workgroups to fill a GPU, and the longest serial loop. */
export const MIN_WORKGROUPS = 256;
/** The plan rule's longest serial loop per invocation (issue 11): a GEMM splits K so no slice is deeper. */
export const MAX_SERIAL = 4096;
/**
 * Below this many FLOPs a matmul is launch-latency bound: a split would add a second dispatch for nothing, so
 * it splits only for the serial rule (K > MAX_SERIAL). The plan rule's workgroup floor starts at 10 MFLOP.
 */
const SPLIT_MIN_FLOPS = 2 ** 20;

/** How a GEMM dispatch splits K: `slices` workgroup layers of `slice` depths each (1 slice: no split). */
export interface GemmSplit {
  variant: GemmVariant;
  /** Output tiles (workgroups per slice). */
  tiles: number;
  slices: number;
  /** Depths per slice: a multiple of the K-tile, at most MAX_SERIAL; k when not split. */
  slice: number;
}

/**
 * The split of an m x n x k GEMM: none when the output tiles alone give MIN_WORKGROUPS (or the product is tiny)
 * and k <= MAX_SERIAL; otherwise S slices with tiles x S >= MIN_WORKGROUPS where k allows, each a multiple of the
 * K-tile and at most MAX_SERIAL depths. `forced`: depths per slice (rounded up to the K-tile; 0 = no split).
 */
export function gemmSplit(m: number, n: number, k: number, variant: GemmVariant, forced?: number): GemmSplit {
  const { workgroup: [wx, wy], bk } = GEMM_SHAPES[variant];
  const tiles = Math.ceil(m / (4 * wy)) * Math.ceil(n / (4 * wx));
  const whole = { variant, tiles, slices: 1, slice: k };
  let slice: number;
  if (forced !== undefined) {
    if (forced <= 0 || forced >= k) return whole;
    slice = Math.ceil(forced / bk) * bk;
  } else {
    const wanted = tiles < MIN_WORKGROUPS && 2 * m * n * k >= SPLIT_MIN_FLOPS ? Math.ceil(MIN_WORKGROUPS / tiles) : 1;
    const slices = Math.max(wanted, Math.ceil(k / MAX_SERIAL));
    if (slices <= 1) return whole;
    // Depths per slice in whole K-tiles: rounded up (fewer slices, still <= MAX_SERIAL since that is a whole
    // number of K-tiles) unless that leaves fewer than the slices wanted; then rounded down.
    slice = Math.ceil(k / slices / bk) * bk;
    if (Math.ceil(k / slice) < slices) slice = Math.max(bk, Math.floor(k / slices / bk) * bk);
  }
  const slices = Math.ceil(k / slice);
  return slices <= 1 ? whole : { variant, tiles, slices, slice };
}

/** The GEMM for an m x n x k product: 64x64 unless only the 32x32 tile reaches MIN_WORKGROUPS (then whichever gives more). */
export function defaultGemm(m: number, n: number, k: number): GemmVariant {
  const big = gemmSplit(m, n, k, 'gemm64x64');
  if (big.tiles * big.slices >= MIN_WORKGROUPS || 2 * m * n * k < SPLIT_MIN_FLOPS) return 'gemm64x64';
  const small = gemmSplit(m, n, k, 'gemm32x32');
  return small.tiles * small.slices > big.tiles * big.slices ? 'gemm32x32' : 'gemm64x64';
}

/** The adapter limits a variant choice depends on (a subset of GPUSupportedLimits, so tests can fake them). */
export type MatmulLimits = Pick<
  GPUSupportedLimits,
  'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX' | 'maxComputeWorkgroupSizeY' | 'maxComputeWorkgroupStorageSize'
>;

/** Why `choice` cannot run on an adapter with `limits`, or null when it can. */
export function matmulMisfit(choice: MatmulChoice, limits: MatmulLimits): string | null {
  const [x, y] = isGemm(choice.variant) ? GEMM_SHAPES[choice.variant].workgroup : choice.workgroup;
  if (x * y > limits.maxComputeInvocationsPerWorkgroup)
    return `it needs ${x * y} invocations per workgroup and the adapter allows ${limits.maxComputeInvocationsPerWorkgroup}`;
  if (x > limits.maxComputeWorkgroupSizeX || y > limits.maxComputeWorkgroupSizeY)
    return `its ${x}x${y} workgroup exceeds the adapter's ${limits.maxComputeWorkgroupSizeX}x${limits.maxComputeWorkgroupSizeY}`;
  if (isGemm(choice.variant) && gemmWorkgroupBytes(choice.variant) > limits.maxComputeWorkgroupStorageSize)
    return `it needs ${gemmWorkgroupBytes(choice.variant)} bytes of workgroup storage and the adapter allows ${limits.maxComputeWorkgroupStorageSize}`;
  return null;
}

/** What runs where `wanted` cannot: the smaller GEMM, then the register-blocked tile4 in the largest workgroup that fits. */
const FALLBACKS: MatmulChoice[] = [
  { variant: 'gemm32x32', workgroup: [8, 8] },
  { variant: 'tile4', workgroup: [16, 16] },
  { variant: 'tile4', workgroup: [8, 8] },
  { variant: 'tile4', workgroup: [4, 4] },
  { variant: 'tile4', workgroup: [1, 1] },
];

/**
 * `wanted` when the adapter can run it, else the first fallback that fits, with a note saying why (for
 * engine.noteFallback, which describe() reports). Never a choice WebGPU would reject.
 */
export function fitMatmulChoice(wanted: MatmulChoice, limits: MatmulLimits): { choice: MatmulChoice; note: string | null } {
  const why = matmulMisfit(wanted, limits);
  if (!why) return { choice: wanted, note: null };
  const next = FALLBACKS.find((c) => !matmulMisfit(c, limits))!; // tile4 on 1x1 runs anywhere
  const name = (c: MatmulChoice) => (isGemm(c.variant) ? c.variant : `${c.variant} wg ${c.workgroup.join('x')}`);
  return { choice: next, note: `matmul: ${name(next)} instead of ${name(wanted)} because ${why}` };
}

/**
 * Bytes a tiled dispatch moves, as the kernel reads global memory (the formula every variant's cost uses): each
 * workgroup reads the strips of A and B its output tile needs (tileRows x k of A, k x tileCols of B, clipped to
 * the matrix), so A is read once per column of workgroups and B once per row of them; plus `writes` floats
 * written and `reads` more read (bias, accumulated output). Slicing K does not change the strips' total.
 */
function tiledBytes(m: number, n: number, k: number, tileRows: number, tileCols: number, writes: number, reads: number): number {
  return 4 * (Math.ceil(n / tileCols) * m * k + Math.ceil(m / tileRows) * k * n + writes + reads);
}

/** Options of matmul: transposes, the fused epilogue (bias, ReLU, accumulate) and the variant. */
export interface MatmulOptions {
  /** A is stored [k, m] (use Aᵀ). */
  transA?: boolean;
  /** B is stored [n, k] (use Bᵀ). */
  transB?: boolean;
  /** [n], added to each row. */
  bias?: Tensor;
  /** Fused epilogue, applied after the bias. */
  activation?: 'linear' | 'relu';
  /** out += act(op(A) · op(B) + bias) (for gradient accumulation); default overwrite. */
  accumulate?: boolean;
  /** Override the tuned kernel variant / workgroup shape (benchmarks and tests; a GEMM's workgroup is its own). */
  variant?: MatmulVariant;
  workgroup?: [number, number];
  /** GEMM variants: depths per split-K slice (rounded up to the K-tile; 0: no split). Default: gemmSplit's rule. */
  splitK?: number;
}

/**
 * out[m, n] = act(op(A) · op(B) + bias). A is [m,k] (or [k,m] with transA), B is [k,n] (or [n,k] with transB).
 * Any sizes; throws ShapeError when the tensors do not hold the sizes given.
 */
export function matmul(rec: Recorder, a: Tensor, b: Tensor, out: Tensor, m: number, n: number, k: number, opts: MatmulOptions = {}): void {
  const { transA = false, transB = false, bias, activation = 'linear', accumulate = false } = opts;
  for (const [name, v] of [['m', m], ['n', n], ['k', k]] as const)
    if (!Number.isInteger(v) || v < 0) throw new ShapeError(`matmul: ${name} = ${v} is not a whole number >= 0`);
  const aShape = transA ? `[${k}, ${m}]` : `[${m}, ${k}]`;
  const bShape = transB ? `[${n}, ${k}]` : `[${k}, ${n}]`;
  const desc = () =>
    `matmul${transA ? ' (A transposed)' : ''}${transB ? ' (B transposed)' : ''} with m=${m}, n=${n}, k=${k}: ` +
    `A ${shapeStr(a.shape)} must hold ${aShape}, B ${shapeStr(b.shape)} must hold ${bShape}, out ${shapeStr(out.shape)} must hold [${m}, ${n}]` +
    (bias ? `, bias ${shapeStr(bias.shape)} must hold [${n}]` : '');
  if (a.size !== m * k || b.size !== k * n || out.size !== m * n || (bias && bias.size !== n)) throw new ShapeError(desc());
  if (m === 0 || n === 0) return;
  if (k === 0 && !accumulate && !bias) {
    rec.clear(out, 'matmul (k = 0)'); // act(0) = 0 for linear and relu
    return;
  }
  const engine = rec.engine;
  const wanted: MatmulChoice =
    opts.variant || opts.workgroup
      ? { variant: opts.variant ?? tuningOf(engine).matmul.variant, workgroup: opts.workgroup ?? tuningOf(engine).matmul.workgroup }
      : tunedMatmul(engine, m, n, k, transA, transB);
  if (opts.workgroup && isGemm(wanted.variant) && opts.workgroup.join() !== GEMM_SHAPES[wanted.variant].workgroup.join())
    throw new ShaderflowError(`matmul: ${wanted.variant} runs on its own ${GEMM_SHAPES[wanted.variant].workgroup.join('x')} workgroup, not ${opts.workgroup.join('x')}`);
  const fitted = fitMatmulChoice(wanted, engine.limits);
  if (fitted.note) engine.noteFallback(fitted.note);
  const { variant, workgroup } = fitted.choice;
  const label = `matmul ${m}x${n}x${k}${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''}`;
  const aVec = a.vec4Binding('matmul: A');
  const bVec = b.vec4Binding('matmul: B');
  const constants = {
    TRANS_A: transA ? 1 : 0,
    TRANS_B: transB ? 1 : 0,
    ALIGN_A: (transA ? m : k) % 4 === 0 ? 1 : 0,
    ALIGN_B: (transB ? k : n) % 4 === 0 ? 1 : 0,
    HAS_BIAS: bias ? 1 : 0,
    RELU: activation === 'relu' ? 1 : 0,
    ACCUMULATE: accumulate ? 1 : 0,
  };
  const outReads = (bias ? n : 0) + (accumulate ? m * n : 0);
  const max = engine.limits.maxComputeWorkgroupsPerDimension;
  if (isGemm(variant)) {
    recordGemm(rec, { m, n, k, label, desc, constants, aVec, bVec, bias, out, outReads, split: gemmSplit(m, n, k, variant, opts.splitK) });
    return;
  }
  const [wgx, wgy] = workgroup;
  const [tileRows, tileCols] = MATMUL_TILE[variant];
  const groupsX = Math.ceil(Math.ceil(n / tileCols) / wgx);
  let groupsY = Math.ceil(Math.ceil(m / tileRows) / wgy);
  let groupsZ = 1;
  if (groupsX > max) throw new ShapeError(`${desc()}: n = ${n} needs ${groupsX} workgroups across, over this adapter's ${max}`);
  if (groupsY > max) {
    groupsZ = Math.ceil(groupsY / max);
    groupsY = Math.ceil(groupsY / groupsZ);
  }
  rec.dispatch({
    shader: 'matmul',
    entry: variant,
    label: `${label} (${variant})`,
    constants: { WGX: wgx, WGY: wgy, ...constants },
    bindings: [rec.uniform([m, n, k, 0]), aVec, bVec, bias ?? aVec, out],
    workgroups: [groupsX, groupsY, groupsZ],
    // One invocation walks all k depths; see tiledBytes for the bytes.
    cost: { variant, threads: wgx * wgy, serial: k, flops: 2 * m * n * k, bytes: tiledBytes(m, n, k, wgy * tileRows, wgx * tileCols, m * n, outReads) },
  });
}

interface GemmDispatch {
  m: number;
  n: number;
  k: number;
  label: string;
  desc: () => string;
  constants: Record<string, number>;
  aVec: GPUBufferBinding;
  bVec: GPUBufferBinding;
  bias: Tensor | undefined;
  out: Tensor;
  /** Floats the epilogue reads (bias, the accumulated output). */
  outReads: number;
  split: GemmSplit;
}

/**
 * The workgroup-memory GEMM: x = column tiles, y = row tiles (folded into z past the per-dimension limit),
 * z = split-K slice. Split: the GEMM writes raw partials [S, m, n] into recorder scratch, then splitKSum adds them
 * in slice order and applies the epilogue, so results are the same bits on every run.
 */
function recordGemm(rec: Recorder, g: GemmDispatch): void {
  const { m, n, k, split } = g;
  const { variant, slices, slice } = split;
  const { workgroup: [wgx, wgy], bk } = GEMM_SHAPES[variant];
  const max = rec.engine.limits.maxComputeWorkgroupsPerDimension;
  const groupsX = Math.ceil(n / (4 * wgx));
  let groupsY = Math.ceil(m / (4 * wgy));
  let fold = 1;
  if (groupsY > max) {
    fold = Math.ceil(groupsY / max);
    groupsY = Math.ceil(groupsY / fold);
  }
  if (groupsX > max || slices * fold > max)
    throw new ShapeError(`${g.desc()}: ${groupsX} column tiles or ${slices} K slices x ${fold} row folds exceed this adapter's ${max} workgroups per dimension; use a smaller batch.`);
  const threads = wgx * wgy;
  const flops = 2 * m * n * k;
  const common = { WGX: wgx, WGY: wgy, BK: bk };
  if (slices === 1) {
    rec.dispatch({
      shader: 'matmul',
      entry: 'gemm',
      label: `${g.label} (${variant})`,
      constants: { ...common, ...g.constants },
      bindings: [rec.uniform([m, n, k, k]), g.aVec, g.bVec, g.bias ?? g.aVec, g.out],
      workgroups: [groupsX, groupsY, fold],
      cost: { variant, threads, serial: k, flops, bytes: tiledBytes(m, n, k, 4 * wgy, 4 * wgx, m * n, g.outReads) },
    });
    return;
  }
  if (slice % bk !== 0) throw new ShaderflowError(`matmul: split-K slice ${slice} is not a multiple of the K-tile ${bk}`);
  // Whole vec4s, since splitKSum reads the partials through the vec4 binding of A.
  const partials = rec.scratch(Math.ceil((slices * m * n) / 4) * 16, `${g.label} (split-K partials)`);
  rec.dispatch({
    shader: 'matmul',
    entry: 'gemm',
    label: `${g.label} (${variant}, split-K ${slices} x ${slice})`,
    constants: { ...common, TRANS_A: g.constants.TRANS_A!, TRANS_B: g.constants.TRANS_B!, ALIGN_A: g.constants.ALIGN_A!, ALIGN_B: g.constants.ALIGN_B!, SPLIT: 1 },
    bindings: [rec.uniform([m, n, k, slice]), g.aVec, g.bVec, g.aVec, partials],
    workgroups: [groupsX, groupsY, slices * fold],
    cost: { variant, threads, serial: slice, flops, bytes: tiledBytes(m, n, k, 4 * wgy, 4 * wgx, slices * m * n, 0) },
  });
  recordSplitKSum(rec, g, partials, slices);
}

/** Workgroup size of splitKSum: small, so that even a 128x128 output (16384 sums) spans 256 workgroups. */
const SUM_WORKGROUP = 64;

function recordSplitKSum(rec: Recorder, g: GemmDispatch, partials: GPUBufferBinding, slices: number): void {
  const { m, n } = g;
  const groups = Math.ceil((m * n) / SUM_WORKGROUP);
  const max = rec.engine.limits.maxComputeWorkgroupsPerDimension;
  const y = Math.ceil(groups / max);
  const cost: DispatchCost = {
    variant: 'splitKSum',
    threads: SUM_WORKGROUP,
    serial: slices,
    flops: slices * m * n,
    bytes: 4 * (slices * m * n + m * n + g.outReads),
  };
  rec.dispatch({
    shader: 'matmul',
    entry: 'splitKSum',
    label: `${g.label} (split-K sum of ${slices})`,
    constants: { WGX: SUM_WORKGROUP, HAS_BIAS: g.constants.HAS_BIAS!, RELU: g.constants.RELU!, ACCUMULATE: g.constants.ACCUMULATE! },
    bindings: [rec.uniform([m, n, slices, 0]), partials, null, g.bias ?? partials, g.out],
    workgroups: [Math.ceil(groups / y), y, 1],
    cost,
  });
}

const choiceId = (c: MatmulChoice): string => `${c.variant}@${c.workgroup[0]}x${c.workgroup[1]}`;

function parseChoice(id: string): MatmulChoice {
  const [variant, wg] = id.split('@') as [MatmulVariant, string];
  const [x, y] = wg.split('x').map(Number) as [number, number];
  return { variant, workgroup: [x, y] };
}

/** The matmul candidates that fit this adapter's limits (workgroup size and, for the GEMMs, workgroup storage). */
export function fittingMatmulCandidates(engine: Engine): MatmulChoice[] {
  return matmulCandidates(engine.adapter.adapterClass).filter((c) => !matmulMisfit(c, engine.limits));
}

/**
 * The class default for this shape: the software tuning's variant, or on GPUs the class's GEMM (the 64x64 tile
 * unless defaultGemm finds that only the 32x32 one reaches the plan rule's workgroups).
 */
function defaultMatmul(engine: Engine, m: number, n: number, k: number): MatmulChoice {
  const dflt = tuningOf(engine).matmul;
  if (dflt.variant !== 'gemm64x64') return dflt;
  const v = defaultGemm(m, n, k);
  return { variant: v, workgroup: [...GEMM_SHAPES[v].workgroup] };
}

/** The tuned variant for this shape bucket (src/kernels/autotune.ts), else the class default. */
function tunedMatmul(engine: Engine, m: number, n: number, k: number, transA: boolean, transB: boolean): MatmulChoice {
  const dflt = defaultMatmul(engine, m, n, k);
  const candidates = fittingMatmulCandidates(engine);
  const id = tunedChoice(
    engine,
    {
      family: 'matmul',
      bucket: `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} ${pow2Bucket(m)}x${pow2Bucket(n)}x${pow2Bucket(k)}`,
      candidates: candidates.map(choiceId),
      setup: (e) => {
        const a = e.empty(transA ? [k, m] : [m, k]);
        const b = e.empty(transB ? [n, k] : [k, n]);
        const out = e.empty([m, n]);
        // Deterministic finite inputs: the timing must not depend on NaN or denormal paths.
        a.write(new Float32Array(a.size).fill(0.5));
        b.write(new Float32Array(b.size).fill(0.25));
        return {
          record: (r, c) => {
            const ch = parseChoice(c);
            matmul(r, a, b, out, m, n, k, { transA, transB, variant: ch.variant, workgroup: ch.workgroup });
          },
          dispose: () => [a, b, out].forEach((t) => t.dispose()),
        };
      },
    },
    choiceId(dflt),
  );
  return parseChoice(id);
}
