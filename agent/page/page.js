// The instrumented agent page: starts an agent (options from the query string: node, token,
// cpu-max, memory-max, labels, max-pods) and shows everything it knows. Rendering reads
// agent.snapshot(), batched to one paint per frame; ages refresh every second.

import { KuackAgent, VERSION } from '/agent/kuack-agent.js';

const $ = (id) => document.getElementById(id);
const q = new URLSearchParams(location.search);
const MAX_LOG_LINES = 500;

const opts = {};
if (q.get('node')) opts.nodeUrl = q.get('node');
if (q.has('token')) opts.token = q.get('token');
if (q.get('cpu-max')) opts.cpuMax = q.get('cpu-max');
if (q.get('memory-max')) opts.memoryMax = q.get('memory-max');
if (q.get('labels')) opts.labels = q.get('labels');
if (q.get('max-pods')) opts.maxPods = q.get('max-pods');

function fmtBytes(n) {
  if (n == null) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${u[i]}`;
}

function fmtMs(ms) {
  if (ms == null) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} m`;
}

function fmtCount(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : String(n);
}

function text(id, value) {
  const el = $(id);
  const s = value == null || value === '' ? '—' : String(value);
  if (el.textContent !== s) el.textContent = s;
}

function cell(content, cls) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  if (content instanceof Node) td.append(content);
  else td.textContent = content ?? '';
  return td;
}

let agent;
try {
  agent = new KuackAgent(opts);
} catch (err) {
  $('state').dataset.state = 'stopped';
  text('state-text', 'bad options');
  text('reason', err.message);
  throw err;
}
window.kuackAgent = agent;
$('version').textContent = `v${VERSION}`;

function renderRuns(s) {
  const body = $('runs');
  const runs = [...s.runs].sort((a, b) => b.started_at - a.started_at).slice(0, 30);
  text('runs-hint', runs.length ? `${s.running} running · ${s.runs.length} shown` : '');
  const rows = runs.map((r) => {
    const tr = document.createElement('tr');
    const phase = document.createElement('span');
    phase.className = `phase ${r.phase}${r.phase === 'exited' ? (r.exit_code === 0 ? ' ok' : ' err') : ''}`;
    phase.textContent = r.phase;
    const pod = r.pod ? `${r.pod.namespace}/${r.pod.name}` : '';
    const runMs = r.timings.run_ms ?? (r.phase === 'running' && r.running_at ? Date.now() - r.running_at : null);
    tr.append(
      cell(r.run_id, 'mono'), cell(pod), cell(r.kind), cell(phase),
      cell(r.exit_code ?? '', 'num'), cell(r.timings.fetch_ms != null ? `${r.timings.fetch_ms} ms` : '', 'num'),
      cell(r.timings.compile_ms != null ? `${r.timings.compile_ms} ms` : '', 'num'),
      cell(runMs != null ? `${runMs} ms` : '', 'num'), cell(fmtBytes(r.log_bytes), 'num'), cell(r.message ?? '', 'msg'),
    );
    tr.lastChild.title = r.message ?? '';
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement('tr');
    tr.className = 'empty';
    tr.append(cell('no workloads yet'));
    tr.firstChild.colSpan = 10;
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function render() {
  const s = agent.snapshot();
  $('state').dataset.state = s.state;
  text('state-text', s.state);
  $('reason').textContent = (s.state === 'reconnecting' && s.next_attempt_ms != null
    ? `${s.reason} — retry in ${fmtMs(s.next_attempt_ms)}` : s.reason) || '';
  $('toggle').textContent = s.state === 'stopped' || s.state === 'idle' ? 'Start' : 'Stop';
  text('node', s.node_url);
  text('browser-id', s.browser_id);
  text('agent-id', s.agent_id);
  text('session', s.session);
  text('uptime', fmtMs(s.connected_for_ms));
  text('rtt', s.rtt_ms == null ? null : `${s.rtt_ms} ms`);
  text('heartbeat', s.heartbeat_ms == null ? null
    : `${fmtMs(s.heartbeat_age_ms)} ago · every ${fmtMs(s.heartbeat_ms)} · seq ${s.heartbeat_seq}`);
  text('ping', s.ping_age_ms == null ? null : `${fmtMs(s.ping_age_ms)} ago · ${s.counters.pings} answered`);
  const th = $('throttled');
  const why = s.hidden ? 'tab hidden' : s.throttled ? `timer drift ${s.drift_ms} ms` : `drift ${s.drift_ms} ms (max ${s.max_drift_ms})`;
  th.replaceChildren(Object.assign(document.createElement('span'), { className: `flag ${s.throttled ? 'yes' : 'no'}`, textContent: s.throttled ? 'yes' : 'no' }), ` ${why}`);
  const r = s.resources;
  text('cpu', r ? `${(r.cpu_millis / 1000).toFixed(r.cpu_millis % 1000 ? 1 : 0)} cores` : null);
  text('mem', r ? fmtBytes(r.memory_bytes) : null);
  text('pods', s.max_pods);
  text('gpu', !r ? null : !r.gpu.present ? 'none (no WebGPU adapter)'
    : `${r.gpu.vendor || 'unknown vendor'}${r.gpu.architecture ? ` · ${r.gpu.architecture}` : ''}${r.gpu.fallback ? ' · fallback (software)' : ' · hardware'}`);
  text('labels', Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(', ') || 'none');
  text('limits', s.max_log_chunk == null ? null : `${fmtBytes(s.max_log_chunk)} / ${fmtBytes(s.max_frame)}`);
  const c = s.counters;
  text('c-running', s.running);
  text('c-ok', c.exited_ok);
  text('c-failed', c.failed + c.exited_error);
  text('c-cancelled', c.cancelled);
  text('c-logbytes', fmtBytes(c.log_bytes));
  text('c-frames', `${fmtCount(c.frames_in)} / ${fmtCount(c.frames_out)}`);
  text('c-reconnects', c.reconnects);
  text('c-dropped', c.dropped_logs);
  const le = $('last-error');
  le.hidden = !s.last_error;
  if (s.last_error) le.textContent = `${new Date(s.last_error.at).toLocaleTimeString()} ${s.last_error.code}${s.last_error.ref ? ` (${s.last_error.ref})` : ''}: ${s.last_error.message}`;
  renderRuns(s);
}

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; render(); });
}

// ---- log tail: per run+stream decoders so multi-byte characters split across chunks survive ----
const logEl = $('log');
const decoders = new Map();
const partial = new Map();
let lineCount = 0;

// Lines are queued and painted once per frame: a chatty workload must not make the page lay out
// per line (that starves the main thread, and with it heartbeats). The queue is capped.
let pending = [];
let paintQueued = false;

function appendLine(runId, stream, line, cls) {
  pending.push({ runId, stream, line, cls });
  if (pending.length > MAX_LOG_LINES) pending = pending.slice(-MAX_LOG_LINES);
  if (!paintQueued) {
    paintQueued = true;
    requestAnimationFrame(paintLog);
  }
}

function paintLog() {
  paintQueued = false;
  const frag = document.createDocumentFragment();
  for (const { runId, stream, line, cls } of pending) {
    const div = document.createElement('div');
    if (cls === 'sys') {
      div.className = 'sys';
      div.textContent = line;
    } else {
      const tag = Object.assign(document.createElement('span'), { className: 'run', textContent: `${runId} ` });
      const body = Object.assign(document.createElement('span'), { textContent: line });
      if (stream === 2) body.className = 'err';
      div.append(tag, body);
    }
    frag.append(div);
  }
  lineCount += pending.length;
  pending = [];
  logEl.append(frag);
  while (lineCount > MAX_LOG_LINES) { logEl.firstChild.remove(); lineCount--; }
  if ($('follow').checked) logEl.scrollTop = logEl.scrollHeight;
}

agent.addEventListener('log', (ev) => {
  const { run, stream, data } = ev.detail;
  const key = `${run.run_id}/${stream}`;
  if (!decoders.has(key)) decoders.set(key, new TextDecoder());
  const lines = ((partial.get(key) ?? '') + decoders.get(key).decode(data, { stream: true })).split('\n');
  partial.set(key, lines.pop());
  for (const line of lines) appendLine(run.run_id, stream, line);
});

agent.addEventListener('run', (ev) => {
  const r = ev.detail.run;
  if (!['exited', 'failed', 'cancelled'].includes(r.phase)) {
    if (r.phase === 'accepted') appendLine(r.run_id, 0, `▶ ${r.run_id} accepted (${r.kind})`, 'sys');
    return;
  }
  for (const stream of [1, 2]) {
    const key = `${r.run_id}/${stream}`;
    const rest = (partial.get(key) ?? '') + (decoders.get(key)?.decode() ?? '');
    if (rest) appendLine(r.run_id, stream, rest);
    partial.delete(key);
    decoders.delete(key);
  }
  const how = r.phase === 'exited' ? `exited with code ${r.exit_code}` : `${r.phase}${r.message ? `: ${r.message}` : ''}`;
  appendLine(r.run_id, 0, `■ ${r.run_id} ${how}`, 'sys');
});

agent.addEventListener('state', (ev) => {
  const { state, reason } = ev.detail;
  if (state === 'connected' || state === 'stopped' || state === 'reconnecting') {
    appendLine('', 0, `● ${state}${reason ? ` — ${reason}` : ''}`, 'sys');
  }
});

agent.addEventListener('change', schedule);
setInterval(render, 1000);

$('toggle').addEventListener('click', () => {
  if (agent.state === 'stopped' || agent.state === 'idle') agent.start();
  else agent.stop('stopped from the page');
});

render();
agent.start();
