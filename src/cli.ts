#!/usr/bin/env node
// The shaderflow command line: train the seed course's presets, print summaries, evaluate and predict.
// Argument parsing is Node's built-in util.parseArgs (no extra dependency). Every command is one entry of COMMANDS:
// its flags feed both the parser and `shaderflow help COMMAND`, so the help always lists exactly what is accepted.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ShaderflowError } from './errors.js';
import { datasetOf, modelDirArg } from './cli-args.js';
import { createEngine, type Engine } from './gpu/engine.js';
import { historyCharts } from './viz/plot.js';
import { buildPreset, PRESETS, recipeSplit } from './model/presets.js';
import { adam, parseOptimizer, rmsprop, sgd, type OptimizerSpec } from './model/optimizers.js';
import type { Model } from './model/model.js';
import type { Checkpoint } from './model/fit.js';
import { loadDataset, type DatasetName, type ImageSet } from './data/loaders.js';
import { imageGrid, readPng } from './data/image.js';
import { fileCheckpointer, loadModel, readCheckpoint, saveModel, writeFileAtomic } from './node.js';
import { mulberry32 } from './reference/random.js';
import { version } from '../package.json';
import { selftestCommand } from './selftest/cli.js';
import { profileCommand } from './profile-command.js';
import { finishFolderTraining, imageCommand, loadTrainingFolder, modelInputFor, readClassesFile } from './cli-images.js';
import { readImage } from './data/image-files.js';
import { lrScheduleArg, presetArg, wholeArg } from './cli-args.js';
import { csvLogger, earlyStopping, reduceLROnPlateau } from './model/callbacks.js';
import type { Callbacks } from './model/history.js';
import { cosineDecay, exponentialDecay } from './model/schedules.js';
import { writeConfusionFiles, writeMisclassified } from './cli-metrics.js';
import { classificationReport } from './viz/report.js';

/** A whole-number flag of at least 0 (seed, limit, epochs, ...). */
const int = (v: string | undefined, name: string, dflt: number): number => wholeArg(v, name, dflt, 0);

/** --data DIR must be a folder with something in it; the loader then says which of the dataset's files are missing. */
async function loadData(name: DatasetName, dir: string | undefined): ReturnType<typeof loadDataset> {
  if (dir !== undefined) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ShaderflowError(`--data ${dir}: no such folder (it should hold the ${name} dataset files).`);
    if (readdirSync(dir).length === 0)
      throw new ShaderflowError(`--data ${dir}: the folder is empty; put the ${name} dataset files there (datasets/catalog.json lists their names).`);
  }
  return loadDataset(name, { path: dir });
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

/**
 * train's callbacks and schedule from --early-stopping, --reduce-lr-on-plateau, --lr-schedule and --csv, all
 * checked before anything loads. Both patience flags watch val_loss; early stopping restores the best epoch's
 * weights. `optimizer` puts the schedule in (it needs the run's step count for cosine decay).
 */
function trainingControl(values: ValuesOf<typeof TRAIN_FLAGS>, log: (s: string) => void): { callbacks: Callbacks[]; optimizer: (o: string | OptimizerSpec, totalSteps: number) => string | OptimizerSpec } {
  const print = (line: string) => log(`${line}\n`);
  const callbacks: Callbacks[] = [];
  const early = values['early-stopping'], reduce = values['reduce-lr-on-plateau'];
  const schedule = lrScheduleArg(values['lr-schedule']);
  if (schedule && reduce !== undefined) throw new ShaderflowError("--lr-schedule and --reduce-lr-on-plateau cannot be combined: a schedule's rate is not settable (as in Keras).");
  if (reduce !== undefined) callbacks.push(reduceLROnPlateau({ monitor: 'val_loss', patience: wholeArg(reduce, 'reduce-lr-on-plateau', 0, 0), verbose: 1, print }));
  if (early !== undefined) callbacks.push(earlyStopping({ monitor: 'val_loss', patience: wholeArg(early, 'early-stopping', 0, 0), restoreBestWeights: true, verbose: 1, print }));
  if (values.csv !== undefined) callbacks.push(csvLogger(resolve(values.csv)));
  const optimizer = (o: string | OptimizerSpec, totalSteps: number) => {
    const spec = parseOptimizer(o);
    // The residual presets' own cosine decay (no --lr / --optimizer given) is laid over this run's updates, as
    // --lr-schedule cosine is; with --reduce-lr-on-plateau it gives way to its starting rate, held constant.
    const presetSchedule = typeof spec.learningRate === 'function' ? spec.learningRate : undefined;
    if (!schedule && !presetSchedule) return o;
    const initialLearningRate = presetSchedule ? presetSchedule(0) : (spec.learningRate as number);
    if (!schedule && reduce !== undefined) {
      spec.learningRate = initialLearningRate;
      return spec;
    }
    spec.learningRate =
      schedule?.kind === 'exponential'
        ? exponentialDecay({ initialLearningRate, decayRate: schedule.rate, decaySteps: schedule.steps })
        : cosineDecay({ initialLearningRate, decaySteps: Math.max(1, totalSteps) });
    return spec;
  };
  return { callbacks, optimizer };
}

async function train(values: ValuesOf<typeof TRAIN_FLAGS>): Promise<void> {
  const preset = presetArg(values.preset);
  const seed = int(values.seed, 'seed', 0);
  const limit = int(values.limit, 'limit', 0);
  const log = values.json ? (s: string) => process.stderr.write(s) : (s: string) => process.stdout.write(s);
  // --images DIR: the folder's classes and images (all read and checked here, before the GPU starts).
  const folder =
    values.images === undefined
      ? undefined
      : await loadTrainingFolder(values.images, preset, { imageSize: values['image-size'], validationSplit: values['validation-split'], seed, limit, skipBad: values['skip-bad-images'] ?? false, log });
  const { model, compileArgs, recipe } = buildPreset(preset, { seed, ...(folder && { classes: folder.classes.classNames.length, imageShape: folder.imageShape }) });
  compileArgs.optimizer = optimizerArg(values.optimizer, values.lr, compileArgs.optimizer);
  const epochs = int(values.epochs, 'epochs', recipe.epochs);
  const batchSize = wholeArg(values['batch-size'], 'batch-size', recipe.batchSize);
  const control = trainingControl(values, log);
  const out = resolve(values.out ?? join('runs', `${preset}-${new Date().toISOString().replace(/[:.]/g, '-')}`));
  // A folder has no separate test set: its validation subset is evaluated at the end.
  const data = folder ? { train: folder.train, test: folder.validation, classNames: folder.classes.classNames } : await loadData(recipe.dataset, values.data);
  let trainSet = data.train;
  if (!folder && limit > 0 && limit < trainSet.shape[0]) trainSet = subset(trainSet, Array.from({ length: limit }, (_, i) => i));
  // The seed course: train_test_split(X_train, y_train, test_size=0.2, random_state=9), the same examples.
  const split = folder ? { train: folder.train, validation: folder.validation } : recipeSplit(trainSet, recipe);
  compileArgs.optimizer = control.optimizer(compileArgs.optimizer, epochs * Math.ceil(split.train.shape[0] / batchSize));
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
      callbacks: control.callbacks,
    });
    const seconds = (performance.now() - t0) / 1000;
    const stepsPerEpoch = Math.ceil(split.train.shape[0] / batchSize);
    const testReport = await model.evaluate(data.test, data.test.labels, { batchSize, confusionMatrix: true });
    const [testLoss, testAcc] = [testReport.loss, testReport.accuracy];
    if (folder) log(`(${values.images} has no test set: the test figures are of its ${data.test.shape[0]}-image validation subset)\n`);
    log(`Test loss: ${testLoss.toFixed(4)} - test accuracy: ${testAcc.toFixed(4)}\n`);
    await mkdir(out, { recursive: true });
    // Keras' history.history: {"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]}.
    await writeFile(join(out, 'history.json'), JSON.stringify(history.history, null, 1));
    const charts = historyCharts(history.history);
    await writeFile(join(out, 'accuracy.svg'), charts.accuracy);
    await writeFile(join(out, 'loss.svg'), charts.loss);
    await writePredictions(model, data.test, join(out, 'predictions.png'), seed, data.classNames);
    await writeConfusionFiles(out, testReport.confusionMatrix, data.classNames);
    await writeMisclassified(out, model, data.test, data.classNames, batchSize);
    await saveModel(model, out);
    if (folder) await finishFolderTraining(folder, out, log);
    log(`Wrote ${out}: model.json, weights.bin, ${folder ? 'classes.json, ' : ''}history.json, accuracy.svg, loss.svg, predictions.png, confusion.svg, confusion.png, misclassified.png\n`);
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
          epochs_run: history.epoch.length,
          lr: last('lr'),
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
async function writePredictions(model: Model, test: ImageSet, path: string, seed: number, classNames?: string[]): Promise<void> {
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

async function summary(values: ValuesOf<typeof SUMMARY_FLAGS>): Promise<void> {
  buildPreset(presetArg(values.preset)).model.summary();
}

async function evaluate(values: ValuesOf<typeof EVALUATE_FLAGS>): Promise<void> {
  const dir = modelDirArg(values.model, 'evaluate');
  const datasets: DatasetName[] = ['mnist', 'fashion-mnist', 'cifar10'];
  if (values.dataset !== undefined && !(datasets as string[]).includes(values.dataset))
    throw new ShaderflowError(`--dataset must be one of ${datasets.join(', ')}, got "${values.dataset}".`);
  const engine = await createEngine();
  try {
    const model = await loadModel(engine, dir);
    const dataset = (values.dataset as DatasetName | undefined) ?? datasetOf(model);
    const data = await loadData(dataset, values.data);
    const { loss, accuracy: acc, confusionMatrix } = await model.evaluate(data.test, data.test.labels, {
      batchSize: 128,
      verbose: 1,
      // With --json, stdout holds only the JSON line.
      sink: values.json ? { isTTY: false, write: (s) => process.stderr.write(s) } : undefined,
      confusionMatrix: true,
    });
    // A model trained on a folder names its classes in classes.json; the datasets name theirs.
    const classNames = readClassesFile(dir)?.classNames ?? data.classNames;
    const report = classificationReport(confusionMatrix.flat(), classNames, { digits: 4 });
    const out = values.out ?? dir;
    await mkdir(out, { recursive: true });
    const files = await writeConfusionFiles(out, confusionMatrix, classNames);
    const per = report.classes.map((r) => ({ class: r.name, precision: r.precision, recall: r.recall, f1: r.f1, support: r.support }));
    if (values.json) process.stdout.write(`${JSON.stringify({ dataset, test_loss: loss, test_accuracy: acc, classes: per, confusion_matrix: confusionMatrix })}\n`);
    else process.stdout.write(`${dataset} test: loss ${loss.toFixed(4)} - accuracy ${acc.toFixed(4)}\n\n${report.text}\nWrote ${files.map((f) => join(out, f)).join(', ')}\n`);
    model.dispose();
  } finally {
    engine.dispose();
  }
}

async function predict(values: ValuesOf<typeof PREDICT_FLAGS>, positionals: string[]): Promise<void> {
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
    for (const { file, img } of images) {
      const input = modelInputFor(model, img, classes);
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

interface Flag {
  /** A switch, or a flag taking the value named `value` (shown in help as `--flag VALUE`). */
  value?: string;
  help: string;
}

/** What parseArgs gives a command for its flags: a string for each valued flag, a boolean for each switch. */
type ValuesOf<F extends Record<string, Flag>> = { [K in keyof F]?: F[K] extends { value: string } ? string : boolean };

interface Command<F extends Record<string, Flag> = Record<string, Flag>> {
  /** One line for `shaderflow help`. */
  summary: string;
  /** What follows `shaderflow NAME` in the usage line. */
  usage: string;
  flags: F;
  /** Arguments after the flags (predict's images); none unless set. */
  positionals?: string;
  examples: string[];
  /** Gets the parsed flags, the positionals, and the arguments as given (for a command that parses its own). */
  run(values: ValuesOf<F>, positionals: string[], argv: string[]): Promise<void>;
}

/** Checks one entry of COMMANDS against its own flags (run gets exactly their values). */
function command<const F extends Record<string, Flag>>(c: Command<F>): Command {
  return c as unknown as Command;
}

const JSON_FLAG = { help: 'print one JSON object on stdout (progress goes to stderr)' };

const TRAIN_FLAGS = {
  preset: { value: 'NAME', help: `the model and recipe: ${PRESETS.join(' | ')} (required)` },
  epochs: { value: 'N', help: "epochs to train (default: the preset's, 10)" },
  'batch-size': { value: 'N', help: "examples per step (default: the preset's, 128)" },
  optimizer: { value: 'NAME', help: "sgd | adam | rmsprop (default: the preset's)" },
  lr: { value: 'X', help: "learning rate (default: Keras' for the optimizer: sgd 0.01, adam and rmsprop 0.001)" },
  data: { value: 'DIR', help: 'folder holding the dataset files (default: $SHADERFLOW_DATA/NAME, ~/.shaderflow/datasets/NAME, then offline packages)' },
  out: { value: 'DIR', help: 'where to write the run (default: runs/PRESET-TIME/)' },
  seed: { value: 'N', help: 'seeds initializers, shuffling and dropout (default 0)' },
  limit: { value: 'N', help: 'train on the first N training examples only (0: all)' },
  json: JSON_FLAG,
  verbose: { value: '0|1|2', help: 'progress: 0 none, 1 a bar (default), 2 one line per epoch' },
  checkpoint: { value: 'DIR', help: 'save a checkpoint at each epoch end into DIR' },
  'checkpoint-every': { value: 'STEPS', help: 'with --checkpoint: also every STEPS batches' },
  resume: { help: 'with --checkpoint: continue the interrupted run saved in DIR' },
  images: { value: 'DIR', help: "train on your own pictures, DIR/<class>/*.png|jpg (classes.json names the classes), at the preset's input size" },
  'image-size': { value: 'HxW', help: "with --images: resize to HxW instead of the preset's input size" },
  'validation-split': { value: 'F', help: 'with --images: the fraction held out for validation and test (default 0.2)' },
  'skip-bad-images': { help: 'with --images: skip files that do not decode instead of stopping' },
  'early-stopping': { value: 'PATIENCE', help: 'stop when val_loss has not improved for PATIENCE epochs, and keep the best epoch\'s weights' },
  'reduce-lr-on-plateau': { value: 'PATIENCE', help: 'multiply the learning rate by 0.1 when val_loss has not improved for PATIENCE epochs' },
  'lr-schedule': { value: 'SCHEDULE', help: 'cosine (decay to 0 over the run) | exponential:RATE:STEPS (times RATE every STEPS steps), from the --lr rate' },
  csv: { value: 'FILE', help: "write each epoch's logs (loss, accuracy, lr, val_...) as a CSV row" },
} satisfies Record<string, Flag>;
const EVALUATE_FLAGS = {
  model: { value: 'DIR', help: 'a folder with model.json and weights.bin, as train --out writes (required)' },
  data: { value: 'DIR', help: 'folder holding the dataset files (default: as for train)' },
  dataset: { value: 'NAME', help: "mnist | fashion-mnist | cifar10 (default: the one the model's name or input shape implies)" },
  out: { value: 'DIR', help: 'where confusion.svg and confusion.png go (default: the --model folder)' },
  json: JSON_FLAG,
} satisfies Record<string, Flag>;
const PREDICT_FLAGS = {
  model: { value: 'DIR', help: 'a folder with model.json and weights.bin, as train --out writes (required)' },
  json: { help: 'one JSON object per image: file, class, probabilities' },
} satisfies Record<string, Flag>;
const SUMMARY_FLAGS = { preset: { value: 'NAME', help: `${PRESETS.join(' | ')} (required)` } } satisfies Record<string, Flag>;

// One entry per command, in the order `shaderflow help` lists them.
const COMMANDS: Record<string, Command> = {
  train: command({
    summary: "train one of the seed course's presets; writes the model, history, plots, predictions and confusion matrix",
    usage: '--preset NAME [flags]',
    flags: TRAIN_FLAGS,
    examples: [
      'shaderflow train --preset mnist-cnn --epochs 1',
      'shaderflow train --preset fashion-cnn --optimizer adam --lr 0.0005 --checkpoint ckpt --checkpoint-every 100',
      'shaderflow train --preset mnist-cnn --images my-digits/ --validation-split 0.2',
      'shaderflow train --preset fashion-cnn --early-stopping 2 --reduce-lr-on-plateau 1 --csv log.csv --out run',
    ],
    run: (v) => train(v),
  }),
  summary: command({
    summary: "print a preset's Keras-style summary (layers, output shapes, parameters)",
    usage: '--preset NAME',
    flags: SUMMARY_FLAGS,
    examples: ['shaderflow summary --preset mnist-cnn'],
    run: (v) => summary(v),
  }),
  evaluate: command({
    summary: "a saved model's loss, accuracy and per-class report on its dataset's test set; writes confusion.svg/png",
    usage: '--model DIR [flags]',
    flags: EVALUATE_FLAGS,
    examples: ['shaderflow evaluate --model runs/mnist-cnn-2026-01-01T00-00-00-000Z'],
    run: (v) => evaluate(v),
  }),
  predict: command({
    summary: 'classify PNG or JPEG images with a saved model',
    usage: '--model DIR [--json] IMAGE.png|jpg...',
    flags: PREDICT_FLAGS,
    positionals: 'IMAGE.png|jpg...',
    examples: ['shaderflow predict --model runs/mnist-cnn-2026-01-01T00-00-00-000Z digit.png'],
    run: (v, images) => predict(v, images),
  }),
  image: command({
    summary: "what the seed's first practice prints for a picture (size, channels, pixel values), and a preview PNG",
    usage: 'FILE.png|jpg [--out PREVIEW.png] [--scale N]',
    flags: {
      out: { value: 'PREVIEW.png', help: 'where the enlarged preview goes (default FILE.preview.png beside it)' },
      scale: { value: 'N', help: 'preview pixels per image pixel (default: about 280 px on the longer side)' },
    },
    positionals: 'FILE.png|jpg',
    examples: ['shaderflow image digit.png --scale 10'],
    run: (_v, _p, argv) => imageCommand(argv),
  }),
  inspect: command({
    summary: "what a saved CNN sees in one picture: writes featuremaps.png (every conv layer's maps) and filters.png",
    usage: '--model DIR [--out DIR] [--json] IMAGE.png|jpg',
    flags: {
      model: PREDICT_FLAGS.model,
      out: { value: 'DIR', help: 'where featuremaps.png and filters.png go (default: the current folder)' },
      json: { help: 'print one JSON object: the files, their sizes and the layers drawn' },
    },
    positionals: 'IMAGE.png|jpg',
    examples: ['shaderflow inspect --model runs/mnist-cnn-2026-01-01T00-00-00-000Z digit.png --out inspect/'],
    run: async (v, images) => (await import('./cli-inspect.js')).inspectCommand(v as { model?: string; out?: string; json?: boolean }, images),
  }),
  plan: command({
    summary: "the recorded training step's dispatches with a modeled GPU time (nothing runs)",
    usage: '--preset NAME [flags]',
    flags: {
      preset: { value: 'NAME', help: `${PRESETS.join(' | ')} (required)` },
      'batch-size': { value: 'N', help: 'the batch the step is recorded for (default 128)' },
      'adapter-class': { value: 'software|gpu', help: "the kernel set to plan (default: this adapter's class)" },
      'gpu-spec': { value: 'h200|JSON', help: 'the reference GPU of the modeled time (default h200)' },
      json: { help: 'one JSON object per dispatch, then {"total_modeled_us"}' },
    },
    examples: ['shaderflow plan --preset mnist-cnn --batch-size 128 --adapter-class gpu'],
    run: async (_v, _p, argv) => (await import('./cli-plan.js')).planCommand(argv),
  }),
  profile: command({
    summary: 'every dispatch of one training step with its measured time (GPU timestamps where the adapter has them)',
    usage: '--preset NAME [flags]',
    flags: {
      preset: { value: 'NAME', help: `${PRESETS.join(' | ')} (required)` },
      'batch-size': { value: 'N', help: 'the batch the step is recorded for (default 128)' },
      'adapter-class': { value: 'software|gpu', help: "the kernel set to profile (default: this adapter's class)" },
      steps: { value: 'N', help: 'synchronous steps timed for the step time beside the sum (default 5)' },
      json: { help: 'one JSON object per dispatch, then a summary line' },
    },
    examples: ['shaderflow profile --preset mnist-cnn --batch-size 128'],
    run: (_v, _p, argv) => profileCommand(argv),
  }),
  selftest: command({
    summary: 'every kernel this adapter runs against float64 references, and every layer by numeric gradients; exits 1 on a failure',
    usage: '[--quick] [--adapter-class software|gpu] [--json]',
    flags: {
      quick: { help: 'the quick set (one case per kernel family and variant in use; under a minute on llvmpipe)' },
      'adapter-class': { value: 'software|gpu', help: "the kernel set to check (default: this adapter's class)" },
      json: { help: 'print the report as one JSON object (adapter, every case, what failed)' },
    },
    examples: ['shaderflow selftest --quick', 'shaderflow selftest --adapter-class gpu --json'],
    run: async (_v, _p, argv) => {
      process.exitCode = await selftestCommand(argv);
    },
  }),
  adapter: command({
    summary: 'print the WebGPU adapter shaderflow picks on this machine',
    usage: '',
    flags: {},
    examples: ['shaderflow adapter', 'SHADERFLOW_VERBOSE=1 shaderflow adapter'],
    run: async () => {
      const e = await createEngine();
      process.stdout.write(`${e.describe()}\n`);
      e.dispose();
    },
  }),
};

const ENVIRONMENT = `Environment:
  SHADERFLOW_BACKEND=vulkan|opengles  force a WebGPU backend
  SHADERFLOW_VERBOSE=1                probe every backend (Dawn's own warnings included) and say what was chosen
  SHADERFLOW_DATA=DIR                 where datasets live (DIR/mnist, DIR/cifar10, ...)
  SHADERFLOW_CACHE=DIR                per-adapter tuning and backend memory (default ~/.cache/shaderflow)
  SHADERFLOW_AUTOTUNE=0|1             time kernel candidates per shape before the first step (default: on for GPUs only)`;

function overview(): string {
  const names = [...Object.keys(COMMANDS), 'help [COMMAND]'];
  const width = Math.max(...names.map((n) => n.length)) + 2;
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`);
  rows.push(`  ${'help [COMMAND]'.padEnd(width)}this overview, or one command's flags and examples`);
  return `shaderflow ${version}: Keras-style training on WebGPU compute shaders

Usage: shaderflow COMMAND [flags]

Commands:
${rows.join('\n')}

Run \`shaderflow help COMMAND\` or \`shaderflow COMMAND --help\` for a command's flags and examples;
\`shaderflow --version\` prints the version.

${ENVIRONMENT}`;
}

function commandHelp(name: string, c: Command): string {
  const flags: [string, string][] = Object.entries(c.flags).map(([flag, f]) => [`--${flag}${f.value ? ` ${f.value}` : ''}`, f.help]);
  flags.push(['-h, --help', 'show this help']);
  const width = Math.max(...flags.map(([f]) => f.length)) + 2;
  return `shaderflow ${name}: ${c.summary}

Usage: shaderflow ${name}${c.usage ? ` ${c.usage}` : ''}

Flags:
${flags.map(([f, h]) => `  ${f.padEnd(width)}${h}`).join('\n')}

Example${c.examples.length > 1 ? 's' : ''}:
${c.examples.map((e) => `  ${e}`).join('\n')}`;
}

function unknownCommand(cmd: string): ShaderflowError {
  return new ShaderflowError(`Unknown command "${cmd}": use ${Object.keys(COMMANDS).join(', ')} or help (shaderflow help lists them).`);
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === undefined || cmd === 'help' || cmd === '-h' || cmd === '--help') {
    const topic = cmd === 'help' ? rest[0] : undefined;
    if (topic === undefined) return void process.stdout.write(`${overview()}\n`);
    const c = COMMANDS[topic];
    if (!c) throw unknownCommand(topic);
    return void process.stdout.write(`${commandHelp(topic, c)}\n`);
  }
  if (cmd === '--version' || cmd === '-V') return void process.stdout.write(`${version}\n`);
  const c = Object.hasOwn(COMMANDS, cmd) ? COMMANDS[cmd] : undefined;
  if (!c) throw unknownCommand(cmd);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [flag, f] of Object.entries(c.flags)) options[flag] = { type: f.value ? 'string' : 'boolean' };
  const { values, positionals } = parseArgs({ args: rest, options, allowPositionals: c.positionals !== undefined, strict: true });
  if (values.help) return void process.stdout.write(`${commandHelp(cmd, c)}\n`);
  return c.run(values as ValuesOf<Record<string, Flag>>, positionals, rest);
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
