// float64 CPU reference for shaders/padding.wgsl (NHWC zero padding).
import type { Pad2dGeometry } from '../kernels/padding.js';

/** x [batch, inH, inW, c] padded with zeros to [batch, outH, outW, c]. */
export function pad2dForwardRef(x: ArrayLike<number>, g: Pad2dGeometry): Float64Array {
  const y = new Float64Array(g.batch * g.outH * g.outW * g.c);
  for (let b = 0; b < g.batch; b++)
    for (let h = 0; h < g.inH; h++)
      for (let w = 0; w < g.inW; w++)
        for (let c = 0; c < g.c; c++) y[((b * g.outH + h + g.top) * g.outW + w + g.left) * g.c + c] = x[((b * g.inH + h) * g.inW + w) * g.c + c]!;
  return y;
}
