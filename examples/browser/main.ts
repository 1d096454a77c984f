// README's "In a web page" example as a TypeScript module: the seed course's MNIST CNN trained in the browser.
// index.html maps the import 'shaderflow' to the package's browser bundle; MNIST's IDX files (gzip or raw) are
// fetched from data/ next to the page.
import { buildPreset, createEngine, decodeIdx } from 'shaderflow';

const out = document.querySelector<HTMLPreElement>('#out')!;
const say = (s: string): void => {
  out.textContent += `${s}\n`;
};

const engine = await createEngine(); // a DeviceError when the browser has no WebGPU
say(`adapter: ${engine.describe()}`);
const { model, compileArgs } = buildPreset('mnist-cnn');
model.compile(engine, compileArgs);
const idx = async (file: string) => decodeIdx(new Uint8Array(await (await fetch(file)).arrayBuffer()), file);
const x = await idx('data/train-images-idx3-ubyte.gz');
const y = await idx('data/train-labels-idx1-ubyte.gz');
const [n, h, w] = x.dims as [number, number, number];
await model.fit({ images: x.data as Uint8Array, shape: [n, h, w, 1] }, y.data as Uint8Array, {
  batchSize: 128,
  epochs: 1,
  sink: { isTTY: false, write: (s) => say(s.trimEnd()) },
});
say('done');
