#!/usr/bin/env node
// The shaderflow command line: train the seed course's presets, print summaries, evaluate and predict.
// Argument parsing is Node's built-in util.parseArgs (no extra dependency).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ShaderflowError } from './errors.js';
import { createEngine, type Engine } from './gpu/engine.js';
import { historyCharts } from './viz/plot.js';
import { buildPreset, isPreset, PRESETS, recipeSplit, type PresetName } from './model/presets.js';
import { adam, parseOptimizer, rmsprop, sgd, type OptimizerSpec } from './model/optimizers.js';
import type { Checkpoint, Sequential } from './model/sequential.js';
import { loadDataset, type DatasetName, type ImageSet } from './data/loaders.js';
import { imageGrid, readPng, toModelInput } from './data/image.js';
import { fileCheckpointer, loadModel, readCheckpoint, saveModel, writeFileAtomic } from './node.js';
import { mulberry32 } from './reference/random.js';
import { finishFolderTraining, folderModelInput, imageCommand, loadTrainingFolder, readClassesFile } from './cli-images.js';
import { readImage } from './data/image-files.js';

const USAGE = `shaderflow — Keras-style training on WebGPU compute shaders

Usage:
  shaderflow train --preset mnist-mlp|mnist-cnn|fashion-cnn|cifar-cnn [--epochs N] [--batch-size N]
                   [--optimizer sgd|adam|rmsprop] [--lr X] [--data DIR] [--out DIR] [--seed N]
                   [--limit N] [--json] [--checkpoint DIR [--checkpoint-every STEPS] [--resume]]
                   [--images DIR [--image-size HxW] [--validation-split F] [--skip-bad-images]]
                                --images: train on DIR/<class>/*.png|jpg (classes.json names them)
  shaderflow summary --preset NAME
  shaderflow evaluate --model DIR [--data DIR] [--dataset mnist|fashion-mnist|cifar10]
  shaderflow predict --model DIR IMAGE.png|jpg...
  shaderflow image FILE.png|jpg [--out PREVIEW.png] [--scale N]
                                what the seed's first practice prints for a picture, and a preview
  shaderflow plan --preset NAME [--batch-size N] [--adapter-class software|gpu] [--gpu-spec h200|JSON] [--json]
                                the recorded training step's dispatches with a modeled GPU time
  shaderflow adapter            print the WebGPU adapter in use

Environment: SHADERFLOW_BACKEND=vulkan|opengles forces a backend; SHADERFLOW_DATA=DIR holds datasets.`;

function int(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ShaderflowError(`--${name} must be a whole number >= 0, got "${v}".`);
  return n;
}

function presetArg(v: string | undefined): PresetName {
  if (!v || !isPreset(v)) throw new ShaderflowError(`--preset must be one of ${PRESETS.join(', ')}${v ? `, got "${v}"` : ''}.`);
  return v;
}

/** --data DIR must be a folder with something in it; the loader then says which of the dataset's files are missing. */
async function loadData(name: DatasetName, dir: string | undefined): ReturnType<typeof loadDataset> {
  if (dir !== undefined) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ShaderflowError(`--data ${dir}: no such folder (it should hold the ${name} dataset files).`);
    if (readdirSync(dir).length === 0)
      throw new ShaderflowError(`--data ${dir}: the folder is empty; put the ${name} dataset files there (datasets/catalog.json lists their names).`);
  }
  return loadDataset(name, { path: dir });
}

/** --model DIR must be a folder holding model.json (and the weights it names); checked before the GPU starts. */
function modelDirArg(dir: string | undefined, command: string): string {
  if (!dir) throw new ShaderflowError(`${command} needs --model DIR (a folder with model.json and weights.bin, as train --out writes).`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ShaderflowError(`--model ${dir}: no such folder (train --out DIR writes one).`);
  if (!existsSync(join(dir, 'model.json'))) throw new ShaderflowError(`--model ${dir}: no model.json in this folder (train --out DIR writes model.json and weights.bin).`);
  return dir;
}

/** The dataset a saved preset model was trained on: its name (mnist_mlp, fashion_cnn, ...) or else its input shape. */
function datasetOf(model: Sequential): DatasetName {
  if (model.name.startsWith('fashion')) return 'fashion-mnist';
  if (model.name.startsWith('cifar') || model.inputShape[0] === 32 || model.inputShape[0] === 32 * 32 * 3) return 'cifar10';
  return 'mnist';
}

function optimizerArg(name: string | undefined, lr: string | undefined, dflt: string | OptimizerSpec): string | OptimizerSpec {
  const base = parseOptimizer(name ?? dflt);
  if (lr === undefined) return base;
  const learningRate = Number(lr);
  if (!(learningRate > 0)) throw new ShaderflowError(`--lr must be a positive number, got "${lr}".`);
  return base.kind === 'sgd' ? sgd({ ...base, learningRate }) : base.kind === 'adam' ? adam({ ...base, learningRate }) : rmsprop({ ...base, learningRate });
}

function argmax(row: Float32Array | number[]): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

function subset(set: ImageSet, idx: number[]): ImageSet {
  const per = set.shape.slice(1).reduce((a, b) => a * b, 1);
  const images = new Uint8Array(idx.length * per);
  const labels = new Uint8Array(idx.length);
  idx.forEach((k, i) => {
    images.set(set.images.subarray(k * per, (k + 1) * per), i * per);
    labels[i] = set.labels[k]!;
  });
  return { images, shape: [idx.length, ...set.shape.slice(1)] as ImageSet['shape'], labels };
}

async function train(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      preset: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      optimizer: { type: 'string' },
      lr: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      verbose: { type: 'string' },
      checkpoint: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      resume: { type: 'boolean', default: false },
      images: { type: 'string' },
      'image-size': { type: 'string' },
      'validation-split': { type: 'string' },
      'skip-bad-images': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const preset = presetArg(values.preset);
  const seed = int(values.seed, 'seed', 0);
  const limit = int(values.limit, 'limit', 0);
  const log = values.json ? (s: string) => process.stderr.write(s) : (s: string) => process.stdout.write(s);
  // --images DIR: the folder's classes and images (all read and checked here, before the GPU starts).
  const folder =
    values.images === undefined
      ? undefined
      : await loadTrainingFolder(values.images, preset, { imageSize: values['image-size'], validationSplit: values['validation-split'], seed, limit, skipBad: values['skip-bad-images'], log });
  const { model, compileArgs, recipe } = buildPreset(preset, { seed, ...(folder && { classes: folder.classes.classNames.length, imageShape: folder.imageShape }) });
  compileArgs.optimizer = optimizerArg(values.optimizer, values.lr, compileArgs.optimizer);
  const epochs = int(values.epochs, 'epochs', recipe.epochs);
  const batchSize = int(values['batch-size'], 'batch-size', recipe.batchSize);
  const out = resolve(values.out ?? join('runs', `${preset}-${new Date().toISOString().replace(/[:.]/g, '-')}`));
  // A folder has no separate test set: its validation subset is evaluated at the end.
  const data = folder ? { train: folder.train, test: folder.validation, classNames: folder.classes.classNames } : await loadData(recipe.dataset, values.data);
  let trainSet = data.train;
  if (!folder && limit > 0 && limit < trainSet.shape[0]) trainSet = subset(trainSet, Array.from({ length: limit }, (_, i) => i));
  // The seed course: train_test_split(X_train, y_train, test_size=0.2, random_state=9), the same examples.
  const split = folder ? { train: folder.train, validation: folder.validation } : recipeSplit(trainSet, recipe);
  const engine = await createEngine();
  try {
    log(`Adapter: ${engine.describe()}\n`);
    model.summary((l) => log(`${l}\n`));
    model.compile(engine, compileArgs);
    let resume: Checkpoint | undefined;
    if (values.resume) {
      if (!values.checkpoint) throw new ShaderflowError('--resume needs --checkpoint DIR (the folder the interrupted run wrote).');
      resume = await readCheckpoint(values.checkpoint);
      if (!resume) throw new ShaderflowError(`--resume: no checkpoint in ${values.checkpoint} (checkpoint.json is missing).`);
      log(`Resuming from ${values.checkpoint}: epoch ${resume.epoch + 1}, batch ${resume.batch}\n`);
    }
    const checkpoint = values.checkpoint ? fileCheckpointer(values.checkpoint, model, { everySteps: int(values['checkpoint-every'], 'checkpoint-every', 0) }) : undefined;
    const t0 = performance.now();
    const history = await model.fit(split.train, split.train.labels, {
      batchSize,
      epochs,
      validationData: [split.validation, split.validation.labels],
      verbose: values.verbose !== undefined ? (int(values.verbose, 'verbose', 1) as 0 | 1 | 2) : 1,
      sink: { isTTY: !values.json && !!process.stdout.isTTY, write: log },
      seed,
      checkpoint,
      resume,
    });
    const seconds = (performance.now() - t0) / 1000;
    const stepsPerEpoch = Math.ceil(split.train.shape[0] / batchSize);
    const [testLoss, testAcc] = await model.evaluate(data.test, data.test.labels, { batchSize });
    if (folder) log(`(${values.images} has no test set: the test figures are of its ${data.test.shape[0]}-image validation subset)\n`);
    log(`Test loss: ${testLoss.toFixed(4)} - test accuracy: ${testAcc.toFixed(4)}\n`);
    await mkdir(out, { recursive: true });
    // Keras' history.history: {"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]}.
    await writeFile(join(out, 'history.json'), JSON.stringify(history.history, null, 1));
    const charts = historyCharts(history.history);
    await writeFile(join(out, 'accuracy.svg'), charts.accuracy);
    await writeFile(join(out, 'loss.svg'), charts.loss);
    await writePredictions(model, data.test, join(out, 'predictions.png'), seed, data.classNames);
    await saveModel(model, out);
    if (folder) await finishFolderTraining(folder, out, log);
    log(`Wrote ${out}: model.json, weights.bin, ${folder ? 'classes.json, ' : ''}history.json, accuracy.svg, loss.svg, predictions.png\n`);
    const last = (k: string) => history.history[k]?.[history.history[k]!.length - 1] ?? null;
    if (values.json)
      process.stdout.write(
        `${JSON.stringify({
          preset,
          epochs,
          train_loss: last('loss'),
          train_accuracy: last('accuracy'),
          val_loss: last('val_loss'),
          val_accuracy: last('val_accuracy'),
          test_loss: testLoss,
          test_accuracy: testAcc,
          seconds,
          ms_per_step: (seconds * 1000) / Math.max(1, stepsPerEpoch * epochs),
          adapter: engine.describe(),
        })}\n`,
      );
  } finally {
    model.dispose();
    engine.dispose();
  }
}

/** The seed's "Label value = x  Predicted value = y" panels for three random test images. */
async function writePredictions(model: Sequential, test: ImageSet, path: string, seed: number, classNames?: string[]): Promise<void> {
  const r = mulberry32(seed + 17);
  const picks = new Set<number>();
  while (picks.size < Math.min(3, test.shape[0])) picks.add(Math.floor(r() * test.shape[0]));
  const sub = subset(test, [...picks]);
  const probs = await model.predict(sub);
  const c = model.numClasses;
  const name = (k: number) => (classNames && classNames[k] && classNames[k] !== String(k) ? `${k} (${classNames[k]})` : String(k));
  const per = sub.shape.slice(1).reduce((a, b) => a * b, 1);
  const panels = [...picks].map((_, i) => {
    const predicted = argmax(probs.subarray(i * c, (i + 1) * c));
    const label = sub.labels[i]!;
    return {
      image: { data: sub.images.subarray(i * per, (i + 1) * per), shape: sub.shape.slice(1) as [number, number, number] },
      caption: `Label value = ${name(label)}  Predicted value = ${name(predicted)}`,
      wrong: predicted !== label,
    };
  });
  await writeFileAtomic(path, imageGrid(panels, { scale: 4 }));
}

async function summary(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { preset: { type: 'string' } }, strict: true });
  buildPreset(presetArg(values.preset)).model.summary();
}

async function evaluate(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, data: { type: 'string' }, dataset: { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
  });
  const dir = modelDirArg(values.model, 'evaluate');
  const datasets: DatasetName[] = ['mnist', 'fashion-mnist', 'cifar10'];
  if (values.dataset !== undefined && !(datasets as string[]).includes(values.dataset))
    throw new ShaderflowError(`--dataset must be one of ${datasets.join(', ')}, got "${values.dataset}".`);
  const engine = await createEngine();
  try {
    const model = await loadModel(engine, dir);
    const dataset = (values.dataset as DatasetName | undefined) ?? datasetOf(model);
    const data = await loadData(dataset, values.data);
    const [loss, acc] = await model.evaluate(data.test, data.test.labels, {
      batchSize: 128,
      verbose: 1,
      // With --json, stdout holds only the JSON line.
      sink: values.json ? { isTTY: false, write: (s) => process.stderr.write(s) } : undefined,
    });
    if (values.json) process.stdout.write(`${JSON.stringify({ dataset, test_loss: loss, test_accuracy: acc })}\n`);
    else process.stdout.write(`${dataset} test: loss ${loss.toFixed(4)} - accuracy ${acc.toFixed(4)}\n`);
    model.dispose();
  } finally {
    engine.dispose();
  }
}

async function predict(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: { model: { type: 'string' }, json: { type: 'boolean', default: false } }, allowPositionals: true, strict: true });
  const dir = modelDirArg(values.model, 'predict');
  if (positionals.length === 0) throw new ShaderflowError('predict needs one or more PNG files after --model DIR.');
  // Every image is read (and checked) before the GPU starts. A model trained on a folder (classes.json) takes
  // PNG or JPEG, prepared as in training, and its classes are printed by name.
  const classes = readClassesFile(dir);
  const images = positionals.map((file) => ({ file, img: classes ? readImage(file) : readPng(file) }));
  const engine: Engine = await createEngine();
  try {
    const model = await loadModel(engine, dir);
    // Digits are cropped, fitted and centred as MNIST was made; Fashion-MNIST items fill their frame, so those are only resized.
    const digit = datasetOf(model) === 'mnist';
    for (const { file, img } of images) {
      const input = classes ? folderModelInput(img, classes) : toModelInput(img, model.inputShape as [number, number, number] | [number], { digit });
      const probs = await model.predict({ images: input, shape: [1, ...model.inputShape] });
      const cls = argmax(probs);
      const named = classes ? { name: classes.classNames[cls] } : {};
      if (values.json) process.stdout.write(`${JSON.stringify({ file, class: cls, ...named, probabilities: Array.from(probs) })}\n`);
      else if (classes) process.stdout.write(`${file}: ${classes.classNames[cls]} (class ${cls}, p = ${probs[cls]!.toFixed(4)})  probabilities: ${classes.classNames.map((n, k) => `${n} ${probs[k]!.toFixed(4)}`).join('  ')}\n`);
      else process.stdout.write(`${file}: class ${cls} (p = ${probs[cls]!.toFixed(4)})  probabilities: ${Array.from(probs, (p) => p.toFixed(4)).join(' ')}\n`);
    }
    model.dispose();
  } finally {
    engine.dispose();
  }
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'train':
      return train(rest);
    case 'summary':
      return summary(rest);
    case 'evaluate':
      return evaluate(rest);
    case 'predict':
      return predict(rest);
    case 'image':
      return imageCommand(rest);
    case 'plan': {
      const { planCommand } = await import('./cli-plan.js');
      return planCommand(rest);
    }
    case 'adapter': {
      const e = await createEngine();
      process.stdout.write(`${e.describe()}\n`);
      e.dispose();
      return;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new ShaderflowError(`Unknown command "${cmd}": use train, summary, evaluate, predict, image, plan or adapter (shaderflow --help shows their options).`);
  }
}

main().catch((e: unknown) => {
  const err = e as Error;
  if (err instanceof ShaderflowError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`shaderflow: ${err.name}: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`shaderflow: unexpected error: ${err?.stack ?? String(e)}\n`);
  process.exit(1);
});
