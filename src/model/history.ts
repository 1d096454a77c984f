// What fit returns (Keras' History) and the callbacks it calls.

/** Metric values by name: loss, accuracy, val_loss, val_accuracy. */
export type Logs = Record<string, number>;

/** The weights as getWeights gives them and setWeights takes them. */
export type NamedWeights = { name: string; shape: number[]; values: Float32Array }[];

/**
 * What a callback sees of the model it trains (Keras' `callback.model`): the flag that stops fit after the current
 * batch, the optimizer's learning rate (read and set between batches), and the weights.
 */
export interface CallbackModel {
  /** Set true to stop fit after the current batch (Keras' model.stop_training). */
  stopTraining: boolean;
  /**
   * The compiled optimizer: `learningRate` reads the rate the next step uses and sets it; `schedule` is set when
   * the rate follows a schedule (then it is not settable).
   */
  readonly optimizer?: { learningRate: unknown; readonly schedule?: unknown };
  /** The weights (a readback of the whole parameter arena). */
  getWeights(): Promise<NamedWeights>;
  /** Writes the weights (as getWeights gave them). */
  setWeights(weights: NamedWeights): void;
}

/** What fit tells each callback before training (Keras' `callback.params`, and the log names fit will write). */
export interface TrainingParams {
  epochs: number;
  /** Batches per epoch. */
  steps: number;
  batchSize: number;
  /** Every key the epoch logs will hold (loss, the compiled metrics, lr, and their val_ forms when validating). */
  metrics: string[];
}

/** Functions fit calls as training goes (Keras' callbacks); each may return a promise, which fit awaits. */
export interface Callbacks {
  /** Before anything else: the model being trained (Keras' set_model). */
  setModel?: (model: CallbackModel) => void;
  /**
   * Before training starts (before any step is recorded): the fit's epochs, batches and log names. A callback
   * throws here when it cannot work with them (e.g. a monitor fit never logs).
   */
  setParams?: (params: TrainingParams) => void;
  /** Before the first epoch. */
  onTrainBegin?: () => void | Promise<void>;
  /** After the last epoch (or the one where stopTraining was set). */
  onTrainEnd?: () => void | Promise<void>;
  /** Before each epoch (0-based). */
  onEpochBegin?: (epoch: number) => void | Promise<void>;
  /** logs: loss, accuracy, val_loss, val_accuracy (those that apply). */
  onEpochEnd?: (epoch: number, logs: Logs) => void | Promise<void>;
  /** Called after each batch is submitted; no readback is made for it. */
  onBatchEnd?: (batch: number) => void | Promise<void>;
  /**
   * Marks the TerminateOnNaN callback (`callbacks.terminateOnNaN()`): fit keeps its NaN guard on and, on a
   * non-finite loss or gradient, stops gracefully ('stop') or throws its NumericError ('raise').
   */
  readonly nanGuard?: 'stop' | 'raise';
}

/** What fit returns (Keras' History): the metrics of every epoch. */
export class History {
  /** The epochs recorded, 0-based. */
  readonly epoch: number[] = [];
  /** Each metric's value per epoch, as Keras' history.history. */
  readonly history: Record<string, number[]> = {};

  /** Adds one epoch's metrics. */
  record(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
  }

  /** Training loss per epoch. */
  get loss(): number[] {
    return this.history.loss ?? [];
  }
  /** The learning rate of each epoch (the rate its last step used). */
  get lr(): number[] {
    return this.history.lr ?? [];
  }
  /** Training accuracy per epoch. */
  get accuracy(): number[] {
    return this.history.accuracy ?? [];
  }
  /** Validation loss per epoch. */
  get val_loss(): number[] {
    return this.history.val_loss ?? [];
  }
  /** Validation accuracy per epoch. */
  get val_accuracy(): number[] {
    return this.history.val_accuracy ?? [];
  }

  /** {epoch, history}, for JSON.stringify. */
  toJSON(): { epoch: number[]; history: Record<string, number[]> } {
    return { epoch: this.epoch, history: this.history };
  }
}
