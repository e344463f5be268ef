// The kuack browser agent (loaded through kuack-agent.js): registers this tab with a node over kuack.v1 (WebSocket + msgpack),
// keeps it accounted for (heartbeats, pongs, throttling, resume after reconnect) and runs the
// workloads it is given, each in its own Web Worker (runner.js, worker.js). Embeddable with one
// <script type="module" src=".../agent/kuack-agent.js" data-node=... data-autostart> tag or
// `new KuackAgent({...}).start()`. Everything a page may show is in snapshot() and events.

import { encode, decode } from './protocol.js';
import { normalizeOptions, httpBase } from './options.js';
import { Backoff } from './backoff.js';
import { detectResources, sameResources, agentId } from './resources.js';
import { ThrottleDetector } from './throttle.js';
import { Ticker } from './ticker.js';
import { Runner } from './runner.js';

export const VERSION = '0.1.0';
export const SUBPROTOCOL = 'kuack.v1';

// idle → connecting → registering → connected → (reconnecting → connecting …) | stopped
export const STATES = Object.freeze(['idle', 'connecting', 'registering', 'connected', 'reconnecting', 'stopped']);

const CLOSE_REASONS = {
  1000: 'normal close', 1001: 'going away', 1006: 'connection lost', 4000: 'protocol error',
  4001: 'superseded: a newer session with this agent id connected', 4003: 'unauthorized: the node refused the token',
  4008: 'culled by the node (slow reader, missed heartbeat or overload)', 4009: 'node shutting down',
};
const WELCOME_TIMEOUT_MS = 15000; // hello sent, no welcome: close 4000 and try again
const SEND_BUFFER_LIMIT = 8 << 20; // beyond this, log frames are dropped (seq shows the gap)

export class KuackAgent extends EventTarget {
  // opts: see options.js (nodeUrl, token, cpuMax, memoryMax, labels, maxPods, ...).
  // env: injectable browser objects for tests ({navigator, storage, crypto, WebSocket, createWorker}).
  constructor(opts = {}, env = {}) {
    super();
    this.opts = normalizeOptions(opts, env.scriptUrl ?? import.meta.url);
    this.env = {
      navigator: env.navigator ?? globalThis.navigator,
      storage: env.storage ?? safeLocalStorage(),
      crypto: env.crypto ?? globalThis.crypto,
      WebSocket: env.WebSocket ?? globalThis.WebSocket,
    };
    this.agentId = agentId(this.env.storage, this.opts.storageKey, this.env.crypto);
    this.state = 'idle';
    this.reason = '';
    this.ws = null;
    this.backoff = new Backoff({ baseMs: this.opts.backoffBaseMs, maxMs: this.opts.backoffMaxMs });
    this.throttle = new ThrottleDetector({ thresholdMs: this.opts.driftThresholdMs });
    this.heartbeat = new Ticker(() => this.#sendHeartbeat());
    this.resources = null;
    this.sentResources = null;
    this.welcome = null;
    this.session = null;       // last welcome.session, offered for resume
    this.browserId = null;
    this.rttMs = null;
    this.connectedAt = null;
    this.lastHeartbeatAt = null;
    this.lastPingAt = null;
    this.lastError = null;
    this.hbSeq = 0;
    this.outbox = [];
    this.outboxBytes = 0;
    this.timers = { reconnect: null, stable: null, drift: null, hello: null };
    this.counters = { reconnects: 0, connects: 0, frames_in: 0, frames_out: 0, bytes_in: 0, bytes_out: 0,
      dropped_logs: 0, pings: 0, node_errors: 0 };
    this.maxPods = this.opts.maxPods ?? Math.max(1, this.env.navigator?.hardwareConcurrency | 0 || 1);
    this.runner = new Runner({
      workerUrl: new URL('./worker.js', import.meta.url).href,
      baseUrl: httpBase(this.opts.nodeUrl),
      send: (f) => this.#send(f),
      maxPods: this.maxPods,
      maxLogChunk: () => this.welcome?.max_log_chunk ?? 65536,
      createWorker: env.createWorker,
    });
    for (const t of ['phase', 'log']) this.runner.addEventListener(t, (ev) => this.#emit(t === 'phase' ? 'run' : 'log', ev.detail));
    this.onVisibility = () => {
      this.throttle.setHidden(globalThis.document?.hidden);
      this.#emit('throttle', { throttled: this.throttle.throttled });
      if (this.state === 'connected') this.#sendHeartbeat();
    };
    this.onPageHide = () => this.stop('page closed');
    // A page restored from the back/forward cache comes back to life.
    globalThis.addEventListener?.('pageshow', (ev) => {
      if (ev.persisted && this.state === 'stopped' && this.reason === 'page closed') this.start();
    });
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
    if (type !== 'change') this.dispatchEvent(new CustomEvent('change', { detail: { type } }));
  }

  #setState(state, reason = '') {
    this.state = state;
    this.reason = reason;
    this.#emit('state', { state, reason });
  }

  // Detects resources, then connects (retrying with backoff until stop()). Resolves after the
  // first connection attempt has been started.
  async start() {
    if (this.state !== 'idle' && this.state !== 'stopped') return this;
    this.#setState('connecting');
    globalThis.document?.addEventListener?.('visibilitychange', this.onVisibility);
    globalThis.addEventListener?.('pagehide', this.onPageHide);
    this.throttle.setHidden(globalThis.document?.hidden);
    this.timers.drift = setInterval(() => {
      const was = this.throttle.throttled;
      this.throttle.tick(1000);
      if (was !== this.throttle.throttled) this.#emit('throttle', { throttled: this.throttle.throttled });
    }, 1000);
    this.resources = await detectResources(this.env.navigator, this.opts);
    this.#emit('resources', { resources: this.resources });
    if (this.state === 'connecting') this.#connect();
    return this;
  }

  // Says bye, closes with 1000 and stops reconnecting; running workloads are terminated.
  stop(reason = 'stopped') {
    if (this.state === 'stopped' || this.state === 'idle') return;
    this.#shutdown('stopped', reason, true);
  }

  #shutdown(state, reason, sayBye) {
    clearTimeout(this.timers.reconnect);
    clearTimeout(this.timers.stable);
    clearTimeout(this.timers.hello);
    clearInterval(this.timers.drift);
    this.heartbeat.stop();
    globalThis.document?.removeEventListener?.('visibilitychange', this.onVisibility);
    globalThis.removeEventListener?.('pagehide', this.onPageHide);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try {
        if (sayBye && ws.readyState === 1) ws.send(encode({ t: 'bye', reason }));
        ws.close(1000, reason.slice(0, 100));
      } catch { /* already closing */ }
    }
    this.runner.stopAll();
    this.outbox = [];
    this.outboxBytes = 0;
    this.#setState(state, reason);
  }

  #connect() {
    this.#setState(this.counters.connects ? 'reconnecting' : 'connecting', this.reason);
    let ws;
    try {
      ws = new this.env.WebSocket(this.opts.nodeUrl, SUBPROTOCOL);
    } catch (err) {
      this.#scheduleReconnect(`cannot connect: ${err.message}`);
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => this.#onOpen();
    ws.onmessage = (ev) => this.#onMessage(ev.data);
    ws.onclose = (ev) => this.#onClose(ev.code, ev.reason);
    ws.onerror = () => {};
  }

  #onOpen() {
    this.counters.connects++;
    this.#setState('registering');
    const r = this.resources;
    const hello = {
      t: 'hello', token: this.opts.token, agent_id: this.agentId,
      cpu_millis: r.cpu_millis, memory_bytes: r.memory_bytes, gpu: r.gpu,
      max_pods: this.maxPods, agent_version: VERSION,
    };
    if (Object.keys(this.opts.labels).length) hello.labels = this.opts.labels;
    const ua = this.env.navigator?.userAgent;
    if (ua) hello.user_agent = String(ua).slice(0, 1024);
    this.resumeOffered = this.runner.runningIds();
    if (this.session) hello.session = { id: this.session, runs: this.resumeOffered.slice(0, 256) };
    this.helloAt = performance.now();
    this.#write(hello);
    clearTimeout(this.timers.hello);
    this.timers.hello = setTimeout(() => this.#protocolError(`no welcome within ${WELCOME_TIMEOUT_MS} ms`), WELCOME_TIMEOUT_MS);
    this.sentResources = r;
  }

  #onMessage(data) {
    if (!(data instanceof ArrayBuffer)) {
      this.#protocolError('text frame from the node');
      return;
    }
    this.counters.frames_in++;
    this.counters.bytes_in += data.byteLength;
    let m;
    try {
      m = decode(new Uint8Array(data));
    } catch (err) {
      // A frame that is not one sound msgpack map ends the connection; a well-formed frame with
      // a bad field or an unknown type is answered with `error` and skipped.
      if (err?.fatal === false && err.code) {
        const e = { t: 'error', code: err.code, message: String(err.message).slice(0, 512) };
        if (err.type) e.ref = String(err.type).slice(0, 64);
        this.#write(e);
        return;
      }
      this.#protocolError(`undecodable frame: ${err?.message ?? err}`);
      return;
    }
    switch (m.t) {
      case 'welcome': return this.#onWelcome(m);
      case 'ping':
        this.counters.pings++;
        this.lastPingAt = Date.now();
        this.#write({ t: 'pong', nonce: m.nonce, t_ns: m.t_ns });
        this.#emit('ping', { nonce: m.nonce });
        return;
      case 'run':
        if (this.state !== 'connected') return this.#write({ t: 'error', code: 'unexpected', ref: 'run' });
        this.runner.start(m);
        return;
      case 'cancel':
        this.runner.cancel(m.run_id, m.reason);
        return;
      case 'error':
        this.counters.node_errors++;
        this.lastError = { code: m.code, message: m.message ?? '', ref: m.ref ?? '', at: Date.now() };
        this.#emit('node-error', this.lastError);
        return;
      case 'bye':
        this.byeReason = m.reason ?? '';
        return;
      default:
        this.#write({ t: 'error', code: 'unexpected', ref: String(m.t) });
    }
  }

  #onWelcome(m) {
    if (this.state !== 'registering') {
      this.#write({ t: 'error', code: 'unexpected', ref: 'welcome' });
      return;
    }
    clearTimeout(this.timers.hello);
    this.welcome = m;
    this.browserId = m.browser_id;
    this.session = m.session;
    this.rttMs = Math.round(performance.now() - this.helloAt);
    this.connectedAt = Date.now();
    this.hbSeq = 0;
    this.byeReason = '';
    // Runs we offered for resume that the node did not keep are lost: stop them quietly.
    const kept = new Set(m.resumed ?? []);
    const lost = new Set((this.resumeOffered ?? []).filter((id) => !kept.has(id)));
    for (const id of this.runner.runningIds()) if (!kept.has(id)) { lost.add(id); this.runner.drop(id); }
    this.#setState('connected');
    this.#flushOutbox(lost);
    this.heartbeat.start(Math.max(100, m.heartbeat_ms));
    this.#sendHeartbeat();
    clearTimeout(this.timers.stable);
    this.timers.stable = setTimeout(() => this.backoff.reset(), this.opts.stableMs);
    this.#emit('welcome', { welcome: m });
  }

  #sendHeartbeat() {
    if (this.state !== 'connected') return;
    const running = this.runner.running;
    const hb = {
      t: 'heartbeat', seq: this.hbSeq++, load: Math.min(1, running / this.maxPods),
      throttled: this.throttle.throttled, running,
    };
    if (this.resources && !sameResources(this.resources, this.sentResources)) {
      hb.resources = this.resources;
      this.sentResources = this.resources;
    }
    this.#write(hb);
    this.lastHeartbeatAt = Date.now();
    this.#emit('heartbeat', { seq: hb.seq, throttled: hb.throttled });
  }

  #protocolError(why) {
    this.lastError = { code: 'protocol', message: why, ref: '', at: Date.now() };
    try { this.ws?.close(4000, why.slice(0, 100)); } catch { /* closing */ }
  }

  #onClose(code, reason) {
    this.ws = null;
    this.heartbeat.stop();
    clearTimeout(this.timers.stable);
    clearTimeout(this.timers.hello);
    const why = `${CLOSE_REASONS[code] ?? `closed ${code}`}${reason ? `: ${reason}` : ''}${this.byeReason ? ` (${this.byeReason})` : ''}`;
    if (code === 4001 || code === 4003) {
      this.session = null;
      this.#shutdown('stopped', why, false);
      return;
    }
    this.#scheduleReconnect(why);
  }

  #scheduleReconnect(why) {
    const delay = this.backoff.next();
    this.nextAttemptAt = Date.now() + delay;
    this.#setState('reconnecting', why);
    clearTimeout(this.timers.reconnect);
    this.timers.reconnect = setTimeout(() => {
      this.counters.reconnects++;
      this.#connect();
    }, delay);
  }

  // Encodes and writes now (bypassing the outbox); for connection-level frames.
  #write(frame) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return false;
    let bytes;
    try {
      bytes = encode(frame);
    } catch (err) {
      this.lastError = { code: 'encode', message: `cannot encode ${frame.t}: ${err.message}`, ref: frame.t, at: Date.now() };
      this.#emit('node-error', this.lastError);
      return false;
    }
    ws.send(bytes);
    this.counters.frames_out++;
    this.counters.bytes_out += bytes.byteLength;
    return true;
  }

  // Run frames (status, log): sent now when registered, else kept for the resume (bounded: the
  // oldest logs go first; statuses are always kept).
  #send(frame) {
    if (this.state === 'connected' && this.ws?.readyState === 1) {
      if (frame.t === 'log' && this.ws.bufferedAmount > SEND_BUFFER_LIMIT) {
        this.counters.dropped_logs++;
        return;
      }
      this.#write(frame);
      return;
    }
    if (this.state === 'stopped' || this.state === 'idle') return;
    const size = frame.t === 'log' ? frame.data.length + 64 : 64;
    this.outbox.push({ frame, size });
    this.outboxBytes += size;
    while (this.outboxBytes > this.opts.outboxBytes) {
      const i = this.outbox.findIndex((e) => e.frame.t === 'log');
      if (i < 0) break;
      this.outboxBytes -= this.outbox[i].size;
      this.outbox.splice(i, 1);
      this.counters.dropped_logs++;
    }
  }

  #flushOutbox(lost) {
    const queued = this.outbox;
    this.outbox = [];
    this.outboxBytes = 0;
    for (const { frame } of queued) if (!lost.has(frame.run_id)) this.#write(frame);
  }

  // Everything the page shows, as plain data.
  snapshot() {
    const now = Date.now();
    return {
      version: VERSION, state: this.state, reason: this.reason, agent_id: this.agentId,
      browser_id: this.browserId, session: this.session, node_url: this.opts.nodeUrl,
      labels: this.opts.labels, max_pods: this.maxPods, rtt_ms: this.rttMs,
      resources: this.resources, throttled: this.throttle.throttled, hidden: this.throttle.hidden,
      drift_ms: Math.round(this.throttle.lastDriftMs), max_drift_ms: Math.round(this.throttle.maxDriftMs),
      heartbeat_ms: this.welcome?.heartbeat_ms ?? null, heartbeat_seq: this.hbSeq,
      heartbeat_age_ms: this.lastHeartbeatAt ? now - this.lastHeartbeatAt : null,
      ping_age_ms: this.lastPingAt ? now - this.lastPingAt : null,
      connected_for_ms: this.state === 'connected' && this.connectedAt ? now - this.connectedAt : null,
      next_attempt_ms: this.state === 'reconnecting' && this.nextAttemptAt ? Math.max(0, this.nextAttemptAt - now) : null,
      max_log_chunk: this.welcome?.max_log_chunk ?? null, max_frame: this.welcome?.max_frame ?? null,
      last_error: this.lastError, outbox: this.outbox.length, running: this.runner.running,
      counters: { ...this.counters, ...this.runner.counters },
      runs: [...this.runner.runs.values()].map((r) => this.runner.view(r)),
    };
  }
}

function safeLocalStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // sandboxed iframe: access throws
  }
}
