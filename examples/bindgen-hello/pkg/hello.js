// Hand-written glue in the shape wasm-pack --target web emits: a default async init() that
// fetches and instantiates hello_bg.wasm (or takes a URL / bytes / Module), plus named exports.
let wasm;
const decoder = new TextDecoder('utf-8');

function getString(ptr, len) {
  return decoder.decode(new Uint8Array(wasm.memory.buffer, ptr, len));
}

function imports() {
  return {
    './hello_bg.js': {
      __wbg_log_1: (ptr, len) => { console.log(getString(ptr, len)); },
    },
  };
}

export function greet() {
  return wasm.greet();
}

// The entry kuack calls by default (a Pod may name another with kuack.io/wasm-entry).
// A number returned by the entry is the exit code, so it returns none.
export function main() {
  greet();
}

export default async function init(input) {
  if (wasm) return { greet };
  if (input === undefined) input = new URL('hello_bg.wasm', import.meta.url);
  let result;
  if (input instanceof WebAssembly.Module) {
    result = { instance: await WebAssembly.instantiate(input, imports()) };
  } else {
    if (typeof input === 'string' || input instanceof URL || (typeof Request === 'function' && input instanceof Request)) {
      input = fetch(input);
    }
    const src = await input;
    if (typeof Response === 'function' && src instanceof Response) {
      if (typeof WebAssembly.instantiateStreaming === 'function' &&
          src.headers.get('Content-Type') === 'application/wasm') {
        result = await WebAssembly.instantiateStreaming(src, imports());
      } else {
        result = await WebAssembly.instantiate(await src.arrayBuffer(), imports());
      }
    } else {
      result = await WebAssembly.instantiate(src, imports());
    }
  }
  wasm = result.instance.exports;
  return { greet };
}
