// E2E: a wasm-bindgen-style pkg (fixtures/bindgen-pkg: glue JS + _bg.wasm) runs in a worker:
// the glue is import()ed, its default init gets the compiled module, the entry is called with
// argv, console output of that worker (and only that worker) comes back as stdout/stderr.

import { e2e, openAgentPage, check, bindgenFixture, runToEnd } from './lib.mjs';

await e2e('agent_bindgen', async ({ node, browser }) => {
  const pkg = bindgenFixture();
  await node.serve('/artefacts/pkg/hello.js', pkg.glue);
  await node.serve('/artefacts/pkg/hello_bg.wasm', pkg.wasm);
  const { page, agentId, errors } = await openAgentPage(browser, node);
  await node.waitFrame((m) => m.t === 'heartbeat', 'first heartbeat', 10000);
  const base = { kind: 'bindgen', module_url: '/artefacts/pkg/hello_bg.wasm', glue_url: '/artefacts/pkg/hello.js' };

  // Two runs at once: each worker's console is its own.
  const [a, b] = await Promise.all([
    runToEnd(node, agentId, { ...base, run_id: 'bg-a', args: ['hello', 'from-a'] }),
    runToEnd(node, agentId, { ...base, run_id: 'bg-b', args: ['hello', 'from-b'] }),
  ]);
  for (const [r, who] of [[a, 'a'], [b, 'b']]) {
    check(r.phases.join(',') === 'accepted,fetching,compiling,running,exited', `bg-${who} phases ${r.phases}`);
    check(r.final.exit_code === 0, `bg-${who} exit 0`);
    check(r.stdout === `args: ["hello","from-${who}"]\nadd(2, 3) = 5\nhello from bindgen\n`, `bg-${who} stdout ${JSON.stringify(r.stdout)}`);
    check(r.stderr === 'warning from bindgen\n', `bg-${who} stderr ${JSON.stringify(r.stderr)}`);
    const order = r.logs.map((l) => `${l.stream}:${Buffer.from(l.data).toString()}`).join('');
    check(order.indexOf('hello from bindgen') < order.indexOf('2:warning'), `stdout before stderr as written: ${JSON.stringify(order)}`);
    const t = r.final.timings ?? {};
    check([t.fetch_ms, t.compile_ms, t.run_ms].every(Number.isInteger), `bg-${who} timings ${JSON.stringify(t)}`);
  }

  // An entry that throws fails the run with the error text; a missing entry is named.
  const boom = await runToEnd(node, agentId, { ...base, run_id: 'bg-boom', entry: 'boom' });
  check(boom.final.phase === 'failed' && /boom from the glue/.test(boom.final.message), `boom: ${JSON.stringify(boom.final)}`);
  const none = await runToEnd(node, agentId, { ...base, run_id: 'bg-none', entry: 'nope' });
  check(none.final.phase === 'failed' && /entry "nope" is not exported/.test(none.final.message), `missing entry: ${JSON.stringify(none.final)}`);
  const noglue = await runToEnd(node, agentId, { ...base, run_id: 'bg-noglue', glue_url: '/artefacts/pkg/missing.js' });
  check(noglue.final.phase === 'failed', `missing glue fails: ${JSON.stringify(noglue.final)}`);

  // The page's own console was not captured or polluted.
  const pageConsole = await page.evaluate(() => typeof console.log === 'function' && !String(console.log).includes('writeText'));
  check(pageConsole, 'page console untouched');
  check(errors.filter((e) => !/missing\.js/.test(e) && !/404/.test(e)).length === 0, `page errors: ${errors.join('; ')}`);
});
