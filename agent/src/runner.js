// Main-thread side of workloads: one Web Worker per run, phases forward-only, exactly one terminal
// status, log seq per run, cancel = worker.terminate(), deadlines from timeout_ms. Frames go to
// `send(frame)` (the connection decides whether to send now or keep them for a resume).

import { splitBytes } from './logchunk.js';

export const TERMINAL = new Set(['exited', 'failed', 'cancelled']);
const ORDER = ['accepted', 'fetching', 'compiling', 'running', 'exited', 'failed', 'cancelled'];
const KEEP_FINISHED = 50;

// A worker from another origin cannot be constructed directly (embedding pages): a same-origin
// blob module that imports it can (the import needs CORS on the node).
function makeWorker(url) {
  const here = globalThis.location?.origin;
  if (!here || new URL(url).origin === here) return new Worker(url, { type: 'module', name: 'kuack-run' });
  const blob = new Blob([`import ${JSON.stringify(url)};\n`], { type: 'text/javascript' });
  return new Worker(URL.createObjectURL(blob), { type: 'module', name: 'kuack-run' });
}

export class Runner extends EventTarget {
  // opts: {workerUrl, baseUrl, send(frame), maxPods, maxLogChunk(), createWorker?}
  constructor(opts) {
    super();
    this.workerUrl = opts.workerUrl;
    this.baseUrl = opts.baseUrl;
    this.send = opts.send;
    this.maxPods = opts.maxPods;
    this.maxLogChunk = opts.maxLogChunk;
    this.createWorker = opts.createWorker ?? makeWorker;
    this.runs = new Map();      // run_id → run (live and recently finished)
    this.counters = { started: 0, exited_ok: 0, exited_error: 0, failed: 0, cancelled: 0, log_bytes: 0, log_frames: 0 };
  }

  get running() {
    let n = 0;
    for (const r of this.runs.values()) if (!TERMINAL.has(r.phase)) n++;
    return n;
  }

  runningIds() {
    return [...this.runs.values()].filter((r) => !TERMINAL.has(r.phase)).map((r) => r.run_id);
  }

  #emit(type, run, extra = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail: { run: this.view(run), ...extra } }));
  }

  view(r) {
    return {
      run_id: r.run_id, pod: r.pod, kind: r.kind, phase: r.phase, exit_code: r.exit_code,
      message: r.message, timings: { ...r.timings }, started_at: r.started_at, running_at: r.running_at ?? null, ended_at: r.ended_at,
      log_bytes: r.log_bytes, log_frames: r.seq,
    };
  }

  #status(r, phase, fields = {}) {
    if (TERMINAL.has(r.phase)) return;
    if (ORDER.indexOf(phase) <= ORDER.indexOf(r.phase) && r.phase !== undefined) return;
    r.phase = phase;
    Object.assign(r, fields);
    if (phase === 'running') r.running_at = Date.now();
    const frame = { t: 'status', run_id: r.run_id, phase };
    if (phase === 'exited') frame.exit_code = r.exit_code | 0;
    if (r.message && (phase === 'failed' || phase === 'cancelled' || phase === 'exited')) frame.message = String(r.message).slice(0, 4096);
    if (Object.keys(r.timings).length) frame.timings = { ...r.timings };
    if (TERMINAL.has(phase)) {
      r.ended_at = Date.now();
      clearTimeout(r.timer);
      if (r.worker) r.worker.terminate();
      r.worker = null;
      if (phase === 'exited') this.counters[r.exit_code === 0 ? 'exited_ok' : 'exited_error']++;
      else this.counters[phase]++;
      this.#trim();
    }
    this.send(frame);
    this.#emit('phase', r);
  }

  #trim() {
    const done = [...this.runs.values()].filter((r) => TERMINAL.has(r.phase));
    for (const r of done.slice(0, Math.max(0, done.length - KEEP_FINISHED))) this.runs.delete(r.run_id);
  }

  #log(r, stream, data) {
    if (TERMINAL.has(r.phase)) return;
    for (const piece of splitBytes(data, this.maxLogChunk())) {
      this.send({ t: 'log', run_id: r.run_id, stream, seq: r.seq++, data: piece });
      r.log_bytes += piece.length;
      this.counters.log_bytes += piece.length;
      this.counters.log_frames++;
    }
    this.#emit('log', r, { stream, data });
  }

  // Handles a decoded `run` frame.
  start(msg) {
    const old = this.runs.get(msg.run_id);
    if (old && !TERMINAL.has(old.phase)) return; // duplicate delivery: already running
    const r = {
      run_id: msg.run_id, pod: msg.pod, kind: msg.kind, phase: undefined, timings: {}, seq: 0,
      log_bytes: 0, started_at: Date.now(), ended_at: null, worker: null, timer: null,
      exit_code: undefined, message: undefined,
    };
    this.runs.set(r.run_id, r);
    this.counters.started++;
    if (this.maxPods && this.running > this.maxPods) {
      r.phase = 'accepted';
      this.#status(r, 'failed', { message: `agent busy: ${this.maxPods} runs already (max_pods)` });
      return;
    }
    this.#status(r, 'accepted');
    let run;
    try {
      run = {
        run_id: msg.run_id, kind: msg.kind,
        module_url: new URL(msg.module_url, this.baseUrl).href,
        glue_url: msg.glue_url ? new URL(msg.glue_url, this.baseUrl).href : undefined,
        entry: msg.entry, digest: msg.digest, args: msg.args ?? [],
        env: Array.isArray(msg.env) ? msg.env : Object.entries(msg.env ?? {}),
        max_log_chunk: this.maxLogChunk(),
        memory_bytes: Number(msg.limits?.memory_bytes ?? 0) || 0,
      };
      r.worker = this.createWorker(this.workerUrl);
    } catch (err) {
      this.#status(r, 'failed', { message: `cannot start: ${err.message}` });
      return;
    }
    r.worker.onmessage = (ev) => this.#onWorker(r, ev.data);
    r.worker.onerror = (ev) => {
      ev.preventDefault?.();
      this.#status(r, 'failed', { message: `worker error: ${ev.message || 'failed to load worker'}` });
    };
    if (msg.timeout_ms) {
      r.timer = setTimeout(() => this.#status(r, 'failed', { message: `deadline exceeded (${msg.timeout_ms} ms)` }), msg.timeout_ms);
    }
    r.worker.postMessage({ type: 'start', run });
  }

  #onWorker(r, m) {
    if (m?.type === 'phase') {
      Object.assign(r.timings, m.timings ?? {});
      this.#status(r, m.phase);
    }
    else if (m?.type === 'log') this.#log(r, m.stream === 2 ? 2 : 1, m.data);
    else if (m?.type === 'done') {
      Object.assign(r.timings, m.timings ?? {});
      this.#status(r, m.phase === 'exited' ? 'exited' : 'failed', { exit_code: m.exit_code, message: m.message });
    }
  }

  // Handles `cancel`: terminates the worker; unknown or finished runs are answered idempotently.
  cancel(run_id, reason) {
    const r = this.runs.get(run_id);
    if (!r) {
      this.send({ t: 'status', run_id, phase: 'cancelled', ...(reason ? { message: String(reason).slice(0, 4096) } : {}) });
      return;
    }
    if (TERMINAL.has(r.phase)) {
      const frame = { t: 'status', run_id, phase: r.phase, timings: { ...r.timings } };
      if (r.phase === 'exited') frame.exit_code = r.exit_code | 0;
      if (r.message) frame.message = String(r.message).slice(0, 4096);
      this.send(frame);
      return;
    }
    if (r.worker) r.worker.terminate();
    if (r.timings.run_ms === undefined && r.running_at) r.timings.run_ms = Date.now() - r.running_at;
    this.#status(r, 'cancelled', { message: reason || 'cancelled' });
  }

  // Runs the node no longer knows (not in welcome.resumed): stop them without reporting.
  drop(run_id) {
    const r = this.runs.get(run_id);
    if (!r || TERMINAL.has(r.phase)) return;
    if (r.worker) r.worker.terminate();
    clearTimeout(r.timer);
    r.worker = null;
    r.phase = 'cancelled';
    r.message = 'lost on reconnect';
    r.ended_at = Date.now();
    this.counters.cancelled++;
    this.#emit('phase', r);
  }

  stopAll() {
    for (const r of this.runs.values()) if (!TERMINAL.has(r.phase)) this.drop(r.run_id);
  }
}
