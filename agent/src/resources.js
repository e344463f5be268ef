// What this browser offers: CPU (hardwareConcurrency → millicores), memory (deviceMemory, which
// browsers bucket and cap at 8-16 GiB; Firefox/Safari have none → a fallback), WebGPU adapter.
// Everything takes `nav` so tests pass a mock; caps come from the options.

export const FALLBACK_CORES = 2;
export const FALLBACK_MEMORY = 2 * 2 ** 30; // browsers without navigator.deviceMemory
const GiB = 2 ** 30;

export function detectCpuMillis(nav, cpuMax = null) {
  const cores = Number.isInteger(nav?.hardwareConcurrency) && nav.hardwareConcurrency > 0
    ? nav.hardwareConcurrency : FALLBACK_CORES;
  const millis = cores * 1000;
  return cpuMax == null ? millis : Math.min(millis, cpuMax);
}

// deviceMemory is the machine's RAM in GiB, rounded down to a power of two. A tab cannot use all
// of it: offer half, at least 256 MiB, then the cap.
export function detectMemoryBytes(nav, memoryMax = null) {
  const dm = Number(nav?.deviceMemory);
  const bytes = Number.isFinite(dm) && dm > 0 ? Math.max(256 * 2 ** 20, Math.floor((dm * GiB) / 2)) : FALLBACK_MEMORY;
  return memoryMax == null ? bytes : Math.min(bytes, memoryMax);
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); }),
  ]);
}

// → {present:false} or {present:true, fallback, vendor?, architecture?}. Never throws.
export async function detectGpu(nav, timeoutMs = 2000) {
  if (!nav?.gpu || typeof nav.gpu.requestAdapter !== 'function') return { present: false };
  try {
    const adapter = await withTimeout(Promise.resolve(nav.gpu.requestAdapter()), timeoutMs);
    if (!adapter) return { present: false };
    let info = adapter.info;
    if (!info && typeof adapter.requestAdapterInfo === 'function') {
      info = await withTimeout(Promise.resolve(adapter.requestAdapterInfo()), timeoutMs).catch(() => null);
    }
    const gpu = { present: true, fallback: Boolean(adapter.isFallbackAdapter ?? info?.isFallbackAdapter) };
    if (info?.vendor) gpu.vendor = String(info.vendor).slice(0, 128);
    if (info?.architecture) gpu.architecture = String(info.architecture).slice(0, 128);
    return gpu;
  } catch {
    return { present: false };
  }
}

export async function detectResources(nav, opts = {}) {
  return {
    cpu_millis: detectCpuMillis(nav, opts.cpuMax ?? null),
    memory_bytes: detectMemoryBytes(nav, opts.memoryMax ?? null),
    gpu: await detectGpu(nav, opts.gpuTimeoutMs ?? 2000),
  };
}

export function sameResources(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Stable agent id: localStorage when it works (private mode / sandboxed iframes may throw),
// otherwise a fresh id per page load.
export function agentId(storage, key, cryptoObj) {
  try {
    const id = storage?.getItem(key);
    if (id && /^[A-Za-z0-9-]{8,64}$/.test(id)) return id;
  } catch { /* storage unavailable */ }
  const id = randomUuid(cryptoObj);
  try { storage?.setItem(key, id); } catch { /* keep the in-memory id */ }
  return id;
}

// crypto.randomUUID only exists in secure contexts; getRandomValues exists everywhere.
export function randomUuid(cryptoObj) {
  if (typeof cryptoObj?.randomUUID === 'function') {
    try { return cryptoObj.randomUUID(); } catch { /* insecure context */ }
  }
  const b = new Uint8Array(16);
  cryptoObj.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
