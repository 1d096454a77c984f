// Keras' training callbacks with TF.js' camelCase names (exported as `callbacks`): earlyStopping, modelCheckpoint,
// reduceLROnPlateau, learningRateScheduler, csvLogger and terminateOnNaN. Semantics follow Keras 3
// (keras/src/callbacks/*.py): the same improvement tests (min_delta's sign, mode 'auto', baseline), the same
// counters and the same order of updates, so a run makes the same decisions at the same epochs. Where Keras warns
// about a monitor that is missing from the logs, these throw before training starts (setParams).
import { ShaderflowError } from '../errors.js';
import type { CallbackModel, Callbacks, Logs, NamedWeights, TrainingParams } from './history.js';
import { toArtifacts, type ModelArtifacts } from './io.js';
import type { Model } from './model.js';

/** Which way a monitored quantity improves: 'min', 'max', or 'auto' (from its name). */
export type MonitorMode = 'auto' | 'min' | 'max';

// Metric names (without val_) that improve upwards, as Keras' metrics declare their direction.
const UP = /(^|_)(acc|accuracy|precision|recall|auc|f1_score|fbeta_score)$|accuracy/;
// ... and downwards: losses and error metrics.
const DOWN = /(^|_)loss$|^(mse|mae|mape|msle|mean_squared_error|mean_absolute_error|mean_absolute_percentage_error|mean_squared_logarithmic_error|lr|learning_rate)$/;

function fail(what: string, msg: string): never {
  throw new ShaderflowError(`${what}: ${msg}`);
}

/**
 * Keras' MonitorCallback direction: 'min'/'max' as given; 'auto' by the metric's name without its val_ prefix
 * (losses and errors decrease, accuracies, precision and recall increase); any other name needs a mode.
 */
export function monitorDirection(what: string, monitor: string, mode: MonitorMode): 'min' | 'max' {
  if (mode === 'min' || mode === 'max') return mode;
  if (mode !== 'auto') fail(what, `mode must be 'auto', 'min' or 'max', got ${JSON.stringify(mode)}.`);
  const name = monitor.replace(/^val_/, '');
  if (DOWN.test(name)) return 'min';
  if (UP.test(name)) return 'max';
  return fail(what, `cannot tell whether ${JSON.stringify(monitor)} should be minimized or maximized; pass mode: 'min' or mode: 'max'.`);
}

/** Throws (before training) when `monitor` is not among the names fit will log. */
function requireLogged(what: string, monitor: string, params: TrainingParams): void {
  if (!params.metrics.includes(monitor))
    fail(what, `monitor ${JSON.stringify(monitor)} is never logged by this fit; it logs ${params.metrics.join(', ')}.${monitor.startsWith('val_') ? ' Pass validationData or validationSplit to fit for val_ metrics.' : ''}`);
}

/** Throws when the model's learning rate follows a schedule (not settable, as in Keras) or there is no optimizer. */
function requireSettableRate(what: string, model: CallbackModel): void {
  const o = model.optimizer;
  if (!o) fail(what, 'the model is not compiled.');
  if (o.schedule !== undefined || typeof o.learningRate !== 'number') fail(what, 'the optimizer has a learning-rate schedule, whose rate is not settable; use a number as learningRate.');
}

function nonNegativeInt(what: string, name: string, v: number): void {
  if (!(Number.isInteger(v) && v >= 0)) fail(what, `${name} must be a whole number >= 0, got ${v}.`);
}

/** Base of the callbacks that hold the model (Keras' Callback.set_model). */
abstract class ModelCallback implements Callbacks {
  protected model?: CallbackModel;

  /** Keeps the model fit trains (fit calls this first). */
  setModel(model: CallbackModel): void {
    this.model = model;
  }

  /** The model, or an error naming the callback when it runs outside fit. */
  protected requireModel(what: string): CallbackModel {
    if (!this.model) fail(what, 'used outside fit: no model was set.');
    return this.model;
  }
}

/**
 * Keras' improvement test shared by earlyStopping and modelCheckpoint (MonitorCallback._is_improvement):
 * min: current - minDelta·(-1) < reference, i.e. current + |minDelta| < reference; max: current - |minDelta| > reference.
 */
function isImprovement(direction: 'min' | 'max', minDelta: number, current: number, reference: number | undefined): boolean {
  if (reference === undefined) return true;
  return direction === 'min' ? current + minDelta < reference : current - minDelta > reference;
}

/** earlyStopping's arguments (Keras' EarlyStopping, camelCase). */
export interface EarlyStoppingArgs {
  /** The logged quantity to watch (default 'val_loss'). */
  monitor?: string;
  /** The smallest change that counts as an improvement (its absolute value is used; default 0). */
  minDelta?: number;
  /** Epochs without improvement after which training stops (default 0). */
  patience?: number;
  /** Default 'auto'. */
  mode?: MonitorMode;
  /** A value the monitor must beat: until it does, the patience counter is not reset. */
  baseline?: number;
  /** At the end of training, restore the weights of the best epoch (default false). */
  restoreBestWeights?: boolean;
  /** Epochs to wait before monitoring starts (default 0). */
  startFromEpoch?: number;
  /** Print "Epoch N: early stopping" and the restore (default 0). */
  verbose?: 0 | 1;
  /** Where verbose messages go (default console.log). */
  print?: (line: string) => void;
}

/**
 * Keras 3's EarlyStopping: stop when the monitor has not improved for `patience` epochs. With
 * restoreBestWeights, the best epoch's weights are restored when training ends, whether or not it stopped
 * early (Keras 3 behaviour; Keras 2 restored only on an early stop).
 */
export class EarlyStopping extends ModelCallback {
  readonly monitor: string;
  readonly patience: number;
  readonly minDelta: number;
  readonly mode: MonitorMode;
  readonly baseline?: number;
  readonly restoreBestWeights: boolean;
  readonly startFromEpoch: number;
  /** The epoch (0-based) at which training was stopped, 0 when it was not. */
  stoppedEpoch = 0;
  /** The best monitored value so far, and its epoch (0-based). */
  best?: number;
  bestEpoch = 0;
  /** Epochs since the last improvement. */
  wait = 0;
  private direction?: 'min' | 'max';
  private bestWeights?: NamedWeights;
  private readonly verbose: 0 | 1;
  private readonly print: (line: string) => void;

  constructor(a: EarlyStoppingArgs = {}) {
    super();
    const what = 'earlyStopping';
    this.monitor = a.monitor ?? 'val_loss';
    this.minDelta = Math.abs(a.minDelta ?? 0);
    this.patience = a.patience ?? 0;
    this.mode = a.mode ?? 'auto';
    this.baseline = a.baseline;
    this.restoreBestWeights = a.restoreBestWeights ?? false;
    this.startFromEpoch = a.startFromEpoch ?? 0;
    this.verbose = a.verbose ?? 0;
    this.print = a.print ?? ((l) => console.log(l));
    nonNegativeInt(what, 'patience', this.patience);
    nonNegativeInt(what, 'startFromEpoch', this.startFromEpoch);
    if (!Number.isFinite(this.minDelta)) fail(what, `minDelta must be a finite number, got ${a.minDelta}.`);
    if (this.baseline !== undefined && !Number.isFinite(this.baseline)) fail(what, `baseline must be a finite number, got ${this.baseline}.`);
    if (!['auto', 'min', 'max'].includes(this.mode)) fail(what, `mode must be 'auto', 'min' or 'max', got ${JSON.stringify(this.mode)}.`);
  }

  /** Checks the monitor against the names fit logs, then its direction. */
  setParams(params: TrainingParams): void {
    requireLogged('earlyStopping', this.monitor, params);
    this.direction = monitorDirection('earlyStopping', this.monitor, this.mode);
  }

  /** Resets the counters (an instance may serve several fits). */
  onTrainBegin(): void {
    this.wait = 0;
    this.stoppedEpoch = 0;
    this.best = undefined;
    this.bestEpoch = 0;
    this.bestWeights = undefined;
  }

  /** Keras' on_epoch_end, step for step. */
  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    const model = this.requireModel('earlyStopping');
    const current = logs[this.monitor];
    if (current === undefined || epoch < this.startFromEpoch) return;
    // never-improving runs still restore the first monitored epoch's weights, as Keras does
    if (this.restoreBestWeights && this.bestWeights === undefined) {
      this.bestWeights = await model.getWeights();
      this.bestEpoch = epoch;
    }
    this.wait += 1;
    this.direction ??= monitorDirection('earlyStopping', this.monitor, this.mode);
    if (isImprovement(this.direction, this.minDelta, current, this.best ?? (this.direction === 'min' ? Infinity : -Infinity))) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.restoreBestWeights) this.bestWeights = await model.getWeights();
      // only a value that also beats the baseline restarts the wait
      if (this.baseline === undefined || isImprovement(this.direction!, this.minDelta, current, this.baseline)) this.wait = 0;
      return;
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      model.stopTraining = true;
    }
  }

  /** Restores the best weights (restoreBestWeights). */
  onTrainEnd(): void {
    const model = this.requireModel('earlyStopping');
    if (this.stoppedEpoch > 0 && this.verbose > 0) this.print(`Epoch ${this.stoppedEpoch + 1}: early stopping`);
    if (this.restoreBestWeights && this.bestWeights) {
      if (this.verbose > 0) this.print(`Restoring model weights from the end of the best epoch: ${this.bestEpoch + 1}.`);
      model.setWeights(this.bestWeights);
    }
  }
}

/** Where modelCheckpoint saves when given something other than a folder: a TF.js-style IO handler. */
export interface ModelSaver {
  /** Stores the model (model.json content and weights.bin bytes). */
  save(artifacts: ModelArtifacts): unknown;
}

/** How modelCheckpoint writes a folder; the Node entry (src/node.ts) fills this in with saveModel. */
export const modelFolders: {
  /** Writes `model` into the folder `dir` (without the optimizer state when weightsOnly). */
  save?: (model: Model, dir: string, o: { weightsOnly: boolean }) => Promise<void>;
} = {};

/** modelCheckpoint's arguments (Keras' ModelCheckpoint, camelCase). */
export interface ModelCheckpointArgs {
  /**
   * A folder (Node; model.json + weights.bin as saveModel writes them) or a {save(artifacts)} handler. A folder
   * name may hold Keras' placeholders: {epoch} (1-based), {batch}, any log name, with a format such as
   * {epoch:02d} or {val_loss:.2f}.
   */
  filepath: string | ModelSaver;
  /** Default 'val_loss'. */
  monitor?: string;
  /** Default 'auto'. */
  mode?: MonitorMode;
  /** Save only when the monitor improves on the best value so far (default false). */
  saveBestOnly?: boolean;
  /** Save the weights without the optimizer state and training config (default false). */
  saveWeightsOnly?: boolean;
  /** 'epoch' (default) or a number of batches. */
  saveFreq?: 'epoch' | number;
  /** The value the first save must beat with saveBestOnly (default none). */
  initialValueThreshold?: number;
  /** Print each decision (default 0). */
  verbose?: 0 | 1;
  /** Where verbose messages go (default console.log). */
  print?: (line: string) => void;
}

/** Python's str.format for the placeholders Keras' filepaths use: {name}, {name:02d}, {name:.4f}, {name:e}. */
export function formatFilepath(template: string, values: Record<string, number>): string {
  return template.replace(/\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g, (whole, name: string, spec: string | undefined) => {
    const v = values[name];
    if (v === undefined) fail('modelCheckpoint', `filepath ${JSON.stringify(template)} names {${name}}, which is not logged; available: ${Object.keys(values).join(', ')}.`);
    if (!spec) return String(v);
    const m = /^(0?)(\d*)(?:\.(\d+))?([dfe]?)$/.exec(spec);
    if (!m) fail('modelCheckpoint', `filepath ${JSON.stringify(template)}: unsupported format ${JSON.stringify(whole)} (use d, .Nf or .Ne).`);
    const [, zero, width, prec, type] = m;
    let s = type === 'd' ? String(Math.trunc(v)) : type === 'e' ? v.toExponential(prec ? Number(prec) : 6) : prec || type === 'f' ? v.toFixed(prec ? Number(prec) : 6) : String(v);
    if (width) s = s.padStart(Number(width), zero ? '0' : ' ');
    return s;
  });
}

/**
 * Keras' ModelCheckpoint: saves the model at each epoch end (or every `saveFreq` batches), with saveBestOnly only
 * when the monitor improves. A folder needs the Node entry; in a browser pass any {save(artifacts)} handler.
 */
export class ModelCheckpoint extends ModelCallback {
  readonly filepath: string | ModelSaver;
  readonly monitor: string;
  readonly saveBestOnly: boolean;
  readonly saveWeightsOnly: boolean;
  readonly saveFreq: 'epoch' | number;
  /** The best monitored value so far (saveBestOnly). */
  best?: number;
  /** Where each save went (the formatted folder names, or 'handler'), in order. */
  readonly saved: string[] = [];
  readonly mode: MonitorMode;
  private direction?: 'min' | 'max';
  private readonly initial?: number;
  private epoch = 0;
  private batchesSinceSave = 0;
  private readonly verbose: 0 | 1;
  private readonly print: (line: string) => void;

  constructor(a: ModelCheckpointArgs) {
    super();
    const what = 'modelCheckpoint';
    if (!a || (typeof a.filepath !== 'string' && typeof a.filepath?.save !== 'function')) fail(what, 'filepath must be a folder name or an object with save(artifacts).');
    if (typeof a.filepath === 'string' && a.filepath.length === 0) fail(what, 'filepath is empty.');
    this.filepath = a.filepath;
    this.monitor = a.monitor ?? 'val_loss';
    this.saveBestOnly = a.saveBestOnly ?? false;
    this.saveWeightsOnly = a.saveWeightsOnly ?? false;
    this.saveFreq = a.saveFreq ?? 'epoch';
    this.initial = a.initialValueThreshold;
    this.verbose = a.verbose ?? 0;
    this.print = a.print ?? ((l) => console.log(l));
    if (this.saveFreq !== 'epoch' && !(Number.isInteger(this.saveFreq) && this.saveFreq >= 1)) fail(what, `saveFreq must be 'epoch' or a whole number of batches >= 1, got ${JSON.stringify(this.saveFreq)}.`);
    this.mode = a.mode ?? 'auto';
    if (!['auto', 'min', 'max'].includes(this.mode)) fail(what, `mode must be 'auto', 'min' or 'max', got ${JSON.stringify(this.mode)}.`);
  }

  /** Checks the monitor (saveBestOnly) and that a folder can be written here. */
  setParams(params: TrainingParams): void {
    const what = 'modelCheckpoint';
    if (this.saveBestOnly) {
      requireLogged(what, this.monitor, params);
      this.direction = monitorDirection(what, this.monitor, this.mode);
      // fit reads no logs back per batch, so a batch-level save has nothing to compare
      if (this.saveFreq !== 'epoch') fail(what, `saveBestOnly compares the monitor, which fit logs at epoch ends only; use saveFreq: 'epoch' (got ${this.saveFreq}).`);
    }
    if (typeof this.filepath === 'string' && !modelFolders.save) fail(what, `filepath ${JSON.stringify(this.filepath)} is a folder, which needs the Node entry point; in a browser pass an object with save(artifacts).`);
  }

  /** Resets the best value (an instance may serve several fits). */
  onTrainBegin(): void {
    this.best = this.initial;
    this.batchesSinceSave = 0;
  }

  /** Remembers the epoch for batch-level saves. */
  onEpochBegin(epoch: number): void {
    this.epoch = epoch;
  }

  /** Saves every saveFreq batches (saveFreq a number). */
  async onBatchEnd(batch: number): Promise<void> {
    if (this.saveFreq === 'epoch') return;
    if (++this.batchesSinceSave < this.saveFreq) return;
    this.batchesSinceSave = 0;
    await this.write({ epoch: this.epoch + 1, batch: batch + 1 });
  }

  /** Saves at the epoch end (saveFreq 'epoch'), with saveBestOnly only on an improvement. */
  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    if (this.saveFreq !== 'epoch') return;
    if (this.saveBestOnly) {
      const current = logs[this.monitor];
      if (current === undefined || Number.isNaN(current)) return;
      this.direction ??= monitorDirection('modelCheckpoint', this.monitor, this.mode);
      if (!isImprovement(this.direction, 0, current, this.best)) {
        if (this.verbose) this.print(`Epoch ${epoch + 1}: ${this.monitor} did not improve from ${this.best?.toFixed(5)}`);
        return;
      }
      if (this.verbose) this.print(`Epoch ${epoch + 1}: ${this.monitor} improved from ${this.best === undefined ? 'None' : this.best.toFixed(5)} to ${current.toFixed(5)}, saving model`);
      this.best = current;
    }
    await this.write({ ...logs, epoch: epoch + 1 });
  }

  private async write(values: Record<string, number>): Promise<void> {
    const model = this.requireModel('modelCheckpoint') as unknown as Model;
    if (typeof this.filepath === 'string') {
      const dir = formatFilepath(this.filepath, values);
      await modelFolders.save!(model, dir, { weightsOnly: this.saveWeightsOnly });
      this.saved.push(dir);
    } else {
      const artifacts = await toArtifacts(model);
      if (this.saveWeightsOnly) delete artifacts.modelJson.trainingConfig;
      await this.filepath.save(artifacts);
      this.saved.push('handler');
    }
    if (this.verbose) this.print(`Epoch ${values.epoch}: saved model${typeof this.filepath === 'string' ? ` to ${this.saved[this.saved.length - 1]}` : ''}`);
  }
}

/** reduceLROnPlateau's arguments (Keras' ReduceLROnPlateau, camelCase). */
export interface ReduceLROnPlateauArgs {
  /** Default 'val_loss'. */
  monitor?: string;
  /** new rate = rate · factor, in (0, 1) (default 0.1). */
  factor?: number;
  /** Epochs without improvement before a reduction (default 10). */
  patience?: number;
  /** Default 'auto': max when the monitor's name contains "acc", else min (Keras' rule for this callback). */
  mode?: MonitorMode;
  /** Threshold of a significant improvement (default 1e-4). */
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again (default 0). */
  cooldown?: number;
  /** Lower bound on the rate (default 0). */
  minLr?: number;
  /** Print each reduction (default 0). */
  verbose?: 0 | 1;
  /** Where verbose messages go (default console.log). */
  print?: (line: string) => void;
}

/**
 * Keras' ReduceLROnPlateau: multiplies the learning rate by `factor` (not below minLr) when the monitor has not
 * improved by minDelta for `patience` epochs, then waits `cooldown` epochs. The new rate reaches the GPU through
 * model.optimizer.learningRate before the next epoch's first step.
 */
export class ReduceLROnPlateau extends ModelCallback {
  readonly monitor: string;
  readonly factor: number;
  readonly patience: number;
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLr: number;
  /** The best monitored value so far. */
  best = Infinity;
  /** Epochs since the last improvement, and epochs of cooldown left. */
  wait = 0;
  cooldownCounter = 0;
  private readonly direction: 'min' | 'max';
  private readonly verbose: 0 | 1;
  private readonly print: (line: string) => void;

  constructor(a: ReduceLROnPlateauArgs = {}) {
    super();
    const what = 'reduceLROnPlateau';
    this.monitor = a.monitor ?? 'val_loss';
    this.factor = a.factor ?? 0.1;
    this.patience = a.patience ?? 10;
    this.minDelta = a.minDelta ?? 1e-4;
    this.cooldown = a.cooldown ?? 0;
    this.minLr = a.minLr ?? 0;
    this.verbose = a.verbose ?? 0;
    this.print = a.print ?? ((l) => console.log(l));
    if (!(this.factor > 0 && this.factor < 1)) fail(what, `factor must be in (0, 1), got ${this.factor} (Keras does not support a factor >= 1).`);
    nonNegativeInt(what, 'patience', this.patience);
    nonNegativeInt(what, 'cooldown', this.cooldown);
    if (!(Number.isFinite(this.minLr) && this.minLr >= 0)) fail(what, `minLr must be a finite number >= 0, got ${this.minLr}.`);
    if (!Number.isFinite(this.minDelta)) fail(what, `minDelta must be a finite number, got ${this.minDelta}.`);
    const mode = a.mode ?? 'auto';
    if (!['auto', 'min', 'max'].includes(mode)) fail(what, `mode must be 'auto', 'min' or 'max', got ${JSON.stringify(mode)}.`);
    this.direction = mode === 'min' || (mode === 'auto' && !this.monitor.includes('acc')) ? 'min' : 'max';
    this.reset();
  }

  private reset(): void {
    this.best = this.direction === 'min' ? Infinity : -Infinity;
    this.cooldownCounter = 0;
    this.wait = 0;
  }

  /** Checks the monitor against the names fit logs. */
  setParams(params: TrainingParams): void {
    requireLogged('reduceLROnPlateau', this.monitor, params);
  }

  /** Resets the counters. */
  onTrainBegin(): void {
    requireSettableRate('reduceLROnPlateau', this.requireModel('reduceLROnPlateau'));
    this.reset();
  }

  private inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  /** Keras' on_epoch_end, step for step. */
  onEpochEnd(epoch: number, logs: Logs): void {
    const model = this.requireModel('reduceLROnPlateau');
    const current = logs[this.monitor];
    if (current === undefined) return;
    if (this.inCooldown()) {
      this.cooldownCounter -= 1;
      this.wait = 0;
    }
    const improved = this.direction === 'min' ? current < this.best - this.minDelta : current > this.best + this.minDelta;
    if (improved) {
      this.best = current;
      this.wait = 0;
    } else if (!this.inCooldown()) {
      this.wait += 1;
      if (this.wait >= this.patience) {
        const optimizer = model.optimizer as { learningRate: number };
        const oldLr = optimizer.learningRate;
        if (oldLr > Math.fround(this.minLr)) {
          const newLr = Math.max(oldLr * this.factor, this.minLr);
          optimizer.learningRate = newLr;
          if (this.verbose) this.print(`Epoch ${epoch + 1}: ReduceLROnPlateau reducing learning rate to ${newLr}.`);
          this.cooldownCounter = this.cooldown;
          this.wait = 0;
        }
      }
    }
  }
}

/**
 * Keras' LearningRateScheduler: at each epoch's start, sets the learning rate to schedule(epoch, current rate)
 * (epoch 0-based). A result that is not a finite number > 0 stops fit with an error naming the epoch.
 */
export class LearningRateScheduler extends ModelCallback {
  constructor(
    /** (epoch 0-based, current rate) => the epoch's rate. */
    readonly schedule: (epoch: number, lr: number) => number,
    private readonly verbose: 0 | 1 = 0,
    private readonly print: (line: string) => void = (l) => console.log(l),
  ) {
    super();
    if (typeof schedule !== 'function') fail('learningRateScheduler', 'schedule must be a function (epoch, lr) => new lr.');
  }

  /** Fails before training when the optimizer's rate is a schedule (not settable). */
  onTrainBegin(): void {
    requireSettableRate('learningRateScheduler', this.requireModel('learningRateScheduler'));
  }

  /** Sets the epoch's rate. */
  onEpochBegin(epoch: number): void {
    const optimizer = this.requireModel('learningRateScheduler').optimizer as { learningRate: number };
    const lr = this.schedule(epoch, optimizer.learningRate);
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr <= 0) fail('learningRateScheduler', `the schedule returned ${lr} for epoch ${epoch}; it must return a finite number > 0.`);
    optimizer.learningRate = lr;
    if (this.verbose) this.print(`Epoch ${epoch + 1}: LearningRateScheduler setting learning rate to ${lr}.`);
  }
}

/** Where csvLogger writes in a browser (or anywhere): text appended in order. */
export interface CsvSink {
  /** Appends `text` (whole lines, each ending in a newline). */
  write(text: string): void | Promise<void>;
}

/** A file csvLogger writes to; the Node entry (src/node.ts) fills in `open`. */
export interface CsvFile extends CsvSink {
  /** Closes the file. */
  close(): Promise<void>;
}

/** How csvLogger opens a file path: `append` keeps what is there; `hasContent` tells whether it was non-empty. */
export const csvFiles: {
  /** Opens (creating its folder) or truncates the file at `path`. */
  open?: (path: string, append: boolean) => Promise<CsvFile & { hasContent: boolean }>;
} = {};

/** csvLogger's options (Keras' CSVLogger). */
export interface CsvLoggerOptions {
  /** Append to an existing file, writing the header only if it is empty (default false: overwrite). */
  append?: boolean;
  /** Field separator (default ','). */
  separator?: string;
}

/** A CSV field as Python's csv module writes it: quoted when it holds the separator, a quote or a line break. */
function csvField(v: string, sep: string): string {
  return v.includes(sep) || /["\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * Keras' CSVLogger: one row per epoch, "epoch" (0-based) then the log names in sorted order (header from the
 * first epoch's logs, 'NA' for a name a later epoch lacks). A path needs the Node entry; elsewhere pass a CsvSink.
 */
export class CsvLogger implements Callbacks {
  private file?: CsvSink & { close?: () => Promise<void> };
  private keys?: string[];
  private writeHeader = true;
  private expected: string[] = [];

  constructor(
    readonly target: string | CsvSink,
    readonly options: CsvLoggerOptions = {},
  ) {
    if (typeof target !== 'string' && typeof target?.write !== 'function') fail('csvLogger', 'target must be a file path or an object with write(text).');
    if (typeof target === 'string' && target.length === 0) fail('csvLogger', 'the file path is empty.');
  }

  /** Checks that a path can be written here; notes the val_ names to expect (Keras adds them to the header). */
  setParams(params: TrainingParams): void {
    if (typeof this.target === 'string' && !csvFiles.open) fail('csvLogger', `${JSON.stringify(this.target)} is a file path, which needs the Node entry point; in a browser pass an object with write(text).`);
    this.expected = params.metrics.filter((m) => m.startsWith('val_'));
  }

  /** Opens the file (truncating it unless append). */
  async onTrainBegin(): Promise<void> {
    this.keys = undefined;
    if (typeof this.target === 'string') {
      const f = await csvFiles.open!(this.target, this.options.append ?? false);
      this.writeHeader = !f.hasContent;
      this.file = f;
    } else {
      this.file = this.target;
      this.writeHeader = true;
    }
  }

  /** Writes the epoch's row (and the header before the first). */
  async onEpochEnd(epoch: number, logs: Logs): Promise<void> {
    const sep = this.options.separator ?? ',';
    if (!this.keys) {
      this.keys = Object.keys(logs).sort();
      for (const m of this.expected) if (!this.keys.includes(m)) this.keys.push(m);
    }
    let text = '';
    if (this.writeHeader) {
      text += ['epoch', ...this.keys].map((k) => csvField(k, sep)).join(sep) + '\n';
      this.writeHeader = false;
    }
    text += [String(epoch), ...this.keys.map((k) => (logs[k] === undefined ? 'NA' : String(logs[k])))].map((v) => csvField(v, sep)).join(sep) + '\n';
    await this.file!.write(text);
  }

  /** Closes the file. */
  async onTrainEnd(): Promise<void> {
    await this.file?.close?.();
    this.file = undefined;
  }
}

/**
 * Keras' TerminateOnNaN as the NaN guard fit already has: with it, fit checks the loss, logits and gradients
 * for NaN/Inf (a GPU flag read at each readback) and stops training gracefully (raiseError false, the Keras
 * default: the epoch is logged, onTrainEnd runs, fit returns) or throws its NumericError (raiseError true).
 * The guard reads its flag at readbacks, so it stops at the next one, not always at the bad batch itself.
 */
export class TerminateOnNaN implements Callbacks {
  readonly nanGuard: 'stop' | 'raise';
  constructor(o: { raiseError?: boolean } = {}) {
    this.nanGuard = o.raiseError ? 'raise' : 'stop';
  }
}

/** Keras' EarlyStopping (see EarlyStopping). */
export function earlyStopping(args: EarlyStoppingArgs = {}): EarlyStopping {
  return new EarlyStopping(args);
}

/** Keras' ModelCheckpoint (see ModelCheckpoint). */
export function modelCheckpoint(args: ModelCheckpointArgs): ModelCheckpoint {
  return new ModelCheckpoint(args);
}

/** Keras' ReduceLROnPlateau (see ReduceLROnPlateau). */
export function reduceLROnPlateau(args: ReduceLROnPlateauArgs = {}): ReduceLROnPlateau {
  return new ReduceLROnPlateau(args);
}

/** Keras' LearningRateScheduler: fn(epoch, lr) gives each epoch's rate (see LearningRateScheduler). */
export function learningRateScheduler(fn: (epoch: number, lr: number) => number, o: { verbose?: 0 | 1; print?: (line: string) => void } = {}): LearningRateScheduler {
  return new LearningRateScheduler(fn, o.verbose ?? 0, o.print);
}

/** Keras' CSVLogger: a file path (Node) or a CsvSink (see CsvLogger). */
export function csvLogger(target: string | CsvSink, options: CsvLoggerOptions = {}): CsvLogger {
  return new CsvLogger(target, options);
}

/** Keras' TerminateOnNaN: fit's NaN guard, stopping gracefully unless raiseError (see TerminateOnNaN). */
export function terminateOnNaN(o: { raiseError?: boolean } = {}): TerminateOnNaN {
  return new TerminateOnNaN(o);
}

/** fit's `callbacks` option as one list: a single object or an array (TF.js accepts both). */
export function callbackList(c: Callbacks | Callbacks[] | undefined): Callbacks[] {
  return c === undefined ? [] : Array.isArray(c) ? [...c] : [c];
}
