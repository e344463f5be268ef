// Reconnect backoff: doubling ceiling, equal jitter, cap, reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../src/backoff.js';

test('delays double up to the cap, jitter stays within [ceiling/2, ceiling]', () => {
  const lo = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => lo.next()), [50, 100, 200, 400, 500, 500]);
  const hi = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 0.999999 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => hi.next()), [100, 200, 400, 800, 1000]);
});

test('reset starts over; huge attempt counts do not overflow', () => {
  const b = new Backoff({ baseMs: 500, maxMs: 30000, random: () => 1 });
  for (let i = 0; i < 5000; i++) b.next();
  assert.equal(b.next(), 30000);
  b.reset();
  assert.equal(b.next(), 500);
});

test('real jitter spreads the delays', () => {
  const b = new Backoff({ baseMs: 1000, maxMs: 1000 });
  const seen = new Set(Array.from({ length: 50 }, () => b.next()));
  assert.ok(seen.size > 10, `only ${seen.size} distinct delays`);
  for (const d of seen) assert.ok(d >= 500 && d <= 1000, `delay ${d}`);
});
