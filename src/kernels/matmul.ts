// Matrix multiply with a fused bias / ReLU / accumulate epilogue: shaders/matmul.wgsl.
// CPU reference: src/reference/matmul.ts. The variant and workgroup shape come from the engine's tuning
// (src/gpu/tuning.ts): big register blocks on software adapters, small ones on GPUs.
import { ShaderflowError, ShapeError, shapeStr } from '../errors.js';
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { Engine } from '../gpu/engine.js';
import { pow2Bucket, tunedChoice } from './autotune.js';
import { matmulCandidates, tuningOf, type MatmulChoice } from './tuning.js';

/** The matmul kernels side by side, simplest first: naive, then register-blocked tiles. */
export type MatmulVariant = 'naive' | 'tile4' | 'tile8' | 'tile16' | 'tile32x16' | 'tile16x32';

/** Output [rows, columns] each invocation of a variant computes. */
export const MATMUL_TILE: Record<MatmulVariant, readonly [number, number]> = {
  naive: [1, 1],
  tile4: [4, 4],
  tile8: [8, 8],
  tile16: [16, 16],
  tile32x16: [32, 16],
  tile16x32: [16, 32],
};

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
  /** Override the tuned kernel variant / workgroup shape (benchmarks and tests). */
  variant?: MatmulVariant;
  workgroup?: [number, number];
}

/** A read-only binding of `t` as array<vec4<f32>>: the size rounded up to 16 bytes (still inside the buffer). */
function vec4Binding(t: Tensor, what: string): GPUBufferBinding {
  const size = Math.max(16, Math.ceil(t.byteLength / 16) * 16);
  if (t.offset + size > t.buffer.size)
    throw new ShaderflowError(
      `matmul: ${what} ${shapeStr(t.shape)} ends within 16 bytes of its buffer's end; the kernel reads whole vec4s. Pad the buffer by 16 bytes.`,
    );
  t.binding(); // checks it is not disposed
  return { buffer: t.buffer, offset: t.offset, size };
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
  const tuning = opts.variant || opts.workgroup ? tuningOf(engine).matmul : tunedMatmul(engine, m, n, k, transA, transB);
  const variant = opts.variant ?? tuning.variant;
  const [wgx, wgy] = opts.workgroup ?? tuning.workgroup;
  const [tileRows, tileCols] = MATMUL_TILE[variant];
  const groupsX = Math.ceil(Math.ceil(n / tileCols) / wgx);
  let groupsY = Math.ceil(Math.ceil(m / tileRows) / wgy);
  let groupsZ = 1;
  const max = engine.limits.maxComputeWorkgroupsPerDimension;
  if (groupsX > max) throw new ShapeError(`${desc()}: n = ${n} needs ${groupsX} workgroups across, over this adapter's ${max}`);
  if (groupsY > max) {
    groupsZ = Math.ceil(groupsY / max);
    groupsY = Math.ceil(groupsY / groupsZ);
  }
  const aVec = vec4Binding(a, 'A');
  rec.dispatch({
    shader: 'matmul',
    entry: variant,
    label: `matmul ${m}x${n}x${k}${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''} (${variant})`,
    constants: {
      WGX: wgx,
      WGY: wgy,
      TRANS_A: transA ? 1 : 0,
      TRANS_B: transB ? 1 : 0,
      ALIGN_A: (transA ? m : k) % 4 === 0 ? 1 : 0,
      ALIGN_B: (transB ? k : n) % 4 === 0 ? 1 : 0,
      HAS_BIAS: bias ? 1 : 0,
      RELU: activation === 'relu' ? 1 : 0,
      ACCUMULATE: accumulate ? 1 : 0,
    },
    bindings: [rec.uniform([m, n, k, 0]), aVec, vec4Binding(b, 'B'), bias ?? aVec, out],
    workgroups: [groupsX, groupsY, groupsZ],
  });
}

const choiceId = (c: MatmulChoice): string => `${c.variant}@${c.workgroup[0]}x${c.workgroup[1]}`;

function parseChoice(id: string): MatmulChoice {
  const [variant, wg] = id.split('@') as [MatmulVariant, string];
  const [x, y] = wg.split('x').map(Number) as [number, number];
  return { variant, workgroup: [x, y] };
}

/** The matmul candidates that fit this adapter's workgroup limits. */
export function fittingMatmulCandidates(engine: Engine): MatmulChoice[] {
  const l = engine.limits;
  return matmulCandidates(engine.adapter.adapterClass).filter(
    (c) => c.workgroup[0] * c.workgroup[1] <= l.maxComputeInvocationsPerWorkgroup && c.workgroup[0] <= l.maxComputeWorkgroupSizeX && c.workgroup[1] <= l.maxComputeWorkgroupSizeY,
  );
}

/** The tuned variant for this shape bucket (src/kernels/autotune.ts), else the class default. */
function tunedMatmul(engine: Engine, m: number, n: number, k: number, transA: boolean, transB: boolean): MatmulChoice {
  const dflt = tuningOf(engine).matmul;
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
