// fit with recovery from a lost GPU device (FitOptions.recoverFromDeviceLoss). A device can be lost at any time
// (driver reset, GPU process crash in a browser, `device.destroy()`); every GPU call then fails with a DeviceError.
// Here the fit runs as usual, with every checkpoint it saves also kept in memory; when it fails and the engine's
// device is gone, a new engine is opened with the same options (engine.options), the model compiled on it again
// (Model.moveToEngine: new arena, batch buffers and recordings), and fit resumes from the last checkpoint, which
// uploads the data again from the host arrays. Resuming is bit-exact (counter-based random streams, fixed-order
// sums), so the result equals an uninterrupted run's. Before the first checkpoint, the fit restarts from the
// weights and optimizer state it started with (read back once at its start).
import { DeviceError, ShaderflowError } from '../errors.js';
import { createEngine, type Engine } from '../gpu/engine.js';
import type { LabelInput, XInput } from '../data/batches.js';
import type { Callbacks, History } from './history.js';
import { fit, openCheckpoints, type Checkpoint, type Checkpointer, type FitOptions } from './fit.js';
import { defaultSink } from './progress.js';
import type { Model } from './model.js';
import type { NamedValues } from './step-plan.js';

/** Whether `engine`'s device is gone, waiting briefly for WebGPU's `device.lost` to settle after a failure. */
async function deviceGone(engine: Engine): Promise<boolean> {
  if (engine.isLost) return true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([engine.device.lost, new Promise<void>((r) => (timer = setTimeout(r, 250)))]);
  clearTimeout(timer);
  await Promise.resolve(); // the engine's own device.lost handler (attached first) has run by now
  return engine.isLost;
}

/**
 * The callbacks for a fit that continues the same training: no second onTrainBegin, and, when it resumes inside an
 * epoch, no second onEpochBegin for that epoch (it began before the loss). Methods are bound to their objects, so
 * private fields work.
 */
function continuing(callbacks: FitOptions['callbacks'], midEpoch: boolean): FitOptions['callbacks'] {
  if (!callbacks) return callbacks;
  const strip = (c: Callbacks): Callbacks => {
    let epochBegun = midEpoch;
    return new Proxy(c, {
      get: (t, k) => {
        if (k === 'onTrainBegin') return undefined;
        const v = Reflect.get(t, k) as unknown;
        if (typeof v !== 'function') return v;
        const bound = (v as (...a: unknown[]) => unknown).bind(t);
        if (k !== 'onEpochBegin') return bound;
        return (...a: unknown[]) => {
          if (epochBegun) return void (epochBegun = false);
          return bound(...a);
        };
      },
    });
  };
  const list = callbacks as Callbacks | Callbacks[];
  return (Array.isArray(list) ? list.map(strip) : strip(list)) as FitOptions['callbacks'];
}

/** Model.fit with `recoverFromDeviceLoss` (see the top of this file); fit itself when it is 0. */
export async function fitRecovering(model: Model, x: XInput, y: LabelInput, opts: FitOptions = {}): Promise<History> {
  const attempts = opts.recoverFromDeviceLoss ?? 0;
  if (!Number.isInteger(attempts) || attempts < 0)
    throw new ShaderflowError(`fit: recoverFromDeviceLoss must be a whole number >= 0, got ${attempts}.`);
  if (attempts === 0) return fit(model, x, y, opts);
  model.requirePlan('fit');
  const opened = await openCheckpoints(model, opts);
  const user = opened.checkpointer;
  let last: Checkpoint | undefined = opened.resume;
  const tee: Checkpointer = {
    everySteps: user ? user.everySteps : opts.checkpointEvery,
    save: async (c) => {
      await user?.save(c);
      last = c;
    },
  };
  // Where a fit that fails before its first checkpoint starts again (no readback needed when it resumes anyway).
  const start: { weights: NamedValues[]; optimizer: { step: number; tensors: Float32Array[] } } | undefined = last
    ? undefined
    : { weights: await model.getWeights(), optimizer: await model.getOptimizerState() };
  for (let attempt = 0; ; attempt++) {
    const engine = model.engine!;
    try {
      return await fit(model, x, y, { ...opts, checkpoint: tee, resume: last, callbacks: attempt === 0 ? opts.callbacks : continuing(opts.callbacks, (last?.batch ?? 0) > 0) });
    } catch (e) {
      if (!(await deviceGone(engine))) throw e;
      const reason = engine.lostReason ?? 'unknown';
      if (attempt >= attempts)
        throw new DeviceError(`fit: the WebGPU device was lost (${reason}) ${attempt + 1} times; recoverFromDeviceLoss allows ${attempts}. Reload the last checkpoint on a new engine.`, { cause: e });
      let next: Engine;
      try {
        next = await createEngine(engine.options);
      } catch (e2) {
        throw new DeviceError(`fit: the WebGPU device was lost (${reason}) and no new engine could be created: ${(e2 as Error).message}`, { cause: e2 });
      }
      engine.dispose();
      model.moveToEngine(next);
      if (!last && start) {
        model.setWeights(start.weights);
        model.setOptimizerState(start.optimizer);
      }
      const resumeAt = last ? { epoch: last.epoch, batch: last.batch } : null;
      if ((opts.verbose ?? 1) > 0)
        (opts.sink ?? defaultSink()).write(`\nDevice lost (${reason}); recovered on a new engine (${attempt + 1}/${attempts}), continuing ${resumeAt ? `from epoch ${resumeAt.epoch + 1}, batch ${resumeAt.batch}` : 'from the start of this fit'}\n`);
      await opts.onDeviceLost?.({ attempt: attempt + 1, attempts, reason, resumeAt, engine: next });
    }
  }
}
