// Whole-model gradient checks: one real training step on the GPU (forward, loss, backward, as fit records it),
// then every parameter gradient compared with central differences of the float64 twin of the same model
// (src/reference/model.ts). Per-kernel checks live beside each kernel's tests; this proves the wiring.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AveragePooling2D, Activation, BatchNormalization, Conv2D, createEngine, Dense, DepthwiseConv2D, Dropout, Engine, Flatten, GlobalAveragePooling2D, GlobalMaxPooling2D,
  LeakyReLU, MaxPooling2D, optimizers, resetLayerNames, SeparableConv2D, Sequential, ZeroPadding2D,
} from '../src/index.js';
import type { AdapterClass } from '../src/gpu/engine.js';
import type { Layer } from '../src/layers/layer.js';
import { expectGradientsMatch } from './helpers/model-gradients.js';
import { modelLossRef, sequentialForwardRef, type ModelLossRef } from '../src/reference/model.js';
import { mulberry32, randomUniform } from '../src/reference/random.js';

// Both kernel variant sets: the software class (llvmpipe's own) and the GPU class forced on this adapter.
const engines: Partial<Record<AdapterClass, Engine>> = {};
beforeAll(async () => {
  engines.software = await createEngine({ adapterClass: 'software' });
  engines.gpu = await createEngine({ adapterClass: 'gpu' });
});
const measured: string[] = [];
afterAll(() => {
  console.log(`whole-model gradient checks (max |gpu - numeric| / max |numeric| per tensor):\n  ${measured.join('\n  ')}`);
  for (const e of Object.values(engines)) e?.dispose();
});

interface Case {
  name: string;
  layers: () => Layer[];
  inputSize: number;
  classes: number;
  loss: ModelLossRef;
  n: number;
  /** Dropout masks on (the first training step's); otherwise the model has no dropout. */
  training?: boolean;
}

const CASES: Case[] = [
  {
    // The seed's CNN shape in miniature: conv (same, relu) -> max pool -> flatten -> dense (relu) -> softmax.
    name: 'conv-relu/maxpool/dense-relu/softmax + categorical CE',
    layers: () => [
      new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [5, 7, 2] }),
      new MaxPooling2D({ poolSize: 2 }),
      new Flatten(),
      new Dense({ units: 5, activation: 'relu' }),
      new Dense({ units: 4, activation: 'softmax' }),
    ],
    inputSize: 5 * 7 * 2,
    classes: 4,
    loss: 'categorical_crossentropy',
    n: 3,
  },
  {
    // Strided even kernel (asymmetric 'same' padding), average pooling with padding, tanh, sigmoid outputs + MSE.
    name: 'conv2x2-s2-tanh/avgpool-same/dense-sigmoid + MSE',
    layers: () => [
      new Conv2D({ filters: 4, kernelSize: 2, strides: 2, padding: 'same', activation: 'tanh', inputShape: [7, 5, 3] }),
      new AveragePooling2D({ poolSize: 3, strides: 1, padding: 'same' }),
      new Flatten(),
      new Dense({ units: 3, activation: 'sigmoid' }),
    ],
    inputSize: 7 * 5 * 3,
    classes: 3,
    loss: 'mean_squared_error',
    n: 2,
  },
  {
    // An MLP with sparse labels, no bias on the hidden layer, and softmax as a separate Activation layer
    // (so the loss is cross-entropy on probabilities, not the fused kernel).
    name: 'dense-nobias-sigmoid/dense/Activation(softmax) + sparse CE',
    layers: () => [
      new Dense({ units: 6, activation: 'sigmoid', useBias: false, inputDim: 7 }),
      new Dense({ units: 3 }),
      new Activation({ activation: 'softmax' }),
    ],
    inputSize: 7,
    classes: 3,
    loss: 'sparse_categorical_crossentropy',
    n: 5,
  },
  {
    // Regression: one linear output and real-valued targets (gathered as float rows, not class indices).
    name: 'dense-relu/dense(1) + MSE on real-valued targets',
    layers: () => [new Dense({ units: 4, activation: 'relu', inputDim: 3 }), new Dense({ units: 1 })],
    inputSize: 3,
    classes: 1,
    loss: 'mean_squared_error',
    n: 6,
  },
  {
    // Dropout in training mode: the twin applies the mask the GPU drew at step 1 (dropoutMaskRef).
    name: 'dense-relu/dropout(0.4)/dense-softmax + categorical CE',
    layers: () => [new Dense({ units: 9, activation: 'relu', inputDim: 5 }), new Dropout({ rate: 0.4 }), new Dense({ units: 3, activation: 'softmax' })],
    inputSize: 5,
    classes: 3,
    loss: 'categorical_crossentropy',
    n: 4,
    training: true,
  },
  {
    // Binary cross-entropy fused with the last Dense's sigmoid (logits), 0/1 targets on 3 outputs.
    name: 'dense-gelu/dense-sigmoid(3) + binary CE (fused)',
    layers: () => [new Dense({ units: 5, activation: 'gelu', inputDim: 4 }), new Dense({ units: 3, activation: 'sigmoid' })],
    inputSize: 4,
    classes: 3,
    loss: 'binary_crossentropy',
    n: 5,
  },
  {
    // The image-classification-from-scratch shape in miniature, batch statistics in training mode: conv, BN,
    // leaky ReLU, separable and depthwise convolutions, zero padding, global pooling, and a separate sigmoid
    // Activation (so binary CE from probabilities, unfused) on one output.
    name: 'conv/BN/leakyrelu/separable/BN/zeropad/depthwise/GAP/dense/Activation(sigmoid) + binary CE',
    layers: () => [
      new Conv2D({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false, inputShape: [7, 6, 2] }), // a bias before BN has no gradient
      new BatchNormalization(),
      new LeakyReLU(),
      new SeparableConv2D({ filters: 5, kernelSize: 3, padding: 'same', activation: 'elu' }),
      new BatchNormalization({ scale: false }),
      new ZeroPadding2D({ padding: [[1, 0], [0, 1]] }),
      new DepthwiseConv2D({ kernelSize: 2, depthMultiplier: 2, activation: 'swish' }),
      new GlobalMaxPooling2D(),
      new Dense({ units: 3, activation: 'tanh' }),
      new Dense({ units: 1 }),
      new Activation({ activation: 'sigmoid' }),
    ],
    inputSize: 7 * 6 * 2,
    classes: 1,
    loss: 'binary_crossentropy',
    n: 6,
    training: true,
  },
  {
    name: 'conv/BN/relu/GAP/dense-softmax + categorical CE (BN through the batch statistics)',
    layers: () => [
      new Conv2D({ filters: 3, kernelSize: 3, padding: 'same', useBias: false, inputShape: [5, 5, 2] }),
      new BatchNormalization(),
      new Activation({ activation: 'relu' }),
      new GlobalAveragePooling2D(),
      new Dense({ units: 3, activation: 'softmax' }),
    ],
    inputSize: 5 * 5 * 2,
    classes: 3,
    loss: 'categorical_crossentropy',
    n: 4,
    training: true,
  },
];

describe.each(['software', 'gpu'] as AdapterClass[])('whole-model gradients, %s class', (cls) => {
  it.each(CASES)('$name', async (c) => {
    const engine = engines[cls]!;
    resetLayerNames();
    const model = new Sequential(c.layers());
    // SGD so that one fit step leaves the gradient of the mean loss in the arena (what getGradients returns).
    model.compile(engine, { optimizer: optimizers.sgd({ learningRate: 0.1 }), loss: c.loss, metrics: ['accuracy'], seed: 7 });
    const x = randomUniform(c.n * c.inputSize, 17 + c.inputSize);
    const r = mulberry32(c.n);
    const sparse = c.loss === 'sparse_categorical_crossentropy';
    const y = sparse ? new Uint8Array(c.n) : new Float32Array(c.n * c.classes);
    for (let i = 0; i < c.n; i++) {
      const k = Math.floor(r() * c.classes);
      if (sparse) y[i] = k;
      else if (c.loss === 'mean_squared_error') for (let j = 0; j < c.classes; j++) y[i * c.classes + j] = r();
      else if (c.loss === 'binary_crossentropy') for (let j = 0; j < c.classes; j++) y[i * c.classes + j] = r() < 0.5 ? 0 : 1;
      else y[i * c.classes + k] = 1;
    }
    const before = await model.getWeights();
    await model.fit(x, y, { batchSize: c.n, epochs: 1, shuffle: false, verbose: 0 });
    const grads = await model.getGradients();

    const w = new Map(before.map((b) => [b.name, Float64Array.from(b.values)]));
    const loss = () => modelLossRef(c.loss, sequentialForwardRef(model.layers, w, x, c.n, c.training ? { seed: 7, step: 1 } : undefined), y, c.n, c.classes);
    // non-trainable weights (BatchNormalization's moving statistics) get no gradient
    const trainable = new Set(model.layers.flatMap((l) => l.paramSpecs().filter((s) => s.trainable !== false).map((s) => `${l.name}/${s.name}`)));
    expectGradientsMatch(grads.filter((v) => trainable.has(v.name)), w, loss, `${cls}: ${c.name}`, measured);
    model.dispose();
  });
});
