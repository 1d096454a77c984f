// A confusion matrix as a heat map: an SVG document (class names on both axes, a count in every cell) and the
// same as RGB pixels / PNG drawn with the bitmap font of src/data/font.ts. Rows are true classes, columns
// predicted ones (sklearn's ConfusionMatrixDisplay layout); a cell's colour is its share of the row (white to dark
// blue, as matplotlib's "Blues"), so rare classes read as clearly as common ones. No dependencies.
import { drawText, LINE_ADVANCE, measureText } from '../data/font.js';
import { enlarge, writePng } from '../data/image.js';
import type { Image } from '../data/types.js';
import { esc } from './plot.js';
import { matrixClasses } from './report.js';

/** Options of the confusion-matrix pictures. */
export interface ConfusionPlotOptions {
  /** Class names along both axes (default: the indices). */
  classNames?: readonly string[];
  /** The title (default "Confusion matrix"). */
  title?: string;
}

const LIGHT = [247, 251, 255];
const DARK = [8, 48, 107];

/** The cell colour for a share f in [0, 1] of its row: white to dark blue. */
export function heatColor(f: number): [number, number, number] {
  const t = Number.isFinite(f) ? Math.min(1, Math.max(0, f)) : 0;
  return [0, 1, 2].map((k) => Math.round(LIGHT[k]! + (DARK[k]! - LIGHT[k]!) * t)) as [number, number, number];
}

/** Each cell's share of its row (0 for an empty row). */
function rowShares(matrix: ArrayLike<number>, c: number): number[] {
  const out = new Array<number>(c * c).fill(0);
  for (let t = 0; t < c; t++) {
    let s = 0;
    for (let p = 0; p < c; p++) s += matrix[t * c + p]!;
    for (let p = 0; p < c; p++) out[t * c + p] = s > 0 ? matrix[t * c + p]! / s : 0;
  }
  return out;
}

function namesOf(c: number, classNames?: readonly string[]): string[] {
  return Array.from({ length: c }, (_, k) => classNames?.[k] ?? String(k));
}

/** The confusion matrix [c, c] (row = true class) as a standalone SVG heat map with counts and class names. */
export function confusionMatrixSvg(matrix: ArrayLike<number>, opts: ConfusionPlotOptions = {}): string {
  const c = matrixClasses(matrix);
  const names = namesOf(c, opts.classNames);
  const shares = rowShares(matrix, c);
  const maxDigits = Math.max(1, ...Array.from(matrix, (v) => String(v).length));
  const cell = Math.max(40, 8 * maxDigits + 12);
  const charW = 7; // about 12px sans-serif
  const longest = Math.max(...names.map((n) => n.length));
  const left = 40 + longest * charW + 10;
  const top = 50;
  const grid = c * cell;
  const bottom = 30 + Math.ceil(longest * charW * 0.72) + 20;
  const W = left + grid + 30;
  const H = top + grid + bottom;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${left + grid / 2}" y="28" text-anchor="middle" font-size="16">${esc(opts.title ?? 'Confusion matrix')}</text>`);
  for (let t = 0; t < c; t++)
    for (let p = 0; p < c; p++) {
      const f = shares[t * c + p]!;
      const [r, g, b] = heatColor(f);
      const x = left + p * cell, y = top + t * cell;
      parts.push(`<rect class="cell" data-true="${t}" data-predicted="${p}" x="${x}" y="${y}" width="${cell}" height="${cell}" fill="rgb(${r},${g},${b})" stroke="#ccc" stroke-width="0.5"/>`);
      parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" fill="${f > 0.5 ? 'white' : 'black'}">${matrix[t * c + p]}</text>`);
    }
  names.forEach((name, k) => {
    const y = top + k * cell + cell / 2 + 4;
    parts.push(`<text x="${left - 6}" y="${y}" text-anchor="end">${esc(name)}</text>`);
    const x = left + k * cell + cell / 2;
    const yb = top + grid + 14;
    parts.push(`<text x="${x}" y="${yb}" text-anchor="end" transform="rotate(-45 ${x} ${yb})">${esc(name)}</text>`);
  });
  parts.push(`<text x="16" y="${top + grid / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + grid / 2})">True class</text>`);
  parts.push(`<text x="${left + grid / 2}" y="${H - 10}" text-anchor="middle">Predicted class</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Margin in pixels of the bitmap rendering (before `scale`). */
const PAD = 8;

/**
 * The confusion matrix as RGB pixels [h, w, 3]: a title, row labels "k name", column labels k, a count in every
 * cell (bitmap font), every pixel repeated `scale` x `scale` times (default 2).
 */
export function confusionMatrixImage(matrix: ArrayLike<number>, opts: ConfusionPlotOptions & { scale?: number } = {}): Image {
  const c = matrixClasses(matrix);
  const names = namesOf(c, opts.classNames);
  const shares = rowShares(matrix, c);
  const scale = opts.scale ?? 2;
  const title = opts.title ?? 'Confusion matrix (rows: true, columns: predicted)';
  const counts = Array.from(matrix, (v) => String(v));
  const rowLabels = names.map((n, k) => (n === String(k) ? n : `${k} ${n}`));
  const cell = Math.max(24, ...counts.map((s) => measureText(s).width + 6));
  const labelW = Math.max(...rowLabels.map((s) => measureText(s).width));
  const gridX = PAD + labelW + PAD;
  const gridY = PAD + LINE_ADVANCE + PAD + LINE_ADVANCE;
  const w = Math.max(gridX + c * cell + PAD, PAD + measureText(title).width + PAD);
  const h = gridY + c * cell + PAD;
  const px = new Uint8Array(w * h * 3).fill(255);
  const fill = (x0: number, y0: number, x1: number, y1: number, rgb: readonly number[]) => {
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) px.set(rgb, (y * w + x) * 3);
  };
  drawText(px, w, h, 3, title, PAD, PAD, [0, 0, 0]);
  for (let t = 0; t < c; t++) {
    const y = gridY + t * cell;
    drawText(px, w, h, 3, rowLabels[t]!, PAD + labelW - measureText(rowLabels[t]!).width, y + Math.floor((cell - 8) / 2), [0, 0, 0]);
    for (let p = 0; p < c; p++) {
      const x = gridX + p * cell;
      const f = shares[t * c + p]!;
      fill(x, y, x + cell, y + cell, heatColor(f));
      // a one-pixel light grid line on the cell's top and left edges
      fill(x, y, x + cell, y + 1, [204, 204, 204]);
      fill(x, y, x + 1, y + cell, [204, 204, 204]);
      const s = counts[t * c + p]!;
      drawText(px, w, h, 3, s, x + Math.floor((cell - measureText(s).width) / 2), y + Math.floor((cell - 8) / 2), f > 0.5 ? [255, 255, 255] : [0, 0, 0]);
    }
  }
  for (let p = 0; p < c; p++) {
    const s = String(p);
    drawText(px, w, h, 3, s, gridX + p * cell + Math.floor((cell - measureText(s).width) / 2), gridY - LINE_ADVANCE, [0, 0, 0]);
  }
  return enlarge({ data: px, shape: [h, w, 3] }, scale);
}

/** confusionMatrixImage encoded as PNG bytes. */
export function confusionMatrixPng(matrix: ArrayLike<number>, opts: ConfusionPlotOptions & { scale?: number } = {}): Uint8Array {
  return writePng(confusionMatrixImage(matrix, opts));
}
