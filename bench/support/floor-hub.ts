// The least a hub can do (bench/relay-floor.ts): HTTPS for the client, one WebSocket (TLS) from the agent, no
// authentication, no routing, no flow control, no logging, no metrics. A request becomes one JSON text message
// {id, path}; the agent answers with binary messages [id u32][kind u8][bytes] (kind 0: whole body, 1: a chunk of a
// streamed body, 2: end of it). What it costs per request and per MiB is a floor for any hub on this runtime that
// relays HTTP over a WebSocket, not a hub: never use it for anything else.
//   bun bench/support/floor-hub.ts [VARIANT]
// VARIANT (bench/relay-floor.ts --floors), comma-separated:
//   out=stream|node|raw  how the client's HTTPS answer is written: Bun.serve with a direct ReadableStream (default),
//                        node:https res.write, or a Bun.listen TLS socket with hand-written HTTP/1.1 (GET only,
//                        one request per connection, chunked answers)
// The agent's WebSocket always ends at Bun.serve (the `ws` URL); with out=node|raw the client's URL is another port.
import https from 'node:https';
import type { Socket } from 'bun';

const variant = process.argv[2] ?? '';
const opt = new Map(
  variant
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]),
);
const out = opt.get('out') ?? 'stream';
const fixtures = new URL('../../test/fixtures/tls/', import.meta.url);
const tls = { cert: Bun.file(new URL('server.crt', fixtures)), key: Bun.file(new URL('server.key', fixtures)) };

/** Where an answer goes: `whole` for kind 0, `chunk` for kind 1, `end` for kind 2. */
interface Sink {
  whole(body: Uint8Array): void;
  chunk(body: Uint8Array): void;
  end(): void;
}
const pending = new Map<number, Sink>();
let agent: import('bun').ServerWebSocket<unknown> | undefined;
let nextId = 1;
/** Sends the request to the agent; false when there is none. */
function relay(path: string, sink: Sink): boolean {
  if (!agent) return false;
  const id = nextId++;
  pending.set(id, sink);
  agent.send(JSON.stringify({ id, path }));
  return true;
}

/** out=stream: Bun.serve's Response, a direct stream for chunked answers. */
function streamSink(resolve: (r: Response) => void): Sink {
  let ctl: ReadableStreamDirectController | undefined;
  /** Chunks that arrive before Bun pulls the stream. */
  let early: Uint8Array[] | undefined;
  let ended = false;
  return {
    whole: (body) => resolve(new Response(body as unknown as BodyInit, { headers: { 'content-type': 'application/json' } })),
    chunk(body) {
      if (ctl) return void ctl.write(body);
      if (early) return void early.push(body);
      early = [body];
      resolve(
        new Response(
          new ReadableStream({
            type: 'direct',
            pull(c: ReadableStreamDirectController) {
              ctl = c;
              for (const e of early!) c.write(e);
              early = undefined;
              if (ended) c.close();
              return new Promise<void>(() => {}); // the agent's messages drive the stream from here
            },
          } as unknown as UnderlyingDefaultSource),
          { headers: { 'content-type': 'application/octet-stream' } },
        ),
      );
    },
    end() {
      ended = true;
      ctl?.close();
    },
  };
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  idleTimeout: 0,
  tls,
  fetch(req, srv) {
    const url = req.url;
    const path = url.slice(url.indexOf('/', 8));
    if (path === '/agent') return srv.upgrade(req) ? undefined : new Response('upgrade failed', { status: 400 });
    return new Promise<Response>((resolve) => {
      if (!relay(path, streamSink(resolve))) resolve(new Response('no agent', { status: 502 }));
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
        p.whole(body);
      } else if (kind === 1) p.chunk(body);
      else {
        pending.delete(id);
        p.end();
      }
    },
  },
});

let clientUrl = `https://127.0.0.1:${server.port}`;
if (out === 'node') {
  const [cert, key] = await Promise.all([tls.cert.text(), tls.key.text()]);
  const srv = https.createServer({ cert, key }, (req, res) => {
    const ok = relay(req.url ?? '/', {
      whole(body) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.byteLength });
        res.end(body);
      },
      chunk(body) {
        if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write(body);
      },
      end: () => res.end(),
    });
    if (!ok) res.writeHead(502).end('no agent');
  });
  srv.keepAliveTimeout = 0;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  clientUrl = `https://127.0.0.1:${(srv.address() as import('node:net').AddressInfo).port}`;
} else if (out === 'raw') {
  type Conn = { queue: Uint8Array[]; closing: boolean; buf: string; keep: boolean };
  const chunkedHead = new TextEncoder().encode('HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n');
  const enc = new TextEncoder();
  const write = (s: Socket<Conn>, d: Uint8Array) => {
    const c = s.data;
    if (c.queue.length) return void c.queue.push(d);
    const n = s.write(d);
    if (n < d.byteLength) c.queue.push(d.subarray(n));
  };
  const finish = (s: Socket<Conn>) => {
    if (!s.data.queue.length) {
      if (!s.data.keep) s.end();
    } else s.data.closing = true;
  };
  const srv = Bun.listen<Conn>({
    hostname: '127.0.0.1',
    port: 0,
    tls,
    socket: {
      open(s) {
        s.data = { queue: [], closing: false, buf: '', keep: true };
        s.setNoDelay(true);
      },
      drain(s) {
        const c = s.data;
        while (c.queue.length) {
          const d = c.queue[0]!;
          const n = s.write(d);
          if (n < d.byteLength) return void (c.queue[0] = d.subarray(n));
          c.queue.shift();
        }
        if (c.closing && !c.keep) s.end();
      },
      data(s, d) {
        // requests: GET without a body; keep-alive unless the client says close
        s.data.buf += d.toString('latin1');
        for (let end = s.data.buf.indexOf('\r\n\r\n'); end >= 0; end = s.data.buf.indexOf('\r\n\r\n')) {
          const headText = s.data.buf.slice(0, end);
          s.data.buf = s.data.buf.slice(end + 4);
          const path = headText.slice(headText.indexOf(' ') + 1, headText.indexOf(' ', headText.indexOf(' ') + 1));
          s.data.keep = !/\r\nconnection:\s*close/i.test(headText);
          let started = false;
          const ok = relay(path, {
            whole(body) {
              write(s, enc.encode(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.byteLength}\r\n\r\n`));
              write(s, body);
              finish(s);
            },
            chunk(body) {
              if (!started) write(s, chunkedHead);
              started = true;
              write(s, enc.encode(`${body.byteLength.toString(16)}\r\n`));
              write(s, body);
              write(s, enc.encode('\r\n'));
            },
            end() {
              write(s, enc.encode('0\r\n\r\n'));
              finish(s);
            },
          });
          if (!ok) {
            write(s, enc.encode('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n'));
            finish(s);
          }
        }
      },
    },
  });
  clientUrl = `https://127.0.0.1:${srv.port}`;
}
console.log(JSON.stringify({ event: 'floor_hub_ready', url: clientUrl, ws: `wss://127.0.0.1:${server.port}/agent` }));
