// Entry point of the kuack browser agent. One tag embeds it:
//   <script type="module" src="https://node/agent/kuack-agent.js" data-node="wss://node/ws"
//           data-token="..." data-cpu-max="2" data-memory-max="2Gi" data-labels="zone=eu" data-autostart>
// or `import { KuackAgent } from '.../agent/kuack-agent.js'; new KuackAgent({...}).start()`.
// protocol.js imports '@msgpack/msgpack' by its bare name: when the embedding page has no import
// map for it, one pointing at the node's /agent/vendor/ copy is added before the agent loads.

import { optionsFromDataset } from './options.js';

const VENDOR = {
  '@msgpack/msgpack': new URL('./vendor/@msgpack/msgpack/dist.esm/index.mjs', import.meta.url).href,
};

function resolvable(name) {
  try {
    import.meta.resolve(name);
    return true;
  } catch {
    return false;
  }
}

const doc = globalThis.document;
if (doc && typeof import.meta.resolve === 'function') {
  const missing = Object.entries(VENDOR).filter(([name]) => !resolvable(name));
  if (missing.length) {
    const map = doc.createElement('script');
    map.type = 'importmap';
    map.textContent = JSON.stringify({ imports: Object.fromEntries(missing) });
    (doc.head ?? doc.documentElement).append(map);
  }
}

const mod = await import('./agent.js');
export const { KuackAgent, VERSION, STATES, SUBPROTOCOL } = mod;

// <script type="module" src=".../kuack-agent.js" data-autostart ...>: start on load and expose the
// agent as window.kuackAgent (plus a `kuack-agent` event on window for page scripts).
function autostart() {
  const here = import.meta.url.split(/[?#]/)[0];
  const tag = [...doc.querySelectorAll('script[type="module"][src]')]
    .find((s) => new URL(s.src, doc.baseURI).href.split(/[?#]/)[0] === here);
  if (!tag) return;
  let agent;
  try {
    const opts = optionsFromDataset(tag.dataset);
    if (!opts.autostart) return;
    agent = new KuackAgent(opts);
  } catch (err) {
    console.error(`kuack-agent: ${err.message}`);
    return;
  }
  globalThis.kuackAgent = agent;
  globalThis.dispatchEvent(new CustomEvent('kuack-agent', { detail: agent }));
  agent.start();
}

if (doc) {
  globalThis.KuackAgent = KuackAgent;
  autostart();
}
