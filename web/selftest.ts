// The self-test page (web/selftest.html): runs src/selftest on this browser's WebGPU adapter, fills the table row by
// row and offers the report (the CLI's Markdown table) to copy. URL parameters: quick=1 or full=1 (start at once),
// corrupt=KERNEL (test-only: corrupts that kernel family's outputs, so the page must report it failing).
// State for tests on window.__selftest. Bundled by scripts/build.mjs into dist/browser/selftest.js.
import { createEngine, formatSelftestTable, runSelftest, type Engine, type SelftestReport, type SelftestRow } from '../src/index.js';

export interface SelftestPageState {
  status: 'idle' | 'running' | 'done' | 'no-webgpu' | 'error';
  adapter: string | null;
  rows: SelftestRow[];
  report: SelftestReport | null;
  text: string;
  error: string | null;
}

const state: SelftestPageState = { status: 'idle', adapter: null, rows: [], report: null, text: '', error: null };
(window as unknown as { __selftest: SelftestPageState }).__selftest = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const num = (v: number) => (Number.isNaN(v) ? '-' : Number.isFinite(v) ? v.toExponential(1) : 'inf');
let engine: Engine | null = null;

function addRow(r: SelftestRow): void {
  const tr = document.createElement('tr');
  if (!r.pass) tr.className = 'fail';
  const cells = [r.kernel, r.variant, r.shapes, r.failure ? `threw: ${r.failure}` : num(r.error), num(r.bound), r.pass ? 'ok' : 'FAIL'];
  cells.forEach((c, i) => {
    const td = document.createElement('td');
    td.textContent = c;
    if (i === 3 || i === 4) td.className = 'num';
    tr.appendChild(td);
  });
  $('rows').appendChild(tr);
}

async function run(quick: boolean, corrupt?: string): Promise<void> {
  const buttons = ['run-quick', 'run-full', 'copy'].map((id) => $<HTMLButtonElement>(id));
  for (const b of buttons) b.disabled = true;
  $('rows').textContent = '';
  state.rows = [];
  state.status = 'running';
  try {
    engine ??= await createEngine();
    state.adapter = engine.describe();
    $('adapter').textContent = `adapter: ${state.adapter}`;
    const report = await runSelftest(engine, {
      quick,
      corrupt,
      onRow: (r, i, n) => {
        state.rows.push(r);
        addRow(r);
        $('verdict').textContent = `running… ${i + 1} of ${n}`;
      },
    });
    state.report = report;
    state.text = formatSelftestTable(report);
    $<HTMLTextAreaElement>('report').value = state.text;
    const v = $('verdict');
    v.className = `verdict ${report.pass ? 'pass' : 'fail'}`;
    v.textContent = report.pass
      ? `All ${report.rows.length} checks pass on this adapter (${report.seconds.toFixed(1)} s).`
      : `${report.failed.length} of ${report.rows.length} checks FAIL: ${report.failed.join(', ')}. Please report it with the text below.`;
    state.status = 'done';
  } catch (e) {
    const err = e as Error;
    state.error = `${err.name}: ${err.message}`;
    state.status = err.name === 'DeviceError' && !engine ? 'no-webgpu' : 'error';
    const m = $('message');
    m.hidden = false;
    m.className = 'message error';
    m.textContent = state.status === 'no-webgpu' ? `This browser offers no WebGPU adapter, so there is nothing to test.\n${state.error}` : state.error;
  } finally {
    for (const b of buttons) b.disabled = false;
    $<HTMLButtonElement>('copy').disabled = !state.text;
  }
}

$('run-quick').addEventListener('click', () => void run(true));
$('run-full').addEventListener('click', () => void run(false));
$('copy').addEventListener('click', async () => {
  const area = $<HTMLTextAreaElement>('report');
  try {
    await navigator.clipboard.writeText(area.value);
    $('copy').textContent = 'Copied';
  } catch {
    area.select(); // no clipboard permission: leave it selected for Ctrl+C
    $('copy').textContent = 'Selected: press Ctrl+C';
  }
});

const params = new URLSearchParams(location.search);
if (params.get('quick') === '1' || params.get('full') === '1') void run(params.get('quick') === '1', params.get('corrupt') ?? undefined);
