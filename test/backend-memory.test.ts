// The backend memory (src/gpu/provider.ts): `auto` remembers, per machine drivers, which candidate gave the device
// when Dawn's default backend (Vulkan on Linux) did not, so later starts skip the Vulkan probe and its native
// warnings. End to end through `shaderflow adapter` in child processes, each with an empty cache folder of its own.
import { spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_MEMORY, driverFingerprint, orderByMemory, parseBackendMemory, type BackendMemory } from '../src/gpu/provider.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(join(tmpdir(), 'sf-backend-'));
const cache = join(tmp, 'cache');
const memoryFile = join(cache, BACKEND_MEMORY);

/** `shaderflow adapter` with the test's cache folder: its stdout (the adapter line) and stderr (Dawn's and our notes). */
function adapter(env: Record<string, string> = {}): { stdout: string; stderr: string } {
  const { SHADERFLOW_VERBOSE: _v, SHADERFLOW_BACKEND: _b, ...rest } = process.env;
  const r = spawnSync(process.execPath, [join(root, 'dist/node/cli.js'), 'adapter'], {
    encoding: 'utf8',
    env: { ...rest, SHADERFLOW_CACHE: cache, SHADERFLOW_AUTOTUNE: '0', ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  return { stdout: r.stdout, stderr: r.stderr };
}

const memory = (): BackendMemory => {
  const m = parseBackendMemory(readFileSync(memoryFile, 'utf8'));
  if (typeof m === 'string') throw new Error(m);
  return m;
};

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}, 300_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('backend memory: the pieces', () => {
  it('parses its own file and names what is wrong with anything else', () => {
    const good: BackendMemory = { format: 'shaderflow-backend 1', drivers: 'abc', use: 'opengles (compatibility)', failed: ['x'], files: [] };
    expect(parseBackendMemory(JSON.stringify(good))).toEqual(good);
    expect(parseBackendMemory('{bad')).toMatch(/not valid JSON/);
    expect(parseBackendMemory('null')).toMatch(/not a JSON object/);
    expect(parseBackendMemory(JSON.stringify({ ...good, format: 'other 9' }))).toMatch(/format must be "shaderflow-backend 1", got "other 9"/);
    expect(parseBackendMemory(JSON.stringify({ ...good, use: 3 }))).toMatch(/use must be/);
  });

  it('puts the remembered candidate first and keeps the others, in order, behind it', () => {
    const normal = [{ label: 'default backend (core)' }, { label: 'opengles (core)' }, { label: 'opengles (compatibility)' }];
    expect(orderByMemory(normal, 'opengles (compatibility)').map((c) => c.label)).toEqual(['opengles (compatibility)', 'default backend (core)', 'opengles (core)']);
    expect(orderByMemory(normal, 'default backend (core)')).toEqual(normal);
    expect(orderByMemory(normal, 'metal (core)')).toEqual(normal); // not a candidate (any more): the normal order
  });

  it('fingerprints the drivers: the same twice, another when a Vulkan driver variable changes', () => {
    const a = driverFingerprint();
    expect(a.key).toMatch(/^[0-9a-f]{32}$/);
    expect(driverFingerprint()).toEqual(a);
    const saved = process.env.VK_DRIVER_FILES;
    process.env.VK_DRIVER_FILES = '/nowhere/other_icd.json';
    try {
      expect(driverFingerprint().key).not.toBe(a.key);
    } finally {
      if (saved === undefined) delete process.env.VK_DRIVER_FILES;
      else process.env.VK_DRIVER_FILES = saved;
    }
  });
});

describe('backend memory: first start records, second start reads', () => {
  let first: { stdout: string; stderr: string };

  it('a first start with an empty cache probes and, when the default backend failed, records the one that worked', (ctx) => {
    first = adapter();
    if (!existsSync(memoryFile)) {
      // Dawn's default backend worked (a usable Vulkan, or no libvulkan.so.1 at all): nothing to remember.
      expect(first.stdout).not.toMatch(/\[opengles, compatibility/);
      ctx.skip();
    }
    const m = memory();
    expect(m.drivers).toBe(driverFingerprint().key);
    expect(m.failed[0]).toMatch(/^default backend \(core\): /);
    expect(first.stdout).toContain(`[${m.use.replace(/ \((core|compatibility)\)$/, ', $1')}`);
  });

  it('a second start goes straight to it: the same adapter, no Vulkan probe, nothing of ours on stderr', (ctx) => {
    if (!existsSync(memoryFile)) ctx.skip();
    const before = readFileSync(memoryFile, 'utf8');
    const second = adapter();
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).not.toMatch(/Vulkan|Couldn't load/);
    expect(second.stderr).not.toMatch(/shaderflow:/);
    expect(readFileSync(memoryFile, 'utf8')).toBe(before); // nothing new to write
  });

  it('SHADERFLOW_VERBOSE=1 probes every backend again and says what it remembered and chose', (ctx) => {
    if (!existsSync(memoryFile)) ctx.skip();
    const v = adapter({ SHADERFLOW_VERBOSE: '1' });
    expect(v.stderr).toMatch(/shaderflow: .* is remembered for these drivers/);
    expect(v.stderr).toContain('shaderflow: probing every backend (SHADERFLOW_VERBOSE=1).');
    expect(v.stderr).toMatch(/shaderflow: using .* after: default backend \(core\): /);
    expect(v.stdout).toBe(first.stdout);
  });

  it('a corrupt memory file is ignored with a warning naming it, and rewritten', (ctx) => {
    if (!existsSync(memoryFile)) ctx.skip();
    const good = memory();
    writeFileSync(memoryFile, '{"format": "shaderflow-backend 1", "drivers": ');
    const r = adapter();
    expect(r.stderr).toContain(`shaderflow: ignoring the backend memory ${memoryFile}: not valid JSON`);
    expect(r.stdout).toBe(first.stdout);
    expect([memory().use, memory().drivers]).toEqual([good.use, good.drivers]);
    expect(adapter().stderr).not.toMatch(/shaderflow:|Vulkan/);
  });

  it('a memory written for other drivers is not trusted: every backend is probed and the file rewritten', (ctx) => {
    if (!existsSync(memoryFile)) ctx.skip();
    const good = memory();
    writeFileSync(memoryFile, JSON.stringify({ ...good, drivers: 'f'.repeat(32) }));
    const r = adapter({ SHADERFLOW_VERBOSE: '1' });
    expect(r.stderr).toContain(`shaderflow: the drivers changed since ${memoryFile} was written: probing every backend.`);
    expect(r.stderr).toMatch(/shaderflow: remembered .* for these drivers/);
    expect(memory().drivers).toBe(good.drivers);
    // Without the verbose notes too: the probe reaches the default backend again (its warnings, where it fails so).
    writeFileSync(memoryFile, JSON.stringify({ ...good, drivers: 'f'.repeat(32) }));
    const quiet = adapter();
    if (/Vulkan/.test(first.stderr)) expect(quiet.stderr).toMatch(/Vulkan/);
    expect(memory().drivers).toBe(good.drivers);
  });

  it('a forced backend never reads or writes the memory', () => {
    rmSync(memoryFile, { force: true });
    const r = adapter({ SHADERFLOW_BACKEND: 'opengles' });
    expect(r.stdout).toMatch(/\[opengles, /);
    expect(existsSync(memoryFile)).toBe(false);
  });
});
