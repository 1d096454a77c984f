// The in-memory form every dataset loader returns: uint8 images, NHWC, and one uint8 class label per image.

/** A set of images with one class label each: uint8 pixels, NHWC. */
export interface ImageSet {
  /** Pixels, row-major [n, h, w, c], 0..255. */
  images: Uint8Array;
  /** [n, h, w, c]; c = 1 for MNIST and Fashion-MNIST, 3 for CIFAR-10. */
  shape: [number, number, number, number];
  /** Class index per image (length n). */
  labels: Uint8Array;
}

/** What `mnist.loadData()` and friends resolve to (Keras's ((x_train, y_train), (x_test, y_test)), with names). */
export interface LoadedDataset {
  /** The training set. */
  train: ImageSet;
  /** The test set. */
  test: ImageSet;
  /** Class names, by label. */
  classNames: string[];
}

/** A plain image: row-major [h, w, c] uint8 (c = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). */
export interface Image {
  /** Pixels, row-major [h, w, c]. */
  data: Uint8Array;
  /** [height, width, channels]. */
  shape: [number, number, number];
}

/** Number of bytes per example of a set (h * w * c). */
export function exampleBytes(set: ImageSet): number {
  return set.shape[1] * set.shape[2] * set.shape[3];
}
