// Memory caps written into module binaries (wasmlimit.js), checked with node's own WebAssembly.
import test from 'node:test';
import assert from 'node:assert/strict';
import { capModuleMemory, PAGE } from '../src/wasmlimit.js';

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const str = (s) => [s.length, ...Buffer.from(s)];
// (type (func)) (func $f) (export "memory" (memory 0)) bits, composed per test
const TYPE_SECTION = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00];
const exportMemory = () => {
  const body = [0x01, ...str('memory'), 0x02, 0x00];
  return [0x07, body.length, ...body];
};
const memorySection = (limits) => [0x05, limits.length + 1, 0x01, ...limits];

function instance(bytes, imports = {}) {
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), imports);
}

test('a declared maximum above the limit is lowered to it', () => {
  const mod = Uint8Array.from([...HEADER, ...TYPE_SECTION, ...memorySection([0x01, 0x01, 0x0a]), ...exportMemory()]);
  const { bytes, minBytes, memories } = capModuleMemory(mod, 3 * PAGE);
  assert.equal(memories, 1);
  assert.equal(minBytes, PAGE);
  const mem = instance(bytes).exports.memory;
  mem.grow(2);
  assert.equal(mem.buffer.byteLength, 3 * PAGE);
  assert.throws(() => mem.grow(1), RangeError);
  // the original grows to 10 pages
  const orig = instance(mod).exports.memory;
  orig.grow(9);
  assert.equal(orig.buffer.byteLength, 10 * PAGE);
});

test('a memory without a maximum gets one; a smaller maximum stays', () => {
  const open = Uint8Array.from([...HEADER, ...memorySection([0x00, 0x02]), ...exportMemory()]);
  const a = instance(capModuleMemory(open, 4 * PAGE + 100).bytes).exports.memory;
  a.grow(2);
  assert.throws(() => a.grow(1), RangeError);
  const small = Uint8Array.from([...HEADER, ...memorySection([0x01, 0x01, 0x02]), ...exportMemory()]);
  const b = instance(capModuleMemory(small, 64 * PAGE).bytes).exports.memory;
  b.grow(1);
  assert.throws(() => b.grow(1), RangeError);
});

test('a minimum above the limit is reported', () => {
  const big = Uint8Array.from([...HEADER, ...memorySection([0x00, 0x90, 0x01])]); // 144 pages
  const r = capModuleMemory(big, 16 * PAGE);
  assert.equal(r.minBytes, 144 * PAGE);
});

test('imported memories are capped, other sections are left as they were', () => {
  const imp = [0x01, ...str('env'), ...str('memory'), 0x02, 0x00, 0x01];
  const mod = Uint8Array.from([...HEADER, ...TYPE_SECTION, 0x02, imp.length, ...imp]);
  const { bytes, memories } = capModuleMemory(mod, 2 * PAGE);
  assert.equal(memories, 1);
  assert.deepEqual([...bytes.subarray(8, 8 + TYPE_SECTION.length)], TYPE_SECTION);
  const m = new WebAssembly.Module(bytes);
  assert.deepEqual(WebAssembly.Module.imports(m), [{ module: 'env', name: 'memory', kind: 'memory' }]);
  // a memory with a larger maximum no longer satisfies the import
  assert.throws(() => new WebAssembly.Instance(m, { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 10 }) } }),
    WebAssembly.LinkError);
  new WebAssembly.Instance(m, { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 2 }) } });
});

test('garbage is refused with a clear error', () => {
  assert.throws(() => capModuleMemory(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), PAGE), /not a WebAssembly module/);
  assert.throws(() => capModuleMemory(Uint8Array.from([...HEADER, 0x05, 0x10, 0x01]), PAGE), /past the end/);
});
