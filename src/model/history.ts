// What fit returns (Keras' History) and the callbacks it calls.

/** Metric values by name: loss, accuracy, val_loss, val_accuracy. */
export type Logs = Record<string, number>;

/** Functions fit calls as training goes (Keras' callbacks); each may return a promise, which fit awaits. */
export interface Callbacks {
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
