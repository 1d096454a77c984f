// The fit loop (Keras' fit): epochs, batches, callbacks, validation, checkpoints and resume, the NaN guard and
// the progress bar. Each step is recorded once per batch size by the step plan (src/model/step-plan.ts) and
// replayed; per batch the host writes only the start position, and reads back the statistics only when the
// progress bar, a checkpoint or the epoch end needs them.
import { NumericError, ShaderflowError } from '../errors.js';
import { prepareTuning } from '../kernels/autotune.js';
import { permutation } from '../data/preprocess.js';
import { labelsToClasses, makeBatchSource, type BatchSource, type LabelInput, type XInput } from '../data/batches.js';
import type { Tensor } from '../gpu/tensor.js';
import { callbackList } from './callbacks.js';
import { History, type Callbacks, type Logs } from './history.js';
import { exampleWeights } from './sample-weights.js';
import { checkLearningRate } from './schedules.js';
import { defaultSink, Progbar, type ProgressSink, type Verbosity } from './progress.js';
import { evaluateSource, logValues } from './evaluate.js';
import { identityOrder, StepCache, summarizeStats, type NamedValues, type StatsSummary } from './step-plan.js';
import type { Model } from './model.js';
import type { Engine } from '../gpu/engine.js';
import { checkFingerprints, dataFingerprint, modelFingerprint } from './fingerprint.js';

/** What fit takes (Keras' fit arguments, and shaderflow's checkpointing and NaN guard). */
export interface FitOptions {
  batchSize?: number;
  epochs?: number;
  validationData?: [XInput, LabelInput];
  validationSplit?: number;
  shuffle?: boolean;
  verbose?: Verbosity;
  /** One callback object or a list (the `callbacks` namespace has Keras' built-in ones), called in order. */
  callbacks?: Callbacks | Callbacks[];
  /**
   * Weights per class index ({class: weight}, others 1): each training example's loss and gradient times its
   * class's weight (Keras' class_weight). Validation losses are not weighted.
   */
  classWeight?: Record<number, number>;
  /** One weight per training example (before validationSplit takes its share); not with classWeight. */
  sampleWeight?: Float32Array | readonly number[];
  /** Seeds this fit's shuffling (default: the compile seed). */
  seed?: number;
  /** Where progress goes (default stdout). */
  sink?: ProgressSink;
  /**
   * Check the loss, logits and gradients for NaN/Inf (a GPU flag, read at each readback: progress bar,
   * checkpoint, epoch end) and stop with a NumericError naming epoch and batch (default true).
   */
  nanGuard?: boolean;
  /**
   * Saves a checkpoint at each epoch end (and every `everySteps` batches if set): a folder (in Node, written by
   * src/node.ts fileCheckpointer) or any {save}.
   */
  checkpoint?: string | Checkpointer;
  /** With `checkpoint: DIR`: also save every this many batches (default 0: epoch ends only). */
  checkpointEvery?: number;
  /** Continues from a checkpoint made by a fit with the same data, batch size and seed: the object, or (Node) its folder. */
  resume?: Checkpoint | string;
  /**
   * Survive up to this many lost GPU devices (default 0: a lost device rejects the fit with a DeviceError): a new
   * engine with the same options, the model compiled on it again, the data uploaded again, and training continues
   * from the last checkpoint (bit for bit as if nothing had happened). Checkpoints are kept in memory too, so
   * without `checkpoint` the fit restarts from the last epoch end (or every `checkpointEvery` batches), else from
   * its own start. Afterwards `model.engine` is the new engine. See src/model/recover.ts.
   */
  recoverFromDeviceLoss?: number;
  /** Called after each recovery from a lost device (recoverFromDeviceLoss), before training continues. */
  onDeviceLost?: (info: DeviceLossInfo) => void | Promise<void>;
}

/** What fit reports after it recovered from a lost device (FitOptions.onDeviceLost). */
export interface DeviceLossInfo {
  /** This recovery (1-based) and the most allowed (recoverFromDeviceLoss). */
  attempt: number;
  attempts: number;
  /** Why the device was lost, as WebGPU said it. */
  reason: string;
  /** Where training continues: the checkpoint's epoch and batch (0-based), or null for the fit's own start. */
  resumeAt: { epoch: number; batch: number } | null;
  /** The new engine (now `model.engine`); the old one is disposed. */
  engine: Engine;
}

/** Where fit saves checkpoints. */
export interface Checkpointer {
  /** Stores the checkpoint (atomically: a crash must leave the previous one intact). */
  save(c: Checkpoint): Promise<void>;
  /** Also save every this many batches within an epoch (default: epoch ends only). */
  everySteps?: number;
}

/** How fit opens a checkpoint folder given as a string; the Node entry (src/node.ts) fills this in. */
export const checkpointFolders: {
  open?: (dir: string, model: Model, o: { everySteps?: number }) => Checkpointer;
  read?: (dir: string) => Promise<Checkpoint | undefined>;
} = {};

/** Everything a fit needs to continue exactly where it stopped. */
export interface Checkpoint {
  /** The epoch to run next (0-based) and the batch within it to start at. */
  epoch: number;
  batch: number;
  batchSize: number;
  trainCount: number;
  seed: number;
  /** The epoch's running [lossSum, correct, count, nonFinite], then the counted metrics' [num, den] pairs. */
  stats: number[];
  weights: NamedValues[];
  optimizer: { step: number; tensors: Float32Array[] };
  history: { epoch: number[]; history: Record<string, number[]> };
  /** The model's and the training data's fingerprints (src/model/fingerprint.ts): resuming another model or other data is refused. */
  model?: string;
  data?: string;
}

/** fit's `checkpoint` and `resume` options as objects: a folder (Node) opened as a Checkpointer, read as a Checkpoint. */
export async function openCheckpoints(model: Model, opts: FitOptions): Promise<{ checkpointer?: Checkpointer; resume?: Checkpoint }> {
  const folders = (what: string): Required<typeof checkpointFolders> => {
    if (!checkpointFolders.open || !checkpointFolders.read)
      throw new ShaderflowError(`fit: ${what} names a folder, which needs the Node entry point; elsewhere pass {save(checkpoint)} / the Checkpoint object.`);
    return checkpointFolders as Required<typeof checkpointFolders>;
  };
  const checkpointer = typeof opts.checkpoint === 'string' ? folders('checkpoint').open(opts.checkpoint, model, { everySteps: opts.checkpointEvery }) : opts.checkpoint;
  if (typeof opts.resume !== 'string') return { checkpointer, resume: opts.resume };
  const resume = await folders('resume').read(opts.resume);
  if (!resume) throw new ShaderflowError(`fit: resume: there is no checkpoint in ${opts.resume} (checkpoint.json is missing).`);
  return { checkpointer, resume };
}

/** Trains `model` on (x, y) (Model.fit): the epoch and batch loop over the step plan's recorded training steps. */
export async function fit(model: Model, x: XInput, y: LabelInput, opts: FitOptions = {}): Promise<History> {
  const plan = model.requirePlan('fit');
const engine = plan.engine;
await model.layersReady(engine);
  const batchSize = opts.batchSize ?? 32;
  const epochs = opts.epochs ?? 1;
  const verbose: Verbosity = opts.verbose ?? 1;
  const sink = opts.sink ?? defaultSink();
  const shuffle = opts.shuffle ?? true;
  const cbs = callbackList(opts.callbacks);
  // callbacks.terminateOnNaN(): the guard on, stopping gracefully ('stop') or throwing ('raise')
  const nanMode = cbs.find((c) => c.nanGuard)?.nanGuard;
  const nanGuard = nanMode !== undefined || (opts.nanGuard ?? true);
  const seed = opts.seed ?? model.seed;
  const lr = plan.learningRate!;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ShaderflowError(`fit: batchSize must be a positive whole number, got ${batchSize}.`);
  const { checkpointer, resume } = await openCheckpoints(model, opts);
  const fingerprints = checkpointer || resume ? { model: modelFingerprint(model), data: dataFingerprint(x, y) } : {};
  if (resume) checkFingerprints(typeof opts.resume === 'string' ? opts.resume : 'fit: resume', resume, fingerprints);

  let train = makeBatchSource(engine, x, y, model.inputShape, model.numClasses, 'training data');
  let val: BatchSource | undefined;
  const owned: BatchSource[] = [train];
  // classWeight / sampleWeight: one weight per example of the whole training data, indexed as the order is
  let exampleW: Tensor | undefined;
  try {
    const labels = y ?? (!(x instanceof Float32Array) && 'labels' in x ? (x.labels as LabelInput) : undefined);
    const classOf = opts.classWeight ? labelsToClasses(labels, train.count, model.numClasses, 'training data') : [];
    const w = exampleWeights({ classWeight: opts.classWeight, sampleWeight: opts.sampleWeight }, classOf, train.count, model.numClasses);
    if (w) exampleW = engine.tensor([train.count], w);
  } catch (e) {
    train.dispose();
    throw e;
  }
  if (opts.validationData) {
    try {
      val = makeBatchSource(engine, opts.validationData[0], opts.validationData[1], model.inputShape, model.numClasses, 'validation data');
    } catch (e) {
      train.dispose();
      throw e;
    }
    owned.push(val);
  } else if (opts.validationSplit && opts.validationSplit > 0) {
    // Keras takes the last fraction of the data, before any shuffling, splitting at floor(n * (1 - split)).
    const splitAt = Math.floor(train.count * (1 - opts.validationSplit));
    if (splitAt < 1 || splitAt >= train.count) {
      train.dispose();
      throw new ShaderflowError(`fit: validationSplit ${opts.validationSplit} leaves no training or validation examples.`);
    }
    val = train.slice(splitAt, train.count);
    train = train.slice(0, splitAt);
  }
  if (resume && (resume.batchSize !== batchSize || resume.trainCount !== train.count || resume.seed !== seed)) {
    for (const s of owned) s.dispose();
    throw new ShaderflowError(
      `fit: the checkpoint was made with batch size ${resume.batchSize}, seed ${resume.seed} on ${resume.trainCount} examples; this fit has ${batchSize}, seed ${seed} on ${train.count}. Resume with the same data and settings.`,
    );
  }
  const trainOrder = engine.empty([train.count], 'u32');
  const valOrder = val ? engine.tensor([val.count], identityOrder(val)) : undefined;
  const stepsPerEpoch = Math.ceil(train.count / batchSize);
  try {
    // One allocation for both training and validation batches: the recorded steps bind these buffers.
    plan.prepare(Math.min(batchSize, Math.max(train.count, val?.count ?? 0, 1)));
    if (resume) {
      model.setWeights(resume.weights);
      model.setOptimizerState(resume.optimizer);
    }
    // Before anything is recorded: the callbacks see the model and what this fit logs (and may refuse: a monitor
    // never logged), and every rate the fit will use is checked.
    const logNames = ['loss', ...model.metrics, 'lr'];
    const metrics = [...logNames, ...(val ? logNames.filter((k) => k !== 'lr').map((k) => `val_${k}`) : [])];
    for (const c of cbs) c.setModel?.(model);
    for (const c of cbs) c.setParams?.({ epochs, steps: stepsPerEpoch, batchSize, metrics });
    const done = resume ? resume.epoch * stepsPerEpoch + resume.batch : 0;
    checkLearningRate(lr.schedule ?? lr.value, lr.iterations, Math.max(0, epochs * stepsPerEpoch - done));
  } catch (e) {
    trainOrder.dispose();
    valOrder?.dispose();
    exampleW?.dispose();
    for (const s of owned) s.dispose();
    throw e;
  }
  // Kernel variants are timed per shape before the first step is recorded (cached per adapter; a no-op when the
  // autotune is off or every choice is cached).
  const firstN = Math.min(batchSize, train.count);
  await prepareTuning(engine, () => plan.recordTrainStep(train, trainOrder, firstN, nanGuard, true, exampleW));
  await plan.compileSteps(() => plan.recordTrainStep(train, trainOrder, firstN, nanGuard, true, exampleW), () => plan.recordTrainStep(train, trainOrder, train.count % batchSize || firstN, nanGuard, true, exampleW));
  const steps = new StepCache((n) => plan.recordTrainStep(train, trainOrder, n, nanGuard, false, exampleW));
  const history = new History();
  let firstEpoch = 0;
  let firstBatch = 0;
  if (resume) {
    for (const [k, v] of Object.entries(resume.history.history)) history.history[k] = [...v];
    history.epoch.push(...resume.history.epoch);
    firstEpoch = resume.epoch;
    firstBatch = resume.batch;
  }
  /**
   * Reads the epoch's stats and the step state together (both copies are submitted at once, after the same
   * steps) and, with the NaN guard on, throws a NumericError naming the epoch and the first batch (1-based)
   * whose loss/logits (the loss kernel's flag) or gradients (flagNonFinite's step) were not finite.
   */
  let nanStopped = false; // terminateOnNaN() stopped training gracefully
  const readGuarded = async (epoch: number, batchesDone: number): Promise<{ stats: number[]; s: StatsSummary }> => {
    const [stats, state, counts] = await Promise.all([plan.trainStats.data(), plan.stepState.data<Uint32Array>(), plan.countsOf(plan.trainStats)?.data<Uint32Array>() ?? null]);
    const s = { ...summarizeStats(stats), counts };
    const [t, badStep] = [state[0]!, state[1]!];
    if (nanGuard && (s.nonFinite || badStep > 0)) {
      const lossBatch = s.countBeforeBad >= 0 ? Math.floor(s.countBeforeBad / batchSize) + 1 : Infinity;
      const gradBatch = badStep > 0 ? badStep - (t - batchesDone) : Infinity;
      const first = Math.min(lossBatch, gradBatch);
      const what = lossBatch === gradBatch ? 'loss and gradients' : first === gradBatch ? 'gradients' : 'loss';
      const where = Number.isFinite(first) && first >= 1 ? `at batch ${first}/${stepsPerEpoch}` : `by batch ${batchesDone}/${stepsPerEpoch}`;
      if (nanMode === 'stop') {
        // Keras' TerminateOnNaN: stop after this batch; the epoch is logged and the callbacks end normally
        if (!nanStopped && verbose > 0) sink.write(`\nEpoch ${epoch + 1}, batch ${Number.isFinite(first) ? first : batchesDone}: invalid ${what}, terminating training\n`);
        nanStopped = true;
        model.stopTraining = true;
        return { stats: Array.from(stats), s };
      }
      throw new NumericError(
        `fit: the ${what} became NaN or infinite in epoch ${epoch + 1}/${epochs} ${where}. Training stopped${checkpointer ? '; the last good checkpoint is kept' : ''}. Lower the learning rate, check the inputs for NaN/Inf, or pass nanGuard: false to train on regardless.`,
      );
    }
    // a checkpoint keeps the metric counts after the four loss statistics (u32 counts are exact as JSON numbers)
    return { stats: [...stats, ...(counts ?? [])], s };
  };
  const saveCheckpoint = async (epoch: number, batch: number): Promise<void> => {
    if (!checkpointer) return;
    await engine.sync(`checkpoint (epoch ${epoch + 1}, batch ${batch})`);
    // Never overwrite a good checkpoint with non-finite weights (batch 0 here is the end of the previous epoch).
    const { stats } = await readGuarded(batch === 0 ? epoch - 1 : epoch, batch === 0 ? stepsPerEpoch : batch);
    if (nanStopped) return;
    await checkpointer.save({
      epoch,
      batch,
      batchSize,
      trainCount: train.count,
      seed,
      stats,
      weights: await model.getWeights(),
      optimizer: await model.getOptimizerState(),
      history: history.toJSON(),
      ...fingerprints,
    });
  };
  model.stopTraining = false;
  engine.device.queue.writeBuffer(plan.stepState.buffer, 4, new Uint32Array([0])); // the gradient flag: clear
  if (verbose > 0) sink.write(`Train on ${train.count} samples${val ? `, validate on ${val.count} samples` : ''}\n`);
  try {
    for (const c of cbs) await c.onTrainBegin?.();
    for (let epoch = firstEpoch; epoch < epochs && !model.stopTraining; epoch++) {
      for (const c of cbs) await c.onEpochBegin?.(epoch);
      if (verbose > 0) sink.write(`Epoch ${epoch + 1}/${epochs}\n`);
      // Each epoch's order depends only on (seed, epoch), so a resumed run shuffles exactly as the original.
      trainOrder.write(shuffle ? permutation(train.count, (seed * 2654435761 + epoch * 40503 + 0x5eed) >>> 0, train.base) : identityOrder(train));
      const resumeHere = resume && epoch === firstEpoch && firstBatch > 0;
      plan.clearStats(plan.trainStats);
      if (resumeHere) {
        plan.trainStats.write(Float32Array.from(resume.stats.slice(0, 4)));
        if (resume.stats.length === 4 + 2 * plan.counted.length) plan.countsOf(plan.trainStats)?.write(Uint32Array.from(resume.stats.slice(4)));
      }
      const bar = new Progbar(train.count, verbose, sink);
      const inFlight: Promise<unknown>[] = [];
      let shown: Record<string, number> = {};
      let reading: Promise<void> | null = null;
      let readError: unknown = null;
      let lastRead = 0;
      let batchesDone = resumeHere ? firstBatch : 0; // fewer than stepsPerEpoch when a callback stops training
      let epochLr = lr.value; // the rate the epoch's last step used (History's lr)
      for (let batch = batchesDone; batch < stepsPerEpoch && !model.stopTraining; batch++) {
        const start = batch * batchSize;
        const n = Math.min(batchSize, train.count - start);
        engine.assertAlive(`fit (epoch ${epoch + 1}, batch ${batch + 1})`);
        plan.writeStart(start);
        // a rate changed since the last step (schedule, callback, optimizer.learningRate): one 4-byte write
        epochLr = lr.beforeStep();
        steps.get(n).run();
        lr.afterStep();
        batchesDone = batch + 1;
        // Keep at most two steps queued: the GPU never idles, the host never races ahead unboundedly.
        const done = engine.device.queue.onSubmittedWorkDone();
        done.catch(() => {}); // awaited below; never an unhandled rejection if the device is lost meanwhile
        inFlight.push(done);
        if (inFlight.length > 2) await inFlight.shift();
        for (const c of cbs) await c.onBatchEnd?.(batch);
        if (verbose === 1 && sink.isTTY && !reading && Date.now() - lastRead > 250) {
          lastRead = Date.now();
          const b = batch + 1;
          reading = readGuarded(epoch, b).then(
            ({ s }) => {
              shown = logValues(model.metricSet, s, '');
              reading = null;
            },
            (e: unknown) => {
              readError = e;
              reading = null;
            },
          );
        }
        if (readError) throw readError;
        bar.update(start + n, shown);
        const every = checkpointer?.everySteps ?? 0;
        if (every > 0 && (batch + 1) % every === 0 && batch + 1 < stepsPerEpoch) {
          await Promise.all(inFlight.splice(0));
          await saveCheckpoint(epoch, batch + 1);
        }
      }
      await Promise.all(inFlight);
      if (reading) await reading;
      if (readError) throw readError;
      const { s: tr } = await readGuarded(epoch, batchesDone);
      const logs: Logs = { ...logValues(model.metricSet, tr, ''), lr: epochLr };
      if (val && valOrder) Object.assign(logs, logValues(model.metricSet, await evaluateSource(plan, val, valOrder, batchSize), 'val_'));
      const { lr: _lr, ...shownLogs } = logs; // the bar shows the metrics, as before; the rate is in the History
      bar.finish(shownLogs);
      history.record(epoch, logs);
      if (!model.stopTraining) await saveCheckpoint(epoch + 1, 0);
      for (const c of cbs) await c.onEpochEnd?.(epoch, logs);
    }
    for (const c of cbs) await c.onTrainEnd?.();
  } finally {
    steps.dispose();
    trainOrder.dispose();
    valOrder?.dispose();
    exampleW?.dispose();
    for (const s of owned) s.dispose();
  }
  return history;
}
