// kuack.v1 JS codec: the malformed cases of tests/unit/wire/test_proto.c, from the agent's side
// (truncation, shape, types, required fields, limits, nesting, unknown types and fields).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as rawEncode, Encoder } from '@msgpack/msgpack';

import * as P from '../src/protocol.js';
import { decode, encode, ProtocolError } from '../src/protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const cdir = join(here, 'fixtures', 'c');
const frames = readdirSync(cdir).filter((f) => f.endsWith('.msgpack'))
  .map((f) => [f, new Uint8Array(readFileSync(join(cdir, f)))]);

const raw = (obj) => new Encoder({ useBigInt64: true }).encode(obj);

function refused(bytes, { code = 'bad_message', fatal = false, msg, type, limits } = {}) {
  assert.throws(() => decode(bytes, limits), (e) => {
    assert.ok(e instanceof ProtocolError, `not a ProtocolError: ${e}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.fatal, fatal, e.message);
    if (msg) assert.ok(e.message.includes(msg), `"${e.message}" lacks "${msg}"`);
    if (type !== undefined) assert.equal(e.type, type);
    return true;
  });
}

const runFrame = (extra = {}) => ({
  t: 'run', run_id: 'r1', pod: { namespace: 'ns', name: 'p', uid: 'u', container: 'c' },
  kind: 'wasi', module_url: '/m.wasm', ...extra,
});

test('constants', () => {
  assert.equal(P.SUBPROTOCOL, 'kuack.v1');
  assert.deepEqual([P.CLOSE.PROTOCOL, P.CLOSE.SUPERSEDED, P.CLOSE.UNAUTHORIZED, P.CLOSE.CULLED, P.CLOSE.SHUTDOWN],
    [4000, 4001, 4003, 4008, 4009]);
  assert.equal(P.DIRECTION.run, 'n2a');
  assert.equal(P.DEFAULT_LIMITS.maxFrame, 1048576);
  assert.equal(P.DEFAULT_LIMITS.maxLogChunk, 65536);
});

test('every truncation of every C frame is a fatal bad_message', () => {
  let n = 0;
  for (const [, f] of frames) {
    for (let cut = 0; cut < f.length; cut++, n++) refused(f.subarray(0, cut), { fatal: true });
  }
  assert.ok(n > 500);
});

test('frame shape: not a map, trailing bytes, invalid byte, oversized', () => {
  refused(Uint8Array.of(0x91, 0x01), { fatal: true, msg: 'not a msgpack map' });
  refused(Uint8Array.of(0x05), { fatal: true, msg: 'not a msgpack map' });
  refused(Uint8Array.of(0x81, 0xa1, 0x74, 0xa3, 0x62, 0x79, 0x65, 0x00), { fatal: true });
  refused(Uint8Array.of(0x81, 0xa1, 0x74, 0xc1), { fatal: true });
  refused(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0x00), { fatal: true });
  refused(raw({ t: 'bye', reason: 'x'.repeat(60) }), { code: 'too_big', fatal: true, limits: { maxFrame: 50 } });
});

test('type and version', () => {
  refused(raw({ reason: 'x' }), { msg: 't: required' });
  refused(raw({ t: 3 }), { msg: 't: required' });
  refused(raw({ x: 1, t: 'frobnicate' }), { code: 'unknown_type', type: 'frobnicate' });
  refused(raw({ t: 'bye', v: '1' }), { msg: 'v: expected uint' });
  const m = decode(raw({ future: { a: [null, true], b: 1.5 }, reason: 'bye now', v: 9, t: 'bye' }));
  assert.deepEqual(m, { t: 'bye', v: 9, reason: 'bye now' });
  // a non-str key in a known map is a bad message; in an unknown map it is ignored
  const nonStrTop = Uint8Array.of(0x82, 0xa1, 0x74, 0xa3, 0x62, 0x79, 0x65, 0x07, 0xc0);
  refused(nonStrTop, { msg: 'map key is not a str' });
  const nonStrNested = Uint8Array.of(0x82, 0xa1, 0x74, 0xa3, 0x62, 0x79, 0x65, 0xa1, 0x78, 0x81, 0x07, 0xc0);
  assert.deepEqual(decode(nonStrNested), { t: 'bye' });
  // ext values in unknown fields stay opaque (even the timestamp type)
  assert.deepEqual(decode(rawEncode({ t: 'bye', when: new Date(0) })), { t: 'bye' });
});

test('missing, wrong-typed and nil fields name the field', () => {
  const full = runFrame({ glue_url: '/g.js', args: ['a'], timeout_ms: 5 });
  for (const key of ['run_id', 'pod', 'kind', 'module_url']) {
    const f = { ...full };
    delete f[key];
    refused(raw(f), { msg: `run.${key}: required field missing` });
    refused(raw({ ...full, [key]: null }), { msg: `run.${key}: required field missing` });
  }
  for (const key of ['run_id', 'pod', 'kind', 'module_url', 'glue_url', 'args', 'timeout_ms']) {
    refused(raw({ ...full, [key]: typeof full[key] === 'string' ? 5 : 'x' }), { msg: `run.${key}` });
  }
  assert.equal(decode(raw({ ...full, glue_url: null })).glue_url, undefined);
  refused(raw(runFrame({ kind: 'bindgen' })), { msg: 'run.glue_url: required for kind bindgen' });
  refused(raw(runFrame({ kind: 'native' })), { msg: 'run.kind: unknown kind' });
  refused(raw(runFrame({ args: ['a', 'b', 3] })), { msg: 'run.args[2]: expected str' });
  refused(raw(runFrame({ env: [['A', '1', 'x']] })), { msg: 'run.env[0]' });
  refused(raw(runFrame({ limits: { memory_bytes: -1 } })), { msg: 'run.limits.memory_bytes' });
  refused(raw({ t: 'run', run_id: 'r', pod: { namespace: 'n', name: 'p', zone: 'eu', container: 'c' }, kind: 'wasi', module_url: '/m' }),
    { msg: 'run.pod.uid: required' });
  assert.deepEqual(decode(raw(runFrame({ env: { A: '1', B: '2' } }))).env, [['A', '1'], ['B', '2']]);
  refused(raw({ t: 'status', run_id: 'r', phase: 'Succeeded' }), { msg: 'status.phase: unknown phase' });
  refused(raw({ t: 'status', run_id: 'r', phase: 'exited' }), { msg: 'status.exit_code: required' });
  refused(raw({ t: 'status', run_id: 'r', phase: 'exited', exit_code: 2 ** 40 }), { msg: 'status.exit_code' });
  refused(raw({ t: 'log', run_id: 'r', stream: 3, seq: 0, data: new Uint8Array(0) }), { msg: 'log.stream' });
  refused(raw({ t: 'log', run_id: 'r', stream: 1, seq: 0, data: 'hi' }), { msg: 'log.data: expected bin' });
  const hello = { t: 'hello', token: '', agent_id: 'a', cpu_millis: 1, memory_bytes: 1 };
  refused(raw({ ...hello, agent_id: '' }), { msg: 'hello.agent_id: must not be empty' });
  refused(raw({ ...hello, gpu: { vendor: 'x' } }), { msg: 'hello.gpu.present: required' });
  refused(raw({ ...hello, session: { id: 's' } }), { msg: 'hello.session.runs: required' });
  refused(raw({ ...hello, labels: { k: 1 } }), { msg: 'hello.labels[0]: expected str' });
  refused(raw({ ...hello, token: 'a\u0000b' }), { msg: 'NUL' });
});

test('load must be within 0..1', () => {
  const hb = (load) => raw({ t: 'heartbeat', seq: 1, load, throttled: false, running: 0 });
  for (const bad of [NaN, 1.01, -1, 2]) refused(hb(bad), { msg: 'heartbeat.load' });
  assert.equal(decode(hb(1)).load, 1);
  assert.equal(decode(hb(0.5)).load, 0.5);
});

test('limits', () => {
  const lim = { maxStr: 99, maxArgs: 2, maxEnv: 1, maxLabels: 1, maxRuns: 1, maxLogChunk: 8, maxKeys: 12 };
  assert.equal(decode(raw({ t: 'bye', reason: 'x'.repeat(99) }), lim).reason.length, 99);
  refused(raw({ t: 'bye', reason: 'x'.repeat(100) }), { code: 'too_big', limits: lim, msg: 'bye.reason' });
  refused(raw({ t: 'bye', reason: 'é'.repeat(50) }), { code: 'too_big', limits: lim }); // 100 bytes
  refused(raw(runFrame({ args: ['a', 'b', 'c'] })), { code: 'too_big', limits: lim, msg: 'run.args' });
  refused(raw(runFrame({ env: [['A', '1'], ['B', '2']] })), { code: 'too_big', limits: lim, msg: 'run.env' });
  const hello = { t: 'hello', token: '', agent_id: 'a', cpu_millis: 1, memory_bytes: 1 };
  refused(raw({ ...hello, labels: { a: '1', b: '2' } }), { code: 'too_big', limits: lim, msg: 'hello.labels' });
  refused(raw({ ...hello, session: { id: 's', runs: ['r1', 'r2'] } }), { code: 'too_big', limits: lim, msg: 'hello.session.runs' });
  refused(raw({ t: 'log', run_id: 'r', stream: 1, seq: 0, data: new Uint8Array(9) }), { code: 'too_big', limits: lim, msg: 'log.data' });
  const many = { t: 'bye' };
  for (let i = 0; i < 12; i++) many[`k${i}`] = null;
  refused(raw(many), { code: 'too_big', limits: lim, msg: '13 entries' });
});

test('nesting beyond maxDepth is fatal; within it is ignored', () => {
  const nest = (d) => { let v = null; for (let i = 0; i < d; i++) v = [v]; return v; };
  assert.deepEqual(decode(raw({ t: 'bye', deep: nest(14) })), { t: 'bye' });
  refused(raw({ t: 'bye', deep: nest(17) }), { code: 'too_big', fatal: true, msg: 'nesting' });
  const mb = new Uint8Array(1 << 20).fill(0x91);
  mb.set([0x81, 0xa1, 0x78]);
  assert.throws(() => decode(mb), ProtocolError);
});

test('encode validates and round-trips; constructors', () => {
  assert.throws(() => encode({ t: 'hello', token: 'x' }), /agent_id: required/);
  assert.throws(() => encode({ t: 'status', run_id: 'r', phase: 'exited' }), /exit_code/);
  assert.throws(() => encode({ t: 'log', run_id: 'r', stream: 3, seq: 0, data: new Uint8Array(0) }), /log.stream/);
  assert.throws(() => encode({ t: 'nope' }), ProtocolError);
  assert.throws(() => encode({ t: 'heartbeat', seq: 0, load: 1.5, throttled: false, running: 0 }), /load/);
  const p = decode(encode(P.ping({ nonce: 1, t_ns: 2n ** 63n + 1n })));
  assert.equal(p.t_ns, 2n ** 63n + 1n);
  const echoed = decode(encode(P.pong(p)));
  assert.deepEqual(echoed, { t: 'pong', nonce: 1, t_ns: 2n ** 63n + 1n });
  const chunk = new TextEncoder().encode('hello\n');
  assert.deepEqual(decode(encode(P.log('r', P.STREAM.STDERR, 5, chunk))), { t: 'log', run_id: 'r', stream: 2, seq: 5, data: chunk });
  assert.deepEqual(decode(encode(P.error('bad_message', 'x: expected str', 'run'))),
    { t: 'error', code: 'bad_message', message: 'x: expected str', ref: 'run' });
  assert.deepEqual(decode(encode(P.bye())), { t: 'bye' });
  assert.deepEqual(decode(encode({ ...P.bye('later'), v: 2 })), { t: 'bye', v: 2, reason: 'later' });
  const hb = decode(encode(P.heartbeat({ seq: 3, load: 0, throttled: true, running: 0,
    resources: { cpu_millis: 4000, memory_bytes: 2 ** 33 } })));
  assert.equal(hb.resources.memory_bytes, 2 ** 33);
  assert.equal(hb.load, 0);
  const st = decode(encode(P.status({ run_id: 'r', phase: 'exited', exit_code: 0, timings: { run_ms: 7 } })));
  assert.deepEqual(st, { t: 'status', run_id: 'r', phase: 'exited', exit_code: 0, timings: { run_ms: 7 } });
});
