// Keras/TF.js config objects shared by the layers' getConfig() and the model loader.
import { ACTIVATION_NAMES } from '../kernels/activation.js';
import type { ActivationName, InitializerName } from './layer.js';

/**
 * `a` as an ActivationName ('silu' becomes 'swish', the same function under the name TF.js knows); anything else
 * is `err`'s error naming the activations there are.
 */
export function checkActivation(a: string, err: (m: string) => Error): ActivationName {
  if (!(ACTIVATION_NAMES as readonly string[]).includes(a)) throw err(`unknown activation ${JSON.stringify(a)} (use ${ACTIVATION_NAMES.join(', ')}).`);
  return a === 'silu' ? 'swish' : (a as ActivationName);
}

const KERAS_INITIALIZERS: Record<InitializerName, string> = {
  glorot_uniform: 'GlorotUniform',
  glorot_normal: 'GlorotNormal',
  he_normal: 'HeNormal',
  he_uniform: 'HeUniform',
  zeros: 'Zeros',
  ones: 'Ones',
};

export function initializerConfig(name: InitializerName): { class_name: string; config: Record<string, unknown> } {
  return { class_name: KERAS_INITIALIZERS[name], config: name === 'zeros' || name === 'ones' ? {} : { seed: null } };
}

/** Accepts 'glorot_uniform', 'GlorotUniform' or {class_name: 'GlorotUniform'}; unknown names give undefined. */
export function parseInitializer(v: unknown): InitializerName | undefined {
  const raw = typeof v === 'string' ? v : (v as { class_name?: string } | null)?.class_name;
  if (!raw) return undefined;
  const snake = raw.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
  return (Object.keys(KERAS_INITIALIZERS) as InitializerName[]).find((k) => k === snake);
}

/** The config fields Dense and Conv2D share: activation, bias, initializers, and the (unsupported, null) extras. */
export function weightedLayerConfig(l: { activation: string; useBias: boolean; kernelInitializer: InitializerName; biasInitializer: InitializerName }): Record<string, unknown> {
  return {
    activation: l.activation,
    use_bias: l.useBias,
    kernel_initializer: initializerConfig(l.kernelInitializer),
    bias_initializer: initializerConfig(l.biasInitializer),
    kernel_regularizer: null,
    bias_regularizer: null,
    activity_regularizer: null,
    kernel_constraint: null,
    bias_constraint: null,
  };
}
