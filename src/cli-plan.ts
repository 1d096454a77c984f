// `shaderflow plan`: the dispatch plan of one recorded training step of a preset (src/model/plan.ts), without
// running it: every dispatch's kernel variant, workgroups, threads, serial loop, FLOPs, bytes and modeled time.
import { parseArgs } from 'node:util';
import { adapterClassArg, presetArg, wholeArg } from './cli-args.js';
import { createEngine } from './gpu/engine.js';
import { formatPlan, H200, parseGpuSpec } from './model/plan.js';
import { buildPreset } from './model/presets.js';

/** Runs `shaderflow plan` on its arguments (flags and help: the plan entry of COMMANDS in src/cli.ts). */
export async function planCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      preset: { type: 'string' },
      'batch-size': { type: 'string' },
      'adapter-class': { type: 'string' },
      'gpu-spec': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const preset = presetArg(values.preset);
  const batch = wholeArg(values['batch-size'], 'batch-size', 128);
  const adapterClass = adapterClassArg(values['adapter-class']);
  const gpu = values['gpu-spec'] ? parseGpuSpec(values['gpu-spec']) : H200;
  const engine = await createEngine({ adapterClass });
  try {
    const { model, compileArgs } = buildPreset(preset);
    model.compile(engine, compileArgs);
    const plan = model.plan(batch, gpu);
    if (values.json) {
      for (const r of plan.rows) {
        const { groups: _groups, ...row } = r;
        process.stdout.write(`${JSON.stringify(row)}\n`);
      }
      process.stdout.write(`${JSON.stringify({ total_modeled_us: plan.total_modeled_us })}\n`);
    } else {
      process.stdout.write(`${preset}, batch ${batch}, ${engine.adapter.adapterClass} class kernels (${engine.describe()})\n${formatPlan(plan)}\n`);
    }
    model.dispose();
  } finally {
    engine.dispose();
  }
}
