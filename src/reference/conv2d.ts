// float64 CPU references for shaders/conv2d.wgsl: the plain 7-deep loops, written for clarity, not speed.
// Layouts: x [B, H, W, inC] (NHWC), w [kH, kW, inC, outC] (Keras), y [B, outH, outW, outC].
import type { Conv2dGeometry } from '../kernels/conv2d.js';

/** y = act(conv(x, w) + bias), act 'linear' or 'relu'. */
export function conv2dForwardRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  g: Conv2dGeometry,
  activation: 'linear' | 'relu' = 'linear',
): Float64Array {
  const y = new Float64Array(g.batch * g.outH * g.outW * g.outC);
  for (let b = 0; b < g.batch; b++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++)
        for (let co = 0; co < g.outC; co++) {
          let s = bias ? bias[co]! : 0;
          for (let kh = 0; kh < g.kH; kh++) {
            const ih = oh * g.strideH + kh - g.padTop;
            if (ih < 0 || ih >= g.inH) continue;
            for (let kw = 0; kw < g.kW; kw++) {
              const iw = ow * g.strideW + kw - g.padLeft;
              if (iw < 0 || iw >= g.inW) continue;
              for (let ci = 0; ci < g.inC; ci++)
                s += x[((b * g.inH + ih) * g.inW + iw) * g.inC + ci]! * w[((kh * g.kW + kw) * g.inC + ci) * g.outC + co]!;
            }
          }
          y[((b * g.outH + oh) * g.outW + ow) * g.outC + co] = activation === 'relu' ? Math.max(s, 0) : s;
        }
  return y;
}

/** dx = ∂(Σ y·dy)/∂x for the linear convolution (scatter form: every output spreads dy over its window). */
export function conv2dBackwardInputRef(dy: ArrayLike<number>, w: ArrayLike<number>, g: Conv2dGeometry): Float64Array {
  const dx = new Float64Array(g.batch * g.inH * g.inW * g.inC);
  for (let b = 0; b < g.batch; b++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++)
        for (let kh = 0; kh < g.kH; kh++) {
          const ih = oh * g.strideH + kh - g.padTop;
          if (ih < 0 || ih >= g.inH) continue;
          for (let kw = 0; kw < g.kW; kw++) {
            const iw = ow * g.strideW + kw - g.padLeft;
            if (iw < 0 || iw >= g.inW) continue;
            for (let ci = 0; ci < g.inC; ci++) {
              let s = 0;
              for (let co = 0; co < g.outC; co++)
                s += dy[((b * g.outH + oh) * g.outW + ow) * g.outC + co]! * w[((kh * g.kW + kw) * g.inC + ci) * g.outC + co]!;
              dx[((b * g.inH + ih) * g.inW + iw) * g.inC + ci] += s;
            }
          }
        }
  return dx;
}

/** dw = ∂(Σ y·dy)/∂w for the linear convolution. */
export function conv2dBackwardFilterRef(x: ArrayLike<number>, dy: ArrayLike<number>, g: Conv2dGeometry): Float64Array {
  const dw = new Float64Array(g.kH * g.kW * g.inC * g.outC);
  for (let b = 0; b < g.batch; b++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++)
        for (let kh = 0; kh < g.kH; kh++) {
          const ih = oh * g.strideH + kh - g.padTop;
          if (ih < 0 || ih >= g.inH) continue;
          for (let kw = 0; kw < g.kW; kw++) {
            const iw = ow * g.strideW + kw - g.padLeft;
            if (iw < 0 || iw >= g.inW) continue;
            for (let ci = 0; ci < g.inC; ci++) {
              const xv = x[((b * g.inH + ih) * g.inW + iw) * g.inC + ci]!;
              for (let co = 0; co < g.outC; co++)
                dw[((kh * g.kW + kw) * g.inC + ci) * g.outC + co] += xv * dy[((b * g.outH + oh) * g.outW + ow) * g.outC + co]!;
            }
          }
        }
  return dw;
}

/** Bias gradient: sum of dy over batch and positions. */
export function conv2dBackwardBiasRef(dy: ArrayLike<number>, g: Conv2dGeometry): Float64Array {
  const db = new Float64Array(g.outC);
  const rows = g.batch * g.outH * g.outW;
  for (let r = 0; r < rows; r++) for (let c = 0; c < g.outC; c++) db[c] += dy[r * g.outC + c]!;
  return db;
}
