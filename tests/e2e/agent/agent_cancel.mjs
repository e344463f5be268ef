// E2E: cancel terminates a busy-looping WASI workload (its Web Worker disappears), the agent
// reports `cancelled` and keeps working; timeout_ms ends a run as failed; cancel of an unknown
// run is answered idempotently.

import { e2e, openAgentPage, check, wasiFixture, runToEnd } from './lib.mjs';

const runWorkers = (page) => page.workers().filter((w) => w.url().endsWith('/agent/worker.js'));

await e2e('agent_cancel', async ({ node, browser }) => {
  await node.serve('/artefacts/busy.wasm', wasiFixture('busy'));
  await node.serve('/artefacts/hello.wasm', wasiFixture('hello'));
  const { page, agentId, errors } = await openAgentPage(browser, node);
  await node.waitFrame((m) => m.t === 'heartbeat', 'first heartbeat', 10000);

  const from = node.events.length;
  await node.send(agentId, { t: 'run', run_id: 'busy-1', pod: { namespace: 'default', name: 'busy', uid: 'u1', container: 'main' },
    kind: 'wasi', module_url: '/artefacts/busy.wasm' });
  await node.waitFrame((m) => m.t === 'log' && m.run_id === 'busy-1', '"spinning" from busy-1', 10000, from);
  await node.waitFrame((m) => m.t === 'heartbeat' && m.running === 1, 'heartbeat with running=1', 5000, from);
  check(runWorkers(page).length === 1, `one run worker while busy (${runWorkers(page).length})`);

  const t0 = Date.now();
  await node.send(agentId, { t: 'cancel', run_id: 'busy-1', reason: 'pod deleted' });
  const st = await node.waitFrame((m) => m.t === 'status' && m.run_id === 'busy-1' && m.phase === 'cancelled', 'cancelled status', 5000, from);
  console.log(`  cancel → cancelled in ${Date.now() - t0} ms; timings ${JSON.stringify(st.timings)}`);
  check(st.message === 'pod deleted', `reason echoed: ${st.message}`);
  check([st.timings?.fetch_ms, st.timings?.compile_ms, st.timings?.run_ms].every(Number.isInteger), "all timings reported for the cancelled run");
  await node.waitFrame((m, e) => m.t === 'heartbeat' && m.running === 0 && e.at > t0, 'heartbeat with running=0', 5000, from);
  const deadline = Date.now() + 5000;
  while (runWorkers(page).length && Date.now() < deadline) await page.waitForTimeout(50);
  check(runWorkers(page).length === 0, 'the busy worker is gone');

  // A second cancel and a cancel for an unknown run are answered, not ignored.
  const again = node.events.length;
  await node.send(agentId, { t: 'cancel', run_id: 'busy-1' });
  await node.send(agentId, { t: 'cancel', run_id: 'never-ran' });
  await node.waitFrame((m) => m.t === 'status' && m.run_id === 'busy-1' && m.phase === 'cancelled', 'repeat answer', 5000, again);
  await node.waitFrame((m) => m.t === 'status' && m.run_id === 'never-ran' && m.phase === 'cancelled', 'unknown run answer', 5000, again);

  // A deadline ends a spinning run as failed.
  const late = await runToEnd(node, agentId, { run_id: 'busy-2', kind: 'wasi', module_url: '/artefacts/busy.wasm', timeout_ms: 1500 });
  check(late.final.phase === 'failed' && /deadline exceeded/.test(late.final.message), `timeout: ${JSON.stringify(late.final)}`);

  // The agent still runs work afterwards.
  const ok = await runToEnd(node, agentId, { run_id: 'after', kind: 'wasi', module_url: '/artefacts/hello.wasm', args: ['hello'] });
  check(ok.final.phase === 'exited' && ok.final.exit_code === 0, `run after cancel: ${JSON.stringify(ok.final)}`);
  check(await page.evaluate(() => document.getElementById('c-cancelled').textContent) === '1', 'page counts 1 cancelled');
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
});
