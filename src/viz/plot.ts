// Line charts of a training history as standalone SVG (no dependencies; works in Node and the browser),
// titled and labelled like the seed course's matplotlib plots: plt.title('Accuracy'), xlabel('epoch'), ...

/** One line of a chart: its name (in the legend) and its value per epoch (or at the given x values). */
export interface Series {
  name: string;
  values: number[];
  color?: string;
  /** Where each value sits on the x axis (e.g. the training step); default 0, 1, 2, ... (epochs). */
  x?: number[];
  /** Draw the points only, no line (e.g. validation once per epoch). Default false. */
  pointsOnly?: boolean;
}

/** A line chart's title, axis labels and series (lineChartSvg). */
export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  /** Vertical dashed lines with a label at their top, e.g. where each epoch begins. */
  xMarks?: { x: number; label: string }[];
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728'];

/** `s` escaped for SVG text and attribute values. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** "Nice" tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** A line chart (one or more series over epochs) as an SVG document. */
export function lineChartSvg(o: ChartOptions): string {
  const W = o.width ?? 640;
  const H = o.height ?? 440;
  const m = { left: 70, right: 20, top: 40, bottom: 55 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const all = o.series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
  const n = Math.max(1, ...o.series.map((s) => s.values.length));
  // Without x values the axis counts points (0..n-1, as epochs); with them it spans every x given.
  const xs = o.series.some((s) => s.x) ? [...o.series.flatMap((s) => (s.x ?? s.values.map((_, i) => i)).filter(Number.isFinite)), ...(o.xMarks ?? []).map((mk) => mk.x)] : [];
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : n - 1;
  let lo = all.length ? Math.min(...all) : 0;
  let hi = all.length ? Math.max(...all) : 1;
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const x = (v: number) => m.left + (x1 <= x0 ? pw / 2 : ((v - x0) / (x1 - x0)) * pw);
  const y = (v: number) => m.top + ph - ((v - lo) / (hi - lo)) * ph;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${m.left + pw / 2}" y="24" text-anchor="middle" font-size="16">${esc(o.title)}</text>`);
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const t of ticks(lo, hi)) {
    parts.push(`<line x1="${m.left - 4}" x2="${m.left}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#333"/>`);
    parts.push(`<text x="${m.left - 7}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${Number(t.toPrecision(6))}</text>`);
  }
  for (const t of ticks(x0, x1, Math.min(x1 - x0, 10) || 1).filter((v) => Number.isInteger(v))) {
    parts.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${m.top + ph}" y2="${m.top + ph + 4}" stroke="#333"/>`);
    parts.push(`<text x="${x(t).toFixed(1)}" y="${m.top + ph + 18}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle" font-size="14">${esc(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="14">${esc(o.yLabel)}</text>`);
  for (const mk of o.xMarks ?? []) {
    const at = x(mk.x).toFixed(1);
    parts.push(`<line x1="${at}" x2="${at}" y1="${m.top}" y2="${m.top + ph}" stroke="#999" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${(x(mk.x) + 3).toFixed(1)}" y="${m.top + ph - 5}" fill="#666" font-size="11">${esc(mk.label)}</text>`);
  }
  o.series.forEach((s, k) => {
    const color = s.color ?? COLORS[k % COLORS.length];
    const at = (i: number) => s.x?.[i] ?? i;
    const pts = s.values.map((v, i) => `${x(at(i)).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    if (s.values.length > 1 && !s.pointsOnly) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>`);
    s.values.forEach((v, i) => parts.push(`<circle cx="${x(at(i)).toFixed(1)}" cy="${y(v).toFixed(1)}" r="${s.pointsOnly ? 4 : 2.5}" fill="${color}"/>`));
    // Legend in the upper left, as plt.legend(loc='upper left').
    const ly = m.top + 16 + k * 18;
    parts.push(`<line x1="${m.left + 10}" x2="${m.left + 34}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${m.left + 40}" y="${ly}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The two seed plots from a History's values. */
export function historyCharts(h: Record<string, number[]>): { accuracy: string; loss: string } {
  const pick = (key: string, name: string): Series[] => (h[key]?.length ? [{ name, values: h[key]! }] : []);
  return {
    accuracy: lineChartSvg({ title: 'Accuracy', xLabel: 'epoch', yLabel: 'accuracy', series: [...pick('accuracy', 'train'), ...pick('val_accuracy', 'validation')] }),
    loss: lineChartSvg({ title: 'Loss', xLabel: 'epoch', yLabel: 'loss', series: [...pick('loss', 'train'), ...pick('val_loss', 'validation')] }),
  };
}
