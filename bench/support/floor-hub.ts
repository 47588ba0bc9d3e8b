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
//   in=bun|raw           the agent's WebSocket ends at Bun.serve (default), or at a Bun.listen TLS socket whose
//                        frames are parsed as they arrive and each read's payload bytes go to the client as they
//                        are (cut-through: a message is never gathered); masked payloads are unmasked in JS
//                        (32-bit words), a zero key is skipped (floor-agent's ws=raw)
//   link=tls|plain       the agent's WebSocket over TLS (default, as the architecture has it) or plain TCP: what TLS
//                        on that leg costs, for the arithmetic only
// With out=node|raw the client's URL is another port than Bun.serve's; with in=raw or link=plain the agent's is.
import https from 'node:https';
import type { Socket } from 'bun';
import { maskInPlace, variantOptions } from './ws-mask.ts';

const variant = process.argv[2] ?? '';
const opt = variantOptions(variant);
const out = opt.get('out') ?? 'stream';
const inKind = opt.get('in') ?? 'bun';
const plainLink = opt.get('link') === 'plain';
const fixtures = new URL('../../test/fixtures/tls/', import.meta.url);
const tls = { cert: Bun.file(new URL('server.crt', fixtures)), key: Bun.file(new URL('server.key', fixtures)) };

/** Where an answer goes: `whole` for kind 0, `chunk` for kind 1, `end` for kind 2. */
interface Sink {
  whole(body: Uint8Array): void;
  chunk(body: Uint8Array): void;
  end(): void;
}
const pending = new Map<number, Sink>();
let agent: { send(text: string): unknown } | undefined;
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

const wsHandlers: import('bun').WebSocketHandler<undefined> = {
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
};
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
  websocket: wsHandlers,
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
let wsUrl = `wss://127.0.0.1:${server.port}/agent`;
if (plainLink && inKind === 'bun') {
  const plain = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    idleTimeout: 0,
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response('upgrade failed', { status: 400 })),
    websocket: wsHandlers,
  });
  wsUrl = `ws://127.0.0.1:${plain.port}/agent`;
} else if (inKind === 'raw') {
  const port = rawWsServer();
  wsUrl = `${plainLink ? 'ws' : 'wss'}://127.0.0.1:${port}/agent`;
}
console.log(JSON.stringify({ event: 'floor_hub_ready', url: clientUrl, ws: wsUrl }));

/** in=raw: one agent WebSocket on a TLS socket, parsed incrementally; returns the port. */
function rawWsServer(): number {
  const enc = new TextEncoder();
  let handshake = '';
  let open = false;
  // frame state
  let hdr = new Uint8Array(0); // an incomplete frame header
  let left = 0; // payload bytes left in the current frame
  let mask: Uint8Array | null = null;
  let maskPos = 0;
  // message state: the first 5 payload bytes are [id u32][kind u8]
  const msgHead = new Uint8Array(5);
  let msgHeadGot = 0;
  let sink: Sink | undefined;
  let kind = 0;
  let whole: Uint8Array[] = [];
  const payload = (d: Uint8Array) => {
    if (mask) maskPos = maskInPlace(d, mask, maskPos);
    if (msgHeadGot < 5) {
      const take = Math.min(5 - msgHeadGot, d.length);
      msgHead.set(d.subarray(0, take), msgHeadGot);
      msgHeadGot += take;
      d = d.subarray(take);
      if (msgHeadGot < 5) return;
      const id = new DataView(msgHead.buffer).getUint32(0, true);
      kind = msgHead[4]!;
      sink = pending.get(id);
      if (kind !== 1) pending.delete(id);
    }
    if (!d.length || !sink) return;
    if (kind === 0) whole.push(d);
    else sink.chunk(d);
  };
  const endOfMessage = () => {
    if (sink && kind === 0) sink.whole(whole.length === 1 ? whole[0]! : Buffer.concat(whole));
    else if (sink && kind === 2) sink.end();
    whole = [];
    msgHeadGot = 0;
    sink = undefined;
  };
  const l = Bun.listen<undefined>({
    hostname: '127.0.0.1',
    port: 0,
    ...(plainLink ? {} : { tls }),
    socket: {
      open(s) {
        s.setNoDelay(true);
      },
      data(s, d) {
        let b: Uint8Array = d;
        if (!open) {
          handshake += d.toString('latin1');
          const end = handshake.indexOf('\r\n\r\n');
          if (end < 0) return;
          const key = /\r\nsec-websocket-key:\s*(\S+)/i.exec(handshake)![1]!;
          const accept = new Bun.CryptoHasher('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
          s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
          open = true;
          b = d.subarray(Buffer.byteLength(handshake.slice(0, end + 4), 'latin1'));
          agent = {
            send(text: string) {
              const t = enc.encode(text);
              const h = t.length < 126 ? Uint8Array.of(0x81, t.length) : Uint8Array.of(0x81, 126, t.length >> 8, t.length & 255);
              s.write(Buffer.concat([h, t]));
            },
          };
        }
        while (b.length) {
          if (left > 0) {
            const take = Math.min(left, b.length);
            payload(b.subarray(0, take));
            left -= take;
            b = b.subarray(take);
            if (left === 0 && fin) endOfMessage();
            continue;
          }
          // a frame header, possibly split across reads
          const h = hdr.length ? Buffer.concat([hdr, b]) : b;
          if (h.length < 2) return void (hdr = h.slice());
          const len7 = h[1]! & 0x7f;
          const masked = (h[1]! & 0x80) !== 0;
          const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
          if (h.length < need) return void (hdr = h.slice());
          const dv = new DataView(h.buffer, h.byteOffset, need);
          const len = len7 === 126 ? dv.getUint16(2) : len7 === 127 ? Number(dv.getBigUint64(2)) : len7;
          const op = h[0]! & 0x0f;
          fin = (h[0]! & 0x80) !== 0;
          mask = masked ? h.slice(need - 4, need) : null;
          if (mask && mask[0] === 0 && mask[1] === 0 && mask[2] === 0 && mask[3] === 0) mask = null;
          maskPos = 0;
          const used = need - hdr.length;
          hdr = new Uint8Array(0);
          b = b.subarray(used);
          if (op === 8) return void s.end();
          if (op === 9 || op === 10) {
            left = 0;
            b = b.subarray(len); // control frames are small; a split one is not handled (the floor agent sends none)
            continue;
          }
          left = len;
          if (left === 0 && fin) endOfMessage();
        }
      },
    },
  });
  let fin = true;
  return l.port;
}
