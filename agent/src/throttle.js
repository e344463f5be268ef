// Throttling = the tab is hidden, or a main-thread timer fired much later than asked (background
// tab timer clamping, a frozen or starved page). A drift keeps the flag up for `holdMs` so one
// late tick is reported by the next heartbeat. Time is injected.

export class ThrottleDetector {
  constructor({ now = () => performance.now(), thresholdMs = 1000, holdMs = 30000 } = {}) {
    this.now = now;
    this.thresholdMs = thresholdMs;
    this.holdMs = holdMs;
    this.hidden = false;
    this.lastTick = null;
    this.driftUntil = -Infinity;
    this.lastDriftMs = 0;
    this.maxDriftMs = 0;
  }

  // Call from a periodic timer of period `intervalMs`. Returns the lateness of this tick.
  tick(intervalMs) {
    const t = this.now();
    let late = 0;
    if (this.lastTick !== null) {
      late = Math.max(0, t - this.lastTick - intervalMs);
      if (late > this.thresholdMs) this.driftUntil = t + this.holdMs;
      this.lastDriftMs = late;
      this.maxDriftMs = Math.max(this.maxDriftMs, late);
    }
    this.lastTick = t;
    return late;
  }

  setHidden(hidden) {
    this.hidden = Boolean(hidden);
  }

  get drifting() {
    return this.now() < this.driftUntil;
  }

  get throttled() {
    return this.hidden || this.drifting;
  }
}
