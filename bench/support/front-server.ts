// A server for bench/gateway-front.ts: answers every request with a 1 KiB JSON body one event-loop turn later (as the
// kube gateway answers once the agent's frame arrives), on node:https (`node`), on the kube gateway's front
// (`front`: src/hub/kube-gateway/http-front.ts, every request on its fast path), or on Bun.serve (`serve`).
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { HttpFront } from '../../src/hub/kube-gateway/http-front.ts';

const mode = process.argv[2];
const fixtures = new URL('../../test/fixtures/tls/', import.meta.url);
const tls = { cert: readFileSync(new URL('server.crt', fixtures), 'utf8'), key: readFileSync(new URL('server.key', fixtures), 'utf8') };
const body = Buffer.alloc(1024, 97);
const headers = () => ({ 'Content-Type': 'application/json', 'Audit-Id': '5a1c4c3e-0d7b-4a51-9f5e-2b0c8d1e7f60', 'Cache-Control': 'no-cache, private', 'Content-Length': String(body.length) });
let port = 0;
if (mode === 'node') {
  const s = https.createServer(tls, (req, res) => {
    void req.rawHeaders;
    setImmediate(() => {
      res.writeHead(200, headers());
      res.end(body);
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  port = (s.address() as { port: number }).port;
} else if (mode === 'front') {
  const fallback = http.createServer((_req, res) => {
    res.writeHead(500);
    res.end();
  });
  const f = new HttpFront({
    hostname: '127.0.0.1',
    port: 0,
    tls,
    node: fallback,
    handle: (req, res) => {
      void req.rawHeaders;
      setImmediate(() => {
        res.writeHead(200, headers());
        res.end(body);
      });
      return true;
    },
  });
  port = f.port;
} else if (mode === 'serve') {
  const s = Bun.serve({ hostname: '127.0.0.1', port: 0, tls, fetch: () => new Promise<Response>((r) => setImmediate(() => r(new Response(body, { headers: headers() })))) });
  port = s.port!;
} else throw new Error(`unknown mode ${mode}`);
console.log(JSON.stringify({ event: 'front_server_ready', port }));
process.on('SIGTERM', () => process.exit(0));
