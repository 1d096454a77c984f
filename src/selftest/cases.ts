// The self-test's registry: one entry per kernel family × variant (and one per layer gradient check), each a
// checkKernel against the float64 reference (src/reference/) or a checkGradients. A new kernel variant is one more
// entry here. `quick` entries make `shaderflow selftest --quick` (under a minute on llvmpipe); the full run adds
// larger and edge shapes (transposes, accumulation, chunked reductions, the GPU-forward gradient path).
import type { Engine, PipelineSpec } from '../gpu/engine.js';
import { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import { checkGradients, type TensorCheck } from '../check/gradients.js';
import { checkKernel, type KernelCheckSpec } from '../check/kernel.js';
import { activationBackward, activationBackwardFrom, activationForward } from '../kernels/activation.js';
import {
  biasLanes, CONV_GEMM, conv2dBackwardBias, conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, conv2dForwardNaive, conv2dGeometry, fitFilterRows,
  pickConvGemm, type Conv2dGeometry, type ConvBiasVariant, type ConvGemmVariant, type ConvKernel,
} from '../kernels/conv2d.js';
import { dropoutBackward, dropoutForward } from '../kernels/dropout.js';
import {
  augmentAffine, augmentBrightness, augmentBrightnessBackward, augmentChannelMean, augmentContrast, augmentContrastBackward, augmentCrop,
  augmentCropBackward, augmentDraw, augmentFlip, PARAMS_PER_EXAMPLE, type AugmentDraw, type FillMode, type ImageDims, type Interpolation,
} from '../kernels/augment.js';
import { accumulate, axpby, multiply, classUsesTree, classUsesVec4, columnSum, REDUCE_CHUNK, rowSum, scale, TREE_CHUNK, treeWorkgroupFits, type ReduceVariant } from '../kernels/elementwise.js';
import { flagNonFinite } from '../kernels/finite.js';
import { initialize, initializerPlan } from '../kernels/initializer.js';
import { binaryCrossEntropyFromProbs, crossEntropyFromProbs, meanSquaredError, sigmoidCrossEntropy, softmaxCrossEntropy, type StatsVariant } from '../kernels/loss.js';
import { batchNormBackward, batchNormForward } from '../kernels/batchnorm.js';
import { pad2dBackward, pad2dForward, pad2dGeometry } from '../kernels/padding.js';
import { depthwiseBackwardFilter, depthwiseBackwardInput, depthwiseForward, depthwiseGeometry, type DepthwiseFilterVariant } from '../kernels/depthwise.js';
import { batchNormForwardRef } from '../reference/batchnorm.js';
import { pad2dForwardRef } from '../reference/padding.js';
import { depthwiseForwardRef } from '../reference/depthwise.js';
import { BatchNormalization } from '../layers/normalization.js';
import { DepthwiseConv2D, SeparableConv2D } from '../layers/depthwise.js';
import { ZeroPadding2D } from '../layers/padding.js';
import { GlobalAveragePooling2D, GlobalMaxPooling2D } from '../layers/global-pooling.js';
import { confusionMatrix, metricCounts, type MetricCountSpec } from '../kernels/metrics.js';
import { fitMatmulChoice, GEMM_SHAPES, isGemm, matmul, MATMUL_TILE, type MatmulVariant } from '../kernels/matmul.js';
import { matmulCandidates, tuningOf, type MatmulChoice } from '../kernels/tuning.js';
import { adamStep, rmspropStep, sgdStep } from '../kernels/optimizer.js';
import { avgPool2dBackward, avgPool2dForward, maxPool2dBackward, maxPool2dForward, pool2dGeometry, type Pool2dGeometry } from '../kernels/pool.js';
import { DeviceDataset, cpuGather } from '../data/device.js';
import { Activation } from '../layers/activation.js';
import { Conv2D } from '../layers/conv2d.js';
import { Dense } from '../layers/dense.js';
import { Dropout } from '../layers/dropout.js';
import { RandomBrightness, RandomContrast, RandomCrop, RandomFlip } from '../layers/augment.js';
import { Flatten } from '../layers/flatten.js';
import type { ActivationName, Layer } from '../layers/layer.js';
import { AveragePooling2D, MaxPooling2D } from '../layers/pooling.js';
import { Sequential } from '../model/sequential.js';
import { model, type Model } from '../model/model.js';
import { input } from '../layers/input.js';
import { Add, Concatenate, Multiply } from '../layers/merge.js';
import { copyColumns } from '../kernels/merge.js';
import { addRef, copyColumnsRef, multiplyRef } from '../reference/merge.js';
import { activationBackwardRef, activationForwardRef } from '../reference/activation.js';
import { conv2dBackwardBiasRef, conv2dBackwardFilterRef, conv2dBackwardInputRef, conv2dForwardRef } from '../reference/conv2d.js';
import { dropoutMaskRef } from '../reference/dropout.js';
import {
  affineRef, affineTolerance, augmentParamsRef, brightnessBackwardRef, brightnessRef, channelMeanRef, contrastBackwardRef, contrastRef, cropBackwardRef, cropRef, flipRef,
} from '../reference/augment.js';
import { axpbyRef, columnSumRef, rowSumRef } from '../reference/elementwise.js';
import { initializeRef } from '../reference/initializer.js';
import { lossRef, type LossKindRef } from '../reference/loss.js';
import { matmulRef } from '../reference/matmul.js';
import { confusionMatrixRef, metricCountsRef } from '../reference/metrics.js';
import { adamRef, rmspropRef, sgdRef } from '../reference/optimizer.js';
import { avgPool2dBackwardRef, avgPool2dForwardRef, maxPool2dBackwardRef, maxPool2dForwardRef } from '../reference/pool.js';
import { mulberry32, randomUniform } from '../reference/random.js';

/** What one case gives back: its comparisons, and the variant that actually ran (e.g. the conv2d entry point). */
export interface CaseOutcome {
  tensors: TensorCheck[];
  variant?: string;
}

/** One self-test entry: a kernel family × variant (or a layer's gradient check) and how to run it on an engine. */
export interface SelftestCase {
  /** The kernel family (shaders/NAME.wgsl), or 'gradients' for a layer's numeric gradient check. */
  kernel: string;
  /** The variant: an entry point, tile shape, activation or layer configuration. */
  variant: string;
  shapes: string;
  /** Part of --quick: always, or on engines where this is the variant training uses (the tuned matmul tile). */
  quick: boolean | ((engine: Engine) => boolean);
  /** Whether this adapter can run the variant (default: yes). */
  available?(engine: Engine): boolean;
  /** `corrupt`: the test-only switch; the case overwrites one output value after its kernel ran. */
  run(engine: Engine, corrupt: boolean): Promise<CaseOutcome>;
  /** The pipelines `run` will build (from a dry recording), so that all can be compiled at once, in parallel. */
  pipelines?(engine: Engine): PipelineSpec[];
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const sqrt = Math.sqrt;

/**
 * --quick for a variant the adapter class may or may not run by default: quick (for a shape marked quick) on
 * engines whose class runs `variant` (vec4 entries, workgroup trees), so --quick checks what this adapter trains with.
 */
const whereClassRuns = (quick: boolean, runs: boolean, classDefault: (engine: Engine) => boolean): SelftestCase['quick'] =>
  quick ? (engine) => runs === classDefault(engine) : false;
const treeAvailable = (engine: Engine) => treeWorkgroupFits(tuningOf(engine).elementwiseWorkgroup);

/** A case around one checkKernel spec (the variant shown is the spec's, or the entry points that ran). */
function kernelCase(kernel: string, variant: string, shapes: string, quick: SelftestCase['quick'], spec: () => Omit<KernelCheckSpec, 'kernel' | 'variant' | 'shapes'>, entryVariant = false): SelftestCase {
  return {
    kernel,
    variant,
    shapes,
    quick,
    pipelines(engine) {
      const s = spec();
      const made: Tensor[] = [];
      const t: Record<string, Tensor> = {};
      for (const [name, x] of Object.entries({ ...s.inputs, ...s.outputs })) made.push((t[name] = engine.empty(x.shape, x.dtype ?? 'f32')));
      const rec = new Recorder(engine, `selftest ${kernel} ${variant} (dry)`, { dry: true });
      try {
        s.record(rec, t);
        return rec.pipelineSpecs();
      } finally {
        rec.dispose();
        for (const x of made) x.dispose();
      }
    },
    async run(engine, corrupt) {
      const r = await checkKernel(engine, { kernel, variant, shapes, ...spec() }, { corrupt });
      const ran = [...new Set(r.dispatches.map((d) => d.replace(/^[a-z0-9]+\./i, '').replace(/\[\d+\]$/, '').replace(/ \(.*\)$/, '')))];
      return { tensors: r.tensors, variant: entryVariant ? ran.join('+') : undefined };
    },
  };
}

// ------------------------------------------------------------------ matmul: every tile variant

interface MatmulCaseOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  relu?: boolean;
  accumulate?: boolean;
  /** GEMM variants: depths per split-K slice (0: no split), as matmul's `splitK`. */
  splitK?: number;
}

function matmulCase(variant: MatmulVariant, m: number, n: number, k: number, o: MatmulCaseOptions, quick: SelftestCase['quick']): SelftestCase {
  const split = o.splitK ? `split-K ${Math.ceil(k / o.splitK)}x${o.splitK}` : '';
  const flags = [o.transA && 'Aᵀ', o.transB && 'Bᵀ', o.bias && '+bias', o.relu && 'relu', o.accumulate && '+=out', split].filter(Boolean).join(' ');
  const c = kernelCase('matmul', variant, `${m}x${n}x${k}${flags ? ` ${flags}` : ''}`, quick, () => ({
    inputs: { a: { shape: o.transA ? [k, m] : [m, k] }, b: { shape: o.transB ? [n, k] : [k, n] }, bias: { shape: [n] } },
    outputs: { out: o.accumulate ? { shape: [m, n], data: randomUniform(m * n, 99) } : { shape: [m, n] } },
    record: (rec, t) =>
      matmul(rec, t.a!, t.b!, t.out!, m, n, k, {
        transA: o.transA, transB: o.transB, bias: o.bias ? t.bias : undefined, activation: o.relu ? 'relu' : 'linear', accumulate: o.accumulate, variant,
        splitK: isGemm(variant) ? (o.splitK ?? 0) : undefined,
      }),
    reference: (v) => ({
      out: matmulRef(v.a!, v.b!, m, n, k, { transA: o.transA, transB: o.transB, bias: o.bias ? v.bias : undefined, activation: o.relu ? 'relu' : 'linear', accumulateInto: o.accumulate ? v.out : undefined }),
    }),
    // a k-term float32 dot product of values in [-1, 1]: rounding scales with sqrt(k) (test/matmul.test.ts)
    floor: Math.max(1, sqrt(k)),
  }));
  // Only where matmul would run this variant, not a fallback (a GEMM needs its workgroup and workgroup storage).
  c.available = (engine) => fitMatmulChoice(matmulWanted(engine, variant), engine.limits).choice.variant === variant;
  return c;
}

/** What matmul asks for when given `variant` (a GEMM on its own workgroup, a tile on the tuned one). */
function matmulWanted(engine: Engine, variant: MatmulVariant): MatmulChoice {
  return { variant, workgroup: isGemm(variant) ? [...GEMM_SHAPES[variant].workgroup] : tuningOf(engine).matmul.workgroup };
}

/**
 * The matmul variants this engine trains with: the class's tuned tile (software), or every GEMM the autotune
 * picks from by shape (GPU), each after the fallback its adapter's limits force.
 */
function trainedMatmulVariants(engine: Engine): MatmulVariant[] {
  const t = tuningOf(engine).matmul;
  const wanted = isGemm(t.variant) ? matmulCandidates(engine.adapter.adapterClass) : [t];
  return wanted.map((c) => fitMatmulChoice(c, engine.limits).choice.variant);
}

// --quick: the naive reference variant and the variants this adapter trains with (each big register tile costs
// llvmpipe tens of seconds to compile the first time); the full run: every variant, transposed and accumulating
// too. The GEMMs add split-K cases (K over several slices, summed in order by splitKSum with the epilogue).
const trainedMatmul = (v: MatmulVariant) => (engine: Engine) => v === 'naive' || trainedMatmulVariants(engine).includes(v);
const MATMUL_CASES: SelftestCase[] = (Object.keys(MATMUL_TILE) as MatmulVariant[]).flatMap((v) => [
  matmulCase(v, 33, 17, 127, { bias: true, relu: true }, trainedMatmul(v)),
  ...(isGemm(v) ? [matmulCase(v, 33, 17, 300, { bias: true, relu: true, splitK: 64 }, trainedMatmul(v))] : []),
  matmulCase(v, 7, 33, 65, { transA: true, splitK: isGemm(v) ? 16 : undefined }, false),
  matmulCase(v, 37, 257, 9, { transB: true, accumulate: true }, false),
  ...(isGemm(v) ? [matmulCase(v, 37, 257, 300, { transB: true, accumulate: true, splitK: 128 }, false)] : []),
]);

// ------------------------------------------------------------------ conv2d: each entry point (chosen by shape)

type ConvShape = [batch: number, h: number, w: number, inC: number, outC: number, k: number, s: number, padding: 'same' | 'valid'];

function geometry([b, h, w, ci, co, k, s, pad]: ConvShape): Conv2dGeometry {
  return conv2dGeometry([b, h, w, ci], co, [k, k], [s, s], pad);
}
const convShapes = (c: ConvShape) => `${c[0]}x${c[1]}x${c[2]}x${c[3]} -> ${c[4]}, ${c[5]}x${c[5]} /${c[6]} ${c[7]}`;

/** The conv kernels a case runs: the register-blocked tiles (software class) or one implicit-GEMM tile (GPU class). */
type ConvKernelSet = 'tiles' | ConvGemmVariant;

/**
 * The conv kernel sets this engine trains with: the implicit-GEMM tiles where its class uses them (the autotune
 * picks among all three by shape), each after pickConvGemm's fallback for this adapter's limits; else the tiles.
 */
function trainedConvKernels(engine: Engine): ConvKernelSet[] {
  if (!tuningOf(engine).conv2d.implicitGemm) return ['tiles'];
  return (Object.keys(CONV_GEMM) as ConvGemmVariant[]).map((v) => pickConvGemm(engine.limits, v).variant ?? 'tiles');
}

const trainedConv = (set: ConvKernelSet, quick: boolean): SelftestCase['quick'] => (quick ? (engine) => trainedConvKernels(engine).includes(set) : false);

/**
 * forward, backwardInput and backwardFilter of one shape, in one kernel set (explicitly, whatever the class
 * default): 'tiles' shows the entry point that ran (chosen by shape); a GEMM tile's backward filter is always split
 * along K here (few output tiles) and summed in slice order by reduceGroups. `naive`: the naive forward too.
 */
function convCases(c: ConvShape, quick: boolean, set: ConvKernelSet = 'tiles', naive = false): SelftestCase[] {
  const g = geometry(c);
  const xs = [g.batch, g.inH, g.inW, g.inC], ws = [g.kH, g.kW, g.inC, g.outC], ys = [g.batch, g.outH, g.outW, g.outC];
  const s = convShapes(c);
  const tiles = set === 'tiles';
  const name = (pass: string) => (tiles ? pass : `${pass} ${set}${pass === 'backwardFilter' ? ' split-K' : ''}`);
  const kernel = (engine: Engine, pass: 'forward' | 'backwardInput' | 'backwardFilter'): ConvKernel => {
    if (!tiles) return set;
    const t = tuningOf(engine).conv2d[pass];
    return pass === 'backwardFilter' ? fitFilterRows(t, g.kH * g.kW * g.inC) : t; // as the class default does
  };
  const q = trainedConv(set, quick);
  const cases = [
    kernelCase('conv2d', name('forward'), s, q, () => ({
      inputs: { x: { shape: xs }, w: { shape: ws }, bias: { shape: [g.outC] } },
      outputs: { y: { shape: ys } },
      record: (rec, t) => conv2dForward(rec, t.x!, t.w!, t.bias!, t.y!, g, 'relu', kernel(rec.engine, 'forward')),
      reference: (v) => ({ y: conv2dForwardRef(v.x!, v.w!, v.bias!, g, 'relu') }),
      floor: sqrt(g.kH * g.kW * g.inC),
    }), tiles),
    kernelCase('conv2d', name('backwardInput'), s, q, () => ({
      inputs: { dy: { shape: ys }, w: { shape: ws } },
      outputs: { dx: { shape: xs } },
      record: (rec, t) => conv2dBackwardInput(rec, t.dy!, t.w!, t.dx!, g, kernel(rec.engine, 'backwardInput')),
      reference: (v) => ({ dx: conv2dBackwardInputRef(v.dy!, v.w!, g) }),
      floor: sqrt(g.kH * g.kW * g.outC),
    }), tiles),
    kernelCase('conv2d', name('backwardFilter'), s, q, () => ({
      inputs: { x: { shape: xs }, dy: { shape: ys } },
      outputs: { dw: { shape: ws } },
      record: (rec, t) => conv2dBackwardFilter(rec, t.x!, t.dy!, t.dw!, g, kernel(rec.engine, 'backwardFilter')),
      reference: (v) => ({ dw: conv2dBackwardFilterRef(v.x!, v.dy!, g) }),
      floor: sqrt(g.batch * g.outH * g.outW),
    }), tiles),
  ];
  // a GEMM tile runs only where it fits (else conv2d would fall back to a smaller one, or the tiles)
  if (!tiles) for (const x of cases) x.available = (engine) => pickConvGemm(engine.limits, set).variant === set;
  if (naive)
    cases.push(
      kernelCase('conv2d', 'forwardNaive', s, quick, () => ({
        inputs: { x: { shape: xs }, w: { shape: ws }, bias: { shape: [g.outC] } },
        outputs: { y: { shape: ys } },
        record: (rec, t) => conv2dForwardNaive(rec, t.x!, t.w!, t.bias!, t.y!, g, 'linear'),
        reference: (v) => ({ y: conv2dForwardRef(v.x!, v.w!, v.bias!, g, 'linear') }),
        floor: sqrt(g.kH * g.kW * g.inC),
      }), true),
    );
  return cases;
}

/** The bias gradient in one variant: biasPartial (software class) or biasChunks (GPU class, tree per chunk). */
function convBiasCase(c: ConvShape, variant: ConvBiasVariant, quick: boolean): SelftestCase {
  const g = geometry(c);
  const ys = [g.batch, g.outH, g.outW, g.outC];
  const chunks = variant === 'biasChunks';
  const classRuns = (engine: Engine) => chunks === (tuningOf(engine).conv2d.implicitGemm && biasLanes(engine.limits) > 0);
  const x = kernelCase('conv2d', `backwardBias ${variant}`, convShapes(c), quick ? classRuns : false, () => ({
    inputs: { dy: { shape: ys } },
    outputs: { db: { shape: [g.outC] } },
    record: (rec, t) => conv2dBackwardBias(rec, t.dy!, t.db!, g, variant),
    reference: (v) => ({ db: conv2dBackwardBiasRef(v.dy!, g) }),
    floor: sqrt(g.batch * g.outH * g.outW),
  }));
  if (chunks) x.available = (engine) => biasLanes(engine.limits) > 0;
  return x;
}

const CONV_GEMMS = Object.keys(CONV_GEMM) as ConvGemmVariant[];
const CONV_CASES: SelftestCase[] = [
  ...convCases([3, 5, 7, 3, 5, 3, 1, 'same'], true, 'tiles', true), // scalar entries
  ...convCases([2, 5, 7, 4, 8, 3, 1, 'same'], true), // vec4 forward/backwardInput
  ...convCases([2, 5, 6, 16, 12, 3, 1, 'same'], true), // aligned (vec4) backward-filter
  ...convCases([1, 7, 5, 3, 8, 5, 2, 'valid'], false),
  ...convCases([3, 5, 7, 5, 9, 2, 2, 'same'], false), // asymmetric 'same' padding
  ...convCases([1, 9, 9, 2, 33, 3, 2, 'valid'], false),
  // implicit GEMMs, every tile: odd N (scalar B loads) and N % 4 = 0 (vec4 B) in --quick; strides, asymmetric
  // padding, N over one tile, and a forward whose K (3*3*460) takes two passes in the full run
  ...CONV_GEMMS.flatMap((v) => [
    ...convCases([3, 5, 7, 3, 5, 3, 1, 'same'], true, v),
    ...convCases([2, 5, 7, 4, 8, 3, 1, 'same'], true, v),
    ...convCases([1, 7, 5, 3, 8, 5, 2, 'valid'], false, v),
    ...convCases([3, 5, 7, 5, 9, 2, 2, 'same'], false, v),
    ...convCases([1, 9, 9, 2, 33, 3, 2, 'valid'], false, v),
    ...convCases([1, 3, 3, 460, 5, 3, 1, 'same'], false, v),
  ]),
  convBiasCase([3, 5, 7, 3, 5, 3, 1, 'same'], 'biasPartial', true),
  convBiasCase([3, 23, 17, 2, 37, 3, 1, 'same'], 'biasPartial', false),
  convBiasCase([3, 5, 7, 3, 5, 3, 1, 'same'], 'biasChunks', false),
  convBiasCase([3, 23, 17, 2, 37, 3, 1, 'same'], 'biasChunks', true), // 1173 rows: two chunks, two channel blocks
];

// ------------------------------------------------------------------ pooling

function poolCases(shape: [number, number, number, number], pool: number, stride: number, padding: 'same' | 'valid', quick: boolean): SelftestCase[] {
  const g: Pool2dGeometry = pool2dGeometry(shape, [pool, pool], [stride, stride], padding);
  const xs = [...shape], ys = [g.batch, g.outH, g.outW, g.c];
  const s = `${shape.join('x')}, ${pool}x${pool} /${stride} ${padding}`;
  // Max pooling on distinct values, so the argmax (first max in window order) is the reference's.
  const x = () => randomUniform(size(xs), 41);
  return [
    kernelCase('pool', 'maxForward', s, quick, () => ({
      inputs: { x: { shape: xs, data: x() } },
      outputs: { y: { shape: ys }, argmax: { shape: ys, dtype: 'u32' } },
      record: (rec, t) => maxPool2dForward(rec, t.x!, t.y!, t.argmax!, g),
      reference: (v) => maxPool2dForwardRef(v.x!, g),
      rtol: { y: 0 },
    }), true),
    kernelCase('pool', 'maxBackward', s, quick, () => ({
      inputs: { dy: { shape: ys }, argmax: { shape: ys, dtype: 'u32', data: maxPool2dForwardRef(x(), g).argmax } },
      outputs: { dx: { shape: xs } },
      record: (rec, t) => maxPool2dBackward(rec, t.dy!, t.argmax!, t.dx!, g),
      reference: (v) => ({ dx: maxPool2dBackwardRef(v.dy!, v.argmax!, g) }),
      rtol: 1e-6,
    }), true),
    kernelCase('pool', 'avgForward', s, quick, () => ({
      inputs: { x: { shape: xs } },
      outputs: { y: { shape: ys } },
      record: (rec, t) => avgPool2dForward(rec, t.x!, t.y!, g),
      reference: (v) => ({ y: avgPool2dForwardRef(v.x!, g) }),
      rtol: 1e-6,
    }), true),
    kernelCase('pool', 'avgBackward', s, quick, () => ({
      inputs: { dy: { shape: ys } },
      outputs: { dx: { shape: xs } },
      record: (rec, t) => avgPool2dBackward(rec, t.dy!, t.dx!, g),
      reference: (v) => ({ dx: avgPool2dBackwardRef(v.dy!, g) }),
      rtol: 1e-6,
    }), true),
  ];
}

const POOL_CASES: SelftestCase[] = [
  ...poolCases([3, 5, 7, 3], 2, 2, 'valid', true), // disjoint windows: scatter backward
  ...poolCases([2, 4, 5, 4], 3, 1, 'same', true), // overlapping: gather backward; 4 channels: vec4 max
  ...poolCases([1, 7, 5, 8], 2, 2, 'same', false),
];

// ------------------------------------------------------------------ activations

const ACTIVATIONS: ActivationName[] = ['relu', 'sigmoid', 'tanh', 'softmax', 'leaky_relu', 'elu', 'selu', 'gelu', 'swish', 'softplus', 'hard_sigmoid'];
/**
 * Every activation's forward and backward: the scalar entries (any size; the GPU class runs them where rows x cols
 * is not a multiple of 4, so they are quick on every class), or `vec4` (the GPU class's entries; no softmax, which
 * is per row either way).
 */
function activationCases(rows: number, cols: number, quick: boolean, vec4 = false): SelftestCase[] {
  const s = `${rows}x${cols}`;
  const q = vec4 ? whereClassRuns(quick, true, classUsesVec4) : quick;
  const v = vec4 ? ' vec4' : '';
  return ACTIVATIONS.filter((kind) => !vec4 || kind !== 'softmax').flatMap((kind) => [
    kernelCase('activation', `${kind}.forward${v}`, s, q, () => ({
      inputs: { x: { shape: [rows, cols], range: [-4, 4] } },
      outputs: { y: { shape: [rows, cols] } },
      record: (rec, t) => activationForward(rec, kind, t.x!, t.y!, rows, cols, { vec4 }),
      reference: (v) => ({ y: activationForwardRef(kind, v.x!, rows, cols) }),
      rtol: 2e-6,
    })),
    kernelCase('activation', `${kind}.backward${v}`, s, q, () => {
      // what backward reads: the output, or the input itself for gelu and swish
      const x = randomUniform(rows * cols, 43, -4, 4);
      const y = activationBackwardFrom(kind) === 'input' ? x : Float32Array.from(activationForwardRef(kind, x, rows, cols));
      return {
        inputs: { y: { shape: [rows, cols], data: y }, dy: { shape: [rows, cols] } },
        outputs: { dx: { shape: [rows, cols] } },
        record: (rec, t) => activationBackward(rec, kind, t.y!, t.dy!, t.dx!, rows, cols, { vec4 }),
        reference: (v) => ({ dx: activationBackwardRef(kind, v.y!, v.dy!, rows, cols) }),
        rtol: 2e-6,
      };
    }),
  ]);
}

// ------------------------------------------------------------------ elementwise and reductions

/**
 * axpby and scale in the scalar or `vec4` entries (n a multiple of 4), and column and row sums in the serial or
 * tree variant (chunked past REDUCE_CHUNK or TREE_CHUNK terms). The software class runs scalar + serial, the GPU
 * class vec4 + tree; each variant is quick where the class runs it.
 */
function elementwiseCases(n: number, rows: number, cols: number, quick: boolean, o: { vec4: boolean; reduce: ReduceVariant } = { vec4: false, reduce: 'serial' }): SelftestCase[] {
  const { vec4, reduce } = o;
  const tree = reduce === 'tree';
  const qv = whereClassRuns(quick, vec4, classUsesVec4);
  const qr = whereClassRuns(quick, tree, classUsesTree);
  const v = vec4 ? ' vec4' : '';
  const r = `${tree ? ' tree' : ''}${rows > (tree ? TREE_CHUNK : REDUCE_CHUNK) ? ' (chunked)' : ''}`;
  const sums = [
    kernelCase('reduce', `columnSum${r}`, `${rows}x${cols}`, qr, () => ({
      inputs: { x: { shape: [rows, cols] } },
      outputs: { out: { shape: [cols] } },
      record: (rec, t) => columnSum(rec, t.x!, rows, cols, t.out!, false, { variant: reduce }),
      reference: (v) => ({ out: columnSumRef(v.x!, rows, cols) }),
      floor: sqrt(rows),
    })),
    kernelCase('reduce', `rowSum${r}`, `${cols}x${rows}`, qr, () => ({
      inputs: { x: { shape: [cols, rows] } },
      outputs: { out: { shape: [cols] } },
      record: (rec, t) => rowSum(rec, t.x!, cols, rows, t.out!, false, { variant: reduce }),
      reference: (v) => ({ out: rowSumRef(v.x!, cols, rows) }),
      floor: sqrt(rows),
    })),
  ];
  if (tree) for (const c of sums) c.available = treeAvailable;
  return [
    kernelCase('elementwise', `axpby${v}`, `${n}`, qv, () => ({
      inputs: { a: { shape: [n] }, b: { shape: [n] } },
      outputs: { out: { shape: [n] } },
      record: (rec, t) => axpby(rec, t.a!, t.b!, t.out!, 0.75, -1.5, { vec4 }),
      reference: (v) => ({ out: axpbyRef(v.a!, v.b!, 0.75, -1.5) }),
      rtol: 1e-6,
    })),
    kernelCase('elementwise', `scale${v}`, `${n}`, qv, () => ({
      inputs: { a: { shape: [n] } },
      outputs: { out: { shape: [n] } },
      record: (rec, t) => scale(rec, t.a!, t.out!, -3.25, { vec4 }),
      reference: (v) => ({ out: Float64Array.from(v.a!, (x) => -3.25 * x) }),
      rtol: 1e-6,
    })),
    ...sums,
  ];
}

/** The merge layers' kernels: elementwise accumulate and multiply (scalar or vec4 entries), and shaders/merge.wgsl's copyColumns (Concatenate). */
function mergeCases(n: number, quick: boolean, vec4: boolean): SelftestCase[] {
  const qv = whereClassRuns(quick, vec4, classUsesVec4);
  const v = vec4 ? ' vec4' : '';
  const start = randomUniform(n, 71);
  const cases = [
    kernelCase('elementwise', `accumulate${v}`, `${n}`, qv, () => ({
      inputs: { a: { shape: [n] } },
      outputs: { out: { shape: [n], data: start } },
      record: (rec, t) => accumulate(rec, t.a!, t.out!, { vec4 }),
      reference: (x) => ({ out: addRef([x.a!, start]) }),
      rtol: 1e-6,
    })),
    kernelCase('elementwise', `multiply${v}`, `${n}`, qv, () => ({
      inputs: { a: { shape: [n] }, b: { shape: [n] } },
      outputs: { out: { shape: [n] } },
      record: (rec, t) => multiply(rec, t.a!, t.b!, t.out!, { vec4 }),
      reference: (x) => ({ out: multiplyRef([x.a!, x.b!]) }),
      rtol: 1e-6,
    })),
  ];
  if (vec4) return cases;
  const rows = 37, cols = [3, 5];
  const g = { rows, cols: cols[1]!, srcCols: cols[1]!, srcOff: 0, dstCols: 8, dstOff: 3 };
  const dst = randomUniform(rows * 8, 72);
  return [
    ...cases,
    kernelCase('merge', 'copyColumns', `${rows}x${cols[1]} into ${rows}x8 at 3`, quick, () => ({
      inputs: { src: { shape: [rows, cols[1]!] } },
      outputs: { dst: { shape: [rows, 8], data: dst } },
      record: (rec, t) => copyColumns(rec, t.src!, t.dst!, g),
      reference: (x) => ({ dst: copyColumnsRef(x.src!, dst, g) }),
      rtol: 0,
    })),
  ];
}

// ------------------------------------------------------------------ losses

/** One loss kernel with its statistics summed 'serial' (software class) or by 'tree' (GPU class; levels past WG rows). */
function lossCase(kind: LossKindRef, n: number, c: number, sparse: boolean, quick: boolean, statsVariant: StatsVariant = 'serial'): SelftestCase {
  const r = mulberry32(n * c);
  const labels = Uint32Array.from({ length: n }, () => Math.floor(r() * c));
  const onehot = new Float32Array(n * c);
  labels.forEach((k, i) => (onehot[i * c + k] = 1));
  const binary = kind === 'sigmoidCrossEntropy' || kind === 'binaryCrossEntropyFromProbs';
  // binary cross-entropy: 0/1 target rows, probabilities inside the clip range
  if (binary) labels.forEach((_, i) => { for (let j = 0; j < c; j++) onehot[i * c + j] = r() < 0.5 ? 0 : 1; });
  const probsIn = kind === 'crossEntropyFromProbs';
  const tree = statsVariant === 'tree';
  const x = kernelCase('loss', `${kind}${sparse ? ' sparse' : ''}${tree ? ' tree' : ''}`, `${n}x${c}`, whereClassRuns(quick, tree, classUsesTree), () => ({
    inputs: {
      x: probsIn ? { shape: [n, c], data: Float32Array.from(activationForwardRef('softmax', randomUniform(n * c, 47, -3, 3), n, c)) }
        : kind === 'binaryCrossEntropyFromProbs' ? { shape: [n, c], range: [0.02, 0.98] } : { shape: [n, c], range: [-3, 3] },
      target: sparse ? { shape: [n], dtype: 'u32', data: labels } : { shape: [n, c], data: onehot },
    },
    outputs: {
      grad: { shape: [n, c] },
      stats: { shape: [4], data: [0, 0, 0, 0] },
      ...(kind === 'softmaxCrossEntropy' || kind === 'sigmoidCrossEntropy' ? { probs: { shape: [n, c] } } : {}),
    },
    record: (rec, t) => {
      const o = { gradScale: 1 / n, sparse, statsVariant };
      if (kind === 'softmaxCrossEntropy') softmaxCrossEntropy(rec, t.x!, t.target!, t.probs!, t.grad!, t.stats!, n, c, o);
      else if (kind === 'sigmoidCrossEntropy') sigmoidCrossEntropy(rec, t.x!, t.target!, t.probs!, t.grad!, t.stats!, n, c, o);
      else if (kind === 'binaryCrossEntropyFromProbs') binaryCrossEntropyFromProbs(rec, t.x!, t.target!, t.grad!, t.stats!, n, c, o);
      else if (kind === 'crossEntropyFromProbs') crossEntropyFromProbs(rec, t.x!, t.target!, t.grad!, t.stats!, n, c, o);
      else meanSquaredError(rec, t.x!, t.target!, t.grad!, t.stats!, n, c, o);
    },
    reference: (v) => {
      const ref = lossRef(kind, v.x!, v.target!, n, c, 1 / n, sparse);
      return { grad: ref.grad, stats: [ref.lossSum, ref.correct, n, 0], ...(ref.probs ? { probs: ref.probs } : {}) };
    },
    rtol: { grad: 1e-5, probs: 2e-6, stats: 1e-5 },
    floor: { grad: binary ? 1 / (n * c) : 1 / n, probs: 1, stats: 1 },
  }));
  if (tree) x.available = treeAvailable;
  return x;
}

// ------------------------------------------------------------------ batch normalization, zero padding, depthwise

/**
 * Batch normalization in training mode (batch statistics through columnSum, moving update) and its backward, in
 * the adapter class's reduction variant; `rows` past the chunk sizes exercises the chunked sums.
 */
function batchNormCases(rows: number, cols: number, quick: boolean): SelftestCase[] {
  const s = { rows, cols, epsilon: 1e-3, momentum: 0.9 };
  const w = { gamma: randomUniform(cols, 61, 0.5, 2), beta: randomUniform(cols, 62), movingMean: randomUniform(cols, 63), movingVariance: randomUniform(cols, 64, 0.5, 2) };
  const perChannel = () => ({ stats: { shape: [2, cols] }, sumA: { shape: [cols] }, sumB: { shape: [cols] }, movingMean: { shape: [cols], data: w.movingMean }, movingVariance: { shape: [cols], data: w.movingVariance } });
  const tensors = (t: Record<string, Tensor>) => ({ gamma: t.gamma, beta: t.beta, movingMean: t.movingMean!, movingVariance: t.movingVariance!, stats: t.stats!, sumA: t.sumA!, sumB: t.sumB! });
  const shape = `${rows}x${cols}`;
  return [
    kernelCase('batchnorm', 'forward (training, moving update)', shape, quick, () => ({
      inputs: { x: { shape: [rows, cols], range: [-2, 4] }, gamma: { shape: [cols], data: w.gamma }, beta: { shape: [cols], data: w.beta } },
      outputs: { y: { shape: [rows, cols] }, ...perChannel() },
      record: (rec, t) => batchNormForward(rec, t.x!, t.y!, s, tensors(t), true),
      reference: (v) => {
        const r = batchNormForwardRef(v.x!, rows, cols, w, true, s.epsilon, s.momentum);
        return { y: r.y, movingMean: r.movingMean, movingVariance: r.movingVariance };
      },
      rtol: { y: 2e-5, movingMean: 2e-6, movingVariance: 2e-6 },
      floor: { y: 1, movingMean: 1, movingVariance: 1 },
    })),
    kernelCase('batchnorm', 'backward (training: through the batch statistics)', shape, quick, () => ({
      inputs: { x: { shape: [rows, cols] }, dy: { shape: [rows, cols] }, gamma: { shape: [cols], data: w.gamma }, beta: { shape: [cols], data: w.beta } },
      outputs: { dx: { shape: [rows, cols] }, dgamma: { shape: [cols] }, dbeta: { shape: [cols] }, y: { shape: [rows, cols] }, ...perChannel() }, // dx first: the corrupted one
      record: (rec, t) => {
        batchNormForward(rec, t.x!, t.y!, s, tensors(t), true);
        batchNormBackward(rec, t.x!, t.dy!, t.dx!, s, tensors(t), true, { dgamma: t.dgamma, dbeta: t.dbeta });
      },
      reference: (v) => {
        // the closed form of the batch-statistics backward in float64
        const x = v.x!, dy = v.dy!;
        const r = batchNormForwardRef(x, rows, cols, w, true, s.epsilon, s.momentum);
        const dgamma = new Float64Array(cols), dbeta = new Float64Array(cols), dx = new Float64Array(rows * cols);
        const xhat = (i: number) => (x[i]! - r.mean[i % cols]!) / sqrt(r.variance[i % cols]! + s.epsilon);
        for (let i = 0; i < rows * cols; i++) (dbeta[i % cols]! += dy[i]!), (dgamma[i % cols]! += dy[i]! * xhat(i));
        for (let i = 0; i < rows * cols; i++) {
          const c = i % cols;
          dx[i] = (w.gamma[c]! / sqrt(r.variance[c]! + s.epsilon)) * (dy[i]! - (dbeta[c]! + xhat(i) * dgamma[c]!) / rows);
        }
        return { dx, dgamma, dbeta };
      },
      rtol: { dx: 2e-5, dgamma: 2e-5, dbeta: 2e-5 },
      floor: { dx: 1, dgamma: sqrt(rows), dbeta: sqrt(rows) },
    })),
  ];
}

/** ZeroPadding2D forward (exact) and backward (the crop, exact). */
function paddingCases(quick: boolean): SelftestCase[] {
  const g = pad2dGeometry([3, 5, 7, 3], [[1, 2], [0, 3]]);
  const xs = [g.batch, g.inH, g.inW, g.c], ys = [g.batch, g.outH, g.outW, g.c];
  return [
    kernelCase('padding', 'padForward', `${xs.join('x')} [[1,2],[0,3]]`, quick, () => ({
      inputs: { x: { shape: xs } },
      outputs: { y: { shape: ys } },
      record: (rec, t) => pad2dForward(rec, t.x!, t.y!, g),
      reference: (v) => ({ y: pad2dForwardRef(v.x!, g) }),
      rtol: 0,
    })),
    kernelCase('padding', 'padBackward', `${ys.join('x')} [[1,2],[0,3]]`, quick, () => ({
      inputs: { dy: { shape: ys } },
      outputs: { dx: { shape: xs } },
      record: (rec, t) => pad2dBackward(rec, t.dy!, t.dx!, g),
      reference: (v) => {
        const dx = new Float64Array(size(xs));
        const index = pad2dForwardRef(Float64Array.from({ length: dx.length }, (_, i) => i + 1), g);
        index.forEach((k, o) => k > 0 && (dx[k - 1] = v.dy![o]!));
        return { dx };
      },
      rtol: 0,
    })),
  ];
}

/** Depthwise convolution forward, backward-input and both backward-filter chunkings ('long': software, 'short': GPU). */
function depthwiseCases(quick: boolean): SelftestCase[] {
  const g = depthwiseGeometry([2, 33, 31, 3], 2, [3, 3], [2, 2], 'same');
  const xs = [g.batch, g.inH, g.inW, g.inC], ys = [g.batch, g.outH, g.outW, g.outC], ks = [g.kH, g.kW, g.inC, g.multiplier];
  const s = `${xs.join('x')} k3x3 /2 same x2`;
  const filterCase = (v: DepthwiseFilterVariant) => kernelCase('depthwise', `backwardFilter ${v}`, s, quick, () => ({
    inputs: { x: { shape: xs }, dy: { shape: ys } },
    outputs: { dk: { shape: ks } },
    record: (rec, t) => depthwiseBackwardFilter(rec, t.x!, t.dy!, t.dk!, g, v),
    // dk[kh, kw, c, m] = ∂/∂k of Σ dy · depthwise(x, k): the forward reference with a one-hot kernel, dotted with dy
    reference: (inp) => {
      const n = size(ks);
      const dk = new Float64Array(n);
      const onehot = new Float64Array(n);
      for (let e = 0; e < n; e++) {
        onehot.fill(0);
        onehot[e] = 1;
        const y = depthwiseForwardRef(inp.x!, onehot, null, g);
        let sum = 0;
        for (let i = 0; i < y.length; i++) sum += y[i]! * inp.dy![i]!;
        dk[e] = sum;
      }
      return { dk };
    },
    rtol: 2e-5,
    floor: sqrt(g.batch * g.outH * g.outW),
  }));
  return [
    kernelCase('depthwise', 'forward', s, quick, () => ({
      inputs: { x: { shape: xs }, k: { shape: ks }, bias: { shape: [g.outC] } },
      outputs: { y: { shape: ys } },
      record: (rec, t) => depthwiseForward(rec, t.x!, t.k!, t.bias!, t.y!, g),
      reference: (v) => ({ y: depthwiseForwardRef(v.x!, v.k!, v.bias!, g) }),
      rtol: 2e-6,
      floor: 3,
    })),
    kernelCase('depthwise', 'backwardInput', s, quick, () => ({
      inputs: { dy: { shape: ys }, k: { shape: ks } },
      outputs: { dx: { shape: xs } },
      record: (rec, t) => depthwiseBackwardInput(rec, t.dy!, t.k!, t.dx!, g),
      // dx = ∂/∂x of Σ dy · depthwise(x, k), linear in x: the adjoint by one-hot inputs is too slow here, so the
      // transposed sum directly (the same loops as the forward reference, roles swapped)
      reference: (v) => {
        const dx = new Float64Array(size(xs));
        for (let b = 0; b < g.batch; b++)
          for (let oh = 0; oh < g.outH; oh++)
            for (let ow = 0; ow < g.outW; ow++)
              for (let o = 0; o < g.outC; o++)
                for (let kh = 0; kh < g.kH; kh++)
                  for (let kw = 0; kw < g.kW; kw++) {
                    const ih = oh * g.strideH - g.padTop + kh, iw = ow * g.strideW - g.padLeft + kw;
                    if (ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW) continue;
                    dx[((b * g.inH + ih) * g.inW + iw) * g.inC + Math.floor(o / g.multiplier)]! += v.dy![((b * g.outH + oh) * g.outW + ow) * g.outC + o]! * v.k![(kh * g.kW + kw) * g.outC + o]!;
                  }
        return { dx };
      },
      rtol: 2e-6,
      floor: 3,
    })),
    filterCase('long'),
    filterCase('short'),
  ];
}

// ------------------------------------------------------------------ metrics (u32 counts: compared exactly)

const METRIC_SPECS: MetricCountSpec[] = [{ kind: 'topK', k: 3 }, { kind: 'binary' }, { kind: 'precision' }, { kind: 'recall', classId: 1, threshold: 0.2 }];

/** Softmax probabilities [n, c] and labels (sparse, or one-hot rows) for the metric cases. */
function metricInputs(n: number, c: number, sparse: boolean) {
  const r = mulberry32(n * 31 + c);
  const labels = Uint32Array.from({ length: n }, () => Math.floor(r() * c));
  const onehot = new Float32Array(n * c);
  labels.forEach((k, i) => (onehot[i * c + k] = 1));
  return {
    x: { shape: [n, c], data: Float32Array.from(activationForwardRef('softmax', randomUniform(n * c, 61, -3, 3), n, c)) },
    target: sparse ? { shape: [n], dtype: 'u32' as const, data: labels } : { shape: [n, c], data: onehot },
  };
}

/** metricCounts (top-k, binary accuracy, precision, recall) summed by chunks ('serial', software class) or trees ('tree', GPU class). */
function metricsCase(n: number, c: number, sparse: boolean, quick: boolean, variant: StatsVariant = 'serial'): SelftestCase {
  const tree = variant === 'tree';
  const x = kernelCase('metrics', `counts${sparse ? ' sparse' : ''}${tree ? ' tree' : ''}`, `${n}x${c}`, whereClassRuns(quick, tree, classUsesTree), () => ({
    inputs: metricInputs(n, c, sparse),
    outputs: { counts: { shape: [2 * METRIC_SPECS.length], dtype: 'u32', data: new Uint32Array(2 * METRIC_SPECS.length) } },
    record: (rec, t) => metricCounts(rec, t.x!, t.target!, t.counts!, n, c, METRIC_SPECS, { sparse, variant }),
    reference: (v) => ({ counts: metricCountsRef(v.x!, v.target!, n, c, METRIC_SPECS, sparse) }),
  }));
  if (tree) x.available = treeAvailable;
  return x;
}

/** The confusion matrix, in the adapter class's row chunks or in chunks of `chunk` rows (several chunks, then their sum). */
function confusionCase(n: number, c: number, sparse: boolean, quick: boolean, chunk?: number): SelftestCase {
  return kernelCase('metrics', `confusionMatrix${sparse ? ' sparse' : ''}${chunk ? ` chunks of ${chunk}` : ''}`, `${n}x${c}`, quick, () => ({
    inputs: metricInputs(n, c, sparse),
    outputs: { matrix: { shape: [c, c], dtype: 'u32', data: new Uint32Array(c * c) } },
    record: (rec, t) => confusionMatrix(rec, t.x!, t.target!, t.matrix!, n, c, { sparse, chunk }),
    reference: (v) => ({ matrix: confusionMatrixRef(v.x!, v.target!, n, c, sparse) }),
  }));
}

// ------------------------------------------------------------------ optimizers (one update of a whole arena)

/** The scalar entries (software class) or the `vec4` ones (GPU class; a model's arena is a multiple of 4 long). */
function optimizerCases(n: number, quick: boolean, vec4 = false): SelftestCase[] {
  const p0 = randomUniform(n, 51), m0 = randomUniform(n, 52, 0, 0.1), v0 = randomUniform(n, 53, 0, 0.01);
  const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
  const k = { vec4 };
  const v = vec4 ? ' vec4' : '';
  const q = whereClassRuns(quick, vec4, classUsesVec4);
  return [
    kernelCase('optimizer', `sgd${v}`, `${n}`, q, () => ({
      inputs: { g: { shape: [n] } },
      outputs: { p: { shape: [n], data: p0 } },
      record: (rec, t) => sgdStep(rec, t.p!, t.g!, null, { lr: 0.05, momentum: 0, nesterov: false }, k),
      reference: (v) => {
        const p = f64(p0);
        sgdRef(p, v.g!, null, { lr: 0.05, momentum: 0, nesterov: false });
        return { p };
      },
      rtol: 2e-6,
    })),
    kernelCase('optimizer', `sgd nesterov${v}`, `${n}`, q, () => ({
      inputs: { g: { shape: [n] } },
      outputs: { p: { shape: [n], data: p0 }, vel: { shape: [n], data: m0 } },
      record: (rec, t) => sgdStep(rec, t.p!, t.g!, t.vel!, { lr: 0.05, momentum: 0.9, nesterov: true }, k),
      reference: (v) => {
        const p = f64(p0), vel = f64(m0);
        sgdRef(p, v.g!, vel, { lr: 0.05, momentum: 0.9, nesterov: true });
        return { p, vel };
      },
      rtol: 2e-6,
    })),
    kernelCase('optimizer', `adam${v}`, `${n}`, q, () => ({
      inputs: { g: { shape: [n] }, step: { shape: [4], dtype: 'u32', data: [3, 0, 0, 0] } },
      outputs: { p: { shape: [n], data: p0 }, m: { shape: [n], data: m0 }, v: { shape: [n], data: v0 } },
      record: (rec, t) => adamStep(rec, t.p!, t.g!, t.m!, t.v!, t.step!.buffer, { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, k),
      reference: (vals) => {
        const p = f64(p0), m = f64(m0), v = f64(v0);
        adamRef(p, vals.g!, m, v, 3, { lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
        return { p, m, v };
      },
      rtol: 2e-6,
      floor: { p: 1, m: 0.1, v: 0.01 },
    })),
    kernelCase('optimizer', `rmsprop${v}`, `${n}`, q, () => ({
      inputs: { g: { shape: [n] } },
      outputs: { p: { shape: [n], data: p0 }, ms: { shape: [n], data: v0 } },
      record: (rec, t) => rmspropStep(rec, t.p!, t.g!, t.ms!, { lr: 0.01, rho: 0.9, epsilon: 1e-7 }, k),
      reference: (vals) => {
        const p = f64(p0), ms = f64(v0);
        rmspropRef(p, vals.g!, ms, { lr: 0.01, rho: 0.9, epsilon: 1e-7 });
        return { p, ms };
      },
      rtol: 2e-6,
      floor: { p: 1, ms: 0.01 },
    })),
  ];
}

// ------------------------------------------------------------------ dropout, initializers, the NaN guard, batches

function miscCases(n: number, quick: boolean): SelftestCase[] {
  const rate = 0.3, seed = 7, stream = 2, t = 5;
  const mask = () => dropoutMaskRef(n, rate, seed, stream, t);
  return [
    kernelCase('dropout', 'forward', `${n}`, quick, () => ({
      inputs: { x: { shape: [n] }, step: { shape: [4], dtype: 'u32', data: [t, 0, 0, 0] } },
      outputs: { y: { shape: [n] }, mask: { shape: [n] } },
      record: (rec, ts) => dropoutForward(rec, ts.x!, ts.y!, ts.mask!, rate, seed, stream, ts.step!.buffer),
      reference: (v) => ({ mask: mask(), y: Float64Array.from(v.x!, (x, i) => x * mask()[i]!) }),
      rtol: { mask: 0, y: 1e-6 },
    })),
    kernelCase('dropout', 'backward', `${n}`, quick, () => ({
      inputs: { dy: { shape: [n] }, mask: { shape: [n], data: mask() } },
      outputs: { dx: { shape: [n] } },
      record: (rec, ts) => dropoutBackward(rec, ts.dy!, ts.mask!, ts.dx!),
      reference: (v) => ({ dx: Float64Array.from(v.dy!, (d, i) => d * v.mask![i]!) }),
      rtol: 1e-6,
    })),
    ...(['glorot_uniform', 'he_normal', 'ones'] as const).map((init) =>
      kernelCase('initializer', init, `${n}`, quick, () => ({
        inputs: {},
        outputs: { w: { shape: [n] } },
        record: (rec, ts) => initialize(rec, ts.w!, { initializer: init, fanIn: 9, fanOut: 5 }, 1234),
        reference: () => ({ w: initializeRef(n, { initializer: init, fanIn: 9, fanOut: 5 }, 1234) }),
        // Uniform draws match bit for bit. Truncated normals go through f32 log, sqrt and cos (Box-Muller), and WGSL
        // only promises cos to 2^-11 absolute (log to 2^-21 near 1, else 3 ulp): z = sd·m·cos(θ) with m <= 5.8
        // (u1 >= 2^-24) may be off by 5.8·2^-11·sd; SwiftShader is that coarse (1.9e-4·sd seen), llvmpipe 1e-7.
        rtol: init === 'he_normal' ? 6 * 2 ** -11 : 0,
        floor: init === 'he_normal' ? initializerPlan({ initializer: init, fanIn: 9, fanOut: 5 }).a : 1,
      })),
    ),
    finiteCase(n, quick),
    dataCase(quick),
  ];
}

/** The NaN guard on n values with a NaN near the end: the scalar entry (software class) or `vec4` (GPU class). */
function finiteCase(n: number, quick: boolean, vec4 = false): SelftestCase {
  const withNaN = randomUniform(n, 61);
  withNaN[n - 2] = NaN;
  return kernelCase('finite', `flagNonFinite${vec4 ? ' vec4' : ''}`, `${n}, NaN at ${n - 2}`, whereClassRuns(quick, vec4, classUsesVec4), () => ({
    inputs: { x: { shape: [n], data: withNaN } },
    outputs: { state: { shape: [4], dtype: 'u32', data: [9, 0, 0, 0] } },
    record: (rec, ts) => flagNonFinite(rec, ts.x!, ts.state!.buffer, { vec4 }),
    reference: () => ({ state: [9, 9, 0, 0] }),
  }));
}

/** shaders/data.wgsl: a shuffled batch of uint8 images scaled by 1/255 and one-hot labels, against cpuGather. */
function dataCase(quick: boolean): SelftestCase {
  const count = 37, shape: [number, number, number, number] = [count, 5, 3, 1], classes = 4, n = 9, start = 11;
  const images = Uint8Array.from({ length: size(shape) }, (_, i) => (i * 37 + 11) % 256);
  const labels = Uint8Array.from({ length: count }, (_, i) => (i * 7) % classes);
  const order = Uint32Array.from({ length: count }, (_, i) => (i * 5 + 3) % count);
  return {
    kernel: 'data',
    variant: 'gather (u8 → f32, one-hot)',
    shapes: `${n} of ${shape.join('x')}`,
    quick,
    async run(engine, corrupt) {
      const set = { images, shape, labels };
      const ds = DeviceDataset.upload(engine, set, classes);
      const startBuf = engine.tensor([4], new Uint32Array([start, 0, 0, 0]));
      try {
        const cpu = cpuGather(set, order, start, n, classes, { scale: 1 / 255 });
        const r = await checkKernel(engine, {
          kernel: 'data',
          inputs: { order: { shape: [count], dtype: 'u32', data: order } },
          outputs: { x: { shape: [n, 15] }, y: { shape: [n, classes] } },
          record: (rec, t) => ds.recordGather(rec, t.order!, startBuf.buffer, n, t.x!, t.y!, { scale: 1 / 255 }),
          reference: () => ({ x: cpu.x, y: cpu.y }),
          rtol: 0,
        }, { corrupt });
        return { tensors: r.tensors };
      } finally {
        startBuf.dispose();
        ds.dispose();
      }
    },
  };
}

// ------------------------------------------------------------------ augmentation: draws and transforms

function augmentCases(d: ImageDims, quick: boolean): SelftestCase[] {
  const img = [d.n, d.h, d.w, d.c];
  const shapes = img.join('x');
  const seed = 3, stream = 4, t = 6;
  const params = (draw: AugmentDraw) => augmentParamsRef(d, draw, seed, stream, t);
  const paramsShape = [d.n, PARAMS_PER_EXAMPLE];
  const range: [number, number] = [0.15, 0.85]; // clips some values at both ends
  const draws: AugmentDraw[] = [
    { kind: 'translate', height: [-0.3, 0.3], width: [-0.2, 0.4] },
    { kind: 'zoom', height: [-0.4, 0.4], width: null },
    { kind: 'crop', height: d.h - 2, width: d.w - 3, center: false },
    { kind: 'brightness', factor: [-0.2, 0.2], valueRange: [0, 1] },
  ];
  const resampling: [FillMode, Interpolation, AugmentDraw][] = [
    ['reflect', 'bilinear', { kind: 'rotate', factor: [-0.3, 0.3] }],
    ['constant', 'nearest', draws[0]!],
    ['wrap', 'bilinear', draws[1]!],
    ['nearest', 'bilinear', draws[0]!],
  ];
  const flipDraw: AugmentDraw = { kind: 'flip', horizontal: true, vertical: true };
  const cropDraw = draws[2]!;
  const [oh, ow] = [d.h - 2, d.w - 3];
  const contrastDraw: AugmentDraw = { kind: 'contrast', factor: [0.3, 1.7] };
  const x = { shape: img, data: randomUniform(size(img), 71, 0, 1) };
  return [
    ...draws.map((draw) =>
      kernelCase('augment', `draw ${draw.kind}`, `${d.n} examples`, quick, () => ({
        inputs: { step: { shape: [4], dtype: 'u32', data: [t, 0, 0, 0] } },
        outputs: { params: { shape: paramsShape } },
        record: (rec, ts) => augmentDraw(rec, ts.params!, d, draw, seed, stream, ts.step!.buffer),
        reference: () => ({ params: params(draw) }),
        // the hash and integer draws are exact; lo + span·u may be fused (one rounding instead of two)
        rtol: 4e-7,
      })),
    ),
    ...resampling.map(([fillMode, interpolation, draw]) =>
      kernelCase('augment', `affine ${draw.kind} ${fillMode} ${interpolation}`, shapes, quick, () => ({
        inputs: { x, params: { shape: paramsShape, data: params(draw) } },
        outputs: { y: { shape: img } },
        record: (rec, ts) => augmentAffine(rec, ts.x!, ts.params!, ts.y!, d, { fillMode, interpolation, fillValue: 0.5 }),
        reference: (v) => ({ y: affineRef(v.x!, v.params!, d, { fillMode, interpolation, fillValue: 0.5 }) }),
        rtol: affineTolerance(d),
      })),
    ),
    kernelCase('augment', 'flip', shapes, quick, () => ({
      inputs: { x, params: { shape: paramsShape, data: params(flipDraw) } },
      outputs: { y: { shape: img } },
      record: (rec, ts) => augmentFlip(rec, ts.x!, ts.params!, ts.y!, d),
      reference: (v) => ({ y: flipRef(v.x!, v.params!, d) }),
      rtol: 0,
    })),
    kernelCase('augment', 'crop + cropBackward', shapes, quick, () => ({
      inputs: { x, params: { shape: paramsShape, data: params(cropDraw) }, dy: { shape: [d.n, oh, ow, d.c] } },
      outputs: { y: { shape: [d.n, oh, ow, d.c] }, dx: { shape: img } },
      record: (rec, ts) => {
        augmentCrop(rec, ts.x!, ts.params!, ts.y!, d, oh, ow);
        augmentCropBackward(rec, ts.dy!, ts.params!, ts.dx!, d, oh, ow);
      },
      reference: (v) => ({ y: cropRef(v.x!, v.params!, d, oh, ow), dx: cropBackwardRef(v.dy!, v.params!, d, oh, ow) }),
      rtol: 0,
    })),
    kernelCase('augment', 'channelMean + contrast + contrastBackward', shapes, quick, () => ({
      inputs: { x, params: { shape: paramsShape, data: params(contrastDraw) }, dy: { shape: img } },
      outputs: { mean: { shape: [d.n, d.c] }, sums: { shape: [d.n, d.c] }, y: { shape: img }, dx: { shape: img } },
      record: (rec, ts) => {
        augmentChannelMean(rec, ts.x!, ts.mean!, d);
        augmentContrast(rec, ts.x!, ts.params!, ts.mean!, ts.y!, d, range);
        augmentContrastBackward(rec, ts.dy!, ts.x!, ts.params!, ts.mean!, ts.sums!, ts.dx!, d, range);
      },
      reference: (v) => ({ mean: channelMeanRef(v.x!, d), y: contrastRef(v.x!, v.params!, d, range), dx: contrastBackwardRef(v.dy!, v.x!, v.params!, d, range) }),
      rtol: 2e-6,
    })),
    kernelCase('augment', 'brightness + brightnessBackward', shapes, quick, () => ({
      inputs: { x, params: { shape: paramsShape, data: params(draws[3]!) }, dy: { shape: img } },
      outputs: { y: { shape: img }, dx: { shape: img } },
      record: (rec, ts) => {
        augmentBrightness(rec, ts.x!, ts.params!, ts.y!, d, range);
        augmentBrightnessBackward(rec, ts.dy!, ts.x!, ts.params!, ts.dx!, d, range);
      },
      reference: (v) => ({ y: brightnessRef(v.x!, v.params!, d, range), dx: brightnessBackwardRef(v.dy!, v.x!, v.params!, d, range) }),
      rtol: { y: 1e-6, dx: 0 },
    })),
  ];
}

// ------------------------------------------------------------------ layer gradients (checkGradients)

function gradientCase(variant: string, make: () => Layer | Model, inputShape: number[] | undefined, quick: boolean, numeric: 'reference' | 'gpu' = 'reference'): SelftestCase {
  return {
    kernel: 'gradients',
    variant: numeric === 'gpu' ? `${variant} (GPU forward)` : variant,
    shapes: inputShape ? `2x${inputShape.join('x')}` : 'model',
    quick,
    async run(engine) {
      const target = make();
      const r = await checkGradients(target, { engine, inputShape, batch: 2, numeric, maxElements: numeric === 'gpu' ? 16 : 256 });
      return { tensors: r.tensors };
    },
  };
}

/** The merge layers in one graph: the input and `h` each feed three layers, so their gradients are fan-out sums. */
function mergeGraph(): Model {
  const x = input({ shape: [6], name: 'x' });
  const h = new Dense({ name: 'h', units: 4, activation: 'tanh' }).apply(x);
  const gated = new Multiply({ name: 'gated' }).apply([h, new Dense({ name: 'gate', units: 4, activation: 'sigmoid' }).apply(x)]);
  const joined = new Concatenate({ name: 'joined' }).apply([gated, new Dense({ name: 'side', units: 4 }).apply(x), h]);
  const out = new Add({ name: 'sum' }).apply([new Dense({ name: 'mix', units: 4 }).apply(joined), h]);
  return model({ inputs: x, outputs: out, name: 'merge_graph' });
}

/** A residual block: conv (tanh) -> conv-relu -> conv, added to its input, relu. */
function residualBlock(): Model {
  const x = input({ shape: [4, 5, 2], name: 'x' });
  const stem = new Conv2D({ name: 'stem', filters: 4, kernelSize: 3, padding: 'same', activation: 'tanh' }).apply(x);
  const a = new Conv2D({ name: 'a', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(stem);
  const b = new Conv2D({ name: 'b', filters: 4, kernelSize: 1 }).apply(a);
  const out = new Activation({ name: 'relu', activation: 'relu' }).apply(new Add({ name: 'add' }).apply([b, stem]));
  return model({ inputs: x, outputs: out, name: 'residual_block' });
}

// Sizes that are multiples of 4 where a Dense meets them, so the matmul pipelines (specialized on alignment, bias,
// relu and transposes) are shared between cases: fewer first-time shader compiles.
const GRADIENT_CASES: SelftestCase[] = [
  gradientCase('Dense relu', () => new Dense({ name: 'dense', units: 4, activation: 'relu' }), [8], true),
  gradientCase('Dense softmax', () => new Dense({ name: 'dense', units: 5, activation: 'softmax' }), [6], false),
  gradientCase('Dense sigmoid, no bias', () => new Dense({ name: 'dense', units: 3, activation: 'sigmoid', useBias: false }), [7], false),
  gradientCase('Conv2D 3x3 same relu', () => new Conv2D({ name: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }), [5, 7, 2], true),
  gradientCase('Conv2D 2x2 /2 same tanh', () => new Conv2D({ name: 'conv2d', filters: 4, kernelSize: 2, strides: 2, padding: 'same', activation: 'tanh' }), [5, 7, 3], true),
  gradientCase('MaxPooling2D 2x2', () => new MaxPooling2D({ name: 'max_pooling2d', poolSize: 2 }), [5, 7, 3], true),
  gradientCase('AveragePooling2D 3x3 /1 same', () => new AveragePooling2D({ name: 'average_pooling2d', poolSize: 3, strides: 1, padding: 'same' }), [5, 4, 2], true),
  gradientCase('Flatten', () => new Flatten({ name: 'flatten' }), [3, 2, 5], true),
  gradientCase('Dropout 0.4 (fixed step)', () => new Dropout({ name: 'dropout', rate: 0.4 }), [33], true),
  gradientCase('RandomFlip (fixed step)', () => new RandomFlip({ name: 'random_flip' }), [5, 7, 3], true),
  gradientCase('RandomCrop 4x5 (fixed step)', () => new RandomCrop({ name: 'random_crop', height: 4, width: 5 }), [5, 7, 3], false),
  gradientCase('RandomContrast (fixed step)', () => new RandomContrast({ name: 'random_contrast', factor: [0.3, 0.6], valueRange: [-0.8, 0.8] }), [5, 7, 3], true),
  gradientCase('RandomBrightness (fixed step)', () => new RandomBrightness({ name: 'random_brightness', factor: 0.2, valueRange: [-0.9, 0.9] }), [5, 7, 3], false),
  ...(['sigmoid', 'tanh', 'softmax'] as const).map((a) => gradientCase(`Activation ${a}`, () => new Activation({ name: 'activation', activation: a }), [3, 7], true)),
  gradientCase('CNN conv/pool/flatten/dense/softmax', () =>
    new Sequential([
      new Conv2D({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [4, 6, 2] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 4, activation: 'relu' }),
      new Activation({ activation: 'softmax' }),
    ]), undefined, true),
  gradientCase('BatchNormalization (batch statistics)', () => new BatchNormalization({ name: 'batch_normalization' }), [3, 2, 4], true),
  gradientCase('ZeroPadding2D [[1,0],[2,1]]', () => new ZeroPadding2D({ name: 'zero_padding2d', padding: [[1, 0], [2, 1]] }), [3, 2, 4], true),
  gradientCase('GlobalAveragePooling2D', () => new GlobalAveragePooling2D({ name: 'global_average_pooling2d' }), [3, 5, 4], true),
  gradientCase('GlobalMaxPooling2D', () => new GlobalMaxPooling2D({ name: 'global_max_pooling2d' }), [3, 5, 4], true),
  gradientCase('DepthwiseConv2D 3x3 /2 same x2', () => new DepthwiseConv2D({ name: 'depthwise_conv2d', kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2 }), [5, 4, 3], true),
  gradientCase('SeparableConv2D 3x3 valid relu', () => new SeparableConv2D({ name: 'separable_conv2d', filters: 4, kernelSize: 3, activation: 'relu' }), [5, 4, 3], true),
  ...(['gelu', 'swish', 'elu'] as const).map((a) => gradientCase(`Activation ${a}`, () => new Activation({ name: 'activation', activation: a }), [3, 7], false)),
  gradientCase('Add, Multiply, Concatenate (fan-out)', mergeGraph, undefined, true),
  gradientCase('ResNet block conv/add/relu', residualBlock, undefined, true),
  gradientCase('Dense tanh', () => new Dense({ name: 'dense', units: 3, activation: 'tanh' }), [5], false, 'gpu'),
  gradientCase('Conv2D 3x3 same relu', () => new Conv2D({ name: 'conv2d', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }), [4, 5, 2], false, 'gpu'),
  gradientCase('MaxPooling2D 3x3 /1 same', () => new MaxPooling2D({ name: 'max_pooling2d', poolSize: 3, strides: 1, padding: 'same' }), [4, 5, 4], false, 'gpu'),
];

/** Every case, in table order. */
export const SELFTEST_CASES: SelftestCase[] = [
  ...MATMUL_CASES,
  ...CONV_CASES,
  ...POOL_CASES,
  ...activationCases(7, 33, true),
  ...activationCases(7, 36, true, true),
  ...activationCases(3, 1000, false),
  ...activationCases(3, 1000, false, true),
  ...elementwiseCases(1000, 257, 3, true),
  ...elementwiseCases(127, REDUCE_CHUNK + 1000, 2, false),
  ...elementwiseCases(1000, 2500, 3, true, { vec4: true, reduce: 'tree' }), // 3 chunks of TREE_CHUNK, 2 levels
  ...elementwiseCases(1028, 1029, 70, false, { vec4: true, reduce: 'tree' }), // 64 lanes, 2 column blocks
  lossCase('softmaxCrossEntropy', 7, 5, false, true),
  lossCase('softmaxCrossEntropy', 33, 10, true, false),
  lossCase('crossEntropyFromProbs', 7, 5, false, true),
  lossCase('meanSquaredError', 7, 3, false, true),
  lossCase('softmaxCrossEntropy', 7, 5, false, true, 'tree'),
  lossCase('softmaxCrossEntropy', 300, 10, true, true, 'tree'), // two levels at WG 256 (five at 64)
  lossCase('crossEntropyFromProbs', 7, 5, false, true, 'tree'),
  lossCase('meanSquaredError', 7, 3, false, true, 'tree'),
  lossCase('meanSquaredError', 66000, 1, false, false, 'tree'), // three levels at WG 256
  lossCase('sigmoidCrossEntropy', 7, 3, false, true),
  lossCase('binaryCrossEntropyFromProbs', 7, 3, false, true),
  lossCase('sigmoidCrossEntropy', 300, 1, false, true, 'tree'),
  lossCase('binaryCrossEntropyFromProbs', 7, 3, false, true, 'tree'),
  ...batchNormCases(33, 7, true),
  ...batchNormCases(REDUCE_CHUNK + 1000, 3, false), // two serial chunks, 34 tree chunks in two levels
  ...paddingCases(true),
  ...depthwiseCases(true),
  metricsCase(33, 10, true, true),
  metricsCase(257, 13, false, false),
  metricsCase(33, 10, true, true, 'tree'),
  metricsCase(300, 10, false, false, 'tree'), // two levels at WG 256
  confusionCase(33, 10, true, true),
  confusionCase(257, 13, false, false, 100),
  ...optimizerCases(1000, true),
  ...optimizerCases(1000, true, true),
  finiteCase(1000, true, true),
  ...mergeCases(257, true, false),
  ...mergeCases(1000, true, true),
  ...miscCases(257, true),
  ...augmentCases({ n: 3, h: 7, w: 33, c: 3 }, true),
  ...augmentCases({ n: 2, h: 65, w: 67, c: 2 }, false), // channel sums over two chunks
  ...GRADIENT_CASES,
];

