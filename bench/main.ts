// `npm run bench -- <command> [args]`: hand-run benchmarks (never part of `npm test`).
//   compare   shaderflow vs TF.js (WebGPU, wasm) training-step time on the seed course's models (bench/compare.ts)
//   kernels   FMA probe, matmul, conv2d and pooling in one table (bench/kernels.ts)
//   matmul    matmul at square and the seed's Dense shapes, with the probe (bench/matmul.ts)
//   accuracy  the seed recipes on real data next to the seed's Keras figures (bench/accuracy.ts)
//   decode    dataset decode speed (bench/decode.ts)
//   check     every kernel at the seed models' shapes against the float64 references (bench/check.ts)
//   adapter   the adapter, its class and limits, and the tuning and autotune choices (bench/adapter.ts)
//   profile   every dispatch of a preset's training step, timed (src/profile-command.ts, as `shaderflow profile`)
// Each command lives in its own file and is loaded only when asked for.
const [command, ...args] = process.argv.slice(2);

async function main(): Promise<void> {
  switch (command) {
    case 'compare': {
      const { compare } = await import('./compare.js');
      await compare(args);
      break;
    }
    case 'kernels': {
      const { main: kernels } = await import('./kernels.js');
      await kernels(args);
      break;
    }
    case 'matmul': {
      const { benchMatmulCommand } = await import('./matmul.js');
      await benchMatmulCommand(args);
      break;
    }
    case 'decode': {
      const { benchDecode } = await import('./decode.js');
      const json = args.includes('--json');
      for (const r of await benchDecode()) console.log(json ? JSON.stringify(r) : `${r.case.padEnd(32)} ${String(r.mbPerSec).padStart(8)} MB/s  (${r.ms} ms, ${r.fileBytes} -> ${r.decodedBytes} bytes)`);
      break;
    }
    case 'check': {
      const { checkCommand } = await import('./check.js');
      await checkCommand(args);
      break;
    }
    case 'adapter': {
      const { adapterCommand } = await import('./adapter.js');
      await adapterCommand(args);
      break;
    }
    case 'profile': {
      const { profileCommand } = await import('../src/profile-command.js');
      await profileCommand(args);
      break;
    }
    case 'accuracy': { const { accuracy } = await import('./accuracy.js'); await accuracy(args); break; }
    default:
      process.stderr.write(`usage: npm run bench -- <compare|kernels|matmul|accuracy|decode|check|adapter|profile> [args]${command ? ` (unknown command "${command}")` : ''}\n`);
      process.exitCode = 2;
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
