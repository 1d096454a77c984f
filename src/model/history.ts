// What fit returns (Keras' History) and the callbacks it calls.

export type Logs = Record<string, number>;

export interface Callbacks {
  onTrainBegin?: () => void | Promise<void>;
  onTrainEnd?: () => void | Promise<void>;
  onEpochBegin?: (epoch: number) => void | Promise<void>;
  /** logs: loss, accuracy, val_loss, val_accuracy (those that apply). */
  onEpochEnd?: (epoch: number, logs: Logs) => void | Promise<void>;
  /** Called after each batch is submitted; no readback is made for it. */
  onBatchEnd?: (batch: number) => void | Promise<void>;
}

export class History {
  readonly epoch: number[] = [];
  readonly history: Record<string, number[]> = {};

  record(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [k, v] of Object.entries(logs)) (this.history[k] ??= []).push(v);
  }

  get loss(): number[] {
    return this.history.loss ?? [];
  }
  get accuracy(): number[] {
    return this.history.accuracy ?? [];
  }
  get val_loss(): number[] {
    return this.history.val_loss ?? [];
  }
  get val_accuracy(): number[] {
    return this.history.val_accuracy ?? [];
  }

  toJSON(): { epoch: number[]; history: Record<string, number[]> } {
    return { epoch: this.epoch, history: this.history };
  }
}
