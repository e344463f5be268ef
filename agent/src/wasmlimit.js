// Memory limit for a WebAssembly module, applied to its binary before compiling: every memory it
// defines (or imports) gets a maximum of at most the limit, so memory.grow fails past it (malloc
// returns NULL, the program traps or exits) instead of the tab growing until the browser kills
// it. Pure functions on bytes; no WebAssembly API needed (unit-tested under node).

export const PAGE = 65536;

function readU(bytes, pos) {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= bytes.length) throw new Error('wasm: truncated LEB128');
    const b = bytes[pos++];
    result |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if (!(b & 0x80)) return [result, pos];
    if (shift > 70n) throw new Error('wasm: LEB128 too long');
  }
}

function writeU(out, value) {
  let v = BigInt(value);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
}

// Limits at bytes[pos]; returns {flags, min, max|null, end} (pages).
function readLimits(bytes, pos) {
  const flags = bytes[pos++];
  if (flags > 0x07) throw new Error(`wasm: unknown memory limits flags 0x${flags.toString(16)}`);
  let min;
  let max = null;
  [min, pos] = readU(bytes, pos);
  if (flags & 1) [max, pos] = readU(bytes, pos);
  return { flags, min, max, end: pos };
}

function writeLimits(out, { flags, min, max }) {
  out.push(max === null ? flags & ~1 : flags | 1);
  writeU(out, min);
  if (max !== null) writeU(out, max);
}

// Rewrites limits to max ≤ capPages; records the largest minimum seen in `info`.
function capLimits(out, lim, capPages, info) {
  if (lim.min > info.minPages) info.minPages = lim.min;
  const max = lim.max === null || lim.max > capPages ? capPages : lim.max;
  // A shared memory must keep a maximum; ours always has one.
  writeLimits(out, { flags: lim.flags, min: lim.min, max });
  info.memories++;
}

function readName(bytes, pos) {
  let n;
  [n, pos] = readU(bytes, pos);
  return pos + Number(n);
}

function capImports(bytes, start, end, capPages, info) {
  const out = [];
  let pos = start;
  let count;
  [count, pos] = readU(bytes, pos);
  writeU(out, count);
  for (let i = 0n; i < count; i++) {
    const from = pos;
    pos = readName(bytes, pos);
    pos = readName(bytes, pos);
    const kind = bytes[pos++];
    out.push(...bytes.subarray(from, pos));
    if (kind === 0x00) { // function: type index
      const f = pos;
      [, pos] = readU(bytes, pos);
      out.push(...bytes.subarray(f, pos));
    } else if (kind === 0x01) { // table: reftype + limits
      const f = pos;
      pos = readLimits(bytes, pos + 1).end;
      out.push(...bytes.subarray(f, pos));
    } else if (kind === 0x02) { // memory
      const lim = readLimits(bytes, pos);
      pos = lim.end;
      capLimits(out, lim, capPages, info);
    } else if (kind === 0x03) { // global: valtype + mutability
      out.push(bytes[pos], bytes[pos + 1]);
      pos += 2;
    } else if (kind === 0x04) { // tag: attribute + type index
      const f = pos;
      [, pos] = readU(bytes, pos + 1);
      out.push(...bytes.subarray(f, pos));
    } else {
      throw new Error(`wasm: unknown import kind ${kind}`);
    }
  }
  if (pos !== end) throw new Error('wasm: import section size mismatch');
  return out;
}

function capMemories(bytes, start, end, capPages, info) {
  const out = [];
  let pos = start;
  let count;
  [count, pos] = readU(bytes, pos);
  writeU(out, count);
  for (let i = 0n; i < count; i++) {
    const lim = readLimits(bytes, pos);
    pos = lim.end;
    capLimits(out, lim, capPages, info);
  }
  if (pos !== end) throw new Error('wasm: memory section size mismatch');
  return out;
}

// Returns {bytes, minBytes, memories}: the module with every memory's maximum capped at
// floor(limitBytes / 64 KiB) pages, the largest declared minimum in bytes (a module whose minimum
// already exceeds the limit cannot run under it) and how many memories were capped.
export function capModuleMemory(input, limitBytes) {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new Error('wasm: not a WebAssembly module');
  }
  const capPages = BigInt(Math.floor(limitBytes / PAGE));
  const info = { minPages: 0n, memories: 0 };
  const parts = [bytes.subarray(0, 8)];
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos];
    let size;
    let body;
    [size, body] = readU(bytes, pos + 1);
    const end = body + Number(size);
    if (end > bytes.length) throw new Error('wasm: section runs past the end');
    if (id === 2 || id === 5) {
      const content = id === 2 ? capImports(bytes, body, end, capPages, info) : capMemories(bytes, body, end, capPages, info);
      const head = [id];
      writeU(head, content.length);
      parts.push(Uint8Array.from(head), Uint8Array.from(content));
    } else {
      parts.push(bytes.subarray(pos, end));
    }
    pos = end;
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return { bytes: out, minBytes: Number(info.minPages) * PAGE, memories: info.memories };
}

export function oomMessage(limitBytes, usedBytes) {
  return `OOMKilled: memory limit ${limitBytes} bytes reached (wasm memory ${usedBytes} bytes)`;
}
