// Node's WebGPU provider: the `webgpu` npm package (Dawn). The browser bundle swaps this file for
// provider.browser.ts (see scripts/build.mjs), so no Node built-in reaches the browser path.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';

/** A WebGPU backend to force (Dawn's names), or `auto`: shaderflow's own order (see gpuCandidates). */
export type BackendName = 'auto' | 'vulkan' | 'opengles' | 'opengl' | 'metal' | 'd3d12' | 'd3d11' | 'null';

export interface GpuCandidate {
  /** What this attempt is called in error messages, e.g. "vulkan (core)". */
  label: string;
  gpu: GPU;
  featureLevel: 'core' | 'compatibility';
  /** Called by createEngine when this candidate gave the device; `failed` lists the attempts before it. */
  chosen?: (failed: string[]) => void;
}

export const runtime = 'node' as const;

type DawnModule = { create(flags: string[]): GPU; globals: Record<string, unknown> };
let dawn: DawnModule | undefined;
// One Dawn instance per flag set for the life of the process. An instance that is garbage-collected while its
// device lives crashes Dawn (ProcessEvents on a freed mutex), so they are kept here, never dropped.
const instances = new Map<string, GPU>();

// Dawn rounds GPU timestamps down to a coarse grain by default (a browser's guard against timing attacks), which
// would make per-dispatch profiles (Recorder.profile) of microsecond kernels useless; Node needs no such guard.
const DAWN_FLAGS = ['disable-dawn-features=timestamp_quantization'];

function instance(create: DawnModule['create'], backendFlags: string[]): GPU {
  const flags = [...backendFlags, ...DAWN_FLAGS];
  const key = flags.join(' ');
  let gpu = instances.get(key);
  if (!gpu) instances.set(key, (gpu = create(flags)));
  return gpu;
}

async function loadDawn(): Promise<DawnModule> {
  if (!dawn) {
    // Mesa's loaders print "XDG_RUNTIME_DIR is invalid" on headless machines where it is unset; give them a
    // private folder (what a desktop session would) so a user's first run starts without alarming noise.
    if (!process.env.XDG_RUNTIME_DIR) {
      const { mkdirSync } = await import('node:fs');
      const { tmpdir, userInfo } = await import('node:os');
      const dir = `${tmpdir()}/shaderflow-runtime-${userInfo().uid}`;
      try {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        process.env.XDG_RUNTIME_DIR = dir;
      } catch {
        // only cosmetic: leave it unset
      }
    }
    const mod = (await import('webgpu')) as unknown as DawnModule;
    // GPUBufferUsage etc. are globals in a browser; make them so in Node too.
    for (const [k, v] of Object.entries(mod.globals)) {
      if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
    }
    dawn = mod;
  }
  return dawn;
}

/**
 * The adapters to try, best first. `auto`: Dawn's default backend (Vulkan on Linux) at core feature level, then
 * OpenGL ES at core and at compatibility level (the path that works with Debian 12's Mesa, whose lavapipe Dawn's
 * Vulkan backend rejects). A forced backend yields only that backend, at core then compatibility level.
 *
 * Dawn's Vulkan probe prints warnings from native code ("Couldn't load Vulkan", "Vulkan
 * shaderUniform*ArrayDynamicIndexing required") that no flag silences, so `auto` avoids probing where it cannot
 * work: without libvulkan.so.1 the default backend is left out, and when an earlier run on the same drivers found
 * that another candidate works while the default does not (the backend memory, beside the tuning cache), that
 * candidate goes first. `SHADERFLOW_VERBOSE=1` probes everything in the normal order and says what it chose.
 * Each instance is created only when its adapter is first requested.
 */
export async function gpuCandidates(backend: BackendName): Promise<GpuCandidate[]> {
  const { create } = await loadDawn();
  const candidate = (label: string, flags: string[], featureLevel: GpuCandidate['featureLevel']): GpuCandidate => ({
    label,
    featureLevel,
    get gpu() {
      return instance(create, flags);
    },
  });
  const out: GpuCandidate[] = [];
  const forced = backend !== 'auto';
  if (!forced) {
    out.push(candidate('default backend (core)', [], 'core'));
    backend = 'opengles';
  }
  if (backend === 'opengles' || backend === 'opengl') {
    // Mesa's EGL needs a platform without a display; it is read when the backend starts, so set it first.
    if (!process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
  }
  out.push(candidate(`${backend} (core)`, [`backend=${backend}`], 'core'));
  out.push(candidate(`${backend} (compatibility)`, [`backend=${backend}`], 'compatibility'));
  return forced ? out : rememberedOrder(out);
}

/** `auto`'s candidates ordered by what is known of this machine's drivers (see gpuCandidates); records the outcome. */
function rememberedOrder(normal: GpuCandidate[]): GpuCandidate[] {
  const verbose = process.env.SHADERFLOW_VERBOSE === '1';
  const say = (s: string): void => void process.stderr.write(`shaderflow: ${s}\n`);
  const drivers = driverFingerprint();
  if (process.platform === 'linux' && !drivers.libvulkan) {
    if (verbose) say("no libvulkan.so.1 on this machine: not probing Dawn's default backend (Vulkan).");
    return normal.slice(1);
  }
  // The label whose success is already on record (so there is nothing to write); null: the file must be (re)written.
  let expected: string | null = normal[0]!.label;
  let order = normal;
  const cached = readCache(BACKEND_MEMORY);
  if (cached) {
    const known = parseBackendMemory(cached.text);
    expected = null;
    if (typeof known === 'string') console.warn(`shaderflow: ignoring the backend memory ${cached.where}: ${known}. Probing every backend and rewriting it.`);
    else if (known.drivers !== drivers.key) {
      if (verbose) say(`the drivers changed since ${cached.where} was written: probing every backend.`);
    } else {
      expected = known.use;
      if (verbose) say(`${known.use} is remembered for these drivers (${cached.where}).`);
      else order = orderByMemory(normal, known.use);
    }
  }
  if (verbose) say('probing every backend (SHADERFLOW_VERBOSE=1).');
  const remember = (use: string, failed: string[]): void => {
    if (use === expected) return;
    const memory: BackendMemory = { format: BACKEND_MEMORY_FORMAT, drivers: drivers.key, use, failed, files: drivers.files };
    try {
      const where = writeCache(BACKEND_MEMORY, `${JSON.stringify(memory, null, 2)}\n`);
      if (verbose) say(`remembered ${use} for these drivers in ${where}.`);
    } catch (e) {
      console.warn(`shaderflow: could not write the backend memory ${BACKEND_MEMORY}: ${(e as Error).message}. The next start probes every backend again.`);
    }
  };
  // Not spread: that would read each `gpu` getter, creating (and probing) every instance now.
  return order.map((c) => ({
    label: c.label,
    featureLevel: c.featureLevel,
    get gpu() {
      return c.gpu;
    },
    chosen: (failed: string[]) => {
      if (verbose) say(`using ${c.label}${failed.length ? ` after: ${failed.join('; ')}` : ''}.`);
      remember(c.label, failed);
    },
  }));
}

/** The file (in cacheDir()) that remembers which `auto` candidate works on this machine's drivers. */
export const BACKEND_MEMORY = 'backend.json';
const BACKEND_MEMORY_FORMAT = 'shaderflow-backend 1';

/** What the backend memory holds. */
export interface BackendMemory {
  format: string;
  /** driverFingerprint().key of the machine it was written on; another key means other drivers: probe again. */
  drivers: string;
  /** The label of the candidate that gave the device. */
  use: string;
  /** The attempts that failed before it (for people reading the file). */
  failed: string[];
  /** The driver files the key was made from (for people reading the file). */
  files: string[];
}

/** The memory in `text`, or why it cannot be used. */
export function parseBackendMemory(text: string): BackendMemory | string {
  let m: Partial<BackendMemory>;
  try {
    m = JSON.parse(text) as Partial<BackendMemory>;
  } catch (e) {
    return `not valid JSON (${(e as Error).message})`;
  }
  if (typeof m !== 'object' || m === null) return 'not a JSON object';
  if (m.format !== BACKEND_MEMORY_FORMAT) return `format must be "${BACKEND_MEMORY_FORMAT}", got ${JSON.stringify(m.format)?.slice(0, 60)}`;
  if (typeof m.drivers !== 'string' || typeof m.use !== 'string') return 'drivers and use must be strings';
  return { format: m.format, drivers: m.drivers, use: m.use, failed: Array.isArray(m.failed) ? m.failed : [], files: Array.isArray(m.files) ? m.files : [] };
}

/** `normal` with the remembered candidate first (when it is one of them), the others after it in their order. */
export function orderByMemory<C extends { label: string }>(normal: C[], use: string): C[] {
  const first = normal.find((c) => c.label === use);
  return first ? [first, ...normal.filter((c) => c !== first)] : normal;
}

/**
 * What identifies this machine's WebGPU drivers without starting any: the Dawn package's version, the platform,
 * libvulkan.so.1 and every Vulkan ICD manifest (size and modification time of each, and of the driver library it
 * names; an upgrade of Mesa or of the loader changes them), and the VK_* variables that choose drivers.
 */
export function driverFingerprint(): { key: string; libvulkan: string | null; files: string[] } {
  const env = process.env;
  const stamp = (file: string): string | null => {
    try {
      const st = statSync(file);
      return `${realpathSync(file)} ${st.size} ${Math.round(st.mtimeMs)}`;
    } catch {
      return null;
    }
  };
  const libDirs = [
    ...(env.LD_LIBRARY_PATH ?? '').split(delimiter).filter(Boolean),
    ...ldCacheDirs('libvulkan.so.1'),
    ...['/lib', '/usr/lib', '/lib64', '/usr/lib64', '/usr/local/lib'].flatMap((d) => [d, join(d, multiarch())]),
  ];
  const findLib = (name: string): string | null => {
    for (const d of libDirs) if (stamp(join(d, name))) return join(d, name);
    return null;
  };
  const libvulkan = process.platform === 'linux' ? findLib('libvulkan.so.1') : null;
  const files: string[] = [];
  if (libvulkan) files.push(stamp(libvulkan)!);
  const icdDirs = [join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'vulkan/icd.d'), '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d', join(env.XDG_DATA_HOME || join(homedir(), '.local/share'), 'vulkan/icd.d')];
  for (const dir of icdDirs) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
    } catch {
      continue;
    }
    for (const n of names) {
      const manifest = join(dir, n);
      const st = stamp(manifest);
      if (!st) continue;
      files.push(st);
      try {
        const lib = (JSON.parse(readFileSync(manifest, 'utf8')) as { ICD?: { library_path?: string } }).ICD?.library_path;
        if (lib) files.push(stamp(isAbsolute(lib) ? lib : lib.includes('/') ? join(dirname(manifest), lib) : (findLib(lib) ?? lib)) ?? `${lib} missing`);
      } catch {
        // an unreadable manifest is still fingerprinted by its stamp
      }
    }
  }
  const vk = Object.keys(env).filter((k) => k.startsWith('VK_')).sort().map((k) => `${k}=${env[k]}`);
  const key = createHash('sha256').update(JSON.stringify([dawnVersion(), process.platform, process.arch, files, vk])).digest('hex').slice(0, 32);
  return { key, libvulkan, files };
}

function multiarch(): string {
  return process.arch === 'arm64' ? 'aarch64-linux-gnu' : process.arch === 'arm' ? 'arm-linux-gnueabihf' : 'x86_64-linux-gnu';
}

/** Folders where the dynamic linker's cache (/etc/ld.so.cache) has `lib`: the paths are plain strings in it. */
function ldCacheDirs(lib: string): string[] {
  try {
    const text = readFileSync('/etc/ld.so.cache', 'latin1');
    const found = text.match(new RegExp(`/[^\\0]*/${lib.replace(/\./g, '\\.')}(?=\\0)`, 'g')) ?? [];
    return [...new Set(found.map((f) => dirname(f)))];
  } catch {
    return [];
  }
}

function dawnVersion(): string {
  try {
    const req = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(req.resolve('webgpu/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export const installHint =
  'No WebGPU adapter was found. On Debian/Ubuntu install a software or hardware driver: ' +
  '`apt-get install -y --no-install-recommends mesa-vulkan-drivers libvulkan1 libegl-mesa0 libgles2` ' +
  '(Mesa >= 25 gives core Vulkan; older Mesa works through OpenGL ES in compatibility mode). ' +
  'Set SHADERFLOW_BACKEND=vulkan|opengles to force one backend.';

/** Where cached per-adapter tuning lives: `SHADERFLOW_CACHE`, else `$XDG_CACHE_HOME/shaderflow`, else ~/.cache/shaderflow. */
export function cacheDir(): string {
  if (process.env.SHADERFLOW_CACHE) return process.env.SHADERFLOW_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'shaderflow');
}

/** The cache entry `name` (a file in cacheDir()), or null when there is none or it cannot be read. */
export function readCache(name: string): { text: string; where: string } | null {
  const where = join(cacheDir(), name);
  try {
    return { text: readFileSync(where, 'utf8'), where };
  } catch {
    return null;
  }
}

/** Writes the cache entry `name` atomically (a temporary file renamed over it); returns its path. Throws on failure. */
export function writeCache(name: string, text: string): string {
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const where = join(dir, name);
  const tmp = `${where}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, where);
  return where;
}
