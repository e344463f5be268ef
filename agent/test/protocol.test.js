// C <-> JS conformance for kuack.v1. Decodes every frame the C codec wrote (fixtures/c, or
// $KQ_PROTO_FIXTURES_C when run by the CTest `proto_conformance`) and checks each field; encodes
// the same messages, checks the bytes equal C's, and writes them to $KQ_PROTO_FIXTURES_OUT for
// the C checker (tests/unit/wire/gen_fixtures.c). Cases mirror tests/unit/wire/proto_fixtures.c.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { decode, encode } from '../src/protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const inDir = process.env.KQ_PROTO_FIXTURES_C || join(here, 'fixtures', 'c');
const outDir = process.env.KQ_PROTO_FIXTURES_OUT || mkdtempSync(join(tmpdir(), 'kq-proto-js-'));

const bytes0to255 = Uint8Array.from({ length: 256 }, (_, i) => i);

export const FIXTURES = {
  hello: {
    t: 'hello', token: 's3cret-token', agent_id: 'a-6f1c2d',
    session: { id: 's-91d0', runs: ['uid1-0', 'uid2-3'] },
    cpu_millis: 8000, memory_bytes: 8589934592,
    gpu: { present: true, fallback: false, vendor: 'nvidia', architecture: 'ampere' },
    labels: { browser: 'chromium', site: 'ünïcødé ✓' },
    max_pods: 4, user_agent: 'Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome', agent_version: '0.1.0',
  },
  hello_min: { t: 'hello', token: '', agent_id: 'a-min', cpu_millis: 1000, memory_bytes: 1073741824 },
  welcome: {
    t: 'welcome', browser_id: 'b-3f2a', session: 's-a001', heartbeat_ms: 5000,
    heartbeat_deadline_ms: 15000, max_frame: 1048576, max_log_chunk: 65536, resumed: ['uid1-0'],
  },
  heartbeat: { t: 'heartbeat', seq: 12, load: 0.25, throttled: false, running: 1 },
  heartbeat_resources: {
    t: 'heartbeat', seq: 4294967296, load: 0.75, throttled: true, running: 3,
    resources: { cpu_millis: 2000, memory_bytes: 536870912, gpu: { present: true, fallback: true } },
  },
  ping: { t: 'ping', nonce: 42, t_ns: 4611686018427387909n },
  pong: { t: 'pong', nonce: 7, t_ns: 123456789 },
  run_wasi: {
    t: 'run', run_id: '7d2e-0', pod: { namespace: 'default', name: 'hello', uid: '7d2e', container: 'main' },
    kind: 'wasi', module_url: '/registry/blobs/sha256:ab12?rt=tok', digest: 'sha256:ab12',
    args: ['hello', '--n', '3'], env: [['GREETING', 'hi there'], ['EMPTY', '']],
    limits: { cpu_millis: 500, memory_bytes: 67108864 }, timeout_ms: 60000,
  },
  run_bindgen: {
    t: 'run', run_id: 'c0de-1', pod: { namespace: 'apps', name: 'checker', uid: 'c0de', container: 'checker' },
    kind: 'bindgen', module_url: '/registry/f/pkg/checker_bg.wasm', glue_url: '/registry/f/pkg/checker.js', entry: 'main',
  },
  status_running: { t: 'status', run_id: '7d2e-0', phase: 'running', timings: { fetch_ms: 12, compile_ms: 30, run_ms: 0 } },
  status_exited: {
    t: 'status', run_id: '7d2e-0', phase: 'exited', exit_code: -3,
    timings: { fetch_ms: 12, compile_ms: 30, run_ms: 5000000000 },
  },
  status_failed: { t: 'status', run_id: 'c0de-1', phase: 'failed', message: 'fetch: HTTP 404' },
  log: { t: 'log', run_id: '7d2e-0', stream: 1, seq: 300, data: bytes0to255 },
  log_empty: { t: 'log', run_id: '7d2e-0', stream: 2, seq: 0, data: new Uint8Array(0) },
  cancel: { t: 'cancel', run_id: '7d2e-0', reason: 'pod deleted' },
  error: { t: 'error', code: 'unknown_type', message: 'no such type: frobnicate', ref: 'frobnicate' },
  bye: { t: 'bye', reason: 'node shutting down' },
  bye_empty: { t: 'bye' },
};

test('every C fixture has a JS expectation and vice versa', () => {
  const files = readdirSync(inDir).filter((f) => f.endsWith('.msgpack')).map((f) => f.slice(0, -8)).sort();
  assert.deepEqual(files, Object.keys(FIXTURES).sort());
});

for (const [name, want] of Object.entries(FIXTURES)) {
  test(`C frame ${name} decodes to the expected message`, () => {
    const frame = new Uint8Array(readFileSync(join(inDir, `${name}.msgpack`)));
    assert.deepStrictEqual(decode(frame), want);
  });

  test(`JS encodes ${name} byte-identically to C`, () => {
    const c = new Uint8Array(readFileSync(join(inDir, `${name}.msgpack`)));
    const js = encode(want);
    writeFileSync(join(outDir, `${name}.msgpack`), js);
    assert.deepStrictEqual(Buffer.from(js).toString('hex'), Buffer.from(c).toString('hex'));
    assert.deepStrictEqual(decode(js), want);
  });
}
