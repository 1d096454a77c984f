// `shaderflow profile --preset NAME [--batch-size N] [--adapter-class software|gpu] [--json]`: every dispatch of
// one training step of a preset with its measured time (src/model/profile.ts). Shared by the CLI and the device
// bundle's benchmark entry point (bench/main.ts `profile`), which carries no CLI.
import { parseArgs } from 'node:util';
import { ShaderflowError } from './errors.js';
import { createEngine, type AdapterClass } from './gpu/engine.js';
import { buildPreset, isPreset, PRESETS } from './model/presets.js';
import { formatProfile, profileJsonLines } from './model/profile.js';

export const PROFILE_USAGE = 'profile --preset NAME [--batch-size N] [--adapter-class software|gpu] [--steps N] [--json]';

export async function profileCommand(argv: string[], write: (s: string) => void = (s) => process.stdout.write(s)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      preset: { type: 'string' },
      'batch-size': { type: 'string' },
      'adapter-class': { type: 'string' },
      steps: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const preset = values.preset;
  if (!preset || !isPreset(preset)) throw new ShaderflowError(`--preset must be one of ${PRESETS.join(', ')}${preset ? `, got "${preset}"` : ''}.`);
  const whole = (v: string | undefined, name: string, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new ShaderflowError(`--${name} must be a whole number >= 1, got "${v}".`);
    return n;
  };
  const batchSize = whole(values['batch-size'], 'batch-size', 128);
  const steps = whole(values.steps, 'steps', 5);
  const cls = values['adapter-class'];
  if (cls !== undefined && cls !== 'software' && cls !== 'gpu') throw new ShaderflowError(`--adapter-class must be software or gpu, got "${cls}".`);
  const engine = await createEngine({ adapterClass: cls as AdapterClass | undefined });
  try {
    const { model, compileArgs } = buildPreset(preset, { seed: 1 });
    model.compile(engine, compileArgs);
    try {
      const p = await model.profile(batchSize, { steps });
      write(values.json ? `${profileJsonLines(p).join('\n')}\n` : `${formatProfile(p)}\n`);
    } finally {
      model.dispose();
    }
  } finally {
    engine.dispose();
  }
}
