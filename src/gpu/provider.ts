// Node's WebGPU provider: the `webgpu` npm package (Dawn). The browser bundle swaps this file for
// provider.browser.ts (see scripts/build.mjs), so no Node built-in reaches the browser path.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type BackendName = 'auto' | 'vulkan' | 'opengles' | 'opengl' | 'metal' | 'd3d12' | 'd3d11' | 'null';

export interface GpuCandidate {
  /** What this attempt is called in error messages, e.g. "vulkan (core)". */
  label: string;
  gpu: GPU;
  featureLevel: 'core' | 'compatibility';
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
 * OpenGL ES at compatibility level (the path that works with Debian 12's Mesa, whose lavapipe Dawn's Vulkan
 * backend rejects). A forced backend yields only that backend, at core then compatibility level.
 */
export async function gpuCandidates(backend: BackendName): Promise<GpuCandidate[]> {
  const { create } = await loadDawn();
  const out: GpuCandidate[] = [];
  if (backend === 'auto') {
    out.push({ label: 'default backend (core)', gpu: instance(create, []), featureLevel: 'core' });
    backend = 'opengles';
  }
  if (backend === 'opengles' || backend === 'opengl') {
    // Mesa's EGL needs a platform without a display; it is read when the backend starts, so set it first.
    if (!process.env.EGL_PLATFORM) process.env.EGL_PLATFORM = 'surfaceless';
  }
  const gpu = instance(create, [`backend=${backend}`]);
  out.push({ label: `${backend} (core)`, gpu, featureLevel: 'core' });
  out.push({ label: `${backend} (compatibility)`, gpu, featureLevel: 'compatibility' });
  return out;
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
