// Option parsing: quantities, labels, node URLs, data-* attributes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBytes, parseMillis, parseLabels, normalizeNodeUrl, httpBase, optionsFromDataset, normalizeOptions } from '../src/options.js';

test('parseBytes: binary and decimal suffixes, plain numbers', () => {
  assert.equal(parseBytes('2Gi'), 2 * 2 ** 30);
  assert.equal(parseBytes('512Mi'), 512 * 2 ** 20);
  assert.equal(parseBytes('1.5Gi'), 1.5 * 2 ** 30);
  assert.equal(parseBytes('1G'), 1e9);
  assert.equal(parseBytes('4096'), 4096);
  assert.equal(parseBytes(1024), 1024);
  for (const bad of ['', 'Gi', '-1Gi', '2GB', '0', 'lots', '1e3']) assert.throws(() => parseBytes(bad), /memory/);
});

test('parseMillis: cores and millicores', () => {
  assert.equal(parseMillis('2'), 2000);
  assert.equal(parseMillis('1.5'), 1500);
  assert.equal(parseMillis('500m'), 500);
  assert.equal(parseMillis(4), 4000);
  for (const bad of ['', '0', '0m', '-2', 'two', '2 cores']) assert.throws(() => parseMillis(bad), /cpu/);
});

test('parseLabels: string and object forms, syntax and count limits', () => {
  assert.deepEqual(parseLabels('zone=eu, tier=x'), { zone: 'eu', tier: 'x' });
  assert.deepEqual(parseLabels({ 'kuack.io/gpu': 'yes' }), { 'kuack.io/gpu': 'yes' });
  assert.deepEqual(parseLabels(''), {});
  assert.deepEqual(parseLabels('empty='), { empty: '' });
  assert.throws(() => parseLabels('novalue'), /key=value/);
  assert.throws(() => parseLabels('bad key=x'), /bad key/);
  assert.throws(() => parseLabels('k=bad value'), /bad value/);
  const many = Array.from({ length: 17 }, (_, i) => `k${i}=v`).join(',');
  assert.throws(() => parseLabels(many), /at most 16/);
});

test('normalizeNodeUrl: http→ws, empty path → /ws, relative to a base', () => {
  assert.equal(normalizeNodeUrl('ws://h:8080/ws'), 'ws://h:8080/ws');
  assert.equal(normalizeNodeUrl('http://h:8080'), 'ws://h:8080/ws');
  assert.equal(normalizeNodeUrl('https://h/'), 'wss://h/ws');
  assert.equal(normalizeNodeUrl('/ws', 'https://node.example/agent/kuack-agent.js'), 'wss://node.example/ws');
  assert.throws(() => normalizeNodeUrl('ftp://h/'), /must be/);
  assert.throws(() => normalizeNodeUrl('::nope'), /not a URL/);
  assert.equal(httpBase('wss://n:9/ws?x=1'), 'https://n:9/');
  assert.equal(httpBase('ws://n/ws'), 'http://n/');
});

test('optionsFromDataset + normalizeOptions: the script tag attributes', () => {
  const ds = { node: 'ws://host:8080/ws', token: 't0k', cpuMax: '2', memoryMax: '2Gi', labels: 'zone=eu,tier=x', autostart: '' };
  const o = normalizeOptions(optionsFromDataset(ds));
  assert.equal(o.nodeUrl, 'ws://host:8080/ws');
  assert.equal(o.token, 't0k');
  assert.equal(o.cpuMax, 2000);
  assert.equal(o.memoryMax, 2 * 2 ** 30);
  assert.deepEqual(o.labels, { zone: 'eu', tier: 'x' });
  assert.equal(o.autostart, true);
  assert.equal(normalizeOptions(optionsFromDataset({ autostart: 'false' }), 'http://n:1/agent/x.js').autostart, false);
  assert.equal(normalizeOptions({}, 'http://n:1/agent/kuack-agent.js').nodeUrl, 'ws://n:1/ws');
  assert.throws(() => normalizeOptions({}), /no node URL/);
  assert.throws(() => normalizeOptions({ nodeUrl: 'ws://h/', maxPods: 0 }), /max-pods/);
  assert.throws(() => normalizeOptions({ nodeUrl: 'ws://h/', backoffBaseMs: 10, backoffMaxMs: 5 }), /backoffMaxMs/);
});
