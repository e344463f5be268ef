// E2E: connection lifecycle. A node-side close (4008) → reconnect with backoff and resume of the
// running workload (hello.session with its run id, welcome.resumed keeps it alive); a second tab
// with the same agent id supersedes the first (4001, which stops for good); a bad token (4003)
// stops without retrying. Each reason is visible on the page.

import { e2e, openAgentPage, check, wasiFixture } from './lib.mjs';

const state = (page) => page.evaluate(() => ({ state: window.kuackAgent.state, reason: window.kuackAgent.reason,
  shown: document.getElementById('reason').textContent }));

await e2e('agent_reconnect', async ({ node, browser }) => {
  await node.serve('/artefacts/busy.wasm', wasiFixture('busy'));
  const ctx = await browser.newContext();
  const { page, agentId, errors } = await openAgentPage(ctx, node, { token: 'tok' });
  const welcome1 = await node.waitFor((e) => e.ev === 'frame' && e.msg.t === 'heartbeat', 'first heartbeat', 10000);
  const conn1 = welcome1.conn;

  await node.send(agentId, { t: 'run', run_id: 'long', pod: { namespace: 'default', name: 'long', uid: 'u', container: 'main' },
    kind: 'wasi', module_url: '/artefacts/busy.wasm' });
  await node.waitFrame((m) => m.t === 'status' && m.phase === 'running', 'long is running', 10000);

  // Culled by the node → reconnects and resumes the run.
  const from = node.events.length;
  await node.close(agentId, 4008, 'test cull');
  const hello2 = await node.waitFrame((m) => m.t === 'hello', 'hello after 4008', 10000, from);
  check(hello2.agent_id === agentId, 'same agent id after reconnect');
  check(hello2.session && hello2.session.runs.includes('long'), `resume offer ${JSON.stringify(hello2.session)}`);
  await node.waitFrame((m, e) => m.t === 'heartbeat' && m.running === 1 && e.conn !== conn1, 'heartbeat on the new connection, still running', 10000, from);
  const s1 = await page.evaluate(() => window.kuackAgent.snapshot());
  check(s1.state === 'connected' && s1.counters.reconnects === 1, `reconnected once (${s1.state}, ${s1.counters.reconnects})`);
  check(s1.runs.find((r) => r.run_id === 'long')?.phase === 'running', 'run survived the reconnect');
  await node.send(agentId, { t: 'cancel', run_id: 'long' });
  await node.waitFrame((m) => m.t === 'status' && m.run_id === 'long' && m.phase === 'cancelled', 'cancel on the resumed session', 5000, from);

  // A second tab with the same agent id (same localStorage) supersedes the first.
  const sup = node.events.length;
  const page2 = await ctx.newPage();
  await page2.goto(`${node.url}?token=tok`);
  await node.waitFrame((m) => m.t === 'hello' && m.agent_id === agentId, 'hello from the second tab', 10000, sup);
  // The page renders the reason on its next frame: wait for the agent to stop and the page to say why.
  await page.waitForFunction(() => window.kuackAgent.state === 'stopped' &&
    document.getElementById('reason').textContent !== '', null, { timeout: 5000 });
  const s2 = await state(page);
  check(/superseded/.test(s2.reason) && /superseded/.test(s2.shown), `first tab shows why it stopped: ${s2.shown}`);
  await page.waitForTimeout(1500);
  const hellos = node.events.slice(sup).filter((e) => e.ev === 'frame' && e.msg.t === 'hello').length;
  check(hellos === 1, `the superseded tab does not reconnect (${hellos} hellos)`);
  await page2.close();

  // A bad token: unauthorized, stopped, no retry.
  const bad = node.events.length;
  const ctx2 = await browser.newContext();
  const page3 = await ctx2.newPage();
  await page3.goto(`${node.url}?token=wrong`);
  await page3.waitForFunction(() => window.kuackAgent?.state === 'stopped' &&
    document.getElementById('reason').textContent !== '', null, { timeout: 10000 });
  const s3 = await state(page3);
  check(/unauthorized/.test(s3.reason) && /unauthorized/.test(s3.shown), `bad token shown: ${s3.shown}`);
  await page3.waitForTimeout(1500);
  const tries = node.events.slice(bad).filter((e) => e.ev === 'frame' && e.msg.t === 'hello').length;
  check(tries === 1, `no retry after 4003 (${tries} hellos)`);
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
  await ctx.close();
  await ctx2.close();
}, { token: 'tok' });
