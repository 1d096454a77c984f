// `shaderflow selftest [--quick] [--adapter-class C] [--json]`: the self-test (src/selftest/run.ts) on this machine's
// adapter. Prints the table (or one JSON object) and returns the exit code: 0 when every check passes, 1 otherwise.
// env SHADERFLOW_SELFTEST_CORRUPT=KERNEL (test-only) corrupts that kernel family's outputs to prove a failure is named.
import { parseArgs } from 'node:util';
import { adapterClassArg } from '../cli-args.js';
import { createEngine } from '../gpu/engine.js';
import { formatSelftestTable, runSelftest } from './run.js';

/** Runs `shaderflow selftest` on its arguments (flags and help: the selftest entry of COMMANDS in src/cli.ts); returns the exit code. */
export async function selftestCommand(args: string[], out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { quick: { type: 'boolean' }, 'adapter-class': { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: false,
  });
  const engine = await createEngine({ adapterClass: adapterClassArg(values['adapter-class']) });
  try {
    const corrupt = process.env.SHADERFLOW_SELFTEST_CORRUPT || undefined;
    const report = await runSelftest(engine, {
      quick: values.quick,
      corrupt,
      onRow: values.json ? undefined : (r, i, n) => process.stderr.write(`\r[${i + 1}/${n}] ${r.kernel} ${r.variant}`.padEnd(70).slice(0, 78)),
    });
    if (!values.json) process.stderr.write('\r'.padEnd(79) + '\r');
    out(values.json ? `${JSON.stringify(report)}\n` : `${formatSelftestTable(report)}\n`);
    return report.pass ? 0 : 1;
  } finally {
    engine.dispose();
  }
}
