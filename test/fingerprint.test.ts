// Checkpoint fingerprints (src/model/fingerprint.ts): fit refuses to resume a checkpoint of another model or of
// other training data, naming the difference, in Node as in the browser; a folder checkpoint keeps both
// fingerprints through checkpoint.json. Also saveModel/loadModel's URL forms in Node (http(s) is fetched, browser
// storage says it is absent).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, dataFingerprint, Dense, Engine, modelFingerprint, resetLayerNames, Sequential, toArtifacts, type Checkpoint } from '../src/index.js';
import { loadModel, readCheckpoint, saveModel } from '../src/node.js';

let engine: Engine;
let tmp: string;
beforeAll(async () => {
  engine = await createEngine();
  tmp = await mkdtemp(join(tmpdir(), 'shaderflow-fingerprint-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function mlp(units: number, optimizer = 'adam'): Sequential {
  resetLayerNames();
  const m = new Sequential([new Dense({ units, inputDim: 7, activation: 'relu' }), new Dense({ units: 3, activation: 'softmax' })]);
  m.compile(engine, { optimizer, loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'] });
  return m;
}

const x = { data: Float32Array.from({ length: 33 * 7 }, (_, i) => Math.sin(i)), shape: [33, 7] };
const y = Uint8Array.from({ length: 33 }, (_, i) => i % 3);

describe('checkpoint fingerprints', () => {
  it('tell models and data apart, and ignore layer names', () => {
    const a = mlp(5);
    const b = mlp(5); // same architecture, names numbered afresh or not
    expect(modelFingerprint(b)).toBe(modelFingerprint(a));
    expect(modelFingerprint(mlp(6))).not.toBe(modelFingerprint(a));
    expect(modelFingerprint(mlp(5, 'sgd'))).not.toBe(modelFingerprint(a));
    expect(dataFingerprint(x, y)).toBe(dataFingerprint({ data: x.data.slice(), shape: [33, 7] }, y.slice()));
    const otherLabels = y.slice();
    otherLabels[32] = 0;
    expect(dataFingerprint(x, otherLabels)).not.toBe(dataFingerprint(x, y));
    const otherInputs = x.data.slice();
    otherInputs[0] = 1.1; // its byte 0 (0xcd; sin(0) = 0 had 0) is sampled: every 61st byte from 0
    expect(dataFingerprint({ data: otherInputs, shape: [33, 7] }, y)).not.toBe(dataFingerprint(x, y));
    for (const m of [a, b]) m.dispose();
  });

  it('fit saves them (through checkpoint.json too) and refuses another model or other data with the reason', async () => {
    const dir = join(tmp, 'ckpt');
    const a = mlp(5);
    await a.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, checkpoint: dir, checkpointEvery: 2 });
    const c = (await readCheckpoint(dir)) as Checkpoint;
    expect(c.model).toBe(modelFingerprint(a));
    expect(c.data).toBe(dataFingerprint(x, y));
    const wider = mlp(6);
    await expect(wider.fit(x, y, { batchSize: 8, epochs: 2, verbose: 0, resume: dir })).rejects.toThrow(
      new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: this checkpoint is of another model and cannot be resumed: its layer 1 is Dense.*"units":5.*this model's is Dense.*"units":6`),
    );
    const sgd = mlp(5, 'sgd');
    await expect(sgd.fit(x, y, { batchSize: 8, epochs: 2, verbose: 0, resume: c })).rejects.toThrow(/^fit: resume: this checkpoint is of another model and cannot be resumed: it was trained with optimizer:adam, this model with optimizer:sgd/);
    const same = mlp(5);
    const shuffledLabels = Uint8Array.from(y, (v) => (v + 1) % 3);
    await expect(same.fit(x, shuffledLabels, { batchSize: 8, epochs: 2, verbose: 0, resume: c })).rejects.toThrow(/^fit: resume: this checkpoint was made on other training data \(\[33,7\] 924B labels 33B fnv [0-9a-f]{8}; this fit's data: /);
    // The same model and data resume (an older checkpoint without fingerprints too).
    const h = await same.fit(x, y, { batchSize: 8, epochs: 2, verbose: 0, resume: { ...c, model: undefined, data: undefined } });
    expect(h.epoch).toEqual([0, 1]);
    for (const m of [a, wider, sgd, same]) m.dispose();
  });
});

describe("Node's saveModel/loadModel with URLs", () => {
  it('loads http(s) model.json (weights by manifest path) and says browser storage is absent', async () => {
    const m = mlp(4);
    const { modelJson, weights } = await toArtifacts(m);
    const server = createServer((req, res) => {
      if (req.url === '/m/model.json') res.end(JSON.stringify(modelJson));
      else if (req.url === '/m/weights.bin') res.end(Buffer.from(weights));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const loaded = await loadModel(engine, `http://127.0.0.1:${port}/m/model.json`);
      expect((await loaded.getWeights()).map((w) => Array.from(w.values))).toEqual((await m.getWeights()).map((w) => Array.from(w.values)));
      loaded.dispose();
      await expect(loadModel(engine, `http://127.0.0.1:${port}/nope/model.json`)).rejects.toThrow(`http://127.0.0.1:${port}/nope/model.json: HTTP 404`);
    } finally {
      server.close();
    }
    await expect(saveModel(m, 'indexeddb://x')).rejects.toThrow(/^indexeddb:\/\/x: IndexedDB is not available here/);
    await expect(saveModel(m, 'downloads://x')).rejects.toThrow(/downloads:\/\/x needs a page/);
    m.dispose();
  });
});
