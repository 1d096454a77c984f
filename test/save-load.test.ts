// saveModel/loadModel on disk: TF.js layers files plus the optimizer state beside them, so that training continues
// exactly where it stopped; damaged optimizer files are typed errors naming the file.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, Dense, Dropout, Engine, ModelFormatError, resetLayerNames, Sequential } from '../src/index.js';
import { loadModel, saveModel } from '../src/node.js';
import { randomUniform } from '../src/reference/random.js';

let engine: Engine;
let dir: string;
beforeAll(async () => {
  engine = await createEngine();
  dir = await mkdtemp(join(tmpdir(), 'sf-save-'));
});
afterAll(async () => {
  engine?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const x = randomUniform(40 * 6, 3);
const y = Uint8Array.from({ length: 40 }, (_, i) => i % 3);

function build(): Sequential {
  resetLayerNames();
  const m = new Sequential([new Dense({ units: 7, activation: 'relu', inputDim: 6 }), new Dropout({ rate: 0.2 }), new Dense({ units: 3, activation: 'softmax' })]);
  m.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed: 5 });
  return m;
}

describe('saveModel / loadModel', () => {
  it('saves the Adam state beside the model; loading and training on equals training on without the round trip', async () => {
    const a = build();
    await a.fit(x, y, { batchSize: 8, epochs: 2, verbose: 0, shuffle: false });
    await saveModel(a, dir);
    const b = await loadModel(engine, dir);
    const sa = await a.getOptimizerState();
    const sb = await b.getOptimizerState();
    expect(sb.step).toBe(10);
    expect(sb.step).toBe(sa.step);
    expect(sb.tensors.map((t) => Array.from(t))).toEqual(sa.tensors.map((t) => Array.from(t)));
    // One more epoch on each: Adam's moments and step count came back, so the weights stay equal bit for bit.
    await a.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, shuffle: false });
    await b.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, shuffle: false });
    const wa = await a.getWeights(), wb = await b.getWeights();
    expect(wb.map((w) => Array.from(w.values))).toEqual(wa.map((w) => Array.from(w.values)));
    a.dispose();
    b.dispose();
  });

  it('damaged optimizer files are ModelFormatErrors naming the file, and leave no buffers behind', async () => {
    const a = build();
    await a.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0 });
    await saveModel(a, dir);
    a.dispose();
    const live = engine.memory().liveBuffers;
    await writeFile(join(dir, 'optimizer.bin'), new Uint8Array(12));
    await expect(loadModel(engine, dir)).rejects.toThrow(ModelFormatError);
    await expect(loadModel(engine, dir)).rejects.toThrow(/optimizer\.json: optimizer\.bin holds 12 bytes/);
    await writeFile(join(dir, 'optimizer.json'), '{"format": "something else"}');
    await expect(loadModel(engine, dir)).rejects.toThrow(/optimizer\.json: format must be/);
    expect(engine.memory().liveBuffers).toBe(live);
  });
});
