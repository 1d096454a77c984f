// The demo's "look inside" panel: for one digit (the drawn one, else the first test image), every conv layer's
// feature maps and the learned filters, redrawn while the model trains. The numbers come from the trainer
// (Model.activations and getWeights, in the worker, between training steps); the pictures are the ones
// `shaderflow inspect` writes (src/viz/featuremaps.ts: per-map min-max normalisation, the first layer's filters as
// they are, later ones averaged over their input channels), drawn into two canvases.
import { featureMapsPicture, filtersPicture, type NamedArray, type XInput } from '../src/index.js';

/** Where the panel gets its numbers (a Trainer has both). */
export interface InspectSource {
  getWeights(): Promise<NamedArray[]>;
  activations(x: XInput, layerNames?: string[]): Promise<NamedArray[]>;
}

/** What the panel shows, for tests (window.__demo.inspect). */
export interface InspectState {
  /** Times the pictures were drawn. */
  draws: number;
  /** The conv layers drawn, and the canvases' sizes. */
  layers: string[];
  featureMaps: [number, number] | null;
  filters: [number, number] | null;
  /** Whether the last digit was the drawn one (else the first test image). */
  drawn: boolean;
}

declare global {
  interface Window {
    /** For tests: what the inspect panel shows. */
    __inspect?: InspectState;
  }
}

/** The panel: `refresh(digit)` redraws it for a 28×28 gray uint8 digit (drawn digits first, see the demo). */
export interface InspectPanel {
  readonly state: InspectState;
  refresh(digit: Uint8Array, drawn: boolean): Promise<void>;
}

/** An RGB [h, w, 3] picture into a canvas, at its own pixel size (CSS scales it down to the panel). */
function paint(canvas: HTMLCanvasElement, img: { data: Uint8Array; shape: [number, number, number] }): void {
  const [h, w] = img.shape;
  canvas.width = w;
  canvas.height = h;
  const rgba = new ImageData(w, h);
  for (let p = 0; p < w * h; p++) {
    rgba.data[p * 4] = img.data[p * 3]!;
    rgba.data[p * 4 + 1] = img.data[p * 3 + 1]!;
    rgba.data[p * 4 + 2] = img.data[p * 3 + 2]!;
    rgba.data[p * 4 + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(rgba, 0, 0);
}

/** Adds the panel (a section with a heading, a note and two canvases) to `parent`. */
export function createInspectPanel(parent: HTMLElement, source: () => InspectSource): InspectPanel {
  const section = document.createElement('section');
  section.className = 'panel inspect';
  section.id = 'inspect';
  const title = document.createElement('h2');
  title.textContent = 'Inside the network';
  const note = document.createElement('p');
  note.className = 'hint';
  note.textContent = 'Feature maps of every conv layer for the digit (draw one on the pad), then the learned filters. Each map is scaled to its own range.';
  const maps = document.createElement('canvas');
  maps.id = 'featuremaps';
  const filters = document.createElement('canvas');
  filters.id = 'filters';
  for (const c of [maps, filters]) Object.assign(c.style, { maxWidth: '100%', imageRendering: 'pixelated', display: 'block', marginTop: '0.5em' });
  section.append(title, note, maps, filters);
  parent.append(section);
  const state: InspectState = { draws: 0, layers: [], featureMaps: null, filters: null, drawn: false };
  return {
    state,
    async refresh(digit, drawn) {
      const s = source();
      const weights = await s.getWeights();
      // conv layers are those with a 4-D kernel [kh, kw, in, filters]
      const kernels = weights.filter((w) => w.name.endsWith('/kernel') && w.shape.length === 4);
      const layers = kernels.map((k) => k.name.slice(0, -'/kernel'.length));
      if (layers.length === 0) {
        note.textContent = 'This model has no conv layers: nothing to show here.';
        return;
      }
      const acts = await s.activations({ images: digit, shape: [1, 28, 28, 1] }, layers);
      const fm = featureMapsPicture(acts);
      const fl = filtersPicture(kernels);
      paint(maps, fm);
      paint(filters, fl);
      state.draws++;
      state.layers = layers;
      state.featureMaps = [fm.shape[1], fm.shape[0]];
      state.filters = [fl.shape[1], fl.shape[0]];
      state.drawn = drawn;
    },
  };
}
