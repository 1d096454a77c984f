// The seed course's four models and recipes (Keras code and printed output in shared/seed): same layers, same
// optimizers, batch 128, 10 epochs, an 80/20 train/validation split with a fixed seed.
import type { ImageSet } from '../data/types.js';
import { ShaderflowError } from '../errors.js';
import { Conv2D } from '../layers/conv2d.js';
import { Dense } from '../layers/dense.js';
import { Dropout } from '../layers/dropout.js';
import { Flatten } from '../layers/flatten.js';
import { resetLayerNames } from '../layers/layer.js';
import { MaxPooling2D } from '../layers/pooling.js';
import type { OptimizerSpec } from './optimizers.js';
import { Sequential, type CompileArgs } from './sequential.js';

/** The seed course's models. */
export type PresetName = 'mnist-mlp' | 'mnist-cnn' | 'fashion-cnn' | 'cifar-cnn';
/** Every preset name. */
export const PRESETS: PresetName[] = ['mnist-mlp', 'mnist-cnn', 'fashion-cnn', 'cifar-cnn'];

/** The seed course's printed Keras figures after its 10 epochs (the last `Epoch 10/10` line and, where the seed printed it, `model.evaluate` on the test set). */
export interface KerasFigures {
  loss: number;
  accuracy: number;
  valLoss: number;
  valAccuracy: number;
  /** Only the MLP notebook printed its test figures (`print(test_loss, test_acc)`). */
  testLoss?: number;
  testAccuracy?: number;
}

/** How the seed course trains a preset: dataset, optimizer, batch size, epochs, split, and its printed Keras figures. */
export interface PresetRecipe {
  dataset: 'mnist' | 'fashion-mnist' | 'cifar10';
  batchSize: number;
  epochs: number;
  validationFraction: number;
  /** The seed's train_test_split(random_state=9): see recipeSplit. */
  splitSeed: number;
  /** The seed's Keras results after 10 epochs, for the accuracy benchmark (bench/accuracy.ts). */
  keras: KerasFigures;
}

/** The recipe of each preset. */
export const RECIPES: Record<PresetName, PresetRecipe> = {
  'mnist-mlp': {
    dataset: 'mnist', batchSize: 128, epochs: 10, validationFraction: 0.2, splitSeed: 9,
    keras: { loss: 0.2906, accuracy: 0.9201, valLoss: 0.2977, valAccuracy: 0.9183, testLoss: 0.2771936253398657, testAccuracy: 0.9223999977111816 },
  },
  'mnist-cnn': {
    dataset: 'mnist', batchSize: 128, epochs: 10, validationFraction: 0.2, splitSeed: 9,
    keras: { loss: 0.1782, accuracy: 0.9475, valLoss: 0.1957, valAccuracy: 0.9433 },
  },
  'fashion-cnn': {
    dataset: 'fashion-mnist', batchSize: 128, epochs: 10, validationFraction: 0.2, splitSeed: 9,
    keras: { loss: 0.1699, accuracy: 0.9368, valLoss: 0.2329, valAccuracy: 0.9191 },
  },
  'cifar-cnn': {
    dataset: 'cifar10', batchSize: 128, epochs: 10, validationFraction: 0.2, splitSeed: 9,
    keras: { loss: 0.6005, accuracy: 0.7867, valLoss: 1.0215, valAccuracy: 0.6707 },
  },
};

/** Whether `name` is a preset name. */
export function isPreset(name: string): name is PresetName {
  return (PRESETS as string[]).includes(name);
}

/** The preset's model (uncompiled) and its compile arguments; `optimizer` overrides the recipe's. */
export function buildPreset(name: PresetName, o: { seed?: number; optimizer?: string | OptimizerSpec } = {}): { model: Sequential; compileArgs: CompileArgs; recipe: PresetRecipe } {
  resetLayerNames();
  const model = new Sequential([], { name: name.replace('-', '_') });
  let optimizer: string | OptimizerSpec = 'sgd';
  switch (name) {
    case 'mnist-mlp':
      model.add(new Dense({ units: 512, inputDim: 784, activation: 'relu' }));
      model.add(new Dense({ units: 10, activation: 'softmax' }));
      break;
    case 'mnist-cnn':
      model.add(new Conv2D({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }));
      model.add(new MaxPooling2D({ poolSize: 2 }));
      model.add(new Flatten());
      model.add(new Dense({ units: 128, activation: 'relu' }));
      model.add(new Dense({ units: 10, activation: 'softmax' }));
      break;
    case 'fashion-cnn':
      model.add(new Conv2D({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }));
      model.add(new MaxPooling2D({ poolSize: 2 }));
      model.add(new Flatten());
      model.add(new Dense({ units: 128, activation: 'relu' }));
      model.add(new Dropout({ rate: 0.3 }));
      model.add(new Dense({ units: 10, activation: 'softmax' }));
      optimizer = 'adam';
      break;
    case 'cifar-cnn':
      model.add(new Conv2D({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [32, 32, 3] }));
      model.add(new Conv2D({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }));
      model.add(new MaxPooling2D({ poolSize: 2 }));
      model.add(new Flatten());
      model.add(new Dense({ units: 128, activation: 'relu' }));
      model.add(new Dropout({ rate: 0.3 }));
      model.add(new Dense({ units: 64, activation: 'relu' }));
      model.add(new Dropout({ rate: 0.2 }));
      model.add(new Dense({ units: 10, activation: 'softmax' }));
      optimizer = 'adam';
      break;
  }
  return {
    model,
    compileArgs: { optimizer: o.optimizer ?? optimizer, loss: 'categorical_crossentropy', metrics: ['accuracy'], seed: o.seed ?? 0 },
    recipe: RECIPES[name],
  };
}

// ------------------------------------------------------------------ the seed's train/validation split
// The seed splits with scikit-learn: train_test_split(X, y, test_size=0.2, random_state=9). That is ShuffleSplit:
// perm = numpy.random.RandomState(9).permutation(n); validation = perm[:ceil(0.2 n)], train = perm[ceil(0.2 n):].
// numpy's legacy RandomState stream is frozen (NEP 19), so the same 12000 validation images as the seed's are
// chosen here bit for bit: MT19937 seeded by init_genrand, then a Fisher-Yates shuffle drawing each index with
// numpy's masked rejection sampling (random_interval).

/** numpy.random.RandomState(seed) as far as permutation needs: MT19937 (init_genrand seeding) 32-bit outputs. */
class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      // 1812433253 * prev + i (mod 2^32), split in 16-bit halves to stay exact in float64.
      mt[i] = ((((prev >>> 16) * 1812433253) << 16) + (prev & 0xffff) * 1812433253 + i) >>> 0;
    }
  }

  nextUint32(): number {
    const mt = this.mt;
    if (this.index >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % 624]! & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** numpy's random_interval(max): a uniform integer in [0, max], by masking to the smallest covering bit mask and rejecting. */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let v: number;
    do v = (this.nextUint32() & mask) >>> 0;
    while (v > max);
    return v;
  }
}

/** numpy.random.RandomState(seed).permutation(n), exactly (n < 2^32). */
export function numpyPermutation(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = new Mt19937(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.interval(i);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}

/** scikit-learn's train_test_split(range(n), test_size, random_state=seed) indices: [train, validation]. */
export function sklearnSplitIndices(n: number, testSize: number, seed: number): { train: Uint32Array; test: Uint32Array } {
  if (!(testSize > 0 && testSize < 1)) throw new ShaderflowError(`sklearnSplitIndices: testSize ${testSize} must be a fraction in (0, 1).`);
  // sklearn's _validate_shuffle_split: n_test = ceil(test_size * n), n_train = floor((1 - test_size) * n).
  const nTest = Math.ceil(testSize * n);
  const nTrain = Math.floor((1 - testSize) * n);
  if (nTest < 1 || nTrain < 1) throw new ShaderflowError(`sklearnSplitIndices: ${n} examples leave no training or validation examples at test_size ${testSize}.`);
  const perm = numpyPermutation(n, seed);
  return { train: perm.subarray(nTest, nTest + nTrain), test: perm.subarray(0, nTest) };
}

function takeExamples(set: ImageSet, idx: Uint32Array): ImageSet {
  const per = set.shape.slice(1).reduce((a, b) => a * b, 1);
  const images = new Uint8Array(idx.length * per);
  const labels = new Uint8Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const k = idx[i]!;
    images.set(set.images.subarray(k * per, (k + 1) * per), i * per);
    labels[i] = set.labels[k]!;
  }
  return { images, shape: [idx.length, ...set.shape.slice(1)] as ImageSet['shape'], labels };
}

/** The recipe's train/validation split of a training set: the seed's train_test_split(test_size=0.2, random_state=9), same examples. */
export function recipeSplit(set: ImageSet, recipe: PresetRecipe): { train: ImageSet; validation: ImageSet } {
  const { train, test } = sklearnSplitIndices(set.shape[0], recipe.validationFraction, recipe.splitSeed);
  return { train: takeExamples(set, train), validation: takeExamples(set, test) };
}
