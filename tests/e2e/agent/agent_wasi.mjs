// E2E: WASI commands (built from fixtures/*.c by clang) run in a Web Worker of the page: argv,
// env, stdout/stderr as ordered log frames, exit code (proc_exit), timings, digest check, chunk
// bound (max_log_chunk 1 KiB here), fetch failures.

import fs from 'node:fs';
import crypto from 'node:crypto';
import { e2e, openAgentPage, check, wasiFixture, runToEnd } from './lib.mjs';

const MAX_CHUNK = 1024;

await e2e('agent_wasi', async ({ node, browser }) => {
  const hello = wasiFixture('hello');
  const chatty = wasiFixture('chatty');
  await node.serve('/artefacts/hello.wasm', hello);
  await node.serve('/artefacts/chatty.wasm', chatty);
  const digest = `sha256:${crypto.createHash('sha256').update(fs.readFileSync(hello)).digest('hex')}`;
  const { page, agentId, errors } = await openAgentPage(browser, node);
  await node.waitFrame((m) => m.t === 'heartbeat', 'first heartbeat', 10000);

  const r1 = await runToEnd(node, agentId, {
    run_id: 'wasi-1', kind: 'wasi', module_url: '/artefacts/hello.wasm?rt=tok', digest,
    args: ['hello', 'alpha', 'beta'], env: [['GREETING', 'from-kuack'], ['OTHER', 'x']],
  });
  check(r1.phases.join(',') === 'accepted,fetching,compiling,running,exited', `phases ${r1.phases}`);
  check(r1.final.exit_code === 3, `exit code 3 (argc > 2), got ${r1.final.exit_code}`);
  check(r1.stdout === 'argc=3\nargv[0]=hello\nargv[1]=alpha\nargv[2]=beta\nGREETING=from-kuack\n', `stdout ${JSON.stringify(r1.stdout)}`);
  check(r1.stderr === 'this line goes to stderr\n', `stderr ${JSON.stringify(r1.stderr)}`);
  const t = r1.final.timings ?? {};
  check([t.fetch_ms, t.compile_ms, t.run_ms].every((x) => Number.isInteger(x) && x >= 0), `timings ${JSON.stringify(t)}`);
  console.log(`  wasi-1: timings ${JSON.stringify(t)}, ${r1.logs.length} log frames`);

  const r2 = await runToEnd(node, agentId, { run_id: 'wasi-2', kind: 'wasi', module_url: '/artefacts/hello.wasm', args: ['hello'] });
  check(r2.final.phase === 'exited' && r2.final.exit_code === 0, `wasi-2 exits 0: ${JSON.stringify(r2.final)}`);
  check(r2.stdout.includes('GREETING=(unset)'), 'no env leaks between runs');

  const bad = `sha256:${'0'.repeat(64)}`;
  const r3 = await runToEnd(node, agentId, { run_id: 'wasi-3', kind: 'wasi', module_url: '/artefacts/hello.wasm', digest: bad });
  check(r3.final.phase === 'failed' && /digest mismatch/.test(r3.final.message), `digest mismatch fails: ${JSON.stringify(r3.final)}`);

  const r4 = await runToEnd(node, agentId, { run_id: 'wasi-4', kind: 'wasi', module_url: '/artefacts/missing.wasm' });
  check(r4.final.phase === 'failed' && /HTTP 404/.test(r4.final.message), `404 fails: ${JSON.stringify(r4.final)}`);

  const r5 = await runToEnd(node, agentId, { run_id: 'wasi-5', kind: 'wasi', module_url: '/artefacts/chatty.wasm' });
  check(r5.final.exit_code === 0, 'chatty exits 0');
  const lines = r5.stdout.split('\n');
  check(lines.length === 2001 && lines[1999].startsWith('line 1999 ') && lines[0].startsWith('line 0000 '), `2000 stdout lines in order (${lines.length})`);
  check(lines.every((l, i) => i === 2000 || l.startsWith(`line ${String(i).padStart(4, '0')} `)), 'stdout lines in order');
  check(r5.stderr === 'checkpoint 0\ncheckpoint 500\ncheckpoint 1000\ncheckpoint 1500\n', `stderr ${JSON.stringify(r5.stderr)}`);
  check(r5.logs.every((l) => l.data.length <= MAX_CHUNK), `every chunk ≤ ${MAX_CHUNK}`);
  console.log(`  wasi-5: ${r5.stdout.length + r5.stderr.length} bytes in ${r5.logs.length} frames, run ${r5.final.timings.run_ms} ms`);

  // The page shows the runs and counters.
  await page.waitForFunction(() => document.querySelectorAll('#runs tr').length === 5);
  const shown = await page.evaluate(() => ({
    ok: document.getElementById('c-ok').textContent, failed: document.getElementById('c-failed').textContent,
    log: document.getElementById('log').textContent,
  }));
  check(shown.ok === '2' && shown.failed === '3', `counters ok=${shown.ok} failed=${shown.failed} (exit 3 + 2 failures)`);
  check(shown.log.includes('wasi-5 line 1999 ') && shown.log.includes('wasi-5 exited with code 0'), 'log tail shows the latest output');
  check(!shown.log.includes('GREETING=from-kuack'), 'log tail keeps only the last 500 lines');
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
}, { maxLogChunk: MAX_CHUNK });
