// The least an agent can do (bench/relay-floor.ts): one WebSocket (TLS) to the floor hub, each request message
// becomes one GET to the backend, the answer goes back whole (≤ 1 MiB) or in chunks as they are read. No
// validation, no headers, no flow control, no worker thread. A floor for per-request and per-MiB cost, not an agent.
//   bun bench/support/floor-agent.ts WS_URL BACKEND_URL CA_FILE [VARIANT]
// VARIANT, a comma-separated list (bench/relay-floor.ts --floors), picks how each leg is done:
//   reader=fetch|socket  the backend read with fetch (default) or a raw Bun.connect socket (HTTP/1.1, Content-Length
//                        bodies only, one connection per request: enough for the bench backend)
//   coalesce=BYTES       gather read chunks into frames of up to BYTES (default 0: one frame per read chunk)
//   ws=bun|raw           Bun's WebSocket client (default), or a minimal client over a Bun.connect TLS socket that
//                        sends each frame as a header write plus the payload view, with a zero masking key (legal
//                        framing that every server unmasks as usual, but RFC 6455 wants an unpredictable key: a
//                        measurement of what masking and the client's copy cost, never a way to ship)
//   mask=zero|random     with ws=raw: the zero key above (default), or a random key per frame as RFC 6455 asks,
//                        the payload masked in place in JS (32-bit words): what a compliant client of our own costs
//   cork=0|1             with ws=raw: every frame written at once (default), or the frames of one event-loop turn
//                        gathered and written together (one TLS record and one send for all of them)
import { readFileSync } from 'node:fs';
import { maskInPlace, variantOptions } from './ws-mask.ts';
const [wsUrl, backend, caFile, variant = ''] = process.argv.slice(2) as [string, string, string, string?];
const opt = variantOptions(variant);
const reader = opt.get('reader') ?? 'fetch';
const coalesce = Number(opt.get('coalesce') ?? 0);
const wsKind = opt.get('ws') ?? 'bun';
const randomMask = opt.get('mask') === 'random';
const corked = opt.get('cork') === '1';

const ca = readFileSync(caFile, 'utf8');

type Sender = (parts: Uint8Array[]) => void;
let send: Sender;

/** One binary frame [id u32][kind u8][bytes] as a 5-byte head and the body view (no copy). */
const head = (id: number, kind: number) => {
  const h = new Uint8Array(5);
  new DataView(h.buffer).setUint32(0, id, true);
  h[4] = kind;
  return h;
};

/** Bun's WebSocket client: one message per frame, so the head and the body are copied into one buffer. */
function bunWs(onText: (t: string) => void, onOpen: () => void) {
  const ws = new WebSocket(wsUrl, { tls: { ca }, perMessageDeflate: false } as unknown as string[]);
  ws.binaryType = 'arraybuffer';
  ws.onopen = onOpen;
  ws.onmessage = (e) => onText(e.data as string);
  ws.onclose = () => process.exit(0);
  send = (parts) => {
    if (parts.length === 1) return ws.send(parts[0] as Uint8Array<ArrayBuffer>);
    let n = 0;
    for (const p of parts) n += p.byteLength;
    const f = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      f.set(p, o);
      o += p.byteLength;
    }
    ws.send(f);
  };
}

/** A minimal WebSocket client over a TLS socket (see the header: zero masking key, measurement only). */
function rawWs(onText: (t: string) => void, onOpen: () => void) {
  const u = new URL(wsUrl);
  const queue: Uint8Array[] = [];
  let sock: import('bun').Socket<undefined>;
  let upgraded = false;
  let inbuf = new Uint8Array(0);
  const writeNow = (d: Uint8Array) => {
    if (queue.length) return void queue.push(d);
    const n = sock.write(d);
    if (n < d.byteLength) queue.push(d.subarray(n));
  };
  let gathered: Uint8Array[] = [];
  const release = () => {
    const parts = gathered;
    gathered = [];
    writeNow(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  };
  const write = corked
    ? (d: Uint8Array) => {
        if (!gathered.length) setImmediate(release);
        gathered.push(d);
      }
    : writeNow;
  const flush = () => {
    while (queue.length) {
      const d = queue[0]!;
      const n = sock.write(d);
      if (n < d.byteLength) {
        queue[0] = d.subarray(n);
        return;
      }
      queue.shift();
    }
  };
  send = (parts) => {
    let n = 0;
    for (const p of parts) n += p.byteLength;
    const h = new Uint8Array(n < 126 ? 6 : n < 65536 ? 8 : 14);
    h[0] = 0x82;
    if (n < 126) h[1] = 0x80 | n;
    else if (n < 65536) {
      h[1] = 0x80 | 126;
      new DataView(h.buffer).setUint16(2, n);
    } else {
      h[1] = 0x80 | 127;
      new DataView(h.buffer).setBigUint64(2, BigInt(n));
    }
    // masking key: the last four bytes of h, zero unless mask=random
    if (randomMask) {
      const k = h.subarray(h.length - 4);
      crypto.getRandomValues(k);
      let pos = 0;
      for (const p of parts) pos = maskInPlace(p, k, pos);
    }
    write(h);
    for (const p of parts) write(p);
  };
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  void Bun.connect({
    hostname: u.hostname,
    port: Number(u.port),
    ...(u.protocol === 'wss:' ? { tls: { ca } } : {}),
    socket: {
      open(s) {
        sock = s;
        s.setNoDelay(true);
        s.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      },
      drain: flush,
      data(_s, d) {
        let b = inbuf.byteLength ? Buffer.concat([inbuf, d]) : new Uint8Array(d);
        if (!upgraded) {
          const end = Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf('\r\n\r\n');
          if (end < 0) return void (inbuf = b);
          const accept = new Bun.CryptoHasher('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
          const head = Buffer.from(b.buffer, b.byteOffset, end).toString('latin1');
          if (!head.startsWith('HTTP/1.1 101') || !head.includes(accept)) throw new Error(`floor agent: bad WebSocket handshake: ${head.split('\r\n')[0]}`);
          upgraded = true;
          b = b.subarray(end + 4);
          onOpen();
        }
        // server frames: unmasked, small text messages (the requests)
        while (b.byteLength >= 2) {
          let len = b[1]! & 0x7f;
          let off = 2;
          if (len === 126) {
            if (b.byteLength < 4) break;
            len = (b[2]! << 8) | b[3]!;
            off = 4;
          } else if (len === 127) {
            if (b.byteLength < 10) break;
            len = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
            off = 10;
          }
          if (b.byteLength < off + len) break;
          if ((b[0]! & 0x0f) === 1) onText(Buffer.from(b.buffer, b.byteOffset + off, len).toString('utf8'));
          b = b.subarray(off + len);
        }
        inbuf = b.byteLength ? b.slice() : new Uint8Array(0);
      },
      close: () => process.exit(0),
    },
  });
}

/** The backend's answer through a raw socket: calls `onChunk` per read, `onEnd` after Content-Length bytes. */
function socketGet(path: string, onHead: (len: number) => void, onChunk: (d: Uint8Array) => void, onEnd: () => void) {
  const u = new URL(backend);
  let headDone = false;
  let pendingHead = new Uint8Array(0);
  let left = 0;
  void Bun.connect({
    hostname: u.hostname,
    port: Number(u.port),
    ...(u.protocol === 'https:' ? { tls: { ca } } : {}),
    socket: {
      open(s) {
        s.write(`GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`);
      },
      data(s, d) {
        let b: Uint8Array = d;
        if (!headDone) {
          const all = pendingHead.byteLength ? Buffer.concat([pendingHead, d]) : d;
          const end = all.indexOf('\r\n\r\n');
          if (end < 0) return void (pendingHead = new Uint8Array(all));
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(all.subarray(0, end).toString('latin1'));
          left = m ? Number(m[1]) : 0;
          headDone = true;
          onHead(left);
          b = all.subarray(end + 4);
        }
        if (b.byteLength) {
          left -= b.byteLength;
          onChunk(b);
        }
        if (left <= 0) {
          s.end();
          onEnd();
        }
      },
    },
  });
}

function onRequest(text: string) {
  const { id, path } = JSON.parse(text) as { id: number; path: string };
  if (reader === 'socket') {
    let whole: Uint8Array | undefined;
    let got = 0;
    let pend: Uint8Array[] = [];
    let pendBytes = 0;
    const flushPend = () => {
      if (!pendBytes) return;
      send([head(id, 1), ...pend]);
      pend = [];
      pendBytes = 0;
    };
    socketGet(
      path,
      (len) => {
        if (len <= 1 << 20) whole = new Uint8Array(len);
      },
      (d) => {
        if (whole) {
          whole.set(d, got);
          got += d.byteLength;
        } else if (coalesce > 0) {
          pend.push(d);
          pendBytes += d.byteLength;
          if (pendBytes >= coalesce) flushPend();
        } else send([head(id, 1), d]);
      },
      () => {
        if (whole) return send([head(id, 0), whole]);
        flushPend();
        send([head(id, 2)]);
      },
    );
    return;
  }
  void (async () => {
    const r = await fetch(backend + path);
    const len = Number(r.headers.get('content-length') ?? -1);
    if (len >= 0 && len <= 1 << 20) return send([head(id, 0), new Uint8Array(await r.arrayBuffer())]);
    let pend: Uint8Array[] = [];
    let pendBytes = 0;
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
      if (coalesce <= 0) {
        send([head(id, 1), chunk]);
        continue;
      }
      pend.push(chunk);
      pendBytes += chunk.byteLength;
      if (pendBytes >= coalesce) {
        send([head(id, 1), ...pend]);
        pend = [];
        pendBytes = 0;
      }
    }
    if (pendBytes) send([head(id, 1), ...pend]);
    send([head(id, 2)]);
  })();
}

const ready = () => console.log(JSON.stringify({ event: 'floor_agent_ready' }));
if (wsKind === 'raw') rawWs(onRequest, ready);
else bunWs(onRequest, ready);
