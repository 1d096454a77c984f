// Fingerprints that let fit refuse to resume a checkpoint of another model or other training data, with the
// difference named. Kept apart from io.ts (which imports the containers) so that fit.ts can use them without an
// import cycle.
import { ShaderflowError } from '../errors.js';
import type { LabelInput, XInput } from '../data/batches.js';
import type { Model } from './model.js';

/**
 * A string that changes when the model's architecture changes: per layer its class, Keras config (the layer name
 * left out, since names are numbered per process or page), input shape and whether it trains, then the optimizer
 * kind. A checkpoint of another model is refused by it.
 */
export function modelFingerprint(model: Model): string {
  model.build();
  const layers = model.layers.map((l) => {
    const { name: _n, ...config } = l.getConfig();
    return `${l.className}${JSON.stringify({ ...config, input: l.inputShape, trainable: l.trainable })}`;
  });
  return `${layers.join('|')}|optimizer:${model.optimizer?.kind ?? 'none'}`;
}

/** FNV-1a over every `stride`-th byte, continuing from `h`. */
function fnv(bytes: Uint8Array, h: number, stride: number): number {
  for (let i = 0; i < bytes.length; i += stride) h = Math.imul(h ^ bytes[i]!, 16777619) >>> 0;
  return h;
}

function bytesOf(v: ArrayLike<number> | ArrayBufferView | undefined): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(Float64Array.from(v as ArrayLike<number>).buffer);
}

/**
 * A short fingerprint of training data: shape, byte sizes, and an FNV-1a hash of the labels and of every 61st
 * byte of the inputs (a few milliseconds on 47 MB of MNIST). A checkpoint made on other data is refused by it; it
 * guards against mistakes, not against crafted data.
 */
export function dataFingerprint(x: XInput, y?: LabelInput): string {
  const input = x instanceof Float32Array ? { bytes: bytesOf(x), shape: [x.length] } : 'images' in x ? { bytes: bytesOf(x.images), shape: x.shape } : { bytes: bytesOf(x.data), shape: x.shape };
  const labels = bytesOf(y ?? (!(x instanceof Float32Array) && 'labels' in x ? x.labels : undefined));
  const h = fnv(labels, fnv(input.bytes, 2166136261, 61), 1);
  return `[${input.shape.join(',')}] ${input.bytes.length}B labels ${labels.length}B fnv ${h.toString(16).padStart(8, '0')}`;
}

/** The first layer (or the optimizer) where two model fingerprints differ, in words. */
function describeDifference(saved: string, current: string): string {
  const a = saved.split('|');
  const b = current.split('|');
  const cut = (s: string | undefined) => (s === undefined ? 'nothing' : s.length > 120 ? `${s.slice(0, 117)}...` : s);
  if (a.length !== b.length) return `it has ${a.length - 1} layers, this model ${b.length - 1}`;
  const i = Math.max(0, a.findIndex((x, k) => x !== b[k]));
  if (i === a.length - 1) return `it was trained with ${cut(a[i])}, this model with ${cut(b[i])}`;
  return `its layer ${i + 1} is ${cut(a[i])}, this model's is ${cut(b[i])}`;
}

/**
 * Throws a ShaderflowError (starting with `where`) when a checkpoint's fingerprints (`saved`, either may be
 * absent in older checkpoints) do not match the model and data about to resume it.
 */
export function checkFingerprints(where: string, saved: { model?: string; data?: string }, current: { model?: string; data?: string }): void {
  if (saved.model !== undefined && current.model !== undefined && saved.model !== current.model)
    throw new ShaderflowError(`${where}: this checkpoint is of another model and cannot be resumed: ${describeDifference(saved.model, current.model)}. Start a new run (or delete the checkpoint).`);
  if (saved.data !== undefined && current.data !== undefined && saved.data !== current.data)
    throw new ShaderflowError(`${where}: this checkpoint was made on other training data (${saved.data}; this fit's data: ${current.data}) and cannot be resumed. Resume with the same data, or start a new run.`);
}
