// The package as a consumer gets it: `npm pack`, the tarball installed into a fresh project outside the repository
// (examples/ copied there, with its own package.json and tsconfigs), every TypeScript example compiled with `strict`
// and `skipLibCheck: false` by the consumer's TypeScript (7) and by TypeScript 5.9 (no WebGPU types in its lib.dom:
// the "types@<6" entries load @webgpu/types), then the Node examples run on a few hundred MNIST images.
// npm installs with --prefer-offline: what `npm ci` put in npm's cache is used, the registry only for the rest.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; files: string[] };
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const LONG = 600_000; // a loaded 2-core machine; quiet, the whole file takes about a minute

let work: string; // the temporary folder: tarball, consumer project, caches
let app: string; // the consumer project
let packed: { filename: string; size: number; unpackedSize: number; files: { path: string }[] };

/** Runs a command in the consumer project; fails the test with its output when it exits non-zero. */
function run(cmd: string, args: string[], env: Record<string, string> = {}): string {
  const r = spawnSync(cmd, args, {
    cwd: app,
    encoding: 'utf8',
    env: { ...process.env, SHADERFLOW_AUTOTUNE: '0', SHADERFLOW_CACHE: join(work, 'cache'), SHADERFLOW_DATA: '', ...env },
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'shaderflow-consumer-'));
  app = join(work, 'app');
  // What `prepare` does on `npm pack`, run first so that pack's --json output is all there is on stdout.
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  const out = execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' });
  packed = (JSON.parse(out) as (typeof packed)[])[0]!;
  cpSync(join(root, 'examples'), app, { recursive: true, filter: (src) => !/[\\/](node_modules|dist)$/.test(src) });
  const typesNode = JSON.parse(readFileSync(join(root, 'node_modules/@types/node/package.json'), 'utf8')).version as string;
  run(npm, [
    'install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error',
    join(work, packed.filename), `@types/node@${typesNode}`, 'typescript5@npm:typescript@5.9.3',
  ]);
}, LONG);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the bundles, the declarations and nothing else', () => {
    const paths = packed.files.map((f) => f.path).sort();
    expect(paths).toContain('dist/node/index.js');
    expect(paths).toContain('dist/node/cli.js');
    expect(paths).toContain('dist/browser/shaderflow.js');
    expect(paths).toContain('dist/browser/shaderflow-worker.js');
    expect(paths).toContain('dist/types/src/node.d.ts');
    expect(paths).toContain('dist/types/src/index.d.ts');
    expect(paths).toContain('dist/types/ts5/node.d.ts');
    const allowed = /^(package\.json|README\.md|LICENSE|dist\/node\/(index|cli)\.js|dist\/browser\/shaderflow(-worker)?\.js|dist\/types\/(src|ts5)\/.+\.d\.ts)$/;
    expect(paths.filter((p) => !allowed.test(p))).toEqual([]);
    // Sizes for the record (the issue asks for them); far below what would mean a stray folder was packed.
    console.log(`${packed.filename}: ${(packed.size / 1024).toFixed(1)} kB packed, ${(packed.unpackedSize / 1024).toFixed(1)} kB unpacked, ${paths.length} files`);
    expect(packed.size).toBeLessThan(1 << 20);
  });

  it('installs without devDependencies: its dependencies are all a consumer needs', () => {
    const installed = JSON.parse(readFileSync(join(app, 'node_modules/shaderflow/package.json'), 'utf8'));
    expect(installed.version).toBe(pkg.version);
    for (const dep of Object.keys(installed.dependencies)) expect(() => readFileSync(join(app, 'node_modules', dep, 'package.json'))).not.toThrow();
  });

  it('compiles every example with strict and skipLibCheck false (TypeScript 7, and 5.9)', () => {
    for (const config of ['tsconfig.json', 'tsconfig.browser.json']) {
      const c = readFileSync(join(app, config), 'utf8');
      expect(c).toMatch(/"strict": true/);
      expect(c).toMatch(/"skipLibCheck": false/);
    }
    run(npm, ['run', 'build', '--silent']); // the consumer's own TypeScript 7
    for (const config of ['tsconfig.json', 'tsconfig.browser.json'])
      run(process.execPath, [join(app, 'node_modules/typescript5/bin/tsc'), '-p', config, '--noEmit']);
  }, LONG);

  it('runs the README example (node-mnist) on 300 MNIST images', () => {
    const out = run(process.execPath, ['dist/node-mnist.js'], { SHADERFLOW_EXAMPLE_LIMIT: '300' });
    expect(out).toMatch(/Total params: 804,554/);
    expect(out).toMatch(/Epoch 1\/1/);
    const evaluated = /^\[ ([\d.]+), ([\d.]+) \]$/m.exec(out);
    expect(evaluated, out).not.toBeNull();
    expect(Number.isFinite(Number(evaluated![1]))).toBe(true);
  }, LONG);

  it('runs the custom training loop (callbacks, early stop, best weights, save and reload)', () => {
    const out = run(process.execPath, ['dist/training-loop.js'], { SHADERFLOW_EXAMPLE_LIMIT: '300' });
    expect(out).toMatch(/epoch 1: loss [\d.]+, val_accuracy [\d.]+ after 5 batches/);
    expect(out).toMatch(/the saved model reloads at/);
  }, LONG);

  it('installs the shaderflow command, which knows its version', () => {
    expect(run(npm, ['exec', '--offline', '--', 'shaderflow', '--version']).trim()).toBe(pkg.version);
  }, LONG);
});
