// The CLI's evaluation pictures: confusion.svg and confusion.png from the confusion matrix the GPU counted, and
// misclassified.png, a grid of the first wrong test predictions with their true and predicted class names.
import { join } from 'node:path';
import type { ImageSet } from './data/types.js';
import type { Model } from './model/model.js';
import { confusionMatrixPng, confusionMatrixSvg } from './viz/confusion.js';
import { findMisclassified, misclassifiedImage, type Misclassified } from './viz/misclassified.js';
import { writePng } from './data/image.js';
import { writeFileAtomic } from './node.js';

/** Wrong predictions misclassified.png shows (5 rows of 5). */
export const MISCLASSIFIED_SHOWN = 25;

/** Writes confusion.svg and confusion.png of `matrix` (counts[true][predicted]) into `dir`; returns the file names. */
export async function writeConfusionFiles(dir: string, matrix: number[][], classNames?: readonly string[]): Promise<string[]> {
  const flat = matrix.flat();
  await writeFileAtomic(join(dir, 'confusion.svg'), confusionMatrixSvg(flat, { classNames }));
  await writeFileAtomic(join(dir, 'confusion.png'), confusionMatrixPng(flat, { classNames }));
  return ['confusion.svg', 'confusion.png'];
}

/** The test images as an ImageSet slice [start, start + count) (views, no copies). */
function slice(set: ImageSet, start: number, count: number): ImageSet {
  const per = set.shape[1] * set.shape[2] * set.shape[3];
  return { images: set.images.subarray(start * per, (start + count) * per), shape: [count, set.shape[1], set.shape[2], set.shape[3]], labels: set.labels.subarray(start, start + count) };
}

/**
 * Writes misclassified.png into `dir`: the first MISCLASSIFIED_SHOWN wrong predictions of `test` in order, predicted
 * in chunks until enough are found (a good model needs only part of the test set). Returns how many it shows.
 */
export async function writeMisclassified(dir: string, model: Model, test: ImageSet, classNames?: readonly string[], batchSize = 128): Promise<number> {
  const c = model.numClasses;
  const wrong: Misclassified[] = [];
  const chunk = 2000;
  for (let start = 0; start < test.shape[0] && wrong.length < MISCLASSIFIED_SHOWN; start += chunk) {
    const part = slice(test, start, Math.min(chunk, test.shape[0] - start));
    const probs = await model.predict(part, { batchSize });
    for (const w of findMisclassified(probs, part.labels, c, MISCLASSIFIED_SHOWN - wrong.length)) wrong.push({ ...w, index: w.index + start });
  }
  await writeFileAtomic(join(dir, 'misclassified.png'), writePng(misclassifiedImage(test, wrong, { classNames })));
  return wrong.length;
}
