// The API reference (docs/api/, HTML) from the doc comments, by TypeDoc; `--check` only validates: every export
// has a doc comment and every {@link} resolves, else it exits 1 naming each one (npm test runs it so).
// Config: typedoc.json. TypeDoc runs on TypeScript 6: see scripts/typedoc-typescript.mjs.
import { register } from 'node:module';

register('./typedoc-typescript.mjs', import.meta.url);
const { Application, LogLevel } = await import('typedoc');

const check = process.argv.includes('--check');
const app = await Application.bootstrapWithPlugins({ options: 'typedoc.json', ...(check ? { logLevel: LogLevel.Warn } : {}) });
const project = await app.convert();
if (!project) process.exit(1); // TypeDoc has printed why (a compile error, a bad option)
app.validate(project);
if (app.logger.hasErrors() || app.logger.hasWarnings()) process.exit(1);
if (check) console.log('docs: every export has a doc comment and every link resolves');
else {
  await app.generateDocs(project, app.options.getValue('out'));
  if (app.logger.hasErrors() || app.logger.hasWarnings()) process.exit(1);
}
