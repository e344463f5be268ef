// Shared pieces of the agent e2e tests: headless Chromium (fails loudly when missing), fixture
// builds (clang --target=wasm32-wasi, wat2wasm) into the build dir, small assertions.

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = process.env.KQ_SOURCE_DIR ?? path.resolve(HERE, '../../..');
export const BUILD = process.env.KQ_BINARY_DIR ?? path.join(ROOT, 'build-agent');
export const CHROMIUM = process.env.KQ_CHROMIUM ?? '/usr/bin/chromium';
const require = createRequire(path.join(ROOT, 'agent/package.json'));
const { chromium } = require('playwright-core');

export const FIXTURES = path.join(HERE, 'fixtures');
const OUT = path.join(BUILD, 'tests/e2e/agent/fixtures');

function stale(out, src) {
  return !fs.existsSync(out) || fs.statSync(out).mtimeMs < fs.statSync(src).mtimeMs;
}

// Builds fixtures/<name>.c into a WASI command; returns the .wasm path.
export function wasiFixture(name) {
  const src = path.join(FIXTURES, `${name}.c`);
  const out = path.join(OUT, `${name}.wasm`);
  fs.mkdirSync(OUT, { recursive: true });
  if (stale(out, src)) execFileSync('clang', ['--target=wasm32-wasi', '-O2', '-Wl,--strip-all', src, '-o', out], { stdio: 'inherit' });
  return out;
}

// Builds the wasm-bindgen-style fixture pkg; returns {glue, wasm} paths.
export function bindgenFixture() {
  const dir = path.join(FIXTURES, 'bindgen-pkg');
  const out = path.join(OUT, 'hello_bg.wasm');
  fs.mkdirSync(OUT, { recursive: true });
  if (stale(out, path.join(dir, 'hello_bg.wat'))) execFileSync('wat2wasm', [path.join(dir, 'hello_bg.wat'), '-o', out], { stdio: 'inherit' });
  return { glue: path.join(dir, 'hello.js'), wasm: out };
}

export async function launch({ webgpu = true } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install chromium, or set KQ_CHROMIUM)`);
  // playwright's launch() gives every browser a fresh temporary profile (user-data-dir).
  const args = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  const close = () => browser.close().catch(() => {});
  return { browser, close };
}

// Opens the instrumented page against `node` and returns {page, agentId} once registered.
export async function openAgentPage(browser, node, { token = '', query = '' } = {}) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const from = node.events.length;
  await page.goto(`${node.url}?token=${encodeURIComponent(token)}${query}`);
  const hello = await node.waitFrame((m) => m.t === 'hello', 'hello from the page', 15000, from);
  return { page, hello, agentId: hello.agent_id, errors };
}

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

export function decodeText(chunks) {
  return Buffer.concat(chunks.map((c) => Buffer.from(c))).toString('utf8');
}

// Runs `body` with a node and a browser, always cleaning up; exits non-zero on failure.
export async function e2e(name, body, nodeOpts = {}) {
  const { openNode } = await import('./node-driver.mjs');
  const t0 = Date.now();
  let node, b;
  try {
    node = await openNode(nodeOpts);
    b = await launch();
    await body({ node, browser: b.browser });
    console.log(`PASS ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    console.error(`FAIL ${name}: ${err.stack ?? err}`);
    process.exitCode = 1;
  } finally {
    await b?.close();
    await node?.quit();
  }
}

const TERMINAL = new Set(['exited', 'failed', 'cancelled']);

// Sends a run and waits for its terminal status; returns {phases, final, logs, stdout, stderr}.
export async function runToEnd(node, agentId, run, timeoutMs = 20000) {
  const from = node.events.length;
  await node.send(agentId, { t: 'run', pod: { namespace: 'default', name: run.run_id, uid: `uid-${run.run_id}`, container: 'main' }, ...run });
  const final = await node.waitFrame((m) => m.t === 'status' && m.run_id === run.run_id && TERMINAL.has(m.phase),
    `terminal status of ${run.run_id}`, timeoutMs, from);
  return collectRun(node, run.run_id, from, final);
}

export function collectRun(node, runId, from, final) {
  const mine = node.events.slice(from).filter((e) => e.ev === 'frame' && e.msg.run_id === runId).map((e) => e.msg);
  const phases = mine.filter((m) => m.t === 'status').map((m) => m.phase);
  const logs = mine.filter((m) => m.t === 'log');
  const text = (s) => decodeText(logs.filter((l) => l.stream === s).map((l) => l.data));
  const lastStatus = mine.findLastIndex((m) => m.t === 'status');
  const lastLog = mine.findLastIndex((m) => m.t === 'log');
  check(lastLog < lastStatus, `${runId}: no log frame after the terminal status`);
  logs.forEach((l, i) => check(l.seq === i, `${runId}: log seq ${l.seq} at position ${i}`));
  return { phases, final, logs, stdout: text(1), stderr: text(2) };
}
