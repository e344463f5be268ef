// Reconnect delays: exponential with "equal jitter" (half fixed, half random), capped, reset by
// the caller after a connection has stayed up long enough. `random` is injected for tests.

export class Backoff {
  constructor({ baseMs = 500, maxMs = 30000, random = Math.random } = {}) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.random = random;
    this.attempt = 0;
  }

  // Delay before the next attempt; each call doubles the ceiling up to maxMs.
  next() {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const half = ceiling / 2;
    return Math.round(half + this.random() * half);
  }

  reset() {
    this.attempt = 0;
  }
}
