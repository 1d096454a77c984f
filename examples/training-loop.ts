// A training loop of your own around fit(): callbacks report each batch and epoch and stop early, the loop
// evaluates between rounds, keeps the best weights, and saves the model, which loadModel reads back.
// SHADERFLOW_EXAMPLE_LIMIT=N uses the first N MNIST training and test images (how the package test runs it).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, Dense, Flatten, loadModel, mnist, optimizers, saveModel, sequential, type Callbacks, type Logs } from 'shaderflow';

const limit = Number(process.env.SHADERFLOW_EXAMPLE_LIMIT) || 6000;
const rounds = process.env.SHADERFLOW_EXAMPLE_LIMIT ? 2 : 5;
const targetAccuracy = 0.97;

const engine = await createEngine();
const { train, test } = await mnist.loadData({ limit, testLimit: limit });
const model = sequential([
  new Flatten({ inputShape: [28, 28, 1] }),
  new Dense({ units: 64, activation: 'relu' }),
  new Dense({ units: 10, activation: 'softmax' }),
]);
model.compile(engine, { optimizer: optimizers.adam({ learningRate: 0.002 }), loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed: 7 });

let batches = 0;
const callbacks: Callbacks = {
  onBatchEnd: () => {
    batches++; // called once a batch is submitted to the GPU; nothing is read back for it
  },
  onEpochEnd: (epoch: number, logs: Logs) => {
    console.log(`epoch ${epoch + 1}: loss ${logs.loss!.toFixed(4)}, val_accuracy ${logs.val_accuracy!.toFixed(4)} after ${batches} batches`);
    if (logs.val_accuracy! >= targetAccuracy) model.stopTraining = true; // early stop: fit ends after this epoch
  },
};

let best = { accuracy: -1, weights: await model.getWeights() };
for (let round = 0; round < rounds; round++) {
  await model.fit(train, train.labels, { batchSize: 64, epochs: 1, validationSplit: 0.1, verbose: 0, callbacks });
  const [loss, accuracy] = await model.evaluate(test, test.labels);
  console.log(`round ${round + 1}: test loss ${loss.toFixed(4)}, test accuracy ${accuracy.toFixed(4)}`);
  if (accuracy > best.accuracy) best = { accuracy, weights: await model.getWeights() };
  if (model.stopTraining) break;
}
model.setWeights(best.weights);

const dir = await mkdtemp(join(tmpdir(), 'shaderflow-example-'));
await saveModel(model, dir);
const loaded = await loadModel(engine, dir);
const [, reloaded] = await loaded.evaluate(test, test.labels);
console.log(`best test accuracy ${best.accuracy.toFixed(4)}; the saved model reloads at ${reloaded.toFixed(4)}`);
if (reloaded !== best.accuracy) throw new Error('the reloaded model does not match the saved one');
loaded.dispose();
model.dispose();
engine.dispose();
await rm(dir, { recursive: true });
