// Custom WGSL layers (src/layers/custom.ts) through the two examples in examples/custom-layers/: checkGradients
// passes on them and fails, naming the right tensor, on their deliberately broken variants (on both numeric paths);
// a model using them trains, saves and loads by class name; and bad definitions (WGSL that does not compile,
// bindings that differ from the declaration, an output shape or dispatch that disagrees with what the WGSL writes)
// are ShaderflowErrors naming the layer and the WGSL line, before any result is produced.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkGradients, createEngine, defineLayer, Dense, Engine, Flatten, fromArtifacts, ModelFormatError, NumericError, resetLayerNames, Sequential,
  ShaderflowError, toArtifacts, type CustomLayerDefinition,
} from '../src/index.js';
import { loadModel, saveModel } from '../src/node.js';
import { randomUniform } from '../src/reference/random.js';
import { BrokenLayerNormalization, LayerNormalization } from '../examples/custom-layers/layer-normalization.js';
import { BrokenPReLU, PReLU } from '../examples/custom-layers/prelu.js';

let engine: Engine;
let dir: string;
beforeAll(async () => {
  engine = await createEngine();
  dir = await mkdtemp(join(tmpdir(), 'sf-custom-'));
});
afterAll(async () => {
  engine?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const measured: string[] = [];
afterAll(() => console.log(`custom layer gradient checks (max rel error per tensor):\n  ${measured.join('\n  ')}`));

describe.each(['reference', 'gpu'] as const)('checkGradients on the example custom layers (numeric %s)', (numeric) => {
  it.each([
    ['PReLU', () => new PReLU({ name: 'prelu' }), [3, 5, 4], ['input', 'prelu/alpha']],
    ['LayerNormalization', () => new LayerNormalization({ name: 'ln' }), [3, 7], ['input', 'ln/gamma', 'ln/beta']],
    ['LayerNormalization (epsilon 0.1, rank 3)', () => new LayerNormalization({ name: 'ln', epsilon: 0.1 }), [2, 3, 5], ['input', 'ln/gamma', 'ln/beta']],
  ] as const)('%s passes', async (_n, make, inputShape, tensors) => {
    const r = await checkGradients(make(), { engine, inputShape: [...inputShape], numeric, batch: 3 });
    expect(r.method).toBe(numeric === 'reference' ? 'float64-reference' : 'float32-gpu-forward');
    expect(r.tensors.map((t) => t.tensor)).toEqual(tensors);
    for (const t of r.tensors) {
      measured.push(`${numeric} ${r.target} ${t.tensor}: ${t.maxRelError.toExponential(2)} (bound ${t.bound.toExponential(2)})`);
      expect(t.pass, `${t.tensor}: ${JSON.stringify(t)}`).toBe(true);
      expect(t.scale, `${t.tensor}: the numeric gradient vanished, so the check would prove nothing`).toBeGreaterThan(1e-3);
    }
    expect(r.pass).toBe(true);
  });

  it('the broken PReLU (wrong sign in the alpha gradient) fails on prelu/alpha only', async () => {
    const r = await checkGradients(new BrokenPReLU({ name: 'prelu' }), { engine, inputShape: [3, 5, 4], numeric });
    expect(r.pass).toBe(false);
    expect(r.tensors.filter((t) => !t.pass).map((t) => t.tensor)).toEqual(['prelu/alpha']);
    await expect(checkGradients(new BrokenPReLU({ name: 'prelu' }), { engine, inputShape: [3, 5, 4], numeric, throwOnFailure: true })).rejects.toThrow(
      /checkGradients\(prelu \(BrokenPReLU\).*\): prelu\/alpha does not match the numeric gradient/,
    );
  });

  it('the broken LayerNormalization (dx misses the variance term) fails on the input gradient only', async () => {
    const r = await checkGradients(new BrokenLayerNormalization({ name: 'ln' }), { engine, inputShape: [3, 7], numeric });
    expect(r.tensors.filter((t) => !t.pass).map((t) => t.tensor)).toEqual(['input']);
    await expect(checkGradients(new BrokenLayerNormalization({ name: 'ln' }), { engine, inputShape: [3, 7], numeric, throwOnFailure: true })).rejects.toThrow(NumericError);
  });
});

describe('models with custom layers', () => {
  const x = randomUniform(24 * 12, 5);
  const y = Uint8Array.from({ length: 24 }, (_, i) => i % 3);
  function build(): Sequential {
    resetLayerNames();
    return new Sequential([
      new Dense({ units: 8, inputShape: [2, 6] }),
      new LayerNormalization(),
      new PReLU(),
      new Flatten(),
      new Dense({ units: 3, activation: 'softmax' }),
    ]);
  }

  it('checkGradients on a whole model with both (uncompiled, then compiled at trained weights)', async () => {
    const m = build();
    const before = await checkGradients(m, { engine });
    expect(before.method).toBe('float64-reference');
    expect(before.tensors.map((t) => t.tensor)).toEqual(['input', 'dense/kernel', 'dense/bias', 'layer_normalization/gamma', 'layer_normalization/beta', 'p_re_lu/alpha', 'dense_1/kernel', 'dense_1/bias']);
    expect(before.pass, JSON.stringify(before.tensors.filter((t) => !t.pass))).toBe(true);
    m.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed: 3 });
    const h = await m.fit(x, y, { batchSize: 8, epochs: 3, verbose: 0 });
    expect(h.history.loss!.every(Number.isFinite)).toBe(true);
    const after = await checkGradients(m, { batch: 3 });
    expect(after.pass, JSON.stringify(after.tensors.filter((t) => !t.pass))).toBe(true);
    // the compiled model was not touched: predictions equal those before the check
    const p1 = await m.predict(x);
    expect(Array.from(await m.predict(x))).toEqual(Array.from(p1));
    m.dispose();
  });

  it('saves and loads by class name (artifacts and files), with identical predictions and training on', async () => {
    const m = build();
    m.compile(engine, { optimizer: 'adam', loss: 'sparse_categorical_crossentropy', metrics: ['accuracy'], seed: 4 });
    await m.fit(x, y, { batchSize: 8, epochs: 2, verbose: 0, shuffle: false });
    const art = await toArtifacts(m);
    const classes = art.modelJson.modelTopology.config.layers.map((l) => l.class_name);
    expect(classes).toEqual(['Dense', 'LayerNormalization', 'PReLU', 'Flatten', 'Dense']);
    expect(art.modelJson.modelTopology.config.layers[1]!.config).toMatchObject({ name: 'layer_normalization', axis: -1, epsilon: 1e-3 });
    expect(art.modelJson.weightsManifest[0]!.weights.map((w) => w.name)).toContain('p_re_lu/alpha');
    const b = fromArtifacts(engine, JSON.parse(JSON.stringify(art.modelJson)), art.weights);
    expect(b.layers[1]).toBeInstanceOf(LayerNormalization);
    expect(b.layers[2]).toBeInstanceOf(PReLU);
    const want = await m.predict(x);
    expect(Array.from(await b.predict(x))).toEqual(Array.from(want));
    await saveModel(m, dir);
    const c = await loadModel(engine, dir);
    expect(Array.from(await c.predict(x))).toEqual(Array.from(want));
    // training continues the same from the loaded copy (Adam state restored by loadModel)
    await m.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, shuffle: false });
    await c.fit(x, y, { batchSize: 8, epochs: 1, verbose: 0, shuffle: false });
    expect((await c.getWeights()).map((w) => Array.from(w.values))).toEqual((await m.getWeights()).map((w) => Array.from(w.values)));
    for (const t of [m, b, c]) t.dispose();
  });

  it('loading an unregistered class is a ModelFormatError that says to register it', async () => {
    const m = build();
    m.compile(engine, { optimizer: 'sgd', loss: 'sparse_categorical_crossentropy' });
    const art = await toArtifacts(m);
    const json = JSON.parse(JSON.stringify(art.modelJson));
    json.modelTopology.config.layers[2].class_name = 'Swish';
    expect(() => fromArtifacts(engine, json, art.weights)).toThrow(ModelFormatError);
    expect(() => fromArtifacts(engine, json, art.weights)).toThrow(/class "Swish".*registered: LayerNormalization, PReLU.*registerLayer/);
    m.dispose();
  });
});

// A minimal valid definition (y = 2x) to break one piece at a time.
const DOUBLE = `
struct Dims { n: u32, inSize: u32, outSize: u32, _pad: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i >= dims.n * dims.outSize) { return; }
  y[i] = 2.0 * x[i];
}
`;
const DOUBLE_BACK = DOUBLE.replace('var<storage, read> x', 'var<storage, read> dy').replace('read_write> y', 'read_write> dx').replace('y[i] = 2.0 * x[i]', 'dx[i] = 2.0 * dy[i]');

function doubling(over: Partial<CustomLayerDefinition<Record<never, never>>> & { forwardCode?: string; forwardBindings?: string[] } = {}): CustomLayerDefinition<Record<never, never>> {
  return {
    className: 'Double',
    forward: { code: over.forwardCode ?? DOUBLE, bindings: over.forwardBindings ?? ['dims', 'x', 'y'], workgroups: (d) => [Math.ceil((d.n * d.outSize) / 64)] },
    backward: { code: DOUBLE_BACK, bindings: ['dims', 'dy', 'dx'], workgroups: (d) => [Math.ceil((d.n * d.inSize) / 64)] },
    reference: (x) => x.map((v) => 2 * v),
    ...over,
  };
}

describe('bad custom layers fail at compile time, naming the layer and the WGSL line', () => {
  const ready = async (def: CustomLayerDefinition<Record<never, never>>, inputShape = [5]) => {
    const Cls = defineLayer(def);
    const l = new Cls({ name: 'bad', inputShape });
    l.build(inputShape);
    return l.ready(engine);
  };

  it('the valid definition passes its checks and its gradient check', async () => {
    await ready(doubling());
    const Cls = defineLayer(doubling());
    expect((await checkGradients(new Cls(), { engine, inputShape: [5] })).pass).toBe(true);
  });

  it('WGSL that does not compile', async () => {
    const code = DOUBLE.replace('y[i] = 2.0 * x[i];', 'y[i] = 2.0 * undefinedThing;');
    const e = (await ready(doubling({ forwardCode: code })).catch((err: unknown) => err)) as Error;
    expect(e).toBeInstanceOf(ShaderflowError);
    expect((e as Error).message).toMatch(/^Layer "bad" \(Double\): forward kernel 0: the WGSL does not compile: line 10:\d+ .*undefinedThing/s);
    expect((e as Error).message).toMatch(/10 \| y\[i\] = 2\.0 \* undefinedThing;/);
    // the engine stays usable after a rejected layer
    await ready(doubling());
  });

  it('a binding named differently from the declaration', async () => {
    await expect(ready(doubling({ forwardBindings: ['dims', 'input', 'y'] }))).rejects.toThrow(/forward kernel 0 binding 1 is "input", which is not x, y, dims/);
    const code = DOUBLE.replace('read> x:', 'read> inp:').replace('* x[i]', '* inp[i]');
    await expect(ready(doubling({ forwardCode: code }))).rejects.toThrow(/Layer "bad" \(Double\): forward kernel 0: WGSL line 4 declares @binding\(1\) as "inp" but the layer declares binding 1 "x"/);
  });

  it('a written binding declared read-only, and a read one declared read_write', async () => {
    const ro = DOUBLE.replace('var<storage, read_write> y', 'var<storage, read> y');
    const e = (await ready(doubling({ forwardCode: ro })).catch((err: unknown) => err)) as Error;
    expect(e).toBeInstanceOf(ShaderflowError);
    expect(e.message).toMatch(/Layer "bad" \(Double\): forward kernel 0/);
    expect(e.message).toMatch(/line (5|10)/); // the declaration (or the store WGSL refuses)
    const rw = DOUBLE.replace('var<storage, read> x', 'var<storage, read_write> x');
    await expect(ready(doubling({ forwardCode: rw }))).rejects.toThrow(/WGSL line 4 declares "x" as var<storage, read_write> but forward reads "x": declare it var<storage, read>/);
  });

  it('a binding the declaration lacks', async () => {
    const code = DOUBLE.replace('@compute', '@group(0) @binding(3) var<storage, read> extra: array<f32>;\n@compute');
    await expect(ready(doubling({ forwardCode: code }))).rejects.toThrow(/WGSL line 6 declares @binding\(3\) "extra", which the layer's bindings \(dims, x, y\) do not/);
  });

  it('an output shape larger than what the WGSL writes', async () => {
    // declares [6] but the shader (bounded by inSize) writes 5 values per example... of a packed [n, 6] output
    const code = DOUBLE.replace('dims.n * dims.outSize', 'dims.n * dims.inSize');
    const e = (await ready(doubling({ forwardCode: code, outputShape: (s) => [s[0]! + 1] })).catch((err: unknown) => err)) as Error;
    expect(e).toBeInstanceOf(ShaderflowError);
    expect(e.message).toMatch(/Layer "bad" \(Double\): forward kernel 0 \(fn main at WGSL line 7, "y" declared at line 5\) leaves 2 of the 12 values of "y" unwritten/);
  });

  it('an output shape smaller than what the WGSL writes', async () => {
    const code = DOUBLE.replace('dims.n * dims.outSize', 'dims.n * dims.inSize');
    await expect(ready(doubling({ forwardCode: code, outputShape: (s: number[]) => [s[0]! - 2] }))).rejects.toThrow(
      /forward kernel 0 \(fn main at WGSL line 7, "y" declared at line 5\) writes "y" past the 6 values its outputShape \[3\] gives for a batch of 2/,
    );
  });

  it('a dispatch shape that does not cover the output', async () => {
    const def = doubling();
    (def.forward as { workgroups: unknown }).workgroups = () => [0 + 1];
    await expect(ready(def, [40])).rejects.toThrow(/leaves 16 of the 80 values of "y" unwritten \(first at index 64\).*dispatch shape/);
  });

  it('recording a custom layer that was never checked on the engine is refused', async () => {
    const Cls = defineLayer(doubling());
    resetLayerNames();
    const m = new Sequential([new Cls({ inputShape: [4] }), new Dense({ units: 2 })]);
    m.compile(engine, { optimizer: 'sgd', loss: 'mse' });
    expect(() => m.dispatchesPerStep(2)).toThrow(/has not been compiled and checked on this engine: await layer\.ready\(engine\) first/);
    await m.fit(randomUniform(8, 1), randomUniform(4, 2), { batchSize: 2, verbose: 0 }); // fit checks it first
    expect(m.dispatchesPerStep(2)).toBeGreaterThan(0);
    m.dispose();
  });
});
