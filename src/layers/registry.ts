// Layer classes by Keras class name, for model.json: like TF.js's serialization.registerClass, a class registered
// here is what the loader (src/model/io.ts) builds for a layer whose class_name it does not implement itself.
import { ShaderflowError } from '../errors.js';
import type { Layer } from './layer.js';
import { AUGMENTATION_CLASSES } from './augment.js';

/** What the loader needs of a layer class: its class name and a way to build one from a model.json config. */
export interface SerializableLayerClass {
  readonly className: string;
  /** `config` is the layer's model.json config without name/trainable/dtype/batch_input_shape; `base` holds those. */
  fromConfig(config: Record<string, unknown>, base: { name: string; inputShape?: number[] }): Layer;
}

/** The class names src/model/io.ts builds itself; a registered class may not take one. */
export const BUILT_IN_LAYER_CLASSES = ['InputLayer', 'Dense', 'Conv2D', 'MaxPooling2D', 'MaxPool2D', 'AveragePooling2D', 'AvgPool2D', 'Flatten', 'Dropout', 'Activation', 'Add', 'Multiply', 'Concatenate',
  'LeakyReLU', 'BatchNormalization', 'ZeroPadding2D', 'GlobalAveragePooling2D', 'GlobalAvgPool2D', 'GlobalMaxPooling2D', 'GlobalMaxPool2D', 'DepthwiseConv2D', 'SeparableConv2D', ...AUGMENTATION_CLASSES];

const registry = new Map<string, SerializableLayerClass>();

/**
 * Registers `cls` under its className so models that use it save and load. Registering the same class again is a
 * no-op; another class under a taken name (or a built-in one) is a ShaderflowError.
 */
export function registerLayer(cls: SerializableLayerClass): void {
  const name = cls.className;
  if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw new ShaderflowError(`registerLayer: className ${JSON.stringify(name)} must be an identifier (letters, digits, _).`);
  if (BUILT_IN_LAYER_CLASSES.includes(name)) throw new ShaderflowError(`registerLayer: "${name}" is a built-in layer class; give the custom layer another className.`);
  const known = registry.get(name);
  if (known && known !== cls) throw new ShaderflowError(`registerLayer: another class is already registered as "${name}"; class names must be unique.`);
  registry.set(name, cls);
}

/** The class registered under `className`, if any. */
export function registeredLayer(className: string): SerializableLayerClass | undefined {
  return registry.get(className);
}

/** Registered class names, in registration order (for error messages). */
export function registeredLayerNames(): string[] {
  return [...registry.keys()];
}
