// The worker bundle's entry (dist/browser/shaderflow-worker.js): a dedicated module Worker that owns one
// TrainerCore (its own WebGPU engine and model) and answers the page's Trainer (src/worker/trainer.ts) by
// postMessage. Started by createTrainer(); nothing here runs on the page's main thread.
import { TrainerCore, type CoreRequest } from './core.js';

const scope = globalThis as unknown as { postMessage(m: unknown, transfer?: Transferable[]): void; addEventListener(t: 'message', f: (ev: MessageEvent<CoreRequest>) => void): void };
const core = new TrainerCore((m, transfer) => scope.postMessage(m, transfer ?? []));
scope.addEventListener('message', (ev) => void core.handle(ev.data));
