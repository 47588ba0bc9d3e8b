// The least a hub can do (bench/relay-floor.ts): HTTPS for the client, one WebSocket (TLS) from the agent, no
// authentication, no routing, no flow control, no logging, no metrics. A request becomes one JSON text message
// {id, path}; the agent answers with binary messages [id u32][kind u8][bytes] (kind 0: whole body, 1: a chunk of a
// streamed body, 2: end of it). What it costs per request and per MiB is a floor for any hub on this runtime that
// relays HTTP over a WebSocket, not a hub: never use it for anything else.
const fixtures = new URL('../../test/fixtures/tls/', import.meta.url);
const tls = { cert: Bun.file(new URL('server.crt', fixtures)), key: Bun.file(new URL('server.key', fixtures)) };
type Pending = { resolve?: (r: Response) => void; stream?: ReadableStreamDirectController };
const pending = new Map<number, Pending>();
let agent: import('bun').ServerWebSocket<unknown> | undefined;
let nextId = 1;
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  idleTimeout: 0,
  tls,
  fetch(req, srv) {
    const url = req.url;
    const p = url.indexOf('/', 8);
    const path = url.slice(p);
    if (path === '/agent') return srv.upgrade(req) ? undefined : new Response('upgrade failed', { status: 400 });
    if (!agent) return new Response('no agent', { status: 502 });
    const id = nextId++;
    const ws = agent;
    return new Promise<Response>((resolve) => {
      pending.set(id, { resolve });
      ws.send(JSON.stringify({ id, path }));
    });
  },
  websocket: {
    maxPayloadLength: 64 << 20,
    open(ws) {
      agent = ws;
    },
    message(_ws, msg) {
      const b = msg as Buffer;
      const id = b.readUInt32LE(0);
      const kind = b[4];
      const p = pending.get(id);
      if (!p) return;
      const body = b.subarray(5);
      if (kind === 0) {
        pending.delete(id);
        p.resolve!(new Response(body as unknown as BodyInit, { headers: { 'content-type': 'application/json' } }));
      } else if (kind === 1) {
        if (p.resolve) {
          const resolve = p.resolve;
          p.resolve = undefined;
          const first = body;
          resolve(
            new Response(
              new ReadableStream({
                type: 'direct',
                pull(c: ReadableStreamDirectController) {
                  p.stream = c;
                  c.write(first);
                  return new Promise<void>(() => {}); // the agent's messages drive the stream from here
                },
              } as unknown as UnderlyingDefaultSource),
              { headers: { 'content-type': 'application/octet-stream' } },
            ),
          );
        } else p.stream?.write(body);
      } else {
        pending.delete(id);
        p.stream?.close();
      }
    },
  },
});
console.log(JSON.stringify({ event: 'floor_hub_ready', url: `https://127.0.0.1:${server.port}`, ws: `wss://127.0.0.1:${server.port}/agent` }));
