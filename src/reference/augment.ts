// CPU twins of the augmentation kernels (shaders/augment.wgsl). The random parameters are reproduced exactly: the
// same pcg4d draw and the same float32 steps (Math.fround after each operation), except the rotation's cos and
// sin, which WGSL computes to its own accuracy (absolute error 2^-11 in [-π, π]) and this twin in float64. The
// transforms themselves run in float64 from the float32 parameters, with the sampling coordinates in float32 as
// the GPU computes them (so nearest-neighbour picks the same pixel).
import { drawUniforms, FILL_MODES, PARAMS_PER_EXAMPLE, type AugmentDraw, type FillMode, type ImageDims, type Interpolation } from '../kernels/augment.js';
import { pcg4d } from './dropout.js';

const f = Math.fround;

/** The [n, 8] parameters augmentDraw writes for step t (rotation: up to WGSL's cos/sin accuracy). */
export function augmentParamsRef(dims: ImageDims, draw: AugmentDraw, seed: number, stream: number, t: number): Float32Array {
  const u = drawUniforms(draw);
  const [lo0, span0, lo1, span1, scale] = [f(u.lo0), f(u.span0), f(u.lo1), f(u.span1), f(u.scale)];
  const out = new Float32Array(dims.n * PARAMS_PER_EXAMPLE);
  const w1 = dims.w - 1, h1 = dims.h - 1;
  for (let b = 0; b < dims.n; b++) {
    const hs = pcg4d(b, t, stream, seed);
    const v0 = f(lo0 + f(span0 * ((hs[0] >>> 8) / 2 ** 24)));
    const v1 = f(lo1 + f(span1 * ((hs[1] >>> 8) / 2 ** 24)));
    const p = out.subarray(b * PARAMS_PER_EXAMPLE, (b + 1) * PARAMS_PER_EXAMPLE);
    switch (draw.kind) {
      case 'flip':
        p[0] = u.mode & 1 && hs[0] >>> 31 === 0 ? 1 : 0;
        p[1] = u.mode & 2 && hs[1] >>> 31 === 0 ? 1 : 0;
        break;
      case 'translate':
        p.set([1, 0, -f(v1 * dims.w), 0, 1, -f(v0 * dims.h)]);
        break;
      case 'rotate': {
        const angle = f(v0 * f(2 * Math.PI));
        const cs = Math.cos(angle), sn = Math.sin(angle);
        p.set([cs, -sn, (w1 - (cs * w1 - sn * h1)) / 2, sn, cs, (h1 - (sn * w1 + cs * h1)) / 2]);
        break;
      }
      case 'zoom': {
        const zy = f(1 + v0);
        const zx = u.mode === 1 ? zy : f(1 + v1);
        p.set([zx, 0, f(f(w1 / 2) * f(1 - zx)), 0, zy, f(f(h1 / 2) * f(1 - zy))]);
        break;
      }
      case 'crop':
        if (u.mode === 1) p.set([Math.floor((dims.h - u.oh) / 2), Math.floor((dims.w - u.ow) / 2)]);
        else p.set([Math.floor(((hs[0] >>> 16) * (dims.h - u.oh + 1)) / 65536), Math.floor(((hs[1] >>> 16) * (dims.w - u.ow + 1)) / 65536)]);
        break;
      case 'contrast':
        p[0] = v0;
        break;
      case 'brightness':
        p[0] = f(v0 * scale);
        break;
    }
  }
  return out;
}

/** TensorFlow's MapCoordinate for `mode`, in float32 steps (constant: the coordinate unchanged). */
export function mapCoordRef(c: number, len: number, mode: FillMode): number {
  let v = f(c);
  const clampLen = (z: number) => Math.min(Math.max(z, 0), len - 1);
  if (mode === 'constant') return v;
  if (mode === 'nearest') return clampLen(v);
  if (mode === 'reflect') {
    if (v < 0) {
      if (len <= 1) v = 0;
      else {
        const sz2 = 2 * len;
        v = f(sz2 * Math.trunc(f(-v / sz2)) + v);
        v = v < -len ? f(v + sz2) : f(-v - 1);
      }
    } else if (v > len - 1) {
      if (len <= 1) v = 0;
      else {
        const sz2 = 2 * len;
        v = f(v - sz2 * Math.trunc(f(v / sz2)));
        if (v >= len) v = f(sz2 - v - 1);
      }
    }
    return clampLen(v);
  }
  // wrap
  if (v < 0) v = len <= 1 ? 0 : f(v + len * (Math.trunc(f(-v / (len - 1))) + 1));
  else if (v > len - 1) v = len <= 1 ? 0 : f(v - len * Math.trunc(f(v / (len - 1))));
  return clampLen(v);
}

function roundAway(v: number): number {
  const t = Math.trunc(v);
  return Math.abs(v - t) >= 0.5 ? t + Math.sign(v) : t;
}

/**
 * The relative error affineRef allows the GPU for inputs of unit range: its float32 sampling coordinates (up to
 * about w + h in size) may differ from these in the last bit or two (FMA contraction), and bilinear weights move a
 * value by that much times a neighbour difference (<= the input range, 1).
 */
export function affineTolerance(d: ImageDims): number {
  return 2 * (d.w + d.h) * 2 ** -23;
}

/** y = x resampled at each example's affine map (params [n, 8]), float64 interpolation. */
export function affineRef(
  x: ArrayLike<number>, params: ArrayLike<number>, d: ImageDims, o: { fillMode: FillMode; interpolation: Interpolation; fillValue: number },
): Float64Array {
  if (!FILL_MODES.includes(o.fillMode)) throw new Error(`affineRef: fill mode ${o.fillMode}`);
  const y = new Float64Array(d.n * d.h * d.w * d.c);
  const fillValue = f(o.fillValue);
  const read = (b: number, yy: number, xx: number, ch: number) =>
    yy < 0 || xx < 0 || yy >= d.h || xx >= d.w ? fillValue : x[((b * d.h + yy) * d.w + xx) * d.c + ch]!;
  for (let b = 0; b < d.n; b++) {
    const m = Array.from({ length: 6 }, (_, k) => f(params[b * PARAMS_PER_EXAMPLE + k]!));
    for (let oy = 0; oy < d.h; oy++)
      for (let ox = 0; ox < d.w; ox++) {
        const sx = mapCoordRef(f(f(f(m[0]! * ox) + f(m[1]! * oy)) + m[2]!), d.w, o.fillMode);
        const sy = mapCoordRef(f(f(f(m[3]! * ox) + f(m[4]! * oy)) + m[5]!), d.h, o.fillMode);
        for (let ch = 0; ch < d.c; ch++) {
          const i = ((b * d.h + oy) * d.w + ox) * d.c + ch;
          if (o.interpolation === 'nearest') {
            y[i] = read(b, roundAway(sy), roundAway(sx), ch);
            continue;
          }
          const x0 = Math.floor(sx), y0 = Math.floor(sy);
          const top = (x0 + 1 - sx) * read(b, y0, x0, ch) + (sx - x0) * read(b, y0, x0 + 1, ch);
          const bottom = (x0 + 1 - sx) * read(b, y0 + 1, x0, ch) + (sx - x0) * read(b, y0 + 1, x0 + 1, ch);
          y[i] = (y0 + 1 - sy) * top + (sy - y0) * bottom;
        }
      }
  }
  return y;
}

/** y = x mirrored along each example's drawn axes (params[0] horizontal, params[1] vertical); its own transpose. */
export function flipRef(x: ArrayLike<number>, params: ArrayLike<number>, d: ImageDims): Float64Array {
  const y = new Float64Array(d.n * d.h * d.w * d.c);
  for (let b = 0; b < d.n; b++) {
    const fh = params[b * PARAMS_PER_EXAMPLE] !== 0, fv = params[b * PARAMS_PER_EXAMPLE + 1] !== 0;
    for (let i = 0; i < d.h; i++)
      for (let j = 0; j < d.w; j++)
        for (let ch = 0; ch < d.c; ch++)
          y[((b * d.h + i) * d.w + j) * d.c + ch] = x[((b * d.h + (fv ? d.h - 1 - i : i)) * d.w + (fh ? d.w - 1 - j : j)) * d.c + ch]!;
  }
  return y;
}

/** y [n, oh, ow, c] = the window at each example's offset (params[0] top, params[1] left). */
export function cropRef(x: ArrayLike<number>, params: ArrayLike<number>, d: ImageDims, oh: number, ow: number): Float64Array {
  const y = new Float64Array(d.n * oh * ow * d.c);
  for (let b = 0; b < d.n; b++) {
    const top = params[b * PARAMS_PER_EXAMPLE]!, left = params[b * PARAMS_PER_EXAMPLE + 1]!;
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let ch = 0; ch < d.c; ch++) y[((b * oh + i) * ow + j) * d.c + ch] = x[((b * d.h + i + top) * d.w + j + left) * d.c + ch]!;
  }
  return y;
}

/** dx [n, h, w, c]: dy [n, oh, ow, c] placed at each example's window, zeros elsewhere. */
export function cropBackwardRef(dy: ArrayLike<number>, params: ArrayLike<number>, d: ImageDims, oh: number, ow: number): Float64Array {
  const dx = new Float64Array(d.n * d.h * d.w * d.c);
  for (let b = 0; b < d.n; b++) {
    const top = params[b * PARAMS_PER_EXAMPLE]!, left = params[b * PARAMS_PER_EXAMPLE + 1]!;
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++)
        for (let ch = 0; ch < d.c; ch++) dx[((b * d.h + i + top) * d.w + j + left) * d.c + ch] = dy[((b * oh + i) * ow + j) * d.c + ch]!;
  }
  return dx;
}

/** Each example's per-channel mean, [n, c]. */
export function channelMeanRef(x: ArrayLike<number>, d: ImageDims): Float64Array {
  const m = new Float64Array(d.n * d.c);
  const hw = d.h * d.w;
  for (let b = 0; b < d.n; b++) for (let k = 0; k < hw; k++) for (let ch = 0; ch < d.c; ch++) m[b * d.c + ch]! += x[(b * hw + k) * d.c + ch]!;
  return m.map((v) => v / hw);
}

/** Keras' contrast: clip((x - mean)·f + mean, range), f = params[0] per example. */
export function contrastRef(x: ArrayLike<number>, params: ArrayLike<number>, d: ImageDims, range: [number, number]): Float64Array {
  const m = channelMeanRef(x, d);
  const per = d.h * d.w * d.c;
  return Float64Array.from({ length: d.n * per }, (_, i) => {
    const b = Math.floor(i / per), mean = m[b * d.c + (i % d.c)]!;
    return Math.min(Math.max((x[i]! - mean) * params[b * PARAMS_PER_EXAMPLE]! + mean, range[0]), range[1]);
  });
}

/** dx of contrastRef (clip gradient 1 on [lo, hi] inclusive, as the GPU's). */
export function contrastBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, params: ArrayLike<number>, d: ImageDims, range: [number, number]): Float64Array {
  const m = channelMeanRef(x, d);
  const per = d.h * d.w * d.c, hw = d.h * d.w;
  const pass = (i: number) => {
    const b = Math.floor(i / per), mean = m[b * d.c + (i % d.c)]!;
    const z = (x[i]! - mean) * params[b * PARAMS_PER_EXAMPLE]! + mean;
    return z >= range[0] && z <= range[1] ? dy[i]! : 0;
  };
  const sums = new Float64Array(d.n * d.c);
  for (let i = 0; i < d.n * per; i++) sums[Math.floor(i / per) * d.c + (i % d.c)]! += pass(i);
  return Float64Array.from({ length: d.n * per }, (_, i) => {
    const b = Math.floor(i / per), fct = params[b * PARAMS_PER_EXAMPLE]!;
    return fct * pass(i) + ((1 - fct) * sums[b * d.c + (i % d.c)]!) / hw;
  });
}

/** Keras' brightness: clip(x + delta, range), delta = params[0] per example. */
export function brightnessRef(x: ArrayLike<number>, params: ArrayLike<number>, d: ImageDims, range: [number, number]): Float64Array {
  const per = d.h * d.w * d.c;
  return Float64Array.from({ length: d.n * per }, (_, i) =>
    Math.min(Math.max(x[i]! + params[Math.floor(i / per) * PARAMS_PER_EXAMPLE]!, range[0]), range[1]));
}

/** dx of brightnessRef: dy where x + delta lies in [lo, hi], else 0. */
export function brightnessBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, params: ArrayLike<number>, d: ImageDims, range: [number, number]): Float64Array {
  const per = d.h * d.w * d.c;
  return Float64Array.from({ length: d.n * per }, (_, i) => {
    const z = f(x[i]! + params[Math.floor(i / per) * PARAMS_PER_EXAMPLE]!);
    return z >= range[0] && z <= range[1] ? dy[i]! : 0;
  });
}
