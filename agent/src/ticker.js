// A periodic tick that survives background-tab timer throttling: the interval runs in a tiny
// worker (workers are not subject to Chrome's intensive throttling) and posts to the page.
// Falls back to setInterval where workers cannot be made.

const SRC = 'let t=null;onmessage=(e)=>{clearInterval(t);if(e.data>0)t=setInterval(()=>postMessage(0),e.data)};';

export class Ticker {
  constructor(fn) {
    this.fn = fn;
    this.worker = null;
    this.timer = null;
    this.url = null;
  }

  start(ms) {
    this.stop();
    try {
      this.url = URL.createObjectURL(new Blob([SRC], { type: 'text/javascript' }));
      this.worker = new Worker(this.url, { name: 'kuack-ticker' });
      this.worker.onmessage = () => this.fn();
      this.worker.postMessage(ms);
    } catch {
      this.worker = null;
      this.timer = setInterval(() => this.fn(), ms);
    }
  }

  stop() {
    if (this.worker) this.worker.terminate();
    if (this.url) URL.revokeObjectURL(this.url);
    clearInterval(this.timer);
    this.worker = null;
    this.timer = null;
    this.url = null;
  }
}
