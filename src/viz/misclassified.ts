// A grid of wrong predictions: each panel an example whose predicted class (the first maximum of its output) is
// not its label, captioned with the true and the predicted class names. Drawn with the captioned-grid renderer of
// src/data/image.ts (wrong panels framed in red).
import { imageAt, renderGrid, type GridPanel } from '../data/image.js';
import type { Image, ImageSet } from '../data/types.js';

/** One misclassified example: its index in the set, true and predicted class. */
export interface Misclassified {
  index: number;
  label: number;
  predicted: number;
}

/** The first maximum of row r of [n, c] outputs (NaNs skipped, as shaders/metrics.wgsl). */
function argmaxRow(probs: ArrayLike<number>, r: number, c: number): number {
  let m = -Infinity, a = -1;
  for (let j = 0; j < c; j++) {
    const v = probs[r * c + j]!;
    if (!Number.isNaN(v) && (a < 0 || v > m)) (m = v), (a = j);
  }
  return Math.max(a, 0);
}

/** The examples of `labels` whose prediction in `probs` ([n, c], row-major) is another class, in order, at most `max`. */
export function findMisclassified(probs: ArrayLike<number>, labels: ArrayLike<number>, c: number, max = Infinity): Misclassified[] {
  const out: Misclassified[] = [];
  for (let r = 0; r < labels.length && out.length < max; r++) {
    const predicted = argmaxRow(probs, r, c);
    if (predicted !== labels[r]) out.push({ index: r, label: labels[r]!, predicted });
  }
  return out;
}

/** A class's caption name: its name from `classNames`, or its index. */
function className(k: number, classNames?: readonly string[]): string {
  return classNames?.[k] ?? String(k);
}

/**
 * The wrong predictions as captioned RGB pixels: panels of `set`'s images with "true NAME" / "pred NAME" under each
 * (default 5 columns, images about 84 px), or a one-panel note when there are none.
 */
export function misclassifiedImage(set: ImageSet, wrong: readonly Misclassified[], opts: { classNames?: readonly string[]; columns?: number; scale?: number } = {}): Image {
  const panels: GridPanel[] = wrong.map((w) => ({
    image: imageAt(set, w.index),
    caption: `true ${className(w.label, opts.classNames)}\npred ${className(w.predicted, opts.classNames)}`,
    wrong: true,
  }));
  if (panels.length === 0) {
    const [, h, wd, c] = set.shape;
    panels.push({ image: { data: new Uint8Array(Math.max(1, h) * Math.max(1, wd) * c).fill(255), shape: [Math.max(1, h), Math.max(1, wd), c] }, caption: 'no wrong predictions' });
  }
  return renderGrid(panels, { columns: opts.columns ?? 5, scale: opts.scale });
}
