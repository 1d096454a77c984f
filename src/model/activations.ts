// Model.activations: what each layer outputs for some inputs (Keras' "intermediate layer outputs", the feature
// maps of the course's "what do the convolutions see"). One recorded inference step per batch size walks the step
// plan's nodes as predict does and copies every asked node's output into a tap buffer as it is produced (one
// encoder, no readback inside); the host reads the taps after the step. Works for any graph the plan runs.
import { ShaderflowError } from '../errors.js';
import type { Tensor } from '../gpu/tensor.js';
import { sliceBatch } from '../layers/layer.js';
import { makeBatchSource, type XInput } from '../data/batches.js';
import { identityOrder, StepCache, type GraphNode, type NamedValues } from './step-plan.js';
import type { Model } from './model.js';

/**
 * The name of each node's output: its layer's name, and `name@k` for the k-th (k >= 1) further application of a
 * layer used at several nodes (should shared layers come; today each layer is applied once).
 */
export function nodeOutputNames(nodes: readonly GraphNode[]): string[] {
  const seen = new Map<string, number>();
  return nodes.map((n) => {
    const k = seen.get(n.layer.name) ?? 0;
    seen.set(n.layer.name, k + 1);
    return k === 0 ? n.layer.name : `${n.layer.name}@${k}`;
  });
}

/**
 * The outputs of the named layers (default: every layer, in graph order) for every example of `x`, each as
 * {name, shape: [n, ...layer output shape], values} (row-major, NHWC for feature maps). Inference mode (Dropout
 * off); the output layer gives probabilities as predict does.
 */
export async function activations(model: Model, x: XInput, layerNames?: readonly string[], opts: { batchSize?: number } = {}): Promise<NamedValues[]> {
  const plan = model.requirePlan('activations');
  const engine = plan.engine;
  await model.layersReady(engine);
  const names = nodeOutputNames(plan.nodes);
  const wanted = layerNames ?? names;
  const ids = wanted.map((w) => {
    const id = names.indexOf(w);
    if (id < 0) throw new ShaderflowError(`activations: model "${model.name}" has no layer "${w}"; its layers are ${names.join(', ')}.`);
    return id;
  });
  const data = makeBatchSource(engine, x, undefined, model.inputShape, model.numClasses, 'activations input');
  const order = engine.tensor([data.count], identityOrder(data));
  const taps = new Map<number, Tensor>();
  const steps = new StepCache((n) => plan.recordActivationsStep(data, order, n, taps));
  try {
    if (!plan.xBuf) plan.prepare(Math.min(opts.batchSize ?? 32, Math.max(data.count, 1)));
    const bs = Math.min(opts.batchSize ?? 32, plan.maxBatch);
    for (const id of ids) if (!taps.has(id)) taps.set(id, engine.empty([bs, ...plan.nodes[id]!.layer.outputShape]));
    const out = ids.map((id) => {
      const shape = [data.count, ...plan.nodes[id]!.layer.outputShape];
      return { name: names[id]!, shape, values: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
    });
    await plan.compileSteps(() => plan.recordActivationsStep(data, order, Math.min(bs, data.count), taps, true), () => plan.recordActivationsStep(data, order, data.count % bs || Math.min(bs, data.count), taps, true));
    for (let start = 0; start < data.count; start += bs) {
      const n = Math.min(bs, data.count - start);
      plan.writeStart(start);
      steps.get(n).run();
      const read = await Promise.all(ids.map((id) => sliceBatch(taps.get(id)!, n).data()));
      read.forEach((v, k) => out[k]!.values.set(v, start * (v.length / n)));
    }
    return out;
  } finally {
    steps.dispose();
    for (const t of taps.values()) t.dispose();
    order.dispose();
    data.dispose();
  }
}
