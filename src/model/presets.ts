// The seed course's four models and recipes (Keras code and printed output in shared/seed): same layers, same
// optimizers, batch 128, 10 epochs, an 80/20 train/validation split with a fixed seed.
import { Conv2D } from '../layers/conv2d.js';
import { Dense } from '../layers/dense.js';
import { Dropout } from '../layers/dropout.js';
import { Flatten } from '../layers/flatten.js';
import { resetLayerNames } from '../layers/layer.js';
import { MaxPooling2D } from '../layers/pooling.js';
import type { OptimizerSpec } from './optimizers.js';
import { Sequential, type CompileArgs } from './sequential.js';

export type PresetName = 'mnist-mlp' | 'mnist-cnn' | 'fashion-cnn' | 'cifar-cnn';
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

export interface PresetRecipe {
  dataset: 'mnist' | 'fashion-mnist' | 'cifar10';
  batchSize: number;
  epochs: number;
  validationFraction: number;
  /** The seed's train_test_split(random_state=9). */
  splitSeed: number;
  /** The seed's Keras results after 10 epochs, for the accuracy benchmark (bench/accuracy.ts). */
  keras: KerasFigures;
}

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
