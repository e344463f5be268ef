// A small kuack.v1 node in Node.js for testing the browser agent: serves the gateway's URL layout
// (/ page, /page/*, /agent/*, /agent/vendor/*, /artefacts/*, /ws), speaks kuack.v1 through the
// agent's own protocol.js (token check → 4003, supersede → 4001, welcome/resume, pings), and
// reports every frame. It is a test tool, not the node: the real gateway is wire/ + actors/.
//
// Run as `node fake-node.mjs [--token T] [--heartbeat-ms N] [--ping-ms N] [--max-log-chunk N]`:
// it speaks the node-driver JSON-lines protocol on stdio (see node-driver.mjs), so tests drive
// it and a C host program the same way.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../../..');
const AGENT = path.join(ROOT, 'agent');
const require = createRequire(path.join(AGENT, 'package.json'));
const { WebSocketServer } = require('ws');
const { encode, decode } = await import(path.join(AGENT, 'src/protocol.js'));

const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.map': 'application/json',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.ico': 'image/x-icon',
};

// URL prefix → directory, longest first (the gateway's mounts).
const MOUNTS = [
  ['/agent/vendor/', path.join(AGENT, 'node_modules')],
  ['/agent/', path.join(AGENT, 'src')],
  ['/page/', path.join(AGENT, 'page')],
];

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
}

const cfg = {
  token: arg('--token', ''),
  heartbeatMs: Number(arg('--heartbeat-ms', 1000)),
  deadlineMs: Number(arg('--deadline-ms', 5000)),
  pingMs: Number(arg('--ping-ms', 500)),
  maxLogChunk: Number(arg('--max-log-chunk', 65536)),
};
const artefacts = new Map(); // URL path → file
const sessions = new Map();  // agent_id → conn
const parked = new Map();    // agent_id → {session, runs} of a closed connection (resume window)
let nextConn = 1;

function out(ev) {
  process.stdout.write(JSON.stringify(ev, (k, v) => (v instanceof Uint8Array ? { $bin: Buffer.from(v).toString('base64') } : typeof v === 'bigint' ? Number(v) : v)) + '\n');
}

function serveFile(res, file) {
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control': 'no-cache',
    });
    fs.createReadStream(file).pipe(res);
  });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  // The same isolation headers the gateway sends (SharedArrayBuffer available, not required).
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  const p = decodeURIComponent(url.pathname);
  if (p === '/' || p === '/index.html') return serveFile(res, path.join(AGENT, 'page/index.html'));
  if (p === '/healthz') return res.writeHead(200).end('ok\n');
  if (artefacts.has(p)) return serveFile(res, artefacts.get(p));
  for (const [prefix, dir] of MOUNTS) {
    if (!p.startsWith(prefix)) continue;
    const file = path.resolve(dir, '.' + p.slice(prefix.length - 1));
    if (!file.startsWith(dir + path.sep)) break;
    return serveFile(res, file);
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
});

const wss = new WebSocketServer({
  noServer: true,
  maxPayload: 1 << 20,
  handleProtocols: (protos) => (protos.has('kuack.v1') ? 'kuack.v1' : false),
});

server.on('upgrade', (req, socket, head) => {
  const protos = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
  if (new URL(req.url, 'http://x').pathname !== '/ws' || !protos.includes('kuack.v1')) {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => accept(ws));
});

function send(conn, msg) {
  if (conn.ws.readyState === 1) conn.ws.send(encode(msg));
}

function closeConn(conn, code, reason) {
  out({ ev: 'closing', conn: conn.id, agent_id: conn.agentId, code, reason });
  conn.ws.close(code, reason);
}

function accept(ws) {
  const conn = { id: nextConn++, ws, agentId: null, runs: new Set(), lastHeartbeat: Date.now(), timers: [] };
  out({ ev: 'connect', conn: conn.id });
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return closeConn(conn, 4000, 'text frame');
    let msg;
    try {
      msg = decode(new Uint8Array(data));
    } catch (err) {
      out({ ev: 'bad_frame', conn: conn.id, error: String(err.message ?? err) });
      if (err?.code === 'bad_message' || err?.code === 'too_big' || err?.code === 'unknown_type') {
        return send(conn, { t: 'error', code: err.code, message: String(err.message) });
      }
      return closeConn(conn, 4000, 'malformed frame');
    }
    onFrame(conn, msg);
  });
  ws.on('close', (code, reason) => {
    for (const t of conn.timers) clearInterval(t);
    if (conn.agentId && sessions.get(conn.agentId) === conn) {
      sessions.delete(conn.agentId);
      parked.set(conn.agentId, { session: conn.session, runs: conn.runs });
    }
    out({ ev: 'close', conn: conn.id, agent_id: conn.agentId, code, reason: String(reason) });
  });
}

function onFrame(conn, msg) {
  out({ ev: 'frame', conn: conn.id, agent_id: conn.agentId, msg });
  if (!conn.agentId) {
    if (msg.t !== 'hello') return closeConn(conn, 4000, 'first frame must be hello');
    if (msg.token !== cfg.token) {
      send(conn, { t: 'error', code: 'unauthorized', message: 'bad token' });
      return closeConn(conn, 4003, 'unauthorized');
    }
    const old = sessions.get(msg.agent_id);
    const prev = old ?? parked.get(msg.agent_id);
    parked.delete(msg.agent_id);
    let resumed = [];
    if (prev && msg.session?.id === prev.session) resumed = (msg.session.runs ?? []).filter((r) => prev.runs.has(r));
    if (old) {
      send(old, { t: 'bye', reason: 'superseded' });
      closeConn(old, 4001, 'superseded');
    }
    conn.agentId = msg.agent_id;
    conn.session = `s-${conn.id}-${Date.now().toString(36)}`;
    for (const r of resumed) conn.runs.add(r);
    sessions.set(conn.agentId, conn);
    const welcome = {
      t: 'welcome', browser_id: `b-${msg.agent_id.slice(0, 8)}`, session: conn.session,
      heartbeat_ms: cfg.heartbeatMs, heartbeat_deadline_ms: cfg.deadlineMs,
      max_frame: 1 << 20, max_log_chunk: cfg.maxLogChunk,
    };
    if (msg.session) welcome.resumed = resumed;
    send(conn, welcome);
    let nonce = 1;
    conn.timers.push(setInterval(() => send(conn, { t: 'ping', nonce: nonce++, t_ns: Math.round(performance.now() * 1e6) }), cfg.pingMs));
    conn.timers.push(setInterval(() => {
      if (Date.now() - conn.lastHeartbeat > cfg.deadlineMs) closeConn(conn, 4008, 'heartbeat deadline');
    }, 250));
    return;
  }
  if (msg.t === 'heartbeat') conn.lastHeartbeat = Date.now();
  if (msg.t === 'status' && ['exited', 'failed', 'cancelled'].includes(msg.phase)) conn.runs.delete(msg.run_id);
}

function onCommand(c) {
  if (c.cmd === 'serve') {
    artefacts.set(c.path, c.file);
    return out({ ev: 'ok', id: c.id });
  }
  if (c.cmd === 'send') {
    const conn = sessions.get(c.agent_id);
    if (!conn) return out({ ev: 'err', id: c.id, error: `no session for ${c.agent_id}` });
    if (c.msg.t === 'run') conn.runs.add(c.msg.run_id);
    send(conn, c.msg);
    return out({ ev: 'ok', id: c.id });
  }
  if (c.cmd === 'close') {
    const conn = sessions.get(c.agent_id);
    if (!conn) return out({ ev: 'err', id: c.id, error: `no session for ${c.agent_id}` });
    closeConn(conn, c.code ?? 4009, c.reason ?? 'closed by test');
    return out({ ev: 'ok', id: c.id });
  }
  if (c.cmd === 'quit') return shutdown();
  out({ ev: 'err', id: c.id, error: `unknown command ${c.cmd}` });
}

function shutdown() {
  for (const conn of sessions.values()) closeConn(conn, 4009, 'node shutting down');
  server.close();
  setTimeout(() => process.exit(0), 100).unref();
}

server.listen(Number(arg('--port', 0)), '127.0.0.1', () => {
  out({ ev: 'listening', url: `http://127.0.0.1:${server.address().port}/` });
});
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  try {
    onCommand(JSON.parse(line));
  } catch (err) {
    out({ ev: 'err', error: String(err.message ?? err) });
  }
}).on('close', shutdown);
