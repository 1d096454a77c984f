// float64 CPU references for shaders/pool.wgsl. Layout NHWC. Padded positions never take part: max pooling
// ignores them (TF pads with -inf), average pooling divides by the count of real elements (TF 'same').
import type { Pool2dGeometry } from '../kernels/pool.js';

function window(g: Pool2dGeometry, oh: number, ow: number): { h0: number; h1: number; w0: number; w1: number } {
  const h = oh * g.strideH - g.padTop;
  const w = ow * g.strideW - g.padLeft;
  return { h0: Math.max(h, 0), h1: Math.min(h + g.poolH, g.inH), w0: Math.max(w, 0), w1: Math.min(w + g.poolW, g.inW) };
}

/** Max pooling: y and the flat input index of the first maximum in row-major window order. */
export function maxPool2dForwardRef(x: ArrayLike<number>, g: Pool2dGeometry): { y: Float64Array; argmax: Uint32Array } {
  const n = g.batch * g.outH * g.outW * g.c;
  const y = new Float64Array(n);
  const argmax = new Uint32Array(n);
  for (let b = 0; b < g.batch; b++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++) {
        const { h0, h1, w0, w1 } = window(g, oh, ow);
        for (let c = 0; c < g.c; c++) {
          let best = -Infinity;
          let at = 0;
          for (let ih = h0; ih < h1; ih++)
            for (let iw = w0; iw < w1; iw++) {
              const i = ((b * g.inH + ih) * g.inW + iw) * g.c + c;
              if (x[i]! > best) {
                best = x[i]!;
                at = i;
              }
            }
          const o = ((b * g.outH + oh) * g.outW + ow) * g.c + c;
          y[o] = best;
          argmax[o] = at;
        }
      }
  return { y, argmax };
}

export function maxPool2dBackwardRef(dy: ArrayLike<number>, argmax: ArrayLike<number>, g: Pool2dGeometry): Float64Array {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.c);
  for (let o = 0; o < dy.length; o++) dx[argmax[o]!] += dy[o]!;
  return dx;
}

export function avgPool2dForwardRef(x: ArrayLike<number>, g: Pool2dGeometry): Float64Array {
  const y = new Float64Array(g.batch * g.outH * g.outW * g.c);
  for (let b = 0; b < g.batch; b++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++) {
        const { h0, h1, w0, w1 } = window(g, oh, ow);
        const count = (h1 - h0) * (w1 - w0);
        for (let c = 0; c < g.c; c++) {
          let s = 0;
          for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) s += x[((b * g.inH + ih) * g.inW + iw) * g.c + c]!;
          y[((b * g.outH + oh) * g.outW + ow) * g.c + c] = s / count;
        }
      }
  return y;
}

export function avgPool2dBackwardRef(dy: ArrayLike<number>, g: Pool2dGeometry): Float64Array {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.c);
  for (let b = 0; b < g.batch; b++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++) {
        const { h0, h1, w0, w1 } = window(g, oh, ow);
        const count = (h1 - h0) * (w1 - w0);
        for (let c = 0; c < g.c; c++) {
          const d = dy[((b * g.outH + oh) * g.outW + ow) * g.c + c]! / count;
          for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) dx[((b * g.inH + ih) * g.inW + iw) * g.c + c] += d;
        }
      }
  return dx;
}
