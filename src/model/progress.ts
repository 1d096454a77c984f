// Keras-style progress output:
//   Epoch 1/10
//   48000/48000 [==============================] - 12s 251us/step - loss: 0.1782 - accuracy: 0.9475 - val_loss: ...
// Redrawn in place on a TTY (verbose 1), one line per epoch otherwise; verbose 2 prints " - 12s - loss: ..." lines.

/** Keras' verbose: 0 silent, 1 a progress bar, 2 one line per epoch. */
export type Verbosity = 0 | 1 | 2;

/** Where progress lines go (default stdout): a write function, and whether it is a terminal (bars redraw in place). */
export interface ProgressSink {
  /** A terminal: the progress bar redraws in place. */
  isTTY: boolean;
  /** Writes `s` as is (lines end in a newline, redraws in a carriage return). */
  write(s: string): void;
}

export function defaultSink(): ProgressSink {
  const out = typeof process !== 'undefined' ? process.stdout : undefined;
  if (out) return { isTTY: !!out.isTTY, write: (s) => out.write(s) };
  return { isTTY: false, write: (s) => console.log(s.replace(/\n$/, '')) };
}

function formatTimePerUnit(seconds: number): string {
  if (seconds >= 1) return `${seconds.toFixed(0)}s`;
  if (seconds >= 1e-3) return `${(seconds * 1e3).toFixed(0)}ms`;
  return `${(seconds * 1e6).toFixed(0)}us`;
}

export function formatValues(values: Record<string, number>): string {
  return Object.entries(values)
    .map(([k, v]) => ` - ${k}: ${Number.isFinite(v) ? v.toFixed(4) : String(v)}`)
    .join('');
}

/** The bar part: "  384/48000 [>.............................]" or complete "48000/48000 [==============================]". */
export function formatBar(current: number, target: number, width = 30): string {
  const digits = Math.floor(Math.log10(Math.max(target, 1))) + 1;
  let bar = `${String(current).padStart(digits)}/${target} [`;
  const prog = target > 0 ? current / target : 1;
  const progWidth = Math.floor(width * prog);
  if (progWidth > 0) {
    bar += '='.repeat(progWidth - 1);
    bar += current < target ? '>' : '=';
  }
  bar += '.'.repeat(Math.max(0, width - progWidth));
  return bar + ']';
}

/** An epoch's line as Keras prints it: "48000/48000 - 12s 32ms/step - loss: ... - accuracy: ...". */
export function formatEpochLine(samples: number, seconds: number, values: Record<string, number>): string {
  return `${formatBar(samples, samples)} - ${seconds.toFixed(0)}s ${formatTimePerUnit(seconds / Math.max(samples, 1))}/step${formatValues(values)}`;
}

export class Progbar {
  private start = Date.now();
  private lastWidth = 0;
  constructor(
    private readonly target: number,
    private readonly verbose: Verbosity,
    private readonly sink: ProgressSink,
  ) {}

  /** Redraws in place (TTY, verbose 1 only). */
  update(current: number, values: Record<string, number>): void {
    if (this.verbose !== 1 || !this.sink.isTTY) return;
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = current > 0 ? (elapsed / current) * (this.target - current) : 0;
    const etaStr = eta > 3600 ? `${Math.floor(eta / 3600)}:${String(Math.floor((eta % 3600) / 60)).padStart(2, '0')}:${String(Math.floor(eta % 60)).padStart(2, '0')}` : eta > 60 ? `${Math.floor(eta / 60)}:${String(Math.floor(eta % 60)).padStart(2, '0')}` : `${Math.floor(eta)}s`;
    const line = `${formatBar(current, this.target)} - ETA: ${etaStr}${formatValues(values)}`;
    this.sink.write(`\r${line}${' '.repeat(Math.max(0, this.lastWidth - line.length))}`);
    this.lastWidth = line.length;
  }

  /** The final line of an epoch (or of evaluate). */
  finish(values: Record<string, number>): void {
    const seconds = (Date.now() - this.start) / 1000;
    if (this.verbose === 0) return;
    if (this.verbose === 2) {
      this.sink.write(` - ${seconds.toFixed(0)}s${formatValues(values)}\n`);
      return;
    }
    const line = formatEpochLine(this.target, seconds, values);
    const pad = this.sink.isTTY ? ' '.repeat(Math.max(0, this.lastWidth - line.length)) : '';
    this.sink.write(`${this.sink.isTTY ? '\r' : ''}${line}${pad}\n`);
  }
}
