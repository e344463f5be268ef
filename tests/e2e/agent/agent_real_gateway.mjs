// E2E against the real C gateway + browser plane (kq-gateway-host from tests/integration/wire):
// the gateway serves the page, the agent module and the vendored libraries with COOP/COEP
// (crossOriginIsolated), the page registers with kuack.v1 through the C codec, heartbeats, and
// closing the page is seen by the browser plane (down=1) within the deadline.
// Usage: node agent_real_gateway.mjs <path to kq-gateway-host>

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { launch, check, ROOT } from './lib.mjs';

const host = process.argv[2];
if (!host || !fs.existsSync(host)) {
  console.error(`FAIL agent_real_gateway: kq-gateway-host not found at ${host} (build target kq-gateway-host)`);
  process.exit(1);
}
const t0 = Date.now();
const child = spawn(host, ['--port', '0', '--token', 'tok', '--agent-root', path.join(ROOT, 'agent'), '--report-ms', '200'],
  { stdio: ['ignore', 'pipe', 'inherit'] });
const lines = [];
const waiters = new Set();
readline.createInterface({ input: child.stdout }).on('line', (l) => { lines.push(l); for (const w of waiters) w(); });
function waitLine(re, what, ms = 10000) {
  return new Promise((resolve, reject) => {
    const w = () => { const hit = lines.find((l) => re.test(l)); if (hit) { waiters.delete(w); clearTimeout(timer); resolve(hit); } };
    const timer = setTimeout(() => { waiters.delete(w); reject(new Error(`timed out waiting for ${what}; last: ${lines.at(-1)}`)); }, ms);
    waiters.add(w);
    w();
  });
}

let b;
try {
  const port = /ready port=(\d+)/.exec(await waitLine(/ready port=\d+/, 'gateway ready'))[1];
  b = await launch();
  const page = await b.browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`http://127.0.0.1:${port}/?token=tok`);
  await page.waitForFunction(() => window.kuackAgent?.state === 'connected', null, { timeout: 15000 });
  await waitLine(/ up=1 /, 'browser registered (up=1)');
  await page.waitForFunction(() => window.kuackAgent.snapshot().heartbeat_seq >= 2, null, { timeout: 10000 });
  const s = await page.evaluate(() => ({ ...window.kuackAgent.snapshot(), isolated: crossOriginIsolated }));
  check(s.isolated === true, 'COOP/COEP from the gateway make the page cross-origin isolated');
  check(typeof s.browser_id === 'string' && s.browser_id.length > 0, `browser id ${s.browser_id}`);
  check(s.heartbeat_ms > 0 && s.max_log_chunk > 0, `welcome limits ${s.heartbeat_ms} ${s.max_log_chunk}`);
  check(s.last_error === null, `no error frames: ${JSON.stringify(s.last_error)}`);
  const closing = Date.now();
  await page.close();
  await waitLine(/ down=1 /, 'browser gone (down=1)', 5000);
  console.log(`  registered as ${s.browser_id}; page close → down in ${Date.now() - closing} ms`);
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
  console.log(`PASS agent_real_gateway (${Date.now() - t0} ms)`);
} catch (err) {
  console.error(`FAIL agent_real_gateway: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await b?.close();
  child.kill('SIGTERM');
}
