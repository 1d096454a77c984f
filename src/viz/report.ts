// A per-class report from a confusion matrix, laid out like sklearn.metrics.classification_report (precision,
// recall, F1 and support per class, then accuracy, macro and support-weighted averages). Ill-defined ratios (0/0:
// a class never predicted, or absent) are 0, as sklearn's zero_division default gives.
import { ShapeError } from '../errors.js';

/** One row of the report: a class, or an average. */
export interface ReportRow {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  /** Examples whose true class this is (for averages: all of them). */
  support: number;
}

/** What classificationReport computes, and its text. */
export interface ClassificationReport {
  classes: ReportRow[];
  /** Correct predictions over all examples (the matrix's trace over its total). */
  accuracy: number;
  macroAvg: ReportRow;
  weightedAvg: ReportRow;
  /** Examples counted (the matrix's total). */
  total: number;
  /** The report as sklearn prints it (`digits` decimals). */
  text: string;
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);

/** Checks a square matrix of c*c counts and returns c. */
export function matrixClasses(matrix: ArrayLike<number>, what = 'confusion matrix'): number {
  const c = Math.round(Math.sqrt(matrix.length));
  if (c < 1 || c * c !== matrix.length) throw new ShapeError(`${what}: ${matrix.length} counts are not a square c x c matrix.`);
  return c;
}

/**
 * Precision, recall, F1 and support per class from a [c, c] confusion matrix (row = true class, column =
 * predicted), as sklearn's classification_report; class names default to the indices.
 */
export function classificationReport(matrix: ArrayLike<number>, classNames?: readonly string[], opts: { digits?: number } = {}): ClassificationReport {
  const c = matrixClasses(matrix);
  const digits = opts.digits ?? 2;
  const names = Array.from({ length: c }, (_, k) => classNames?.[k] ?? String(k));
  const at = (t: number, p: number) => matrix[t * c + p]!;
  let total = 0, trace = 0;
  const classes: ReportRow[] = names.map((name, k) => {
    let support = 0, predicted = 0;
    for (let j = 0; j < c; j++) {
      support += at(k, j);
      predicted += at(j, k);
    }
    total += support;
    trace += at(k, k);
    const precision = ratio(at(k, k), predicted);
    const recall = ratio(at(k, k), support);
    return { name, precision, recall, f1: ratio(2 * precision * recall, precision + recall), support };
  });
  const average = (name: string, weight: (r: ReportRow) => number): ReportRow => {
    const w = classes.reduce((s, r) => s + weight(r), 0);
    const mean = (f: (r: ReportRow) => number) => ratio(classes.reduce((s, r) => s + weight(r) * f(r), 0), w);
    return { name, precision: mean((r) => r.precision), recall: mean((r) => r.recall), f1: mean((r) => r.f1), support: total };
  };
  const macroAvg = average('macro avg', () => 1);
  const weightedAvg = average('weighted avg', (r) => r.support);
  const accuracy = ratio(trace, total);

  // sklearn's layout: names right-aligned to the longest, then columns of 9 characters each after one space.
  const width = Math.max('weighted avg'.length, ...names.map((n) => n.length), digits);
  const col = (s: string) => ` ${s.padStart(9)}`;
  const num = (v: number) => col(v.toFixed(digits));
  const line = (r: ReportRow) => `${r.name.padStart(width)} ${num(r.precision)}${num(r.recall)}${num(r.f1)}${col(String(r.support))}`;
  const lines = [
    `${''.padStart(width)} ${col('precision')}${col('recall')}${col('f1-score')}${col('support')}`,
    '',
    ...classes.map(line),
    '',
    `${'accuracy'.padStart(width)} ${col('')}${col('')}${num(accuracy)}${col(String(total))}`,
    line(macroAvg),
    line(weightedAvg),
  ];
  return { classes, accuracy, macroAvg, weightedAvg, total, text: lines.join('\n') + '\n' };
}
