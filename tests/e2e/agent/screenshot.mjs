// Tool (not a test): drives the page through a few workloads against the fake node and saves a
// screenshot. Usage: node tests/e2e/agent/screenshot.mjs [out.png] [light|dark]
import path from 'node:path';
import { openNode } from './node-driver.mjs';
import { launch, wasiFixture, bindgenFixture, ROOT } from './lib.mjs';

const out = process.argv[2] ?? path.join(ROOT, 'docs/agent-page.png');
const scheme = process.argv[3] ?? 'light';
const node = await openNode({ token: 'demo', heartbeatMs: 2000, maxLogChunk: 16384 });
const b = await launch();
try {
  for (const n of ['hello', 'busy', 'chatty']) await node.serve(`/artefacts/${n}.wasm`, wasiFixture(n));
  const pkg = bindgenFixture();
  await node.serve('/artefacts/pkg/hello.js', pkg.glue);
  await node.serve('/artefacts/pkg/hello_bg.wasm', pkg.wasm);
  const ctx = await b.browser.newContext({ viewport: { width: 1360, height: 1010 }, colorScheme: scheme, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  await page.goto(`${node.url}?token=demo&labels=zone%3Deu-west,tier%3Dlab&memory-max=4Gi`);
  await page.waitForFunction(() => window.kuackAgent?.state === 'connected');
  const id = await page.evaluate(() => window.kuackAgent.agentId);
  const pod = (name) => ({ namespace: 'demo', name, uid: `uid-${name}`, container: 'main' });
  const run = (m) => node.send(id, { t: 'run', pod: pod(m.run_id.replace(/-\d+$/, '')), ...m });
  const done = (rid) => node.waitFrame((m) => m.t === 'status' && m.run_id === rid && ['exited', 'failed', 'cancelled'].includes(m.phase), rid, 20000);
  await run({ run_id: 'chatty-0', kind: 'wasi', module_url: '/artefacts/chatty.wasm' });
  await done('chatty-0');
  await run({ run_id: 'hello-wasi-0', kind: 'wasi', module_url: '/artefacts/hello.wasm', args: ['hello', 'a', 'b'], env: [['GREETING', 'hi from kuack']] });
  await done('hello-wasi-0');
  await run({ run_id: 'hello-bindgen-0', kind: 'bindgen', module_url: '/artefacts/pkg/hello_bg.wasm', glue_url: '/artefacts/pkg/hello.js', args: ['hello', 'world'] });
  await done('hello-bindgen-0');
  await run({ run_id: 'missing-0', kind: 'wasi', module_url: '/artefacts/missing.wasm' });
  await done('missing-0');
  await run({ run_id: 'spin-0', kind: 'wasi', module_url: '/artefacts/busy.wasm' });
  await node.waitFrame((m) => m.t === 'status' && m.run_id === 'spin-0' && m.phase === 'running', 'spin-0 running', 10000);
  await node.send(id, { t: 'cancel', run_id: 'spin-0', reason: 'pod deleted' });
  await done('spin-0');
  await run({ run_id: 'spin-1', kind: 'wasi', module_url: '/artefacts/busy.wasm' });
  await node.waitFrame((m) => m.t === 'status' && m.run_id === 'spin-1' && m.phase === 'running', 'spin-1 running', 10000);
  await page.waitForTimeout(2500);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await b.close();
  await node.quit();
}
