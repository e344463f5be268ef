// Turns a byte stream (WASI fd_write, console lines) into log chunks: a chunk never exceeds `max`
// bytes; complete lines go out at once unless a chunk went out less than `lingerMs` ago (then
// they gather into one chunk, sent by the next write after the linger, a timer, or the end), so
// a burst of lines costs a few frames, not one per line; a partial line waits for its newline
// unless it has waited `flushMs` or the run ends. Runs inside the worker; time is injected.

const NL = 10;

export class LineChunker {
  // emit(Uint8Array) receives owned copies; now() gives milliseconds.
  constructor(max, emit, { flushMs = 200, lingerMs = 0, now = () => Date.now(), schedule = (fn, ms) => setTimeout(fn, ms) } = {}) {
    if (!Number.isInteger(max) || max < 1) throw new Error('LineChunker: max must be a positive integer');
    this.max = max;
    this.emit = emit;
    this.flushMs = flushMs;
    this.now = now;
    this.buf = new Uint8Array(Math.min(max, 4096));
    this.len = 0;
    this.partialSince = null;
    this.bytes = 0;
    this.lingerMs = lingerMs;
    this.schedule = schedule;
    this.lastEmit = -Infinity;
    this.armed = false;
  }

  #append(data, off, n) {
    if (this.len + n > this.buf.length) {
      let cap = this.buf.length;
      while (cap < this.len + n) cap *= 2;
      const grown = new Uint8Array(Math.min(cap, this.max));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    this.buf.set(data.subarray(off, off + n), this.len);
    this.len += n;
  }

  #emitUpTo(n) {
    if (n <= 0) return;
    const chunk = this.buf.slice(0, n);
    this.buf.copyWithin(0, n, this.len);
    this.len -= n;
    this.bytes += n;
    this.lastEmit = this.now();
    this.emit(chunk);
  }

  #lastNewline() {
    for (let i = this.len - 1; i >= 0; i--) if (this.buf[i] === NL) return i;
    return -1;
  }

  write(data) {
    if (!(data instanceof Uint8Array)) data = new Uint8Array(data);
    let off = 0;
    while (off < data.length) {
      const n = Math.min(data.length - off, this.max - this.len);
      this.#append(data, off, n);
      off += n;
      if (this.len === this.max) {
        const nl = this.#lastNewline();
        this.#emitUpTo(nl >= 0 ? nl + 1 : this.len);
      }
    }
    const nl = this.#lastNewline();
    if (nl >= 0) {
      if (this.now() - this.lastEmit >= this.lingerMs) this.#emitUpTo(nl + 1);
      else this.#arm();
    }
    if (this.len === 0) {
      this.partialSince = null;
    } else if (this.partialSince === null) {
      this.partialSince = this.now();
    } else if (this.now() - this.partialSince >= this.flushMs) {
      this.flush();
    }
  }

  // Lines held back by the linger go out when the thread is free (never inside a sync WASI run,
  // whose lines go out with a later write or at the end).
  #arm() {
    if (this.armed) return;
    this.armed = true;
    this.schedule(() => {
      this.armed = false;
      const nl = this.#lastNewline();
      if (nl >= 0) this.#emitUpTo(nl + 1);
    }, this.lingerMs);
  }

  // Sends the complete lines held back by the linger (the other stream is about to write, and
  // order across streams matters more than batching).
  flushLines() {
    const nl = this.#lastNewline();
    if (nl >= 0) this.#emitUpTo(nl + 1);
  }

  writeText(text) {
    this.write(new TextEncoder().encode(text));
  }

  flush() {
    this.#emitUpTo(this.len);
    this.partialSince = null;
  }
}

// Splits one buffer into pieces of at most `max` bytes (the main thread's last line of defence
// if a node lowers max_log_chunk below what a worker was started with).
export function splitBytes(data, max) {
  if (data.length <= max) return [data];
  const out = [];
  for (let i = 0; i < data.length; i += max) out.push(data.subarray(i, Math.min(i + max, data.length)));
  return out;
}
