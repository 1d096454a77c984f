// Child process for test/resume.test.ts (vitest cannot be the child): trains a small model with the built
// library and writes its final weights. Usage:
//   node resume-child.mjs BUNDLE MODE CHECKPOINT_DIR OUT_JSON
// BUNDLE: the built Node entry (src/node.ts bundled); MODE: 'full' (uninterrupted, no checkpoints), 'train'
// (checkpoints every 5 steps, slowed so the parent can SIGKILL it mid-epoch) or 'resume' (continues from the
// checkpoint in CHECKPOINT_DIR to the end). Prints "batch EPOCH BATCH" after each step.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [bundle, mode, dir, out] = process.argv.slice(2);
if (!bundle || !['full', 'train', 'resume'].includes(mode) || !dir || !out) {
  console.error('usage: node resume-child.mjs BUNDLE full|train|resume CHECKPOINT_DIR OUT_JSON');
  process.exit(2);
}
const sf = await import(pathToFileURL(bundle).href);

// The same data in every child: uint8 6x6 images whose class is the brightest of three column blocks.
const n = 300;
const r = sf.mulberry32(77);
const images = new Uint8Array(n * 36);
const labels = new Uint8Array(n);
for (let i = 0; i < n; i++) {
  const cls = Math.floor(r() * 3);
  labels[i] = cls;
  for (let p = 0; p < 36; p++) images[i * 36 + p] = Math.floor(r() * 90) + (Math.floor((p % 6) / 2) === cls ? 120 : 0);
}

const engine = await sf.createEngine();
console.log(`adapter ${engine.describe()}`);
sf.resetLayerNames();
const model = new sf.Sequential([
  new sf.Conv2D({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [6, 6, 1] }),
  new sf.Flatten(),
  new sf.Dense({ units: 24, activation: 'relu' }),
  new sf.Dropout({ rate: 0.25 }),
  new sf.Dense({ units: 3, activation: 'softmax' }),
]);
model.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed: 5 });

let epochNow = 0;
const opts = {
  batchSize: 8,
  epochs: 3,
  validationSplit: 0.1, // 270 training examples: 33 full batches and a partial one of 6 per epoch
  verbose: 0,
  callbacks: {
    onEpochBegin: (e) => void (epochNow = e),
    onBatchEnd: async (b) => {
      process.stdout.write(`batch ${epochNow} ${b + 1}\n`);
      if (mode === 'train') await new Promise((res) => setTimeout(res, 12));
    },
  },
};
if (mode !== 'full') opts.checkpoint = sf.fileCheckpointer(dir, model, { everySteps: 5 });
if (mode === 'resume') {
  opts.resume = await sf.readCheckpoint(dir);
  if (!opts.resume) throw new Error(`no checkpoint in ${dir}`);
  process.stdout.write(`resuming at epoch ${opts.resume.epoch} batch ${opts.resume.batch} step ${opts.resume.optimizer.step}\n`);
}
const history = await model.fit({ images, shape: [n, 6, 6, 1] }, labels, opts);
const weights = await model.getWeights();
const step = (await model.getOptimizerState()).step;
const flat = new Float32Array(weights.reduce((s, w) => s + w.values.length, 0));
let o = 0;
for (const w of weights) {
  flat.set(w.values, o);
  o += w.values.length;
}
writeFileSync(
  out,
  JSON.stringify({
    mode,
    step,
    names: weights.map((w) => w.name),
    weights: Buffer.from(flat.buffer).toString('base64'),
    history: history.history,
    epochs: history.epoch,
  }),
);
process.stdout.write(`done ${mode} step ${step}\n`);
model.dispose();
engine.dispose();
