// CPU twin of shaders/initializer.wgsl: the same hash and float mapping. Uniform initializers match the GPU bit
// for bit; truncated normals go through log/cos/sin, whose f32 GPU versions differ from float64 by a few ulp.
import { initializerPlan, type InitializerSpec } from '../kernels/initializer.js';
import { pcg4d } from './dropout.js';

const DOMAIN = 0x1a17;
const ATTEMPTS = 8;

/** The values initialize() writes for a tensor of n elements (f32, as the GPU rounds them). */
export function initializeRef(n: number, spec: InitializerSpec, seed: number): Float32Array {
  const { entry, a } = initializerPlan(spec);
  const af = Math.fround(a);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (entry === 'fill') out[i] = af;
    else if (entry === 'uniformDraw') {
      const k = pcg4d(i, seed, 0, DOMAIN)[0] >>> 8;
      out[i] = af * ((2 * k - 16777216) / 16777216);
    } else {
      let z = 0;
      for (let t = 0; t < ATTEMPTS; t++) {
        const h = pcg4d(i, seed, t, DOMAIN);
        const u1 = ((h[0] >>> 8) + 1) / 16777216;
        const u2 = (h[1] >>> 8) / 16777216;
        const r = Math.sqrt(-2 * Math.log(u1));
        const z0 = r * Math.cos(2 * Math.PI * u2), z1 = r * Math.sin(2 * Math.PI * u2);
        if (Math.abs(z0) <= 2) { z = z0; break; }
        if (Math.abs(z1) <= 2) { z = z1; break; }
        z = Math.min(Math.max(z1, -2), 2);
      }
      out[i] = af * z;
    }
  }
  return out;
}
