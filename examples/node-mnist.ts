// README's "Use it" example, runnable: the seed course's MNIST CNN trained in Node.
// SHADERFLOW_EXAMPLE_LIMIT=N uses the first N training and N test images and one epoch (how the package test runs it);
// unset, it is the full course run (60,000 images, 10 epochs).
import { createEngine, sequential, Conv2D, MaxPooling2D, Flatten, Dense, mnist } from 'shaderflow';

const limit = Number(process.env.SHADERFLOW_EXAMPLE_LIMIT) || undefined;

const engine = await createEngine();
const { train, test } = await mnist.loadData({ limit, testLimit: limit }); // uint8 [n, 28, 28, 1] + labels
const model = sequential([
  new Conv2D({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
  new MaxPooling2D({ poolSize: 2 }),
  new Flatten(),
  new Dense({ units: 128, activation: 'relu' }),
  new Dense({ units: 10, activation: 'softmax' }),
]);
model.summary();
model.compile(engine, { optimizer: 'sgd', loss: 'categorical_crossentropy', metrics: ['accuracy'] });
const history = await model.fit(train, train.labels, { batchSize: 128, epochs: limit ? 1 : 10, validationSplit: 0.2 });
console.log(await model.evaluate(test, test.labels));      // [loss, accuracy]
const probs = await model.predict(test);                   // Float32Array [n, 10]
console.log(`history: ${JSON.stringify(history.history)}; first test image: class ${probs.indexOf(Math.max(...probs.subarray(0, 10)))}`);
model.dispose();
engine.dispose();
