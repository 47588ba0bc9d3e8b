// floor-hub.ts with its client side on node:https, as our kube gateway (which needs node's raw upgrade sockets for
// SPDY), and its agent side on Bun.serve, as our hub: what node:https itself costs a relay (bench/relay-floor.ts
// --node-floor). Whole bodies only (the 1 KiB requests); never use it for anything else.
import https from 'node:https';
import type { ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
const fixtures = new URL('../../test/fixtures/tls/', import.meta.url);
const tls = { cert: readFileSync(new URL('server.crt', fixtures), 'utf8'), key: readFileSync(new URL('server.key', fixtures), 'utf8') };
const pending = new Map<number, ServerResponse>();
let agent: import('bun').ServerWebSocket<unknown> | undefined;
let nextId = 1;
const ws = Bun.serve({
  hostname: '127.0.0.1', port: 0, idleTimeout: 0, tls,
  fetch(req, srv) { return srv.upgrade(req) ? undefined : new Response('upgrade failed', { status: 400 }); },
  websocket: {
    maxPayloadLength: 64 << 20,
    open(w) { agent = w; },
    message(_w, msg) {
      const b = msg as Buffer;
      const id = b.readUInt32LE(0);
      const sock = pendingSock.get(id);
      if (sock) {
        pendingSock.delete(id);
        const body = b.subarray(5);
        const head = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\ndate: ${new Date().toUTCString()}\r\n\r\n`, 'latin1');
        sock.data.out.push(Buffer.concat([head, body]));
        if (sock.data.out.length === 1) flushOut(sock);
        return;
      }
      const res = pending.get(id);
      if (!res) return;
      pending.delete(id);
      const body = b.subarray(5);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      res.end(body);
    },
  },
});
// `listen`: the client side on Bun.listen with a hand-written HTTP/1.1 head reader (GET without a body only), what a
// gateway of our own on the runtime's TCP sockets would cost at the least (--listen-floor).
const listenMode = process.argv[2] === 'listen';
type Sock = import('bun').Socket<{ buf: Buffer | null; out: Buffer[] }>;
const pendingSock = new Map<number, Sock>();
const flushOut = (s: Sock) => {
  while (s.data.out.length) {
    const b = s.data.out[0]!;
    const n = s.write(b);
    if (n === b.length) s.data.out.shift();
    else { s.data.out[0] = b.subarray(Math.max(n, 0)); return; }
  }
};
if (listenMode) {
  const l = Bun.listen<{ buf: Buffer | null; out: Buffer[] }>({
    hostname: '127.0.0.1', port: 0, tls,
    socket: {
      open(s) { s.data = { buf: null, out: [] }; },
      drain(s) { flushOut(s); },
      data(s, chunk) {
        let b = s.data.buf ? Buffer.concat([s.data.buf, chunk]) : chunk;
        for (;;) {
          const end = b.indexOf('\r\n\r\n');
          if (end < 0) break;
          const sp1 = b.indexOf(32);
          const sp2 = b.indexOf(32, sp1 + 1);
          const path = b.toString('latin1', sp1 + 1, sp2);
          b = b.subarray(end + 4);
          if (!agent) { s.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'); return; }
          const id = nextId++;
          pendingSock.set(id, s);
          agent.send(JSON.stringify({ id, path }));
        }
        s.data.buf = b.length ? b : null;
      },
    },
  });
  console.log(JSON.stringify({ event: 'floor_hub_ready', url: `https://127.0.0.1:${l.port}`, ws: `wss://127.0.0.1:${ws.port}/agent` }));
}
const server = https.createServer(tls, (req, res) => {
  if (!agent) { res.writeHead(502); res.end(); return; }
  const id = nextId++;
  pending.set(id, res);
  agent.send(JSON.stringify({ id, path: req.url }));
});
if (!listenMode) server.listen(0, '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  console.log(JSON.stringify({ event: 'floor_hub_ready', url: `https://127.0.0.1:${port}`, ws: `wss://127.0.0.1:${ws.port}/agent` }));
});
// A clean exit on SIGTERM writes a --cpu-prof profile.
process.on('SIGTERM', () => process.exit(0));
