// The quick checks of the device bundle (scripts/device-pack.mjs, scripts/device-run.sh). The full pack and run
// take minutes and download Node.js, so they are a manual check (README "Measuring on a GPU"): here, run.sh's
// syntax, the files it expects, and that the benchmark bundle needs nothing from node_modules but webgpu.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without declarations
import { benchBuildOptions, DEBS, MAX_BYTES } from '../scripts/device-pack.mjs';

const root = resolve(__dirname, '..');
const runSh = join(root, 'scripts/device-run.sh');

describe('device bundle', () => {
  it('run.sh is valid bash and unpacks exactly what device-pack writes', () => {
    execFileSync('bash', ['-n', runSh]);
    const text = readFileSync(runSh, 'utf8');
    const pack = readFileSync(join(root, 'scripts/device-pack.mjs'), 'utf8');
    for (const f of ['node.xz', 'payload.tar.xz']) {
      expect(text).toContain(`$here/${f}`);
      expect(pack).toContain(`'${f}'`);
    }
    // Every stage it runs is a bench command.
    const main = readFileSync(join(root, 'bench/main.ts'), 'utf8');
    for (const cmd of ['adapter', 'check', 'kernels', 'profile', 'compare']) {
      expect(text).toMatch(new RegExp(`stage [^\\n]*\\b${cmd}\\b`));
      expect(main).toContain(`case '${cmd}'`);
    }
    // The NVIDIA driver search covers the folders the GPU machines use.
    for (const d of ['/usr/local/nvidia/share/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d']) expect(text).toContain(d);
    expect(text).toContain('VK_DRIVER_FILES');
    expect(text).toContain('VK_ICD_FILENAMES');
  });

  it('carries the Vulkan loader and the EGL/GLES dispatch libraries', () => {
    expect(DEBS).toEqual(expect.arrayContaining(['libvulkan1', 'libegl1', 'libglvnd0', 'libgles2']));
    expect(MAX_BYTES).toBe(60 * 2 ** 20);
  });

  it('bundles the benchmarks with TF.js inside: only node: built-ins and webgpu stay imports', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sf-device-pack-'));
    try {
      const result = await build({ ...benchBuildOptions(join(dir, 'bench.mjs')), minify: false, metafile: true, logLevel: 'silent' });
      const imports = Object.values(result.metafile!.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
      const foreign = [...new Set(imports)].filter((p) => !p.startsWith('node:') && p !== 'webgpu');
      // Bare built-in names (fs, path, ...) that TF.js's CommonJS asks for are fine too, and so is 'encoding':
      // node-fetch (under TF.js's Node platform) requires it inside a try/catch as an optional dependency.
      const builtins = new Set([...(require('node:module').builtinModules as string[]), 'encoding']);
      expect(foreign.filter((p) => !builtins.has(p))).toEqual([]);
      const text = readFileSync(join(dir, 'bench.mjs'), 'utf8');
      expect(text).toContain('tfjs-wasm'); // the wasm files' folder beside the bundle (bench/tfjs.ts wasmDir)
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('a packed .device/ (when one was built here) is within the size limit and says what it holds', () => {
    const manifest = join(root, '.device/manifest.json');
    if (!existsSync(manifest)) return;
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { node: string; files: Record<string, number> };
    expect(m.node).toMatch(/^20\./);
    let total = 0;
    for (const [f, bytes] of Object.entries(m.files)) {
      expect(statSync(join(root, '.device', f)).size).toBe(bytes);
      total += bytes;
    }
    expect(total).toBeLessThanOrEqual(MAX_BYTES);
  });
});
