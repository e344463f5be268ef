// Agent options: parsing from a <script data-*> tag or an init object into one normalised shape.
// Pure (no DOM access), so node unit tests cover every rule. Bad values throw with the option name.

export const DEFAULTS = Object.freeze({
  nodeUrl: null,          // ws(s):// URL of the node's /ws endpoint (null: same origin as the agent script)
  token: '',
  cpuMax: null,           // millicores cap on the offer (null: no cap)
  memoryMax: null,        // bytes cap on the offer (null: no cap)
  labels: {},
  maxPods: null,          // null: one per core
  autostart: false,
  backoffBaseMs: 500,
  backoffMaxMs: 30000,
  stableMs: 10000,        // a connection open this long resets the backoff
  gpuTimeoutMs: 2000,     // WebGPU adapter probe budget
  driftThresholdMs: 1000, // timer late by more than this → throttled
  storageKey: 'kuack.agent_id',
  outboxBytes: 1 << 20,   // frames kept while disconnected (logs beyond this are dropped, seq shows the gap)
});

const MAX_LABELS = 16;
const LABEL_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,251}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

const BIN = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
const DEC = { k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12 };

// Kubernetes-style memory quantity ("2Gi", "512Mi", "1.5G", "1048576") → bytes (integer).
export function parseBytes(value, name = 'memory') {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}: expected a positive size`);
    return Math.floor(value);
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(Ki|Mi|Gi|Ti|k|K|M|G|T)?\s*$/.exec(String(value));
  if (!m) throw new Error(`${name}: "${value}" is not a size (e.g. 2Gi, 512Mi)`);
  const n = Number(m[1]) * (m[2] ? (BIN[m[2]] ?? DEC[m[2]]) : 1);
  if (n <= 0 || !Number.isSafeInteger(Math.floor(n))) throw new Error(`${name}: "${value}" is out of range`);
  return Math.floor(n);
}

// CPU quantity ("2", "1.5", "500m") → millicores (integer).
export function parseMillis(value, name = 'cpu') {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}: expected a positive CPU count`);
    return Math.round(value * 1000);
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(m)?\s*$/.exec(String(value));
  if (!m) throw new Error(`${name}: "${value}" is not a CPU quantity (e.g. 2, 500m)`);
  const n = m[2] ? Math.round(Number(m[1])) : Math.round(Number(m[1]) * 1000);
  if (n <= 0) throw new Error(`${name}: "${value}" must be > 0`);
  return n;
}

// "zone=eu,tier=x" or {zone:'eu'} → {zone:'eu', tier:'x'}; Kubernetes label syntax, ≤16 entries.
export function parseLabels(value) {
  let entries;
  if (value == null || value === '') return {};
  if (typeof value === 'string') {
    entries = value.split(',').map((s) => s.trim()).filter(Boolean).map((kv) => {
      const i = kv.indexOf('=');
      if (i < 0) throw new Error(`labels: "${kv}" is not key=value`);
      return [kv.slice(0, i).trim(), kv.slice(i + 1).trim()];
    });
  } else if (typeof value === 'object') {
    entries = Object.entries(value).map(([k, v]) => [k, String(v)]);
  } else {
    throw new Error('labels: expected "k=v,k2=v2" or an object');
  }
  if (entries.length > MAX_LABELS) throw new Error(`labels: at most ${MAX_LABELS} entries`);
  const out = {};
  for (const [k, v] of entries) {
    if (!LABEL_KEY.test(k)) throw new Error(`labels: bad key "${k}"`);
    if (!LABEL_VALUE.test(v)) throw new Error(`labels: bad value "${v}" for "${k}"`);
    out[k] = v;
  }
  return out;
}

// Accepts ws://, wss://, http://, https:// (mapped to ws/wss); an empty path becomes /ws.
export function normalizeNodeUrl(value, base) {
  let u;
  try {
    u = new URL(value, base);
  } catch {
    throw new Error(`node: "${value}" is not a URL`);
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new Error(`node: "${value}" must be ws://, wss://, http:// or https://`);
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/ws';
  u.hash = '';
  return u.toString();
}

// The node's HTTP origin for relative artefact URLs (module_url, glue_url).
export function httpBase(nodeUrl) {
  const u = new URL(nodeUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '/';
  u.search = '';
  return u.toString();
}

function parseBool(v) {
  if (v === true || v === false) return v;
  if (v == null) return false;
  return v === '' || /^(1|true|yes|on)$/i.test(String(v));
}

function parseCount(v, name) {
  const n = typeof v === 'number' ? v : Number(String(v).trim());
  if (!Number.isInteger(n) || n <= 0 || n > 4096) throw new Error(`${name}: expected an integer 1..4096`);
  return n;
}

// dataset (DOMStringMap of a <script> tag) → options object (data-node, data-token, data-cpu-max,
// data-memory-max, data-labels, data-max-pods, data-autostart).
export function optionsFromDataset(ds) {
  const o = {};
  if (ds.node != null) o.nodeUrl = ds.node;
  if (ds.token != null) o.token = ds.token;
  if (ds.cpuMax != null && ds.cpuMax !== '') o.cpuMax = ds.cpuMax;
  if (ds.memoryMax != null && ds.memoryMax !== '') o.memoryMax = ds.memoryMax;
  if (ds.labels != null) o.labels = ds.labels;
  if (ds.maxPods != null && ds.maxPods !== '') o.maxPods = ds.maxPods;
  if (ds.autostart != null) o.autostart = parseBool(ds.autostart);
  return o;
}

// Merges `opts` over DEFAULTS and validates. `scriptUrl` is where the agent was loaded from: the
// default node is that origin's /ws.
export function normalizeOptions(opts = {}, scriptUrl = undefined) {
  const o = { ...DEFAULTS, ...opts };
  const node = o.nodeUrl ?? (opts.node ?? null);
  if (node == null || node === '') {
    if (!scriptUrl) throw new Error('node: no node URL given and no script origin to default to');
    o.nodeUrl = normalizeNodeUrl('/ws', scriptUrl);
  } else {
    o.nodeUrl = normalizeNodeUrl(node, scriptUrl);
  }
  delete o.node;
  o.token = String(o.token ?? '');
  o.cpuMax = o.cpuMax == null ? null : parseMillis(o.cpuMax, 'cpu-max');
  o.memoryMax = o.memoryMax == null ? null : parseBytes(o.memoryMax, 'memory-max');
  o.labels = parseLabels(o.labels);
  o.maxPods = o.maxPods == null ? null : parseCount(o.maxPods, 'max-pods');
  o.autostart = parseBool(o.autostart);
  for (const k of ['backoffBaseMs', 'backoffMaxMs', 'stableMs', 'gpuTimeoutMs', 'driftThresholdMs', 'outboxBytes']) {
    if (!Number.isFinite(o[k]) || o[k] < 0) throw new Error(`${k}: expected a number ≥ 0`);
  }
  if (o.backoffMaxMs < o.backoffBaseMs) throw new Error('backoffMaxMs: must be ≥ backoffBaseMs');
  return o;
}
