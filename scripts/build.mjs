// Builds the Node bundle (dist/node: library, CLI, benchmarks) and the browser bundle (dist/browser), with
// shaders/*.wgsl inlined as text. The browser bundle swaps src/gpu/provider.ts for provider.browser.ts so that
// no Node built-in reaches it.
import { build } from 'esbuild';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const common = { bundle: true, format: 'esm', target: 'es2022', loader: { '.wgsl': 'text' }, sourcemap: true, logLevel: 'warning' };

// entry -> output name in dist/node
const nodeEntries = { 'src/node.ts': 'index', 'src/cli.ts': 'cli', 'bench/main.ts': 'bench' };
await build({
  ...common,
  absWorkingDir: root,
  entryPoints: Object.entries(nodeEntries)
    .filter(([f]) => existsSync(resolve(root, f)))
    .map(([f, out]) => ({ in: f, out })),
  outdir: 'dist/node',
  platform: 'node',
  // Native and heavy packages stay as imports; everything of ours is bundled.
  packages: 'external',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});

const browserProvider = {
  name: 'browser-provider',
  setup(b) {
    b.onResolve({ filter: /\/provider\.js$/ }, (args) => ({ path: resolve(args.resolveDir, args.path.replace(/provider\.js$/, 'provider.browser.ts')) }));
  },
};
// entry -> output name in dist/browser; the worker bundle sits beside shaderflow.js, where createTrainer looks for it.
const browserEntries = { 'src/index.ts': 'shaderflow', 'src/worker/entry.ts': 'shaderflow-worker', 'web/demo.ts': 'demo', 'web/selftest.ts': 'selftest' };
await build({
  ...common,
  absWorkingDir: root,
  entryPoints: Object.entries(browserEntries)
    .filter(([f]) => existsSync(resolve(root, f)))
    .map(([f, out]) => ({ in: f, out })),
  outdir: 'dist/browser',
  platform: 'browser',
  plugins: [browserProvider],
});

// Type declarations for package.json "types" (dist/types/src/node.d.ts); tsc is a dev dependency.
import { execFileSync } from 'node:child_process';
const tscBin = resolve(root, 'node_modules/.bin/tsc');
if (existsSync(tscBin)) execFileSync(tscBin, ['-p', 'tsconfig.types.json'], { cwd: root, stdio: 'inherit' });
else console.warn('build: typescript is not installed, so dist/types (declarations) was not written');

// The declarations name WebGPU's types (GPUDevice, GPUBuffer...). TypeScript >= 6 declares them in lib.dom, so
// loading @webgpu/types there too would clash (duplicate identifiers). Older TypeScript has none: package.json's
// "types@<6" conditions send it to these entries, which load @webgpu/types (a dependency) and re-export the real ones.
mkdirSync(resolve(root, 'dist/types/ts5'), { recursive: true });
for (const entry of ['node', 'index'])
  writeFileSync(
    resolve(root, `dist/types/ts5/${entry}.d.ts`),
    `// TypeScript < 6 has no WebGPU types in lib.dom: take them from @webgpu/types.\n/// <reference types="@webgpu/types" />\nexport * from '../src/${entry}.js';\n`,
  );
