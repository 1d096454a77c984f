// Flag checks shared by the CLI's commands (src/cli.ts) and those that parse their own arguments (plan, profile,
// selftest; profile is also run by the device bundle, without the CLI): each error names the flag and what it takes.
import { ShaderflowError } from './errors.js';
import type { AdapterClass } from './gpu/engine.js';
import { isPreset, PRESETS, type PresetName } from './model/presets.js';
import type { Model } from './model/model.js';
import type { DatasetName } from './data/loaders.js';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

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

/** What --lr-schedule asks for: cosine decay over the whole run, or exponential decay by RATE every STEPS steps. */
export type LrScheduleArg = { kind: 'cosine' } | { kind: 'exponential'; rate: number; steps: number };

/** --lr-schedule cosine | exponential:RATE:STEPS (undefined when absent). */
export function lrScheduleArg(v: string | undefined): LrScheduleArg | undefined {
  if (v === undefined) return undefined;
  if (v === 'cosine') return { kind: 'cosine' };
  const m = /^exponential:([^:]+):([^:]+)$/.exec(v);
  const rate = Number(m?.[1]), steps = Number(m?.[2]);
  if (!m || !(rate > 0 && Number.isFinite(rate)) || !(Number.isInteger(steps) && steps >= 1))
    throw new ShaderflowError(`--lr-schedule must be cosine or exponential:RATE:STEPS (RATE a number > 0, STEPS a whole number >= 1, e.g. exponential:0.9:1000), got "${v}".`);
  return { kind: 'exponential', rate, steps };
}

/** --model DIR must be a folder holding model.json (and the weights it names); checked before the GPU starts. */
export function modelDirArg(dir: string | undefined, command: string): string {
  if (!dir) throw new ShaderflowError(`${command} needs --model DIR (a folder with model.json and weights.bin, as train --out writes).`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ShaderflowError(`--model ${dir}: no such folder (train --out DIR writes one).`);
  if (!existsSync(join(dir, 'model.json'))) throw new ShaderflowError(`--model ${dir}: no model.json in this folder (train --out DIR writes model.json and weights.bin).`);
  return dir;
}

/** The dataset a saved preset model was trained on: its name (mnist_mlp, fashion_cnn, ...) or else its input shape. */
export function datasetOf(model: Model): DatasetName {
  if (model.name.startsWith('fashion')) return 'fashion-mnist';
  if (model.name.startsWith('cifar') || model.inputShape[0] === 32 || model.inputShape[0] === 32 * 32 * 3) return 'cifar10';
  return 'mnist';
}
