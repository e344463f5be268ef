// Log chunking: lines out at once, chunks ≤ max, partial lines held then flushed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineChunker, splitBytes } from '../src/logchunk.js';

const enc = (s) => new TextEncoder().encode(s);
const dec = (b) => new TextDecoder().decode(b);

function collect(max, opts) {
  const out = [];
  const c = new LineChunker(max, (b) => out.push(dec(b)), opts);
  return { c, out };
}

test('complete lines go out at once; partial lines wait for the newline', () => {
  const { c, out } = collect(64);
  c.write(enc('hello\nwor'));
  assert.deepEqual(out, ['hello\n']);
  c.write(enc('ld\n'));
  assert.deepEqual(out, ['hello\n', 'world\n']);
  c.write(enc('a\nb\nc'));
  assert.deepEqual(out.slice(2), ['a\nb\n']);
  c.flush();
  assert.deepEqual(out.slice(3), ['c']);
  c.flush();
  assert.equal(out.length, 4, 'empty flush emits nothing');
});

test('no chunk exceeds max; cuts at the last newline when there is one', () => {
  const { c, out } = collect(8);
  c.write(enc('0123456789abcdefXYZ'));
  assert.deepEqual(out, ['01234567', '89abcdef']);
  c.write(enc('\n12\n3456789'));
  c.flush();
  for (const o of out) assert.ok(enc(o).length <= 8, `chunk "${o}" too big`);
  assert.equal(out.join(''), '0123456789abcdefXYZ\n12\n3456789');
  assert.ok(out.includes('XYZ\n12\n'), `cut at newline: ${JSON.stringify(out)}`);
});

test('a partial line older than flushMs is flushed on the next write', () => {
  let now = 0;
  const { c, out } = collect(64, { flushMs: 100, now: () => now });
  c.write(enc('progress.'));
  now = 50;
  c.write(enc('.'));
  assert.deepEqual(out, []);
  now = 150;
  c.write(enc('.'));
  assert.deepEqual(out, ['progress...']);
});

test('bytes are counted; emitted chunks are copies', () => {
  const chunks = [];
  const c = new LineChunker(4, (b) => chunks.push(b));
  const src = enc('ab\ncd\n');
  c.write(src);
  src.fill(0);
  assert.deepEqual(chunks.map(dec), ['ab\n', 'cd\n']);
  assert.equal(c.bytes, 6);
  assert.throws(() => new LineChunker(0, () => {}), /max/);
});

test('splitBytes', () => {
  assert.deepEqual(splitBytes(enc('abcdefg'), 3).map(dec), ['abc', 'def', 'g']);
  assert.equal(splitBytes(enc('ab'), 3).length, 1);
});

test('linger: a burst of lines gathers into few chunks; the timer or the next late write sends them', () => {
  let now = 0;
  const timers = [];
  const out = [];
  const c = new LineChunker(64, (b) => out.push(dec(b)), { lingerMs: 20, now: () => now, schedule: (fn) => timers.push(fn) });
  c.write(enc('first\n'));
  assert.deepEqual(out, ['first\n'], 'a line after a quiet period goes out at once');
  now = 1; c.write(enc('a\n'));
  now = 2; c.write(enc('b\n'));
  assert.deepEqual(out, ['first\n']);
  assert.equal(timers.length, 1, 'one timer armed for the burst');
  now = 25; c.write(enc('c\n'));
  assert.deepEqual(out, ['first\n', 'a\nb\nc\n'], 'a write after the linger sends the gathered lines');
  now = 26; c.write(enc('d\n'));
  timers[0]();
  timers[1]?.();
  assert.deepEqual(out.slice(2), ['d\n'], 'the timer sends what is left');
  for (let i = 0; i < 20; i++) { now = 30 + i * 0.1; c.write(enc('0123456789\n')); }
  c.flush();
  assert.ok(out.slice(3).every((o) => enc(o).length <= 64), 'chunks stay within max during a burst');
  assert.equal(out.slice(3).join(''), '0123456789\n'.repeat(20));
  assert.ok(out.length - 3 <= 5, `burst of 20 lines in ${out.length - 3} chunks`);
});

test('flushLines sends held-back complete lines, keeps the partial one', () => {
  let now = 0;
  const out = [];
  const c = new LineChunker(64, (b) => out.push(dec(b)), { lingerMs: 20, now: () => now, schedule: () => {} });
  c.write(enc('a\n'));
  c.write(enc('b\nc'));
  assert.deepEqual(out, ['a\n']);
  c.flushLines();
  assert.deepEqual(out, ['a\n', 'b\n']);
  c.flush();
  assert.deepEqual(out, ['a\n', 'b\n', 'c']);
});
