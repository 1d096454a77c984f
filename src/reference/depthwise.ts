// float64 CPU reference for shaders/depthwise.wgsl (NHWC, kernel [kH, kW, inC, multiplier]).
import type { DepthwiseGeometry } from '../kernels/depthwise.js';

/** y[b, oh, ow, c·M + m] = Σ_{kh, kw} x[b, oh·sH - padTop + kh, ow·sW - padLeft + kw, c] · k[kh, kw, c, m] + bias. */
export function depthwiseForwardRef(x: ArrayLike<number>, k: ArrayLike<number>, bias: ArrayLike<number> | null, g: DepthwiseGeometry): Float64Array {
  const y = new Float64Array(g.batch * g.outH * g.outW * g.outC);
  for (let b = 0; b < g.batch; b++)
    for (let oh = 0; oh < g.outH; oh++)
      for (let ow = 0; ow < g.outW; ow++)
        for (let o = 0; o < g.outC; o++) {
          const c = Math.floor(o / g.multiplier);
          let s = bias ? bias[o]! : 0;
          for (let kh = 0; kh < g.kH; kh++)
            for (let kw = 0; kw < g.kW; kw++) {
              const ih = oh * g.strideH - g.padTop + kh, iw = ow * g.strideW - g.padLeft + kw;
              if (ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW) continue;
              s += x[((b * g.inH + ih) * g.inW + iw) * g.inC + c]! * k[(kh * g.kW + kw) * g.outC + o]!;
            }
          y[((b * g.outH + oh) * g.outW + ow) * g.outC + o] = s;
        }
  return y;
}
