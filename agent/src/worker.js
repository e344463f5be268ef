// One workload per module Worker: fetch (+ sha256 check), compile, run a WASI command through
// browser_wasi_shim or a wasm-bindgen pkg through its JS glue, stream stdout/stderr as chunks and
// report phases, exit code and timings. The main thread cancels by terminating this worker, so
// nothing here needs to be interruptible. No SharedArrayBuffer is used.
//
// main → worker: {type:'start', run:{run_id, kind, module_url, glue_url?, entry?, digest?, args,
//                 env:[[k,v]...], max_log_chunk, memory_bytes}}   (URLs absolute; 0 = no limit)
//
// memory_bytes (the pod's limit) caps the maximum of every memory the module declares before it
// is compiled (wasmlimit.js): growing past it fails inside the module. A run that then traps or
// exits non-zero with its memory at (or near) the cap ends as failed "OOMKilled: ..."; a module whose
// initial memory is already above the limit does not start.
// worker → main: {type:'phase', phase}  {type:'log', stream:1|2, data:Uint8Array}
//                {type:'done', phase:'exited'|'failed', exit_code?, message?, timings}

import { LineChunker } from './logchunk.js';
import { capModuleMemory, oomMessage, PAGE } from './wasmlimit.js';

const SHIM_URL = new URL('./vendor/@bjorn3/browser_wasi_shim/dist/index.js', import.meta.url).href;

const LINGER_MS = 25; // a burst of lines becomes ≤ 40 frames/s per stream

let started = false;
let done = false;
const timings = {};
const streams = {};
let memory = null; // the running module's WebAssembly.Memory, once instantiated

function post(msg, transfer) {
  if (!done) self.postMessage(msg, transfer ?? []);
}

function makeStream(stream, max) {
  return new LineChunker(max, (chunk) => post({ type: 'log', stream, data: chunk }, [chunk.buffer]),
    { lingerMs: LINGER_MS, flushMs: 200, now: () => performance.now() });
}

// Writes to one stream after sending the other's held-back lines, so stdout and stderr lines
// reach the node in the order they were written.
function write(stream, bytes) {
  streams[3 - stream].flushLines();
  streams[stream].write(bytes);
}

function writeText(stream, text) {
  write(stream, new TextEncoder().encode(text));
}

function finish(phase, fields = {}) {
  if (done) return;
  for (const s of Object.values(streams)) s.flush();
  post({ type: 'done', phase, timings, ...fields });
  done = true;
}

function ms(t0) {
  return Math.max(0, Math.round(performance.now() - t0));
}

function hex(buf) {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function fetchModule(run) {
  const t0 = performance.now();
  post({ type: 'phase', phase: 'fetching' });
  const res = await fetch(run.module_url, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`fetch ${run.module_url}: HTTP ${res.status}`);
  const bytes = await res.arrayBuffer();
  if (run.digest) {
    const m = /^sha256:([0-9a-f]{64})$/.exec(run.digest);
    if (!m) throw new Error(`digest "${run.digest}" is not sha256:<64 hex>`);
    if (globalThis.crypto?.subtle) {
      const got = hex(await crypto.subtle.digest('SHA-256', bytes));
      if (got !== m[1]) throw new Error(`digest mismatch: expected sha256:${m[1]}, got sha256:${got}`);
    } else {
      writeText(2, 'kuack: digest not verified (no crypto.subtle outside a secure context)\n');
    }
  }
  let glue = null;
  if (run.kind === 'bindgen') glue = await import(run.glue_url);
  timings.fetch_ms = ms(t0);
  const t1 = performance.now();
  post({ type: 'phase', phase: 'compiling', timings: { ...timings } });
  let code = bytes;
  if (run.memory_bytes > 0) {
    const capped = capModuleMemory(bytes, run.memory_bytes);
    if (capped.minBytes > run.memory_bytes) {
      throw new OomError(`OOMKilled: the module needs ${capped.minBytes} bytes of memory at start, limit is ${run.memory_bytes} bytes`);
    }
    code = capped.bytes;
  }
  const module = await WebAssembly.compile(code);
  timings.compile_ms = ms(t1);
  return { module, glue };
}

async function runWasi(run, module) {
  const { WASI, File, OpenFile, ConsoleStdout, PreopenDirectory } = await import(SHIM_URL);
  const args = run.args?.length ? run.args : [new URL(run.module_url).pathname.split('/').pop() || 'main.wasm'];
  const env = (run.env ?? []).map(([k, v]) => `${k}=${v}`);
  const fds = [
    new OpenFile(new File([])),
    new ConsoleStdout((b) => write(1, b)),
    new ConsoleStdout((b) => write(2, b)),
    new PreopenDirectory('/', new Map()),
  ];
  const wasi = new WASI(args, env, fds, { debug: false });
  const inst = await WebAssembly.instantiate(module, { wasi_snapshot_preview1: wasi.wasiImport });
  if (inst.exports.memory instanceof WebAssembly.Memory) memory = inst.exports.memory;
  if (typeof inst.exports._start !== 'function') throw new Error('not a WASI command: no _start export');
  const t0 = performance.now();
  post({ type: 'phase', phase: 'running', timings: { ...timings } });
  try {
    return wasi.start(inst); // proc_exit is caught by the shim and returned
  } finally {
    timings.run_ms = ms(t0);
  }
}

// console.* of this worker is the workload's output: log/info/debug → stdout, warn/error → stderr.
function format(args) {
  let parts = args;
  if (typeof args[0] === 'string' && /%[sdifoOc]/.test(args[0])) {
    let i = 1;
    const head = args[0].replace(/%([sdifoOc%])/g, (m, c) => {
      if (c === '%') return '%';
      if (i >= args.length) return m;
      const a = args[i++];
      if (c === 'c') return '';
      if (c === 'd' || c === 'i') return String(Math.trunc(Number(a)));
      if (c === 'f') return String(Number(a));
      return show(a);
    });
    parts = [head, ...args.slice(i)];
  }
  return parts.map(show).join(' ');
}

function show(a) {
  if (typeof a === 'string') return a;
  if (a instanceof Error) return a.stack || `${a.name}: ${a.message}`;
  if (a === undefined || typeof a === 'function' || typeof a === 'symbol' || typeof a === 'bigint') return String(a);
  try {
    return JSON.stringify(a) ?? String(a);
  } catch {
    return String(a);
  }
}

function captureConsole() {
  for (const [name, stream] of [['log', 1], ['info', 1], ['debug', 1], ['trace', 1], ['warn', 2], ['error', 2]]) {
    console[name] = (...args) => writeText(stream, format(args) + '\n');
  }
}

async function runBindgen(run, module, glue) {
  const init = glue.default;
  if (typeof init !== 'function') throw new Error('glue has no default export (the wasm-bindgen init function)');
  const env = Object.fromEntries(run.env ?? []);
  const args = run.args ?? [];
  globalThis.kuack = { args, env };
  const t0 = performance.now();
  post({ type: 'phase', phase: 'running', timings: { ...timings } });
  try {
    // Newer glue takes {module_or_path}; older glue takes the module itself.
    const src = Function.prototype.toString.call(init);
    const exports = await (src.includes('module_or_path') ? init({ module_or_path: module }) : init(module));
    if (exports?.memory instanceof WebAssembly.Memory) memory = exports.memory;
    const name = run.entry || 'main';
    const fn = glue[name];
    if (typeof fn !== 'function') {
      if (run.entry) throw new Error(`entry "${run.entry}" is not exported by the glue`);
      return 0; // a #[wasm_bindgen(start)] function already ran in init
    }
    const result = await fn(...[args, env].slice(0, fn.length));
    return Number.isInteger(result) ? result : 0;
  } finally {
    timings.run_ms = ms(t0);
  }
}

class OomError extends Error {}

// With a memory limit: did the run end because memory could not grow any further? The failed
// grow itself is invisible from JS, so "at the cap" means within one eighth of the limit (at
// least a page): allocators grow in chunks, and the one that failed did not fit.
function atMemoryCap(run) {
  if (!(run.memory_bytes > 0) || memory === null) return false;
  return memory.buffer.byteLength + Math.max(PAGE, run.memory_bytes / 8) > run.memory_bytes;
}

function describe(err) {
  if (err instanceof OomError) return err.message;
  if (err instanceof WebAssembly.RuntimeError) return `wasm trap: ${err.message}`;
  if (err instanceof WebAssembly.LinkError) return `link error: ${err.message}`;
  if (err instanceof WebAssembly.CompileError) return `compile error: ${err.message}`;
  return err?.message ? String(err.message) : String(err);
}

async function start(run) {
  const max = Math.max(1, run.max_log_chunk | 0 || 65536);
  streams[1] = makeStream(1, max);
  streams[2] = makeStream(2, max);
  if (run.kind === 'bindgen') captureConsole();
  try {
    if (run.kind !== 'wasi' && run.kind !== 'bindgen') throw new Error(`unknown kind "${run.kind}"`);
    if (run.kind === 'bindgen' && !run.glue_url) throw new Error('bindgen run without glue_url');
    const { module, glue } = await fetchModule(run);
    const code = run.kind === 'wasi' ? await runWasi(run, module) : await runBindgen(run, module, glue);
    if ((code | 0) !== 0 && atMemoryCap(run)) {
      finish('failed', { exit_code: code | 0, message: `${oomMessage(run.memory_bytes, memory.buffer.byteLength)}; exit code ${code | 0}` });
      return;
    }
    finish('exited', { exit_code: code | 0 });
  } catch (err) {
    const oom = !(err instanceof OomError) && atMemoryCap(run);
    finish('failed', { message: oom ? `${oomMessage(run.memory_bytes, memory.buffer.byteLength)}: ${describe(err)}` : describe(err) });
  }
}

self.addEventListener('message', (ev) => {
  const msg = ev.data;
  if (msg?.type === 'start' && !started) {
    started = true;
    start(msg.run);
  }
});

// Errors escaping the run (a rejected promise the glue left behind) end it as failed.
self.addEventListener('unhandledrejection', (ev) => finish('failed', { message: describe(ev.reason) }));
self.addEventListener('error', (ev) => finish('failed', { message: ev.message || 'worker error' }));
