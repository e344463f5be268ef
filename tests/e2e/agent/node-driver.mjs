// Drives a kuack node for the agent e2e tests over a JSON-lines protocol on stdio, so the same
// tests run against the Node fake node (default) and a C host program around the real gateway
// (set KQ_NODE_CMD to its command line).
//
// Node → test (stdout, one JSON object per line; bytes as {"$bin": base64}):
//   {ev:"listening", url:"http://127.0.0.1:PORT/"}       first line; the page is at url, /ws is the endpoint
//   {ev:"connect", conn}                                   a WebSocket was accepted
//   {ev:"frame", conn, agent_id, msg}                      every decoded frame from an agent
//   {ev:"closing", conn, agent_id, code, reason}           the node closes a connection
//   {ev:"close", conn, agent_id, code, reason}             a connection ended
//   {ev:"ok"|"err", id, error?}                            answer to a command
// Test → node (stdin):
//   {cmd:"serve", id, path:"/artefacts/x.wasm", file:"/abs/path"}   serve a file at a URL path
//   {cmd:"send", id, agent_id, msg}                                   send a frame to the live session
//   {cmd:"close", id, agent_id, code, reason}                         close that session
//   {cmd:"quit"}                                                      (or EOF) shut down
// Options the command must honour via env: KQ_NODE_TOKEN (agent token).

import { spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function revive(_k, v) {
  return v && typeof v === 'object' && typeof v.$bin === 'string' ? new Uint8Array(Buffer.from(v.$bin, 'base64')) : v;
}

export async function openNode({ token = '', heartbeatMs = 1000, pingMs = 500, maxLogChunk = 65536, deadlineMs = 5000 } = {}) {
  const cmd = process.env.KQ_NODE_CMD;
  const child = cmd
    ? spawn(cmd, { shell: true, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, KQ_NODE_TOKEN: token } })
    : spawn(process.execPath, [path.join(HERE, 'fake-node.mjs'), '--token', token, '--heartbeat-ms', String(heartbeatMs),
      '--ping-ms', String(pingMs), '--max-log-chunk', String(maxLogChunk), '--deadline-ms', String(deadlineMs)],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const events = [];
  const waiters = new Set();
  let exited = false;
  child.on('exit', () => { exited = true; for (const w of waiters) w.check(); });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let ev;
    try {
      ev = JSON.parse(line, revive);
    } catch {
      console.error(`node: ${line}`);
      return;
    }
    ev.at = Date.now();
    events.push(ev);
    for (const w of waiters) w.check();
  });

  // Resolves with the first event (from the start, or from index `from`) matching pred.
  function waitFor(pred, what, timeoutMs = 10000, from = 0) {
    return new Promise((resolve, reject) => {
      const w = {
        check() {
          const hit = events.slice(from).find(pred);
          if (hit) { clearTimeout(w.timer); waiters.delete(w); resolve(hit); }
          else if (exited) { clearTimeout(w.timer); waiters.delete(w); reject(new Error(`node exited while waiting for ${what}`)); }
        },
      };
      w.timer = setTimeout(() => { waiters.delete(w); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)); }, timeoutMs);
      waiters.add(w);
      w.check();
    });
  }

  let nextId = 1;
  async function command(c) {
    const id = nextId++;
    child.stdin.write(JSON.stringify({ ...c, id }) + '\n');
    const ans = await waitFor((e) => (e.ev === 'ok' || e.ev === 'err') && e.id === id, `answer to ${c.cmd}`, 5000);
    if (ans.ev === 'err') throw new Error(`node: ${c.cmd}: ${ans.error}`);
  }

  const listening = await waitFor((e) => e.ev === 'listening', 'the node to listen');
  return {
    url: listening.url,
    events,
    waitFor,
    frames: (agentId, t) => events.filter((e) => e.ev === 'frame' && (!agentId || e.agent_id === agentId) && (!t || e.msg.t === t)).map((e) => e.msg),
    waitFrame: (pred, what, timeoutMs, from) => waitFor((e) => e.ev === 'frame' && pred(e.msg, e), what, timeoutMs, from).then((e) => e.msg),
    serve: (urlPath, file) => command({ cmd: 'serve', path: urlPath, file }),
    send: (agentId, msg) => command({ cmd: 'send', agent_id: agentId, msg }),
    close: (agentId, code, reason) => command({ cmd: 'close', agent_id: agentId, code, reason }),
    async quit() {
      if (exited) return;
      child.stdin.end();
      await new Promise((r) => { if (exited) r(); else child.on('exit', r); setTimeout(() => { child.kill('SIGKILL'); r(); }, 3000).unref(); });
    },
  };
}
