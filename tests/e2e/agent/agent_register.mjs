// E2E: the page connects with kuack.v1, registers with the resources headless Chromium reports
// (CPU from hardwareConcurrency, memory from deviceMemory, the WebGPU fallback adapter), shows
// them, answers pings, heartbeats at the node's interval; closing the page says bye and closes.

import { e2e, openAgentPage, check } from './lib.mjs';

await e2e('agent_register', async ({ node, browser }) => {
  const { page, hello, agentId, errors } = await openAgentPage(browser, node, {
    token: 's3cret', query: '&labels=zone%3Deu,tier%3Dx&memory-max=2Gi',
  });
  const nav = await page.evaluate(() => ({ cores: navigator.hardwareConcurrency, ua: navigator.userAgent }));
  check(hello.token === 's3cret', 'hello carries the token');
  check(/^[0-9a-f-]{36}$/.test(agentId), `agent id is a uuid (${agentId})`);
  check(hello.cpu_millis === nav.cores * 1000, `cpu_millis ${hello.cpu_millis} = ${nav.cores} cores`);
  check(hello.memory_bytes === 2 * 2 ** 30, `memory capped at 2Gi (${hello.memory_bytes})`);
  check(hello.gpu && hello.gpu.present === true && hello.gpu.fallback === true, `WebGPU fallback adapter reported: ${JSON.stringify(hello.gpu)}`);
  check(hello.labels?.zone === 'eu' && hello.labels?.tier === 'x', `labels ${JSON.stringify(hello.labels)}`);
  check(hello.user_agent === nav.ua && hello.agent_version === '0.1.0', 'user agent and version');
  check(hello.max_pods === nav.cores, `max_pods ${hello.max_pods}`);

  // Heartbeats at the node's 1 s interval, pongs for pings.
  const hb = await node.waitFrame((m, e) => m.t === 'heartbeat' && m.seq === 2 && e.agent_id === agentId, 'heartbeat seq 2', 5000);
  check(hb.throttled === false && hb.running === 0 && hb.load === 0, `heartbeat ${JSON.stringify(hb)}`);
  await node.waitFrame((m) => m.t === 'pong' && m.nonce >= 2, 'pong for ping 2', 5000);

  // The page shows what was registered.
  await page.waitForFunction(() => document.getElementById('state').dataset.state === 'connected');
  const shown = await page.evaluate(() => ({
    browserId: document.getElementById('browser-id').textContent,
    agentId: document.getElementById('agent-id').textContent,
    cpu: document.getElementById('cpu').textContent,
    mem: document.getElementById('mem').textContent,
    gpu: document.getElementById('gpu').textContent,
    rtt: document.getElementById('rtt').textContent,
  }));
  check(shown.browserId === `b-${agentId.slice(0, 8)}`, `browser id shown (${shown.browserId})`);
  check(shown.agentId === agentId, 'agent id shown');
  check(shown.cpu === `${nav.cores} cores` && shown.mem === '2.0 GiB', `resources shown ${shown.cpu} ${shown.mem}`);
  check(/fallback/.test(shown.gpu), `gpu shown: ${shown.gpu}`);
  check(/^\d+ ms$/.test(shown.rtt), `rtt shown: ${shown.rtt}`);

  // The id survives a reload (localStorage); the old session is closed by the new one or by bye.
  const from = node.events.length;
  await page.reload();
  const again = await node.waitFrame((m) => m.t === 'hello', 'hello after reload', 10000, from);
  check(again.agent_id === agentId, 'agent id persisted across reload');
  const bye = node.events.slice(from).find((e) => e.ev === 'frame' && e.msg.t === 'bye');
  check(bye && bye.msg.reason === 'page closed', 'bye{page closed} before the reload closed the socket');

  // Closing the page disconnects promptly.
  const t0 = Date.now();
  const closeFrom = node.events.length;
  await page.close();
  const closed = await node.waitFor((e) => e.ev === 'close' && e.agent_id === agentId, 'close after page.close()', 5000, closeFrom);
  check(closed.code === 1000 || closed.code === 1001, `close code ${closed.code}`);
  console.log(`  page close → node saw close ${closed.code} in ${closed.at - t0} ms`);
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
}, { token: 's3cret' });
