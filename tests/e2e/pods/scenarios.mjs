// Pod scenarios end to end: a real docker-registry, kuack-node (this build) in standalone mode and
// several headless Chromium contexts with different capped resources, each a browser of the node.
// Steps (each named; the first failure stops the run with its message):
//   1. placement  A (cpu 1) and B (cpu 2) register; 1500m goes to B (only fit), 500m to B (binpack
//                 prefers the busy browser), 1000m to A (B is full)
//   2. logs       stdout/stderr in the logs; follow=true streams a running Pod and ends with it
//   3. delete     removing a running Pod's manifest deletes the Pod and cancels its worker
//   4. node-lost  closing a browser fails its running Pod with NodeLost within deadline + window
//   5. waiting    a Pod larger than every browser waits (WaitingForBrowser), then runs on a bigger
//                 browser that joins
//   6. shutdown   kuack-node exits 0 on SIGTERM (sanitizers find nothing)
// Needs KQ_SOURCE_DIR, KQ_BINARY_DIR (set by kq_script_test), docker-registry, clang (wasm32-wasi),
// wat2wasm, chromium.  usage: node scenarios.mjs
import { createRequire } from 'node:module';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SRC = process.env.KQ_SOURCE_DIR;
const BIN = process.env.KQ_BINARY_DIR;
if (!SRC || !BIN) {
  console.error('scenarios: KQ_SOURCE_DIR and KQ_BINARY_DIR must be set');
  process.exit(2);
}
const require = createRequire(join(SRC, 'agent/package.json'));
const { chromium } = require('playwright-core');

const HEARTBEAT_MS = 1000, RESUME_MS = 2000, DEADLINE_MS = 3 * HEARTBEAT_MS; // node default: 3 beats
const LONG = ['primes', '1', '4000000000']; // runs for minutes: only ever cancelled or lost
const WORK = mkdtempSync(join(tmpdir(), 'kuack-scenarios.'));
const PODS = join(WORK, 'pods');
const children = [];
let browser = null;
const nodeLines = [];
const t0 = Date.now();
const ms = () => Date.now() - t0;

// ---- plumbing ----

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

const quietTail = []; // the registry's stderr (noisy even at level error), shown on failure
function start(name, cmd, args, onLine, quiet = false) {
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  c.label = name;
  c.exited = new Promise((resolve) => {
    c.once('exit', (code, sig) => resolve({ code, sig }));
    c.once('error', (e) => resolve({ code: null, sig: e.message }));
  });
  c.exited.then(({ code, sig }) => {
    c.done = `${code ?? sig}`;
    if (!c.expectExit) console.error(`${name} exited early: ${c.done}`);
  });
  let buf = '';
  c.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (onLine) onLine(line);
      console.log(`[${name} ${ms()}ms] ${line}`);
    }
  });
  c.stderr.on('data', (d) => {
    if (!quiet) return process.stderr.write(`[${name}] ${d}`);
    if (!/blob unknown/.test(d)) quietTail.push(`[${name}] ${d}`);
    if (quietTail.length > 20) quietTail.shift();
  });
  children.push(c);
  return c;
}

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  browser = null;
  for (const c of children.reverse()) {
    if (!c.done && c.pid) { c.expectExit = true; c.kill('SIGKILL'); await c.exited; }
  }
  rmSync(WORK, { recursive: true, force: true });
}
process.on('unhandledRejection', async (e) => { console.error(`scenarios: ${e?.stack ?? e}`); await cleanup(); process.exit(1); });
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, async () => { console.error(`scenarios: ${sig}, cleaning up`); await cleanup(); process.exit(1); });
}

const sleep = (n) => new Promise((r) => setTimeout(r, n));

// An error that ends a wait at once (a Pod ended the wrong way, a process died).
class Fatal extends Error {}
function alive() {
  const dead = children.find((c) => c.done && !c.expectExit);
  if (dead) throw new Fatal(`${dead.label} exited unexpectedly (${dead.done})`);
}

// Polls `probe` every 200 ms until it returns a truthy value; throws `what` at the deadline.
// Other errors from `probe` (connection refused while starting) are retried; Fatal ones are not.
async function until(what, probe, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    alive();
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      if (e instanceof Fatal) throw e;
      last = `error: ${e.message}`;
    }
    if (Date.now() >= end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

let step = '';
async function runStep(name, fn) {
  step = name;
  const s = Date.now();
  console.log(`\n== STEP ${name}`);
  await fn();
  console.log(`== STEP ${name}: ok (${Date.now() - s} ms)`);
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

// ---- kuack ----

let KUBELET, NODE_URL, REG;

async function podList() {
  const r = await fetch(`${KUBELET}/pods`);
  check(r.ok, `GET /pods answered ${r.status}`);
  return (await r.json()).items ?? [];
}
async function pod(name) {
  return (await podList()).find((p) => p.metadata.name === name) ?? null;
}
const term = (p) => p?.status?.containerStatuses?.[0]?.state?.terminated ?? null;
const describe = (p) => (p ? JSON.stringify(p.status) : 'absent');

function writePod(name, { image, args = [], cpu, mem = '64Mi', annotations = {}, restart = 'Never' }) {
  const ann = Object.entries(annotations).map(([k, v]) => `\n    ${k}: "${v}"`).join('');
  const yaml = `apiVersion: v1
kind: Pod
metadata:
  name: ${name}${ann ? `\n  annotations:${ann}` : ''}
spec:
  restartPolicy: ${restart}
  containers:
    - name: main
      image: ${REG}/demo/${image}
      args: [${args.map((a) => JSON.stringify(a)).join(', ')}]
      resources:
        requests: {cpu: ${cpu}, memory: ${mem}}
`;
  const tmp = join(WORK, `${name}.yaml.tmp`);
  writeFileSync(tmp, yaml);
  renameSync(tmp, join(PODS, `${name}.yaml`)); // the node never sees a half-written manifest
}
const removePod = (name) => rmSync(join(PODS, `${name}.yaml`));

// The browser the node placed a Pod on, from its stdout line "pod ns/name  Scheduled: placed on b-N by …".
function placement(name) {
  const re = new RegExp(`\\bpod default/${name}  Scheduled: placed on (b-[0-9a-f]+) by ([a-z-]+)`);
  for (let i = nodeLines.length - 1; i >= 0; i--) {
    const m = re.exec(nodeLines[i]);
    if (m) return { browser: m[1], policy: m[2] };
  }
  return null;
}
async function placedOn(name, agent, others) {
  const p = await until(`a Scheduled line for ${name} on kuack-node stdout`, () => placement(name), 30000);
  check(p.policy === 'binpack', `${name} placed by ${p.policy}, want binpack`);
  const names = others.map((o) => `${o.label}=${o.id}`).join(', ');
  check(p.browser === agent.id, `${name} placed on ${p.browser}, want ${agent.label} (${agent.id}); browsers: ${names}`);
  console.log(`${name} placed on ${agent.label} (${p.browser})`);
}

async function phase(name, want, timeoutMs) {
  return until(`${name} phase ${want}`, async () => {
    const p = await pod(name);
    if (p && p.status.phase !== want && ['Succeeded', 'Failed'].includes(p.status.phase))
      throw new Fatal(`${name} ended ${p.status.phase}, want ${want}: ${describe(p)}`);
    return p?.status?.phase === want ? p : null;
  }, timeoutMs).catch(async (e) => {
    throw new Error(`${e.message}; last status: ${describe(await pod(name).catch(() => null))}`);
  });
}
// A Pod is running in the worker (not only accepted) once its container state is running.
async function running(name, timeoutMs = 60000) {
  return until(`${name} running`, async () => {
    const p = await pod(name);
    if (p && ['Succeeded', 'Failed'].includes(p.status.phase))
      throw new Fatal(`${name} ended ${p.status.phase} instead of running: ${describe(p)}`);
    return p?.status?.containerStatuses?.[0]?.state?.running ? p : null;
  }, timeoutMs);
}

async function openAgent(label, query) {
  const ctx = await browser.newContext();
  // The caps are what the test controls: report 8 cores so a 2-core CI machine offers the cap.
  await ctx.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => 8 });
  });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`[page ${label}] page error: ${e.message}`));
  await page.goto(`${NODE_URL}/?${query}`);
  const agent = { label, ctx, page, snap: () => page.evaluate(() => window.kuackAgent.snapshot()) };
  const s = await until(`browser ${label} (${query}) to register`, async () => {
    const v = await agent.snap();
    return v.state === 'connected' && v.browser_id ? v : null;
  }, 30000);
  agent.id = s.browser_id;
  console.log(`browser ${label} registered as ${agent.id}: cpu ${JSON.stringify(s.resources?.cpu_millis ?? s.resources)}`);
  return agent;
}

// The agent's runs of a Pod (run.pod is {namespace, name, uid, container}, wire/PROTOCOL.md).
const runOf = async (agent, name) => (await agent.snap()).runs.filter((r) => r.pod?.namespace === 'default' && r.pod?.name === name);

// ---- the scenarios ----

async function main() {
  mkdirSync(PODS);
  let A, B;

  await runStep('setup: registry, images, kuack-node, browsers A (cpu 1) and B (cpu 2)', async () => {
    const regPort = await freePort();
    REG = `127.0.0.1:${regPort}`;
    writeFileSync(join(WORK, 'registry.yml'), `version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: ${WORK}/registry}, delete: {enabled: true}}
http: {addr: ${REG}}
`);
    start('registry', 'docker-registry', ['serve', join(WORK, 'registry.yml')], null, true);
    await until('the registry to answer /v2/', async () => (await fetch(`http://${REG}/v2/`)).ok, 20000);
    const out = execFileSync('bash', [join(SRC, 'examples/build.sh'), join(WORK, 'examples')]).toString().trim();
    for (const [repo, file] of [['hello:v1', 'hello.wasm'], ['cpujob:v1', 'cpujob.wasm']])
      execFileSync('bash', [join(SRC, 'examples/push-image.sh'), `http://${REG}`, `demo/${repo}`, join(out, file)], { stdio: 'ignore' });

    const port = await freePort(), kport = await freePort();
    NODE_URL = `http://127.0.0.1:${port}`;
    KUBELET = `http://127.0.0.1:${kport}`;
    start('kuack-node', join(BIN, 'kuack-node'), [
      '--standalone', PODS, '--listen', `127.0.0.1:${port}`, '--kubelet-listen', `127.0.0.1:${kport}`,
      '--insecure-registry', REG, '--cache-dir', join(WORK, 'cache'), '--agent-root', join(SRC, 'agent'),
      '--heartbeat-ms', String(HEARTBEAT_MS), '--resume-window-ms', String(RESUME_MS), '--log-level', 'warn',
    ], (line) => nodeLines.push(line));
    await until('kuack-node /healthz', async () => (await fetch(`${NODE_URL}/healthz`)).ok, 30000);

    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
             '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    A = await openAgent('A', 'cpu-max=1&memory-max=1Gi&max-pods=4&labels=zone=a');
    B = await openAgent('B', 'cpu-max=2&memory-max=1Gi&max-pods=4&labels=zone=b');
    check(A.id !== B.id, `A and B got the same browser id ${A.id}`);
  });

  await runStep('1 placement: requests placed as binpack says', async () => {
    writePod('big', { image: 'cpujob:v1', args: LONG, cpu: '1500m' });
    await placedOn('big', B, [A, B]); // only B has 1500m
    await running('big');
    writePod('small', { image: 'hello:v1', args: ['--name', 'small'], cpu: '500m' });
    await placedOn('small', B, [A, B]); // binpack: the busy browser first, exact fit
    await phase('small', 'Succeeded', 60000);
    writePod('mid', { image: 'hello:v1', args: ['--name', 'mid'], cpu: '1000m' });
    await placedOn('mid', A, [A, B]); // B has 500m left while big runs
    await phase('mid', 'Succeeded', 60000);
  });

  await runStep('2 logs: stdout and stderr in the logs; follow streams a running Pod and ends with it', async () => {
    const r = await fetch(`${KUBELET}/containerLogs/default/small/main`);
    const logs = await r.text();
    check(r.ok, `GET /containerLogs/default/small/main answered ${r.status}: ${logs}`);
    check(logs.includes('argv[2]=small'), `small's logs lack its stdout (argv[2]=small): ${JSON.stringify(logs)}`);
    check(logs.includes('this line goes to stderr'), `small's logs lack its stderr line: ${JSON.stringify(logs)}`);

    writePod('stream', { image: 'cpujob:v1', args: ['primes', '1', '10000000'], cpu: '1000m' });
    await running('stream');
    const opened = Date.now();
    const ac = new AbortController();
    const guard = setTimeout(() => ac.abort(), 90000);
    const res = await fetch(`${KUBELET}/containerLogs/default/stream/main?follow=true`, { signal: ac.signal });
    check(res.ok, `follow answered ${res.status}`);
    const endedEarly = nodeLines.find((l) => /\bpod default\/stream  (Succeeded|Failed)/.test(l));
    check(!endedEarly, `stream ended before follow opened (the range is too small): ${endedEarly}`);
    let text = '', firstAt = null;
    const dec = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        if (firstAt === null && chunk.length) firstAt = Date.now();
        text += dec.decode(chunk, { stream: true });
      }
    } catch (e) {
      throw new Error(`follow did not end within 90 s of opening (${e.message}); got ${JSON.stringify(text)}`);
    } finally {
      clearTimeout(guard);
    }
    const endedAt = Date.now();
    check(/primes in \[1, 10000000\): \d+/.test(text), `follow stream lacks the Pod's output line: ${JSON.stringify(text)}`);
    const p = await phase('stream', 'Succeeded', 10000);
    console.log(`follow: opened while Running, first bytes after ${firstAt - opened} ms, ended after ${endedAt - opened} ms; phase ${p.status.phase}`);
  });

  await runStep('3 delete: removing a running Pod\'s manifest deletes the Pod and cancels its worker', async () => {
    const before = await runOf(B, 'big');
    check(before.some((r) => r.phase === 'running'), `B's agent has no running run for big: ${JSON.stringify(before)}`);
    const s = Date.now();
    removePod('big');
    await until('big to leave /pods', async () => !(await pod('big')), 20000);
    const gone = Date.now() - s;
    const runs = await until('B\'s run of big to be cancelled', async () => {
      const rs = await runOf(B, 'big');
      return rs.length && rs.every((r) => r.phase === 'cancelled') ? rs : null;
    }, 20000).catch(async (e) => { throw new Error(`${e.message}; B's runs: ${JSON.stringify((await B.snap()).runs)}`); });
    const snap = await B.snap();
    check(snap.running === 0, `B still reports ${snap.running} running workers`);
    console.log(`big gone from /pods after ${gone} ms, B's run ${runs[0].run_id} cancelled after ${Date.now() - s} ms`);
  });

  await runStep('4 node-lost: closing a browser fails its running Pod with NodeLost', async () => {
    const D = await openAgent('D', 'cpu-max=1&memory-max=1Gi&max-pods=4&labels=zone=d');
    writePod('lost', { image: 'cpujob:v1', args: LONG, cpu: '500m', annotations: { 'kuack.io/browser-selector': 'zone=d' } });
    await placedOn('lost', D, [A, B, D]);
    await running('lost');
    const s = Date.now();
    await D.ctx.close();
    const bound = DEADLINE_MS + RESUME_MS + 3000;
    const p = await phase('lost', 'Failed', bound);
    const took = Date.now() - s;
    check(p.status.reason === 'NodeLost', `lost failed with reason ${p.status.reason}, want NodeLost: ${describe(p)}`);
    const t = term(p);
    check(t?.reason === 'NodeLost', `lost's container terminated reason ${t?.reason}, want NodeLost`);
    console.log(`lost Failed/NodeLost ${took} ms after its browser closed (bound ${bound} ms)`);
  });

  await runStep('5 waiting: a Pod larger than every browser waits, then runs on a bigger browser', async () => {
    writePod('huge', { image: 'hello:v1', args: ['--name', 'huge'], cpu: '3000m' });
    const waiting = (p) => p?.status?.containerStatuses?.[0]?.state?.waiting ?? null;
    const w = await until('huge to wait with reason WaitingForBrowser', async () => {
      const p = await pod('huge');
      if (p && p.status.phase !== 'Pending') throw new Fatal(`huge is ${p.status.phase} with no browser big enough: ${describe(p)}`);
      return waiting(p)?.reason === 'WaitingForBrowser' ? waiting(p) : null;
    }, 30000).catch(async (e) => { throw new Error(`${e.message}; last status: ${describe(await pod('huge'))}`); });
    console.log(`huge waiting: ${w.reason}: ${w.message}`);
    check(/3000m/.test(w.message ?? ''), `the waiting message does not name the missing 3000m CPU: ${w.message}`);
    check(!placement('huge'), `huge was placed while no browser had 3000m: ${placement('huge')?.browser}`);
    const C = await openAgent('C', 'cpu-max=4&memory-max=1Gi&max-pods=4&labels=zone=c');
    await placedOn('huge', C, [A, B, C]);
    await phase('huge', 'Succeeded', 60000);
  });

  await runStep('6 shutdown: kuack-node exits 0 on SIGTERM', async () => {
    await browser.close();
    browser = null;
    const node = children.find((c) => c.label === 'kuack-node');
    node.expectExit = true;
    node.kill('SIGTERM');
    const r = await Promise.race([node.exited, sleep(30000).then(() => null)]);
    check(r, 'kuack-node did not exit within 30 s of SIGTERM');
    check(r.code === 0, `kuack-node exited with ${r.code ?? r.sig}`);
  });
}

// Every wait is bounded; this bounds their sum below the CTest TIMEOUT (240 s) so cleanup always runs.
const watchdog = setTimeout(async () => {
  console.error(`\nSTEP FAILED: ${step}: the whole run exceeded 210 s`);
  await cleanup();
  process.exit(1);
}, 210000);
try {
  await main();
  clearTimeout(watchdog);
  console.log(`\nall scenarios passed in ${ms()} ms`);
  await cleanup();
  process.exit(0);
} catch (e) {
  if (quietTail.length) console.error(`registry stderr (last lines):\n${quietTail.join('')}`);
  console.error(`\nSTEP FAILED: ${step}: ${e.message}`);
  await cleanup();
  process.exit(1);
}
