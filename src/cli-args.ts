// Flag checks shared by the CLI's commands (src/cli.ts) and those that parse their own arguments (plan, profile,
// selftest; profile is also run by the device bundle, without the CLI): each error names the flag and what it takes.
import { ShaderflowError } from './errors.js';
import type { AdapterClass } from './gpu/engine.js';
import { isPreset, PRESETS, type PresetName } from './model/presets.js';

/** --preset: one of the presets (required). */
export function presetArg(v: string | undefined): PresetName {
  if (!v || !isPreset(v)) throw new ShaderflowError(`--preset must be one of ${PRESETS.join(', ')}${v ? `, got "${v}"` : ''}.`);
  return v;
}

/** A whole-number flag `--name` of at least `min`, `dflt` when absent. */
export function wholeArg(v: string | undefined, name: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new ShaderflowError(`--${name} must be a whole number >= ${min}, got "${v}".`);
  return n;
}

/** --adapter-class: the kernel set to use, software or gpu (undefined: the adapter's own class). */
export function adapterClassArg(v: string | undefined): AdapterClass | undefined {
  if (v !== undefined && v !== 'software' && v !== 'gpu') throw new ShaderflowError(`--adapter-class must be software or gpu, got "${v}".`);
  return v;
}
