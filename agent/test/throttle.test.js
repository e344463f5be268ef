// Throttling: hidden tab or timer drift beyond the threshold, held for holdMs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ThrottleDetector } from '../src/throttle.js';

test('timer drift raises the flag for holdMs; hidden raises it while hidden', () => {
  let now = 0;
  const d = new ThrottleDetector({ now: () => now, thresholdMs: 500, holdMs: 5000 });
  d.tick(1000);
  now = 1000; d.tick(1000);
  now = 2100; d.tick(1000);
  assert.equal(d.throttled, false, '100 ms late is not throttling');
  now = 4000; assert.equal(d.tick(1000), 900);
  assert.equal(d.throttled, true);
  assert.equal(d.maxDriftMs, 900);
  now = 8999; assert.equal(d.throttled, true);
  now = 9001; assert.equal(d.throttled, false);
  d.setHidden(true);
  assert.equal(d.throttled, true);
  d.setHidden(false);
  assert.equal(d.throttled, false);
});
