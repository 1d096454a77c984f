// Static server for the web demo: `npm run serve` (PORT=8080 by default, or --port N; 0 picks a free port).
// Serves web/ at / and dist/browser/ at /dist/, on 127.0.0.1 only, GET/HEAD only, and nothing outside those two
// folders: the path is percent-decoded once, any '..' segment, backslash or NUL is refused, and the resolved file
// (symlinks followed) must still lie inside its folder. `.gz` files go out as application/octet-stream without a
// Content-Encoding, so the page receives the gzip bytes and inflates them itself (src/data/idx.ts).
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.wgsl': 'text/plain; charset=utf-8',
  '.gz': 'application/octet-stream',
  '.bin': 'application/octet-stream',
};

/** URL prefix -> folder. Longest prefix first. */
function mounts(root) {
  return [
    { prefix: '/dist/', dir: resolve(root, 'dist/browser') },
    { prefix: '/', dir: resolve(root, 'web') },
  ];
}

function inside(dir, file) {
  return file === dir || file.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/**
 * Maps a raw request target to a file path, or returns an HTTP status for why not (400 malformed, 403 outside the
 * served folders). Exported for the tests.
 */
export function resolveRequest(rawUrl, root = REPO) {
  const rawPath = String(rawUrl ?? '/').split(/[?#]/, 1)[0] || '/';
  if (!rawPath.startsWith('/')) return { status: 400 };
  let path;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return { status: 400 };
  }
  if (path.includes('\0') || path.includes('\\')) return { status: 400 };
  // Any '..' segment (raw, %2e%2e, ..%2f ...) is refused outright rather than normalised away.
  if (path.split('/').some((s) => s === '..' || s === '.')) return { status: 403 };
  const m = mounts(root).find((mt) => path.startsWith(mt.prefix) || path + '/' === mt.prefix);
  if (!m) return { status: 404 };
  const rel = path.slice(Math.min(path.length, m.prefix.length));
  const file = resolve(m.dir, '.' + sep + rel);
  if (!inside(m.dir, file)) return { status: 403 };
  return { file, dir: m.dir, wantsDir: path.endsWith('/') };
}

async function handle(req, res, root) {
  const send = (status, text, headers = {}) => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...headers });
    res.end(req.method === 'HEAD' ? undefined : `${status} ${text}\n`);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
  const r = resolveRequest(req.url, root);
  if (r.status) return send(r.status, r.status === 403 ? 'Forbidden' : r.status === 400 ? 'Bad Request' : 'Not Found');
  let file = r.file;
  try {
    let st = await stat(file);
    if (st.isDirectory()) {
      // One leading slash only: '//host/...' would be a protocol-relative redirect to another site.
      if (!r.wantsDir) return send(301, 'Moved', { Location: `/${req.url.split(/[?#]/, 1)[0].replace(/^\/+/, '')}/` });
      file = join(file, 'index.html');
      st = await stat(file);
    }
    if (!st.isFile()) return send(404, 'Not Found');
    // Symlinks must not lead out of the folder either.
    const [realFile, realDir] = await Promise.all([realpath(file), realpath(r.dir)]);
    if (!inside(realDir, realFile)) return send(403, 'Forbidden');
    res.writeHead(200, {
      'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': st.size,
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(realFile)
      .on('error', () => res.destroy())
      .pipe(res);
  } catch (e) {
    if (e && (e.code === 'ENOENT' || e.code === 'ENOTDIR')) return send(404, 'Not Found');
    send(500, 'Internal Server Error');
  }
}

/**
 * Starts the server. `root` is the repository root (web/ and dist/browser/ are served from it); port 0 picks a
 * free port. Resolves to { url, port, server, close() }.
 */
export function startServer({ port = 0, host = '127.0.0.1', root = REPO } = {}) {
  const server = createServer((req, res) => {
    handle(req, res, root).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const url = `http://${host}:${addr.port}/`;
      resolvePromise({
        url,
        port: addr.port,
        server,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections?.();
          }),
      });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--port');
  const port = Number(i > 0 ? process.argv[i + 1] : (process.env.PORT ?? 8080));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve: bad port ${JSON.stringify(i > 0 ? process.argv[i + 1] : process.env.PORT)}`);
    process.exit(2);
  }
  const { url } = await startServer({ port });
  console.log(`shaderflow demo: ${url}  (web/ at /, dist/browser/ at /dist/; Ctrl-C stops)`);
  console.log(`  e.g. ${url}?limit=6000&epochs=1   (build first: npm run build; data: npm run prepare-web-data)`);
}
