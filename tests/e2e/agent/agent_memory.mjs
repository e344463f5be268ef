// E2E: limits.memory_bytes is enforced in the worker. A WASI program that allocates until malloc
// fails is stopped at the limit and reported failed "OOMKilled: ..." (whether it traps or exits
// non-zero); without a limit the same program gets far more; a limit below the module's initial
// memory refuses to start it. The agent keeps working afterwards.

import { e2e, openAgentPage, check, wasiFixture, runToEnd } from './lib.mjs';

const MiB = 1 << 20;

await e2e('agent_memory', async ({ node, browser }) => {
  await node.serve('/artefacts/hog.wasm', wasiFixture('hog'));
  await node.serve('/artefacts/hello.wasm', wasiFixture('hello'));
  const { agentId, errors } = await openAgentPage(browser, node);
  await node.waitFrame((m) => m.t === 'heartbeat', 'first heartbeat', 10000);

  const trap = await runToEnd(node, agentId, { run_id: 'hog-trap', kind: 'wasi', module_url: '/artefacts/hog.wasm',
    limits: { memory_bytes: 16 * MiB } });
  console.log(`  hog-trap: ${JSON.stringify(trap.final.message)}; stdout ${JSON.stringify(trap.stdout)}`);
  check(trap.final.phase === 'failed', `trap at the limit fails: ${JSON.stringify(trap.final)}`);
  check(/^OOMKilled: memory limit 16777216 bytes reached/.test(trap.final.message), `OOMKilled reason: ${trap.final.message}`);
  const got = Number(/after (\d+) MiB/.exec(trap.stdout)?.[1]);
  check(got >= 8 && got < 16, `stopped below 16 MiB (got ${got} MiB)`);

  const exit2 = await runToEnd(node, agentId, { run_id: 'hog-exit', kind: 'wasi', module_url: '/artefacts/hog.wasm',
    args: ['hog', 'exit'], limits: { memory_bytes: 24 * MiB } });
  check(exit2.final.phase === 'failed' && /^OOMKilled: memory limit 25165824 bytes reached.*exit code 2/.test(exit2.final.message),
    `non-zero exit at the limit: ${JSON.stringify(exit2.final)}`);

  const free = await runToEnd(node, agentId, { run_id: 'hog-free', kind: 'wasi', module_url: '/artefacts/hog.wasm',
    args: ['hog', 'exit'], limits: { memory_bytes: 1024 * MiB } });
  check(free.final.phase === 'exited' && free.final.exit_code === 0 && /allocated 512 MiB/.test(free.stdout),
    `a generous limit lets it allocate 512 MiB: ${JSON.stringify(free.final)} ${JSON.stringify(free.stdout)}`);

  const tiny = await runToEnd(node, agentId, { run_id: 'hog-tiny', kind: 'wasi', module_url: '/artefacts/hog.wasm',
    limits: { memory_bytes: 64 * 1024 } });
  check(tiny.final.phase === 'failed' && /^OOMKilled: the module needs \d+ bytes of memory at start, limit is 65536/.test(tiny.final.message),
    `limit below the initial memory: ${JSON.stringify(tiny.final)}`);
  check(!tiny.phases.includes('running'), `never ran: ${tiny.phases}`);

  const ok = await runToEnd(node, agentId, { run_id: 'after', kind: 'wasi', module_url: '/artefacts/hello.wasm', args: ['hello'],
    limits: { memory_bytes: 8 * MiB } });
  check(ok.final.phase === 'exited' && ok.final.exit_code === 0, `a small program under a limit runs: ${JSON.stringify(ok.final)}`);
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
});
