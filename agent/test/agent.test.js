// KuackAgent connection logic without a browser: a mock WebSocket speaking real kuack.v1 frames
// (protocol.js) and mock workers. Covers hello contents, welcome/heartbeat/pong, errors answered,
// run/log/status/cancel, close codes (4001/4003 stop, others reconnect with backoff) and resume.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { encode, decode } from '../src/protocol.js';
import { KuackAgent } from '../src/agent.js';

class MockSocket {
  static all = [];
  constructor(url, proto) {
    this.url = url;
    this.protocol = proto;
    this.readyState = 0;
    this.sent = [];
    this.bufferedAmount = 0;
    MockSocket.all.push(this);
    setTimeout(() => { this.readyState = 1; this.onopen?.(); }, 1);
  }
  send(bytes) { this.sent.push(decode(bytes)); }
  close(code = 1000, reason = '') { this.#closed(code, reason); }
  // node side
  deliver(msg) {
    const b = encode(msg);
    this.onmessage?.({ data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) });
  }
  deliverRaw(bytes) { this.onmessage?.({ data: new Uint8Array(bytes).buffer }); }
  drop(code, reason = '') { this.#closed(code, reason); }
  #closed(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code, reason }), 1);
  }
  frames(t) { return this.sent.filter((m) => m.t === t); }
}

class MockWorker {
  static all = [];
  constructor(url) { this.url = url; this.terminated = false; this.posted = []; MockWorker.all.push(this); }
  postMessage(m) { this.posted.push(m); }
  terminate() { this.terminated = true; }
  emit(m) { this.onmessage?.({ data: m }); }
}

async function until(cond, what, ms = 2000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const live = [];
afterEach(() => { for (const a of live.splice(0)) a.stop(); }); // a failed assertion must not leave timers

function makeAgent(opts = {}) {
  MockSocket.all = [];
  MockWorker.all = [];
  const store = new Map();
  const agent = new KuackAgent({ nodeUrl: 'ws://node.test:8080/ws', token: 'tok', backoffBaseMs: 20, backoffMaxMs: 40, stableMs: 50, ...opts }, {
    navigator: { hardwareConcurrency: 4, deviceMemory: 8, userAgent: 'test-ua' },
    storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) },
    crypto: webcrypto, WebSocket: MockSocket, createWorker: (url) => new MockWorker(url),
  });
  live.push(agent);
  return agent;
}

const WELCOME = { t: 'welcome', browser_id: 'b-1', session: 's-1', heartbeat_ms: 30, heartbeat_deadline_ms: 1000, max_frame: 1 << 20, max_log_chunk: 8 };
const POD = { namespace: 'ns', name: 'p', uid: 'u', container: 'c' };

async function connected(agent) {
  await agent.start();
  await until(() => MockSocket.all.at(-1)?.frames('hello').length === 1, 'hello');
  const ws = MockSocket.all.at(-1);
  ws.deliver(WELCOME);
  await until(() => agent.state === 'connected', 'connected');
  return ws;
}

test('hello carries token, id, resources, labels; welcome → heartbeats; ping → pong', async () => {
  const agent = makeAgent({ cpuMax: '2', memoryMax: '1Gi', labels: 'zone=eu' });
  const ws = await connected(agent);
  assert.equal(ws.protocol, 'kuack.v1');
  assert.equal(ws.binaryType, 'arraybuffer');
  const [hello] = ws.frames('hello');
  assert.equal(hello.token, 'tok');
  assert.equal(hello.agent_id, agent.agentId);
  assert.equal(hello.cpu_millis, 2000);
  assert.equal(hello.memory_bytes, 2 ** 30);
  assert.deepEqual(hello.gpu, { present: false, fallback: false });
  assert.deepEqual(hello.labels, { zone: 'eu' });
  assert.equal(hello.max_pods, 4);
  assert.equal(hello.session, undefined);
  await until(() => ws.frames('heartbeat').length >= 3, 'three heartbeats');
  assert.deepEqual(ws.frames('heartbeat').map((h) => h.seq).slice(0, 3), [0, 1, 2]);
  ws.deliver({ t: 'ping', nonce: 7, t_ns: 123456789 });
  assert.deepEqual(ws.frames('pong').at(-1), { t: 'pong', nonce: 7, t_ns: 123456789 });
  assert.equal(agent.snapshot().browser_id, 'b-1');
  agent.stop();
  assert.equal(ws.frames('bye').length, 1);
  assert.equal(agent.state, 'stopped');
});

test('unknown types and bad fields are answered with error; garbage closes with 4000 and reconnects', async () => {
  const agent = makeAgent();
  const ws = await connected(agent);
  ws.deliverRaw(encode({ t: 'error', code: 'x' }).map((b) => b)); // fine: error from node
  assert.equal(agent.lastError.code, 'x');
  // {t:"frobnicate"} and {t:"run", run_id: 7}
  ws.deliverRaw([0x81, 0xa1, 0x74, 0xaa, ...Buffer.from('frobnicate')]);
  ws.deliverRaw([0x82, 0xa1, 0x74, 0xa3, ...Buffer.from('run'), 0xa6, ...Buffer.from('run_id'), 0x07]);
  const errs = ws.frames('error');
  assert.equal(errs[0].code, 'unknown_type');
  assert.equal(errs[0].ref, 'frobnicate');
  assert.equal(errs[1].code, 'bad_message');
  assert.equal(errs[1].ref, 'run');
  ws.deliverRaw([0xc1]);
  await until(() => MockSocket.all.length === 2, 'reconnect after 4000');
  assert.equal(agent.counters.reconnects, 1);
  agent.stop();
});

test('a run streams logs in chunks ≤ max_log_chunk with seq, one terminal status; cancel terminates', async () => {
  const agent = makeAgent();
  const ws = await connected(agent);
  ws.deliver({ t: 'run', run_id: 'r1', pod: POD, kind: 'wasi', module_url: '/artefacts/x.wasm?rt=1', args: ['x'], env: [['A', 'b']] });
  const w = MockWorker.all[0];
  assert.equal(w.posted[0].run.module_url, 'http://node.test:8080/artefacts/x.wasm?rt=1');
  assert.deepEqual(w.posted[0].run.env, [['A', 'b']]);
  w.emit({ type: 'phase', phase: 'fetching' });
  w.emit({ type: 'phase', phase: 'compiling', timings: { fetch_ms: 3 } });
  w.emit({ type: 'phase', phase: 'running', timings: { fetch_ms: 3, compile_ms: 4 } });
  w.emit({ type: 'log', stream: 1, data: new TextEncoder().encode('0123456789abc\n') });
  w.emit({ type: 'log', stream: 2, data: new TextEncoder().encode('err\n') });
  w.emit({ type: 'done', phase: 'exited', exit_code: 3, timings: { fetch_ms: 3, compile_ms: 4, run_ms: 5 } });
  w.emit({ type: 'log', stream: 1, data: new Uint8Array([1]) }); // after the end: ignored
  const st = ws.frames('status').filter((s) => s.run_id === 'r1');
  assert.deepEqual(st.map((s) => s.phase), ['accepted', 'fetching', 'compiling', 'running', 'exited']);
  assert.equal(st.at(-1).exit_code, 3);
  assert.deepEqual(st.at(-1).timings, { fetch_ms: 3, compile_ms: 4, run_ms: 5 });
  const logs = ws.frames('log');
  assert.deepEqual(logs.map((l) => [l.stream, l.seq, l.data.length]), [[1, 0, 8], [1, 1, 6], [2, 2, 4]]);
  assert.ok(w.terminated, 'worker ended after exit');

  ws.deliver({ t: 'run', run_id: 'r2', pod: POD, kind: 'wasi', module_url: '/m.wasm' });
  ws.deliver({ t: 'cancel', run_id: 'r2', reason: 'pod deleted' });
  assert.ok(MockWorker.all[1].terminated);
  assert.deepEqual(ws.frames('status').filter((s) => s.run_id === 'r2').map((s) => s.phase), ['accepted', 'cancelled']);
  ws.deliver({ t: 'cancel', run_id: 'nope' });
  assert.equal(ws.frames('status').at(-1).phase, 'cancelled');
  assert.equal(agent.snapshot().counters.exited_error, 1);
  agent.stop();
});

test('max_pods refuses extra runs with a failed status', async () => {
  const agent = makeAgent({ maxPods: 1 });
  const ws = await connected(agent);
  ws.deliver({ t: 'run', run_id: 'a', pod: POD, kind: 'wasi', module_url: '/m.wasm' });
  ws.deliver({ t: 'run', run_id: 'b', pod: POD, kind: 'wasi', module_url: '/m.wasm' });
  const b = ws.frames('status').filter((s) => s.run_id === 'b');
  assert.deepEqual(b.map((s) => s.phase), ['failed']);
  assert.match(b[0].message, /max_pods/);
  agent.stop();
});

test('4008 → reconnect with session and running runs; resumed runs keep going, lost ones stop', async () => {
  const agent = makeAgent();
  const ws = await connected(agent);
  ws.deliver({ t: 'run', run_id: 'keep', pod: POD, kind: 'wasi', module_url: '/m.wasm' });
  ws.deliver({ t: 'run', run_id: 'lose', pod: POD, kind: 'wasi', module_url: '/m.wasm' });
  ws.drop(4008, 'culled');
  await until(() => agent.state === 'reconnecting', 'reconnecting');
  assert.match(agent.reason, /culled/);
  MockWorker.all[0].emit({ type: 'log', stream: 1, data: new TextEncoder().encode('while away\n') });
  await until(() => MockSocket.all.length === 2 && MockSocket.all[1].frames('hello').length === 1, 'second hello');
  const ws2 = MockSocket.all[1];
  assert.deepEqual(ws2.frames('hello')[0].session, { id: 's-1', runs: ['keep', 'lose'] });
  ws2.deliver({ ...WELCOME, session: 's-2', resumed: ['keep'] });
  await until(() => agent.state === 'connected', 'connected again');
  assert.ok(MockWorker.all[1].terminated, 'lost run stopped');
  assert.ok(!MockWorker.all[0].terminated, 'resumed run alive');
  const queued = ws2.frames('log');
  assert.equal(Buffer.concat(queued.map((l) => l.data)).toString(), 'while away\n', 'log written while away is delivered after the resume');
  assert.deepEqual(queued.map((l) => [l.run_id, l.seq]), [['keep', 0], ['keep', 1]]);
  assert.equal(agent.runner.running, 1);
  agent.stop();
});

test('4003 and 4001 stop for good with the reason; backoff resets after a stable connection', async () => {
  for (const [code, re] of [[4003, /unauthorized/], [4001, /superseded/]]) {
    const agent = makeAgent();
    const ws = await connected(agent);
    ws.drop(code);
    await until(() => agent.state === 'stopped', `stopped after ${code}`);
    assert.match(agent.reason, re);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(MockSocket.all.length, 1, `no reconnect after ${code}`);
  }
  const agent = makeAgent();
  let ws = await connected(agent);
  for (let i = 0; i < 3; i++) {
    ws.drop(1006);
    await until(() => MockSocket.all.length === i + 2, `attempt ${i + 2}`);
    ws = MockSocket.all.at(-1);
  }
  assert.ok(agent.backoff.attempt >= 3);
  await until(() => ws.frames('hello').length === 1, 'hello');
  ws.deliver(WELCOME);
  await until(() => agent.backoff.attempt === 0, 'backoff reset after stableMs', 1000);
  agent.stop();
});
