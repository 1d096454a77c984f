import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Load shaders/*.wgsl as text, exactly like esbuild's `text` loader does for the bundles.
export default defineConfig({
  plugins: [
    {
      name: 'wgsl-as-text',
      enforce: 'pre',
      load(id: string) {
        if (!id.endsWith('.wgsl')) return null;
        return `export default ${JSON.stringify(readFileSync(id, 'utf8'))};`;
      },
    },
  ],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One WebGPU device per test file; files run one at a time: the machine has 2 cores and a software GPU.
    fileParallelism: false,
    pool: 'forks',
    // Engines in tests keep the built-in kernel shapes (no timing-dependent choice); test/tuning.test.ts turns the
    // autotune on explicitly.
    env: { SHADERFLOW_AUTOTUNE: '0' },
  },
});
