// `shaderflow profile --preset NAME [--batch-size N] [--adapter-class software|gpu] [--json]`: every dispatch of
// one training step of a preset with its measured time (src/model/profile.ts). Shared by the CLI and the device
// bundle's benchmark entry point (bench/main.ts `profile`), which carries no CLI.
import { parseArgs } from 'node:util';
import { adapterClassArg, presetArg, wholeArg } from './cli-args.js';
import { createEngine } from './gpu/engine.js';
import { buildPreset } from './model/presets.js';
import { formatProfile, profileJsonLines } from './model/profile.js';

/** Runs `shaderflow profile` on its arguments (flags and help: the profile entry of COMMANDS in src/cli.ts). */
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
  const preset = presetArg(values.preset);
  const batchSize = wholeArg(values['batch-size'], 'batch-size', 128);
  const steps = wholeArg(values.steps, 'steps', 5);
  const adapterClass = adapterClassArg(values['adapter-class']);
  const engine = await createEngine({ adapterClass });
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
