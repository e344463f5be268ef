// Resource detection with mocked navigator objects, agent id persistence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectCpuMillis, detectMemoryBytes, detectGpu, detectResources, agentId, randomUuid, FALLBACK_MEMORY } from '../src/resources.js';
import { webcrypto } from 'node:crypto';

const GiB = 2 ** 30;

test('cpu: hardwareConcurrency in millicores, capped, fallback', () => {
  assert.equal(detectCpuMillis({ hardwareConcurrency: 8 }), 8000);
  assert.equal(detectCpuMillis({ hardwareConcurrency: 8 }, 2000), 2000);
  assert.equal(detectCpuMillis({}), 2000);
  assert.equal(detectCpuMillis({ hardwareConcurrency: 0 }), 2000);
});

test('memory: half of deviceMemory, capped, fallback when missing (Firefox/Safari)', () => {
  assert.equal(detectMemoryBytes({ deviceMemory: 16 }), 8 * GiB);
  assert.equal(detectMemoryBytes({ deviceMemory: 16 }, 2 * GiB), 2 * GiB);
  assert.equal(detectMemoryBytes({ deviceMemory: 0.25 }), 256 * 2 ** 20);
  assert.equal(detectMemoryBytes({}), FALLBACK_MEMORY);
  assert.equal(detectMemoryBytes({}, GiB), GiB);
});

test('gpu: absent, null adapter, adapter.info, requestAdapterInfo, throwing, hanging', async () => {
  assert.deepEqual(await detectGpu({}), { present: false });
  assert.deepEqual(await detectGpu({ gpu: { requestAdapter: async () => null } }), { present: false });
  assert.deepEqual(await detectGpu({ gpu: { requestAdapter: async () => ({ isFallbackAdapter: true, info: { vendor: 'google', architecture: 'swiftshader' } }) } }),
    { present: true, fallback: true, vendor: 'google', architecture: 'swiftshader' });
  assert.deepEqual(await detectGpu({ gpu: { requestAdapter: async () => ({ requestAdapterInfo: async () => ({ vendor: 'nvidia', architecture: 'ampere' }) }) } }),
    { present: true, fallback: false, vendor: 'nvidia', architecture: 'ampere' });
  assert.deepEqual(await detectGpu({ gpu: { requestAdapter: async () => { throw new Error('no'); } } }), { present: false });
  const t0 = Date.now();
  assert.deepEqual(await detectGpu({ gpu: { requestAdapter: () => new Promise(() => {}) } }, 50), { present: false });
  assert.ok(Date.now() - t0 < 1000);
});

test('detectResources applies both caps', async () => {
  const r = await detectResources({ hardwareConcurrency: 4, deviceMemory: 8 }, { cpuMax: 1500, memoryMax: GiB });
  assert.deepEqual(r, { cpu_millis: 1500, memory_bytes: GiB, gpu: { present: false } });
});

test('agent id: persisted, reused, regenerated when garbage, survives broken storage', () => {
  const m = new Map();
  const storage = { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, v) };
  const a = agentId(storage, 'k', webcrypto);
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(agentId(storage, 'k', webcrypto), a);
  m.set('k', '<script>');
  assert.notEqual(agentId(storage, 'k', webcrypto), '<script>');
  const broken = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('denied'); } };
  assert.match(agentId(broken, 'k', webcrypto), /^[0-9a-f-]{36}$/);
  const insecure = { getRandomValues: (b) => webcrypto.getRandomValues(b) };
  assert.match(randomUuid(insecure), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
