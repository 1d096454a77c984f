// `shaderflow plan`: the dispatch plan of one recorded training step of a preset (src/model/plan.ts), without
// running it: every dispatch's kernel variant, workgroups, threads, serial loop, FLOPs, bytes and modeled time.
import { parseArgs } from 'node:util';
import { ShaderflowError } from './errors.js';
import { createEngine, type AdapterClass } from './gpu/engine.js';
import { formatPlan, H200, parseGpuSpec } from './model/plan.js';
import { buildPreset, isPreset, PRESETS } from './model/presets.js';

export const PLAN_USAGE = `shaderflow plan --preset NAME [--batch-size N] [--adapter-class software|gpu] [--gpu-spec h200|JSON] [--json]
  Lists every dispatch of the preset's recorded training step (nothing runs) with its modeled time on a
  reference GPU (default the H200). --json prints one {"label","variant","workgroups","threads","serial",
  "flops","bytes","modeled_us"} line per dispatch and a last {"total_modeled_us"} line.
  Example: shaderflow plan --preset mnist-cnn --batch-size 128 --adapter-class gpu`;

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
  const preset = values.preset;
  if (!preset || !isPreset(preset)) throw new ShaderflowError(`plan --preset must be one of ${PRESETS.join(', ')}${preset ? `, got "${preset}"` : ''}.`);
  const batchText = values['batch-size'] ?? '128';
  const batch = Number(batchText);
  if (!Number.isInteger(batch) || batch < 1) throw new ShaderflowError(`--batch-size must be a whole number >= 1, got "${batchText}".`);
  const cls = values['adapter-class'];
  if (cls !== undefined && cls !== 'software' && cls !== 'gpu') throw new ShaderflowError(`--adapter-class must be software or gpu, got "${cls}".`);
  const gpu = values['gpu-spec'] ? parseGpuSpec(values['gpu-spec']) : H200;
  const engine = await createEngine(cls ? { adapterClass: cls as AdapterClass } : {});
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
