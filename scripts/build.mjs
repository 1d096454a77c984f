// Builds the Node bundle (dist/node: library, CLI, benchmarks) and the browser bundle (dist/browser), with
// shaders/*.wgsl inlined as text. The browser bundle swaps src/gpu/provider.ts for provider.browser.ts so that
// no Node built-in reaches it.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const common = { bundle: true, format: 'esm', target: 'es2022', loader: { '.wgsl': 'text' }, sourcemap: true, logLevel: 'warning' };

const nodeEntries = ['src/index.ts', 'src/cli.ts', 'bench/main.ts'].filter((f) => existsSync(resolve(root, f)));
await build({
  ...common,
  absWorkingDir: root,
  entryPoints: nodeEntries.map((f) => ({ in: f, out: f.replace(/^(src|bench)\//, '').replace(/^main\.ts$/, 'bench.ts').replace(/\.ts$/, '').replace(/^main$/, 'bench') })),
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
const browserEntries = ['src/index.ts', 'web/demo.ts'].filter((f) => existsSync(resolve(root, f)));
await build({
  ...common,
  absWorkingDir: root,
  entryPoints: browserEntries.map((f) => ({ in: f, out: f === 'src/index.ts' ? 'shaderflow' : 'demo' })),
  outdir: 'dist/browser',
  platform: 'browser',
  plugins: [browserProvider],
});
