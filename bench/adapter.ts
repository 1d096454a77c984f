// `npm run bench -- adapter [--batch N] [--json]`: the adapter (vendor, architecture, description, class and why,
// backend, feature level, features, limits), how this adapter gets timed (timestamps or wall clock), the tuning
// defaults of its class, and the autotune's choices with their candidate timings for the seed models' training
// steps at batch N (default 128): the autotune runs here as it runs at a model's first step (cached per adapter
// in $SHADERFLOW_CACHE, so later runs in the same cache reuse the choices).
import { createEngine, RAISED_LIMITS } from '../src/gpu/engine.js';
import { timingMethod } from '../src/gpu/recorder.js';
import { tuningChoices } from '../src/kernels/autotune.js';
import { tuningOf } from '../src/kernels/tuning.js';
import { buildPreset, type PresetName } from '../src/model/presets.js';

/** The limits shaderflow raises to the adapter's values, and the storage offset alignment it packs parameters by. */
const LIMITS = [...RAISED_LIMITS, 'minStorageBufferOffsetAlignment'] as const;

export async function adapterCommand(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const bi = args.indexOf('--batch');
  const batch = bi >= 0 ? Number(args[bi + 1]) : 128;
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const engine = await createEngine();
  try {
    const a = engine.adapter;
    const limits = Object.fromEntries(LIMITS.map((k) => [k, (engine.limits as unknown as Record<string, number>)[k]]));
    const features = [...engine.device.features].sort();
    const method = timingMethod(engine);
    if (json) say(JSON.stringify({ ...a, describe: engine.describe(), features, limits, timing: method, tuning: tuningOf(engine), autotune: engine.autotune }));
    else {
      say(`adapter: ${engine.describe()}`);
      for (const [k, v] of Object.entries({ vendor: a.vendor, architecture: a.architecture, description: a.description, device: a.device, backend: a.backend, 'feature level': a.featureLevel, class: `${a.adapterClass} (${a.classReason})` }))
        say(`  ${k.padEnd(14)} ${v || '-'}`);
      say(`  ${'features'.padEnd(14)} ${features.join(', ') || '-'}`);
      say(`  ${'timing'.padEnd(14)} ${method === 'timestamp' ? 'GPU timestamps (timestamp-query)' : 'wall clock (no timestamp-query)'}`);
      say('limits:');
      for (const [k, v] of Object.entries(limits)) say(`  ${k.padEnd(36)} ${v}`);
      say(`tuning defaults (${a.adapterClass} class): ${JSON.stringify(tuningOf(engine))}`);
    }
    if (!engine.autotune) {
      say(json ? JSON.stringify({ autotune: 'off' }) : 'autotune: off (SHADERFLOW_AUTOTUNE=0): the defaults above hold');
      return;
    }
    // The autotune as a model's first step runs it: each seed model's step at this batch size.
    for (const name of ['mnist-mlp', 'mnist-cnn', 'cifar-cnn'] as PresetName[]) {
      const { model, compileArgs } = buildPreset(name, { seed: 1 });
      model.compile(engine, compileArgs);
      const t0 = performance.now();
      try {
        await model.timeTrainSteps({ batchSize: batch, steps: 0, warmup: 0 });
      } finally {
        model.dispose();
      }
      if (!json) say(`autotune for ${name} at batch ${batch}: ${((performance.now() - t0) / 1000).toFixed(1)} s (compiling included)`);
    }
    const choices = tuningChoices(engine);
    if (json) for (const { key, choice } of choices) say(JSON.stringify({ key, ...choice }));
    else {
      say(`autotune choices (${choices.length}):`);
      for (const { key, choice } of choices)
        say(`  ${key}: ${choice.choice}  [${choice.timings.map((t) => `${t.candidate} ${t.ms.toFixed(3)} ms`).join(', ')}; ${choice.method}]`);
    }
  } finally {
    engine.dispose();
  }
}
