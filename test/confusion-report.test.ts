import { describe, expect, it } from 'vitest';
import { readPng } from '../src/data/image.js';
import { confusionMatrixImage, confusionMatrixPng, confusionMatrixSvg, heatColor } from '../src/viz/confusion.js';
import { classificationReport } from '../src/viz/report.js';
import { findMisclassified, misclassifiedImage } from '../src/viz/misclassified.js';
import { gridLayout } from '../src/data/image.js';

// sklearn's documented example: y_true = [0, 1, 2, 2, 2], y_pred = [0, 0, 2, 2, 1].
const SKLEARN = [1, 0, 0, 1, 0, 0, 0, 1, 2];
const NAMES = ['class 0', 'class 1', 'class 2'];

describe('classificationReport', () => {
  it("prints sklearn's classification_report for its documented example, character for character", () => {
    const r = classificationReport(SKLEARN, NAMES);
    expect(r.text).toBe(
      [
        '              precision    recall  f1-score   support',
        '',
        '     class 0       0.50      1.00      0.67         1',
        '     class 1       0.00      0.00      0.00         1',
        '     class 2       1.00      0.67      0.80         3',
        '',
        '    accuracy                           0.60         5',
        '   macro avg       0.50      0.56      0.49         5',
        'weighted avg       0.70      0.60      0.61         5',
        '',
      ].join('\n'),
    );
    expect(r.accuracy).toBe(0.6);
    expect(r.classes.map((c) => c.support)).toEqual([1, 1, 3]);
    expect(r.classes[2]!.f1).toBeCloseTo(0.8, 12);
  });

  it('names default to indices; an absent, never-predicted class is 0 (zero_division=0); bad sizes throw', () => {
    const r = classificationReport([5, 0, 0, 0], undefined, { digits: 3 });
    expect(r.classes.map((c) => c.name)).toEqual(['0', '1']);
    expect(r.classes[1]).toEqual({ name: '1', precision: 0, recall: 0, f1: 0, support: 0 });
    expect(r.text).toContain('           0      1.000     1.000     1.000         5\n           1      0.000     0.000     0.000         0');
    expect(() => classificationReport([1, 2, 3])).toThrow(/square/);
  });
});

describe('confusion matrix pictures', () => {
  it('the SVG holds c*c cells with their counts, the class names on both axes, shares as colour', () => {
    const svg = confusionMatrixSvg(SKLEARN, { classNames: ['T-shirt/top', 'Trouser', 'A&B'] });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const cells = [...svg.matchAll(/<rect class="cell" data-true="(\d)" data-predicted="(\d)"[^>]*fill="rgb\((\d+),(\d+),(\d+)\)"/g)];
    expect(cells.length).toBe(9);
    // row 2 = [0, 1, 2]: shares 0, 1/3, 2/3
    expect(cells[8]!.slice(3).map(Number)).toEqual(heatColor(2 / 3));
    expect(cells[6]!.slice(3).map(Number)).toEqual(heatColor(0));
    expect(cells[0]!.slice(3).map(Number)).toEqual(heatColor(1));
    const counts = [...svg.matchAll(/fill="(?:white|black)">(\d+)<\/text>/g)].map((m) => Number(m[1]));
    expect(counts).toEqual(SKLEARN);
    expect(svg.match(/>T-shirt\/top</g)?.length).toBe(2);
    expect(svg).toContain('>A&amp;B<');
    expect(svg).toContain('>True class<');
    expect(svg).toContain('>Predicted class<');
  });

  it('the PNG is the bitmap rendering at scale 2, with the cells coloured by row share', () => {
    const img = confusionMatrixImage(SKLEARN, { classNames: NAMES, scale: 1 });
    // title "Confusion matrix (rows: true, columns: predicted)" (49 chars: 293 px) is the widest line: 8 + 293 + 8
    // wide; 8 + 10 + 8 + 10 + 3 cells of 24 + 8 high
    expect(img.shape).toEqual([116, 309, 3]);
    const png = readPng(confusionMatrixPng(SKLEARN, { classNames: NAMES }));
    expect(png.shape).toEqual([232, 618, 3]);
    // the pixel at the inside corner of cell (true 2, predicted 2): grid x = 8 + len("2 class 2") px + 8
    const gridX = 8 + (9 * 6 - 1) + 8, gridY = 36;
    const at = (x: number, y: number) => Array.from(img.data.subarray((y * 309 + x) * 3, (y * 309 + x) * 3 + 3));
    expect(at(gridX + 2 * 24 + 2, gridY + 2 * 24 + 2)).toEqual(heatColor(2 / 3));
    expect(at(gridX + 0 * 24 + 2, gridY + 1 * 24 + 2)).toEqual(heatColor(1));
    expect(at(gridX + 1 * 24 + 2, gridY + 0 * 24 + 2)).toEqual(heatColor(0));
  });
});

describe('misclassified grid', () => {
  it('finds the wrong predictions in order (first max, NaN skipped) and captions them with class names', () => {
    const c = 3;
    const probs = [0.7, 0.2, 0.1, 0.1, 0.1, 0.8, 0.4, 0.4, 0.2, NaN, 0.1, 0.9, 0.3, 0.3, 0.4];
    const labels = Uint8Array.from([0, 1, 1, 2, 0]);
    const wrong = findMisclassified(probs, labels, c);
    // row 2 ties 0.4/0.4: predicted 0 (first max); row 3: NaN skipped, predicted 2 = label
    expect(wrong).toEqual([{ index: 1, label: 1, predicted: 2 }, { index: 2, label: 1, predicted: 0 }, { index: 4, label: 0, predicted: 2 }]);
    expect(findMisclassified(probs, labels, c, 2).length).toBe(2);
    const set = { images: new Uint8Array(5 * 28 * 28).fill(128), shape: [5, 28, 28, 1] as [number, number, number, number], labels };
    const img = misclassifiedImage(set, wrong, { classNames: ['T-shirt/top', 'Trouser', 'Pullover'] });
    const layout = gridLayout(
      wrong.map((w) => ({ image: { data: new Uint8Array(784), shape: [28, 28, 1] }, caption: `true ${['T-shirt/top', 'Trouser', 'Pullover'][w.label]}\npred ${['T-shirt/top', 'Trouser', 'Pullover'][w.predicted]}` })),
      { columns: 5 },
    );
    expect(img.shape).toEqual([layout.height, layout.width, 3]);
    // three panels in one row; the widest caption "pred T-shirt/top" (16 chars, 95 px) sets the cell width
    expect(layout.cellWidth).toBe(95);
    expect(img.shape).toEqual([12 + 84 + layout.captionHeight + 12, 4 * 12 + 3 * 95, 3]);
    expect(misclassifiedImage(set, []).shape[1]).toBeGreaterThan(0);
  });
});
