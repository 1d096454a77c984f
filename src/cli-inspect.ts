// `shaderflow inspect --model DIR IMAGE`: what a saved CNN sees in one picture. The picture is prepared as
// `predict` prepares it, run through the model once (model.activations), and two PNGs are written: featuremaps.png
// (every conv layer's feature maps) and filters.png (the learned conv filters), drawn by src/viz/featuremaps.ts.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ShaderflowError } from './errors.js';
import { createEngine } from './gpu/engine.js';
import { writePng } from './data/image.js';
import { readImage } from './data/image-files.js';
import { modelDirArg } from './cli-args.js';
import { modelInputFor, readClassesFile } from './cli-images.js';
import { loadModel } from './node.js';
import { featureMapsPicture, filtersPicture } from './viz/featuremaps.js';

/** The layers whose outputs are feature maps: convolutions of any kind, with a [h, w, c] output. */
const isConv = (l: { className: string; outputShape: number[] }) => /Conv/.test(l.className) && l.outputShape.length === 3;

/** Runs `inspect` with its parsed flags (--model, --out, --json) and the image path. */
export async function inspectCommand(values: { model?: string; out?: string; json?: boolean }, positionals: string[]): Promise<void> {
  const dir = modelDirArg(values.model, 'inspect');
  if (positionals.length !== 1) throw new ShaderflowError('inspect needs one PNG or JPEG image after --model DIR: shaderflow inspect --model DIR digit.png.');
  const file = positionals[0]!;
  const img = readImage(file); // read and checked before the GPU starts
  const classes = readClassesFile(dir);
  const out = values.out ?? process.cwd();
  const engine = await createEngine();
  try {
    const model = await loadModel(engine, dir);
    const convs = model.layers.filter(isConv);
    if (convs.length === 0) throw new ShaderflowError(`inspect: model "${model.name}" in ${dir} has no conv layers, so there are no feature maps or filters to draw.`);
    const input = modelInputFor(model, img, classes);
    const acts = await model.activations({ images: input, shape: [1, ...model.inputShape] }, convs.map((l) => l.name));
    const weights = await model.getWeights();
    const kernels = convs.flatMap((l) => weights.filter((w) => w.name === `${l.name}/kernel` && w.shape.length === 4));
    const maps = featureMapsPicture(acts);
    const filters = filtersPicture(kernels);
    await mkdir(out, { recursive: true });
    const written = [
      { file: join(out, 'featuremaps.png'), image: maps, layers: acts.map((a) => ({ name: a.name, shape: a.shape.slice(1) })) },
      { file: join(out, 'filters.png'), image: filters, layers: kernels.map((k) => ({ name: k.name, shape: k.shape })) },
    ];
    for (const w of written) writePng(w.file, w.image);
    if (values.json)
      process.stdout.write(`${JSON.stringify({ image: file, files: written.map((w) => ({ file: w.file, width: w.image.shape[1], height: w.image.shape[0], layers: w.layers })) })}\n`);
    else
      for (const w of written)
        process.stdout.write(`Wrote ${w.file} (${w.image.shape[1]}x${w.image.shape[0]}): ${w.layers.map((l) => `${l.name} ${l.shape.join('x')}`).join(', ')}\n`);
    model.dispose();
  } finally {
    engine.dispose();
  }
}
