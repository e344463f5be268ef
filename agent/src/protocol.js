// kuack.v1 agent protocol (spec: wire/PROTOCOL.md) on @msgpack/msgpack: message constructors,
// encode() to one binary frame and decode() with the same validation and limits as the node's C
// codec (wire/proto_decode.c). Messages are plain objects with the wire keys: {t, v?, ...fields}.
// Integers are Numbers, or BigInt when a u64 value is beyond Number.MAX_SAFE_INTEGER (ping t_ns).
import { Decoder, Encoder, ExtData } from '@msgpack/msgpack';

export const SUBPROTOCOL = 'kuack.v1';
export const MINOR = 0;

export const CLOSE = Object.freeze({
  NORMAL: 1000,
  PROTOCOL: 4000, // malformed frame, oversized frame, hello not first
  SUPERSEDED: 4001, // a newer session with the same agent_id: do not reconnect
  UNAUTHORIZED: 4003, // bad token
  CULLED: 4008, // too slow / overloaded / heartbeat missed
  SHUTDOWN: 4009, // node shutting down
});

export const TYPES = Object.freeze({
  HELLO: 'hello', WELCOME: 'welcome', HEARTBEAT: 'heartbeat', PING: 'ping', PONG: 'pong',
  RUN: 'run', STATUS: 'status', LOG: 'log', CANCEL: 'cancel', ERROR: 'error', BYE: 'bye',
});

// Who may send each type: 'a2n' agent -> node, 'n2a' node -> agent, 'both'.
export const DIRECTION = Object.freeze({
  hello: 'a2n', welcome: 'n2a', heartbeat: 'a2n', ping: 'n2a', pong: 'a2n', run: 'n2a',
  status: 'a2n', log: 'a2n', cancel: 'n2a', error: 'both', bye: 'both',
});

export const PHASES = Object.freeze(['accepted', 'fetching', 'compiling', 'running', 'exited', 'failed', 'cancelled']);
export const TERMINAL_PHASES = Object.freeze(['exited', 'failed', 'cancelled']);
export const KINDS = Object.freeze(['wasi', 'bindgen']);
export const STREAM = Object.freeze({ STDOUT: 1, STDERR: 2 });

export const ERROR_CODES = Object.freeze({
  BAD_MESSAGE: 'bad_message', TOO_BIG: 'too_big', UNKNOWN_TYPE: 'unknown_type',
  UNEXPECTED: 'unexpected', UNAUTHORIZED: 'unauthorized', BAD_RESOURCES: 'bad_resources',
  UNKNOWN_RUN: 'unknown_run', INTERNAL: 'internal',
});

export const DEFAULT_LIMITS = Object.freeze({
  maxFrame: 1 << 20, maxLogChunk: 64 << 10, maxStr: 16 << 10, maxArgs: 256, maxEnv: 256,
  maxLabels: 16, maxRuns: 256, maxDepth: 16, maxKeys: 64,
});

// Why a frame was refused. `fatal`: not one well-formed msgpack map within maxFrame (the
// connection should close with 4000); `type`: the frame's `t` when known (an error's `ref`).
export class ProtocolError extends Error {
  constructor(code, message, { fatal = false, type = '' } = {}) {
    super(message);
    this.name = 'ProtocolError';
    this.code = code;
    this.fatal = fatal;
    this.type = type;
  }
}

// ---- schemas: field order is the encoding order (same as the C encoder) ----
// kinds: str u32 u64 i64 (>= 0) i32 unit (0..1) bool bin strs labels env map enum
const U32_MAX = 0xffffffff;
const I32_MIN = -0x80000000;
const I32_MAX = 0x7fffffff;
const U64_MAX = (1n << 64n) - 1n;
const I64_MAX = (1n << 63n) - 1n;

const GPU = { present: { k: 'bool', req: true }, fallback: { k: 'bool', dflt: false },
  vendor: { k: 'str' }, architecture: { k: 'str' } };

const SCHEMA = {
  hello: {
    token: { k: 'str', req: true },
    agent_id: { k: 'str', req: true, nonEmpty: true },
    session: { k: 'map', fields: { id: { k: 'str', req: true }, runs: { k: 'strs', req: true, limit: 'maxRuns' } } },
    cpu_millis: { k: 'i64', req: true },
    memory_bytes: { k: 'i64', req: true },
    gpu: { k: 'map', fields: GPU },
    labels: { k: 'labels' },
    max_pods: { k: 'u32' },
    user_agent: { k: 'str' },
    agent_version: { k: 'str' },
  },
  welcome: {
    browser_id: { k: 'str', req: true },
    session: { k: 'str', req: true },
    heartbeat_ms: { k: 'u32', req: true },
    heartbeat_deadline_ms: { k: 'u32', req: true },
    max_frame: { k: 'u32', req: true },
    max_log_chunk: { k: 'u32', req: true },
    resumed: { k: 'strs', limit: 'maxRuns' },
  },
  heartbeat: {
    seq: { k: 'u64', req: true },
    load: { k: 'unit', req: true },
    throttled: { k: 'bool', req: true },
    running: { k: 'u32', req: true },
    resources: { k: 'map', fields: { cpu_millis: { k: 'i64', req: true }, memory_bytes: { k: 'i64', req: true }, gpu: { k: 'map', fields: GPU } } },
  },
  ping: { nonce: { k: 'u64', req: true }, t_ns: { k: 'u64', req: true } },
  pong: { nonce: { k: 'u64', req: true }, t_ns: { k: 'u64', req: true } },
  run: {
    run_id: { k: 'str', req: true },
    pod: { k: 'map', req: true, fields: { namespace: { k: 'str', req: true }, name: { k: 'str', req: true },
      uid: { k: 'str', req: true }, container: { k: 'str', req: true } } },
    kind: { k: 'enum', req: true, values: KINDS, what: 'kind (wasi|bindgen)' },
    module_url: { k: 'str', req: true },
    glue_url: { k: 'str' },
    entry: { k: 'str' },
    digest: { k: 'str' },
    args: { k: 'strs', limit: 'maxArgs' },
    env: { k: 'env' },
    limits: { k: 'map', fields: { cpu_millis: { k: 'i64' }, memory_bytes: { k: 'i64' } } },
    timeout_ms: { k: 'u32' },
  },
  status: {
    run_id: { k: 'str', req: true },
    phase: { k: 'enum', req: true, values: PHASES, what: 'phase' },
    exit_code: { k: 'i32' },
    message: { k: 'str' },
    timings: { k: 'map', fields: { fetch_ms: { k: 'u64' }, compile_ms: { k: 'u64' }, run_ms: { k: 'u64' } } },
  },
  log: {
    run_id: { k: 'str', req: true },
    stream: { k: 'u32', req: true, oneOf: [1, 2] },
    seq: { k: 'u64', req: true },
    data: { k: 'bin', req: true },
  },
  cancel: { run_id: { k: 'str', req: true }, reason: { k: 'str' } },
  error: { code: { k: 'str', req: true }, message: { k: 'str' }, ref: { k: 'str' } },
  bye: { reason: { k: 'str' } },
};

// Cross-field rules (the C decoder's extra checks).
function crossCheck(t, msg, fail) {
  if (t === 'run' && msg.kind === 'bindgen' && msg.glue_url === undefined) fail('run.glue_url', 'required for kind bindgen');
  if (t === 'status' && msg.phase === 'exited' && msg.exit_code === undefined) fail('status.exit_code', 'required when phase is exited');
}

// ---- decoding ----

const NONSTR_KEY = '\u0000nonstr';
// Extensions are kept opaque (no timestamp decoding): unknown fields stay unknown.
const rawExtensions = {
  decode: (data, type) => new ExtData(type, data),
  tryToEncode: () => null,
};

function kindOf(v) {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return v < 0n ? 'negative int' : 'uint';
  if (typeof v === 'number') return Number.isInteger(v) ? (v < 0 ? 'negative int' : 'uint') : 'float';
  if (v instanceof Uint8Array) return 'bin';
  if (v instanceof ExtData) return 'ext';
  if (Array.isArray(v)) return 'array';
  return 'map';
}

function isMap(v) { return kindOf(v) === 'map'; }

// Walks the whole value like the C decoder's first pass: depth and map sizes.
function walk(v, depth, lim) {
  if (depth > lim.maxDepth) throw new ProtocolError('too_big', `nesting deeper than ${lim.maxDepth}`, { fatal: true });
  const k = kindOf(v);
  if (k === 'array') {
    for (const x of v) walk(x, depth + 1, lim);
  } else if (k === 'map') {
    const keys = Object.keys(v);
    if (keys.length > lim.maxKeys) throw new ProtocolError('too_big', `map with ${keys.length} entries (max ${lim.maxKeys})`);
    for (const key of keys) walk(v[key], depth + 1, lim);
  }
}

function toInt(v) {
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  return v;
}

class Reader {
  constructor(lim, type) {
    this.lim = lim;
    this.type = type;
  }

  fail(path, what, code = 'bad_message') {
    throw new ProtocolError(code, `${path}: ${what}`, { type: this.type });
  }

  str(v, path) {
    if (typeof v !== 'string') this.fail(path, `expected str, got ${kindOf(v)}`);
    // Byte length only matters near the limit; a JS string of n UTF-16 units is <= 3n bytes.
    if (v.length * 3 > this.lim.maxStr) {
      const n = new TextEncoder().encode(v).length;
      if (n > this.lim.maxStr) this.fail(path, `string of ${n} bytes (max ${this.lim.maxStr})`, 'too_big');
    }
    if (v.includes('\u0000')) this.fail(path, 'string is not valid UTF-8 or contains NUL');
    return v;
  }

  uint(v, path, max) {
    const k = kindOf(v);
    if (k !== 'uint') this.fail(path, `expected non-negative integer, got ${k}`);
    if (BigInt(v) > max) this.fail(path, `${v} out of range (max ${max})`);
    return toInt(v);
  }

  field(spec, v, path) {
    const lim = this.lim;
    switch (spec.k) {
      case 'str': {
        const s = this.str(v, path);
        if (spec.nonEmpty && s === '') this.fail(path, 'must not be empty');
        return s;
      }
      case 'u32': {
        const n = this.uint(v, path, BigInt(U32_MAX));
        if (spec.oneOf && !spec.oneOf.includes(n)) this.fail(path, `must be one of ${spec.oneOf.join(', ')}`);
        return n;
      }
      case 'u64': return this.uint(v, path, U64_MAX);
      case 'i64': {
        const k = kindOf(v);
        if (k !== 'uint' && k !== 'negative int') this.fail(path, `expected integer, got ${k}`);
        if (k === 'negative int' || BigInt(v) > I64_MAX) this.fail(path, 'integer out of range');
        return toInt(v);
      }
      case 'i32': {
        const k = kindOf(v);
        if (k !== 'uint' && k !== 'negative int') this.fail(path, `expected integer, got ${k}`);
        const n = toInt(v);
        if (typeof n !== 'number' || n < I32_MIN || n > I32_MAX) this.fail(path, 'integer out of range');
        return n;
      }
      case 'unit': {
        const k = kindOf(v);
        if (k !== 'uint' && k !== 'negative int' && k !== 'float') this.fail(path, `expected float, got ${k}`);
        const n = Number(v);
        if (!(n >= 0 && n <= 1)) this.fail(path, 'expected a number within 0..1');
        return n;
      }
      case 'bool':
        if (typeof v !== 'boolean') this.fail(path, `expected bool, got ${kindOf(v)}`);
        return v;
      case 'bin':
        if (!(v instanceof Uint8Array)) this.fail(path, `expected bin, got ${kindOf(v)}`);
        if (v.length > lim.maxLogChunk) this.fail(path, `${v.length} bytes (max ${lim.maxLogChunk})`, 'too_big');
        return v;
      case 'enum': {
        const s = this.str(v, path);
        if (!spec.values.includes(s)) this.fail(path, `unknown ${spec.what}`);
        return s;
      }
      case 'strs': {
        if (!Array.isArray(v)) this.fail(path, `expected array, got ${kindOf(v)}`);
        if (v.length > lim[spec.limit]) this.fail(path, `${v.length} entries (max ${lim[spec.limit]})`, 'too_big');
        return v.map((x, i) => this.str(x, `${path}[${i}]`));
      }
      case 'labels': {
        if (!isMap(v)) this.fail(path, `expected map, got ${kindOf(v)}`);
        const keys = Object.keys(v);
        if (keys.length > Math.min(lim.maxLabels, lim.maxKeys)) this.fail(path, `${keys.length} entries (max ${lim.maxLabels})`, 'too_big');
        const out = {};
        keys.forEach((key, i) => {
          if (key.startsWith(NONSTR_KEY)) this.fail(`${path}[${i}]`, 'expected str');
          out[this.str(key, `${path}[${i}]`)] = this.str(v[key], `${path}[${i}]`);
        });
        return out;
      }
      case 'env': {
        // [[name, value], ...] or {name: value}; normalised to the array form
        let pairs;
        if (Array.isArray(v)) {
          if (v.length > lim.maxEnv) this.fail(path, `${v.length} entries (max ${lim.maxEnv})`, 'too_big');
          pairs = v.map((p, i) => {
            if (!Array.isArray(p)) this.fail(`${path}[${i}]`, `expected array, got ${kindOf(p)}`);
            if (p.length !== 2) this.fail(`${path}[${i}]`, 'expected [name, value]');
            return p;
          });
        } else if (isMap(v)) {
          const keys = Object.keys(v);
          if (keys.length > Math.min(lim.maxEnv, lim.maxKeys)) this.fail(path, `${keys.length} entries (max ${lim.maxEnv})`, 'too_big');
          pairs = keys.map((key, i) => {
            if (key.startsWith(NONSTR_KEY)) this.fail(`${path}[${i}]`, 'expected str');
            return [key, v[key]];
          });
        } else {
          this.fail(path, `expected array, got ${kindOf(v)}`);
        }
        return pairs.map(([n, val], i) => [this.str(n, `${path}[${i}]`), this.str(val, `${path}[${i}]`)]);
      }
      case 'map': {
        if (!isMap(v)) this.fail(path, `expected map, got ${kindOf(v)}`);
        return this.fields(spec.fields, v, path);
      }
      default:
        throw new Error(`protocol.js: bad schema kind ${spec.k}`);
    }
  }

  // Reads the known keys of `obj`; unknown keys are ignored, nil means absent.
  fields(schema, obj, path) {
    const out = {};
    for (const key of Object.keys(obj)) {
      if (key.startsWith(NONSTR_KEY)) this.fail(path, 'map key is not a str');
    }
    for (const [key, spec] of Object.entries(schema)) {
      const v = Object.hasOwn(obj, key) ? obj[key] : undefined;
      if (v === null || v === undefined) {
        if (spec.req) this.fail(`${path}.${key}`, 'required field missing');
        if (spec.dflt !== undefined) out[key] = spec.dflt;
        continue;
      }
      out[key] = this.field(spec, v, `${path}.${key}`);
    }
    return out;
  }
}

function normalizeLimits(limits) {
  const lim = { ...DEFAULT_LIMITS };
  for (const [k, v] of Object.entries(limits || {})) if (v) lim[k] = v;
  return lim;
}

// Decodes one frame (Uint8Array / ArrayBuffer / Buffer). Returns {t, v?, ...fields}; throws
// ProtocolError (code 'bad_message' | 'too_big' | 'unknown_type', fatal, type).
export function decode(bytes, limits) {
  const lim = normalizeLimits(limits);
  const buf = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (buf.length > lim.maxFrame) throw new ProtocolError('too_big', `frame of ${buf.length} bytes (max ${lim.maxFrame})`, { fatal: true });
  let raw;
  let nonstr = 0;
  try {
    const dec = new Decoder({
      useBigInt64: true,
      extensionCodec: rawExtensions,
      maxArrayLength: buf.length,
      maxMapLength: buf.length,
      mapKeyConverter: (key) => (typeof key === 'string' ? key : `${NONSTR_KEY}${nonstr++}`),
    });
    raw = dec.decode(buf);
  } catch (e) {
    throw new ProtocolError('bad_message', `malformed msgpack: ${e.message}`, { fatal: true });
  }
  if (!isMap(raw)) throw new ProtocolError('bad_message', 'frame is not a msgpack map', { fatal: true });
  walk(raw, 0, lim);
  const t = raw.t;
  if (typeof t !== 'string') throw new ProtocolError('bad_message', 't: required str field missing');
  let v = 0;
  if (raw.v !== undefined && raw.v !== null) {
    if (kindOf(raw.v) !== 'uint' || BigInt(raw.v) > BigInt(U32_MAX)) {
      throw new ProtocolError('bad_message', 'v: expected uint', { type: t });
    }
    v = Number(raw.v);
  }
  const schema = SCHEMA[t];
  if (!schema) throw new ProtocolError('unknown_type', 'unknown message type', { type: t });
  const r = new Reader(lim, t);
  const msg = { t, ...(v ? { v } : {}), ...r.fields(schema, raw, t) };
  if (t === 'hello' && msg.agent_id === '') r.fail('hello.agent_id', 'must not be empty');
  crossCheck(t, msg, (p, w) => r.fail(p, w));
  return msg;
}

// ---- encoding ----

const encoder = new Encoder({ useBigInt64: true, extensionCodec: rawExtensions, ignoreUndefined: true });

function wireInt(n) {
  // @msgpack/msgpack with useBigInt64 writes Numbers >= 2^32 as floats; BigInt keeps them ints.
  return typeof n === 'number' && Number.isInteger(n) && (n > U32_MAX || n < I32_MIN) ? BigInt(n) : n;
}

function prepare(schema, obj, path) {
  const out = {};
  for (const [key, spec] of Object.entries(schema)) {
    const v = obj[key] ?? spec.dflt;
    if (v === undefined || v === null) {
      if (spec.req) throw new ProtocolError('bad_message', `${path}.${key}: required field missing`);
      continue;
    }
    switch (spec.k) {
      case 'map': out[key] = prepare(spec.fields, v, `${path}.${key}`); break;
      case 'u32': case 'u64': case 'i64': case 'i32': out[key] = wireInt(v); break;
      case 'env': out[key] = Array.isArray(v) ? v : Object.entries(v); break;
      default: out[key] = v;
    }
  }
  return out;
}

// Encodes a message object into one frame (a fresh Uint8Array). The message is validated with
// the decoder's rules first, so a frame we send is one the node accepts; throws ProtocolError.
export function encode(msg) {
  const schema = SCHEMA[msg?.t];
  if (!schema) throw new ProtocolError('unknown_type', `cannot encode type ${msg?.t}`, { type: String(msg?.t) });
  const frame = { t: msg.t, ...(msg.v ? { v: msg.v } : {}), ...prepare(schema, msg, msg.t) };
  const bytes = encoder.encode(frame);
  decode(bytes, { maxFrame: Number.MAX_SAFE_INTEGER, maxLogChunk: Number.MAX_SAFE_INTEGER });
  return bytes;
}

// ---- constructors (the agent sends hello/heartbeat/pong/status/log/error/bye) ----

const ctor = (t) => (fields = {}) => ({ t, ...fields });
export const hello = ctor('hello');
export const welcome = ctor('welcome');
export const heartbeat = ctor('heartbeat');
export const ping = ctor('ping');
export const run = ctor('run');
export const status = ctor('status');
export const cancel = ctor('cancel');
export const bye = (reason) => (reason === undefined ? { t: 'bye' } : { t: 'bye', reason });
export const pong = (p) => ({ t: 'pong', nonce: p.nonce, t_ns: p.t_ns }); // echo of a ping
export const log = (run_id, stream, seq, data) => ({ t: 'log', run_id, stream, seq, data });
export const error = (code, message, ref) => ({
  t: 'error', code, ...(message !== undefined ? { message } : {}), ...(ref !== undefined ? { ref } : {}),
});
