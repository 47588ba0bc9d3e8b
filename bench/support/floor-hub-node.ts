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
      const res = pending.get(id);
      if (!res) return;
      pending.delete(id);
      const body = b.subarray(5);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      res.end(body);
    },
  },
});
const server = https.createServer(tls, (req, res) => {
  if (!agent) { res.writeHead(502); res.end(); return; }
  const id = nextId++;
  pending.set(id, res);
  agent.send(JSON.stringify({ id, path: req.url }));
});
server.listen(0, '127.0.0.1', () => {
  const port = (server.address() as { port: number }).port;
  console.log(JSON.stringify({ event: 'floor_hub_ready', url: `https://127.0.0.1:${port}`, ws: `wss://127.0.0.1:${ws.port}/agent` }));
});
// A clean exit on SIGTERM writes a --cpu-prof profile.
process.on('SIGTERM', () => process.exit(0));
