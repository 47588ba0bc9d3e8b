// The response parser of the HTTP/1.1 client (src/kube/http1-conn.ts) against exact bytes, each answer fed whole, one
// byte per read, and split in two at every offset: the outcome must never depend on how the bytes were cut. Fed
// through a scripted socket (one 'data' event per piece, so every cut is exercised deterministically) and, one byte
// per read, through a real loopback socket whose writer waits for the reader to have seen each byte.
import { describe, expect, test } from 'bun:test';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import fc from 'fast-check';
import { Conn, type ConnPool, type Exchange, Http1Error, newExchange } from '../../src/kube/http1-conn.ts';

interface Outcome {
  status?: number;
  statusText?: string;
  rawHeaders?: string[];
  contentLength?: number;
  whole?: boolean;
  body?: string;
  error?: string;
  /** The connection went back to the pool (and stayed open). */
  reused: boolean;
}

class Pool implements ConnPool {
  released = 0;
  constructor(
    readonly maxHeaderBytes = 1 << 20,
    readonly bufferUpTo = 1 << 20,
  ) {}
  release(): void {
    this.released++;
  }
  forget(): void {}
  retry(): void {
    throw new Error('no retry expected: the connection was never reused');
  }
}

function exchange(method: string, whole: boolean, signal = new AbortController().signal): { ex: Exchange; done: Promise<Outcome> } {
  let resolve!: (r: import('../../src/kube/http1-conn.ts').Http1Response) => void;
  let reject!: (e: unknown) => void;
  const p = new Promise<import('../../src/kube/http1-conn.ts').Http1Response>((a, b) => {
    resolve = a;
    reject = b;
  });
  const ex: Exchange = newExchange(method, [Buffer.from(`${method} / HTTP/1.1\r\nHost: h\r\n\r\n`)], signal, whole, resolve, reject);
  const done = p.then(
    async (r) => {
      const o: Outcome = { status: r.status, statusText: r.statusText, rawHeaders: r.rawHeaders, contentLength: r.contentLength, whole: r.whole !== null, reused: false };
      try {
        o.body = Buffer.from(await r.bytes()).toString('latin1');
      } catch (e) {
        o.error = describeError(e);
      }
      return o;
    },
    (e: unknown): Outcome => ({ error: describeError(e), reused: false }),
  );
  return { ex, done };
}

function describeError(e: unknown): string {
  if (e instanceof Http1Error) return `${e.code}`;
  return `other: ${String(e)}`;
}

/** A socket that delivers scripted pieces, one 'data' event each. */
class ScriptedSocket extends EventEmitter {
  destroyed = false;
  written: Buffer[] = [];
  write(b: Uint8Array): boolean {
    this.written.push(Buffer.from(b));
    return true;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      queueMicrotask(() => this.emit('close'));
    }
    return this;
  }
}

interface Case {
  name: string;
  bytes: string;
  method?: string;
  /** The server closes the connection after the bytes. */
  end?: boolean;
  /** The expected outcome of the unsplit bytes (checked once; every split must then equal it). */
  expect: Partial<Outcome>;
}

async function runScripted(c: Case, pieces: Buffer[], whole: boolean, pool = new Pool()): Promise<Outcome> {
  const s = new ScriptedSocket();
  const conn = new Conn(pool, s as unknown as net.Socket);
  const { ex, done } = exchange(c.method ?? 'GET', whole);
  conn.start(ex);
  for (const p of pieces) {
    if (s.destroyed) break;
    s.emit('data', p);
  }
  if (c.end && !s.destroyed) {
    s.emit('end');
    s.destroy();
  }
  const o = await done;
  o.reused = pool.released === 1 && !s.destroyed;
  return o;
}

const CASES: Case[] = [
  {
    name: 'Content-Length body',
    bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world',
    expect: { status: 200, statusText: 'OK', contentLength: 11, body: 'hello world', reused: true, rawHeaders: ['Content-Type', 'text/plain', 'Content-Length', '11'] },
  },
  {
    name: 'chunked body with extensions and trailers',
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n1 ; x="y"\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n',
    expect: { status: 200, contentLength: -1, body: 'hello world', reused: true },
  },
  {
    name: 'chunked body without trailers, upper-case hex',
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n',
    expect: { status: 200, body: '0123456789', reused: true },
  },
  {
    name: 'close-delimited body',
    bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end',
    end: true,
    expect: { status: 200, contentLength: -1, body: 'until the end', reused: false },
  },
  {
    name: 'HEAD with a Content-Length has no body',
    method: 'HEAD',
    bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n',
    expect: { status: 200, contentLength: 1234, body: '', reused: true },
  },
  {
    name: '204 with a Content-Length has no body',
    bytes: 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n',
    expect: { status: 204, statusText: 'No Content', body: '', reused: true },
  },
  {
    name: '304 with a Content-Length has no body',
    bytes: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n',
    expect: { status: 304, body: '', reused: true },
  },
  {
    name: '100 Continue and 103 Early Hints before the final head',
    bytes: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    expect: { status: 201, statusText: 'Created', body: 'ok', reused: true, rawHeaders: ['Content-Length', '2'] },
  },
  {
    name: 'header values lose SP and HTAB around them, nothing else',
    bytes: 'HTTP/1.1 200 OK\r\nX-A: \t a b \t\r\nX-B:\xa0nbsp\xa0\r\nX-C:\r\nContent-Length: 0\r\n\r\n',
    expect: { status: 200, rawHeaders: ['X-A', 'a b', 'X-B', '\xa0nbsp\xa0', 'X-C', '', 'Content-Length', '0'] },
  },
  {
    name: 'status line without a reason',
    bytes: 'HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx',
    expect: { status: 200, statusText: '', body: 'x', reused: true },
  },
  {
    name: 'Content-Length: 0',
    bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    expect: { status: 200, contentLength: 0, body: '', reused: true },
  },
  {
    name: 'repeated identical Content-Length',
    bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
    expect: { status: 200, body: 'abc', reused: true },
  },
  {
    name: 'Connection: close is not reused',
    bytes: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok',
    expect: { status: 200, body: 'ok', reused: false },
  },
  {
    name: 'HTTP/1.0 is not reused',
    bytes: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok',
    expect: { status: 200, body: 'ok', reused: false },
  },
  {
    name: 'Transfer-Encoding with Content-Length: chunked wins, not reused',
    bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    expect: { status: 200, body: 'ok', contentLength: -1, reused: false },
  },
  {
    name: 'bytes after a complete response close the connection',
    bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad',
    expect: { status: 200, body: 'ok', reused: false },
  },
  {
    name: 'bytes after a chunked response close the connection',
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nXX',
    expect: { status: 200, body: 'ok', reused: false },
  },
  {
    name: 'bytes after a 204 close the connection',
    bytes: 'HTTP/1.1 204 No Content\r\n\r\nstray',
    expect: { status: 204, body: '', reused: false },
  },
  // Malformed: every one fails with an Http1Error and the connection is closed.
  { name: 'bad status line', bytes: 'HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'not HTTP at all', bytes: 'SSH-2.0-OpenSSH_9.6\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'HTTP/2 status line', bytes: 'HTTP/2 200 OK\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'header line without a colon', bytes: 'HTTP/1.1 200 OK\r\nBroken header\r\nContent-Length: 0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'space before the colon', bytes: 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'obs-fold', bytes: 'HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'obs-fold with a tab and a colon', bytes: 'HTTP/1.1 200 OK\r\nX-A: one\r\n\tb: two\r\nContent-Length: 0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'bare LF inside the head', bytes: 'HTTP/1.1 200 OK\r\nX-A: one\nContent-Length: 5\r\nContent-Length: 0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'CR LF CR not followed by LF', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\r\n\rX-B: b\r\nContent-Length: 0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'NUL in a header value', bytes: 'HTTP/1.1 200 OK\r\nX-A: o\0ne\r\nContent-Length: 0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'invalid Content-Length', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n1x', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'negative Content-Length', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'list Content-Length', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'conflicting Content-Length', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'invalid chunk size', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'negative chunk size', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nok\r\n0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'chunk size line ended by a bare LF', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'missing CRLF after chunk data', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'LF without CR after chunk data', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\n0\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'unexpected 101', bytes: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n', expect: { error: 'ERR_BAD_RESPONSE', reused: false } },
  { name: 'closed mid-head', bytes: 'HTTP/1.1 200 OK\r\nContent-Le', end: true, expect: { error: 'ECONNRESET', reused: false } },
  { name: 'closed mid-body', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf', end: true, expect: { error: 'ECONNRESET', reused: false } },
  {
    name: 'closed mid-chunk',
    bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n8\r\nwor',
    end: true,
    expect: { error: 'ECONNRESET', reused: false },
  },
  { name: 'closed before the last chunk', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', end: true, expect: { error: 'ECONNRESET', reused: false } },
  { name: 'closed in the trailers', bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n', end: true, expect: { error: 'ECONNRESET', reused: false } },
];

/** The outcome's fields the case pins down. */
function pick(o: Outcome, e: Partial<Outcome>): Partial<Outcome> {
  const r: Record<string, unknown> = {};
  for (const k of Object.keys(e)) r[k] = (o as unknown as Record<string, unknown>)[k];
  return r as Partial<Outcome>;
}

describe('http1 parser: every cut of every answer gives the same outcome', () => {
  for (const c of CASES) {
    for (const whole of [true, false]) {
      test(`${c.name} (${whole ? 'whole' : 'streamed'})`, async () => {
        const bytes = Buffer.from(c.bytes, 'latin1');
        const base = await runScripted(c, [bytes], whole);
        // A streamed answer whose body fails after the head resolved reports the error from the body stream.
        expect(pick(base, c.expect)).toEqual(c.expect);
        const bytewise = await runScripted(
          c,
          [...bytes].map((b) => Buffer.from([b])),
          whole,
        );
        expect(bytewise).toEqual(base);
        for (let i = 1; i < bytes.length; i++) {
          const split = await runScripted(c, [bytes.subarray(0, i), bytes.subarray(i)], whole);
          if (!Bun.deepEquals(split, base)) expect({ split: i, ...split }).toEqual({ split: i, ...base });
        }
      });
    }
  }
});

describe('http1 parser: header limits', () => {
  test('a head larger than maxHeaderBytes fails, whether or not its end has arrived', async () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(300)}\r\nContent-Length: 0\r\n\r\n`;
    const c: Case = { name: 'big', bytes: big, expect: {} };
    const b = Buffer.from(big);
    expect(await runScripted(c, [b], true, new Pool(256))).toEqual({ error: 'ERR_BAD_RESPONSE', reused: false });
    expect(await runScripted(c, [b.subarray(0, 280), b.subarray(280)], true, new Pool(256))).toEqual({ error: 'ERR_BAD_RESPONSE', reused: false });
    // An endless head without CRLFCRLF fails as soon as it passes the limit (the socket is not kept open).
    const s = new ScriptedSocket();
    const conn = new Conn(new Pool(256), s as unknown as net.Socket);
    const { ex, done } = exchange('GET', true);
    conn.start(ex);
    for (let i = 0; i < 10 && !s.destroyed; i++) s.emit('data', Buffer.from(i === 0 ? 'HTTP/1.1 200 OK\r\n' : `X-${i}: ${'b'.repeat(40)}\r\n`));
    expect(s.destroyed).toBe(true);
    expect((await done).error).toBe('ERR_BAD_RESPONSE');
    // The same head fits under the default limit.
    expect((await runScripted(c, [b], true)).status).toBe(200);
  });

  test('an endless stream of 1xx answers fails once they pass maxHeaderBytes in all', async () => {
    const s = new ScriptedSocket();
    const conn = new Conn(new Pool(256), s as unknown as net.Socket);
    const { ex, done } = exchange('GET', true);
    conn.start(ex);
    for (let i = 0; i < 100 && !s.destroyed; i++) s.emit('data', Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'));
    expect(s.destroyed).toBe(true);
    expect((await done).error).toBe('ERR_BAD_RESPONSE');
    // A few are fine.
    const c: Case = { name: '1xx', bytes: `${'HTTP/1.1 100 Continue\r\n\r\n'.repeat(5)}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`, expect: {} };
    expect((await runScripted(c, [Buffer.from(c.bytes)], true, new Pool(256))).status).toBe(200);
  });

  test('trailers larger than maxHeaderBytes fail', async () => {
    const bytes = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: ${'t'.repeat(400)}\r\n\r\n`;
    const c: Case = { name: 'trailers', bytes, expect: {} };
    expect((await runScripted(c, [Buffer.from(bytes)], true, new Pool(256))).error).toBe('ERR_BAD_RESPONSE');
    expect((await runScripted(c, [Buffer.from(bytes)], true)).body).toBe('ok');
  });

  test('a chunked body past bufferUpTo switches to a stream with the same content at every cut', async () => {
    const bytes = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n4\r\nefgh\r\n3\r\nijk\r\n0\r\n\r\n';
    const c: Case = { name: 'switch', bytes, expect: {} };
    const b = Buffer.from(bytes);
    const base = await runScripted(c, [b], true, new Pool(1 << 20, 6));
    expect(base).toMatchObject({ status: 200, whole: false, body: 'abcdefghijk', reused: true });
    for (let i = 1; i < b.length; i++) expect(await runScripted(c, [b.subarray(0, i), b.subarray(i)], true, new Pool(1 << 20, 6))).toEqual(base);
  });
});

// One byte per read through a real socket: the server writes the next byte only once the client's socket delivered
// the previous one (a listener beside the Conn's own), so every byte is a separate read of the parser.
describe('http1 parser over a real socket, one byte per read', () => {
  async function runReal(c: Case, whole: boolean): Promise<Outcome> {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
    const client = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    client.setNoDelay(true);
    const pool = new Pool();
    const conn = new Conn(pool, client);
    let seen = 0;
    let wake: (() => void) | null = null;
    let reads = 0;
    client.on('data', (d: Buffer) => {
      reads++;
      seen += d.length;
      wake?.();
    });
    client.on('close', () => wake?.());
    const { ex, done } = exchange(c.method ?? 'GET', whole);
    conn.start(ex);
    const server = await accepted;
    server.setNoDelay(true);
    server.on('error', () => {});
    const bytes = Buffer.from(c.bytes, 'latin1');
    for (let i = 0; i < bytes.length && !client.destroyed; i++) {
      server.write(bytes.subarray(i, i + 1));
      while (seen < i + 1 && !client.destroyed)
        await new Promise<void>((r) => {
          wake = r;
        });
    }
    // Every read held one byte (the writer waited for each), and the parser saw at least the first one.
    expect([reads > 0, reads]).toEqual([true, seen]);
    if (c.end) server.end();
    const o = await done;
    o.reused = pool.released === 1 && !client.destroyed;
    client.destroy();
    server.destroy();
    srv.close();
    return o;
  }

  for (const c of CASES) {
    test(c.name, async () => {
      const bytes = Buffer.from(c.bytes, 'latin1');
      expect(await runReal(c, false)).toEqual(await runScripted(c, [bytes], false));
      expect(await runReal(c, true)).toEqual(await runScripted(c, [bytes], true));
    });
  }
});

describe('http1 parser: generated answers cut at generated offsets', () => {
  const RESERVED = new Set(['content-length', 'transfer-encoding', 'connection']);
  const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,15}$/).filter((n) => !RESERVED.has(n.toLowerCase()));
  // Visible ASCII and obs-text (latin-1), no leading or trailing space (the parser trims them).
  const value = fc.stringMatching(/^([\x21-\x7e\xa0-\xff]([\x20-\x7e\x80-\xff]{0,30}[\x21-\x7e\xa0-\xff])?)?$/);
  const answer = fc.record({
    status: fc.integer({ min: 200, max: 599 }).filter((n) => n !== 204 && n !== 304),
    reason: fc.constantFrom('', 'OK', 'Not Found', 'Some reason with spaces'),
    informational: fc.array(fc.constantFrom(100, 102, 103), { maxLength: 2 }),
    headers: fc.array(fc.tuple(name, value), { maxLength: 6 }),
    framing: fc.constantFrom('length', 'chunked', 'close'),
    body: fc.uint8Array({ maxLength: 2000 }),
    chunkSizes: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }),
    extensions: fc.boolean(),
    trailers: fc.array(fc.tuple(name, value), { maxLength: 3 }),
    cuts: fc.array(fc.nat(), { maxLength: 8 }),
    whole: fc.boolean(),
    bufferUpTo: fc.constantFrom(100, 1 << 20),
  });

  test('status, headers and body are what was sent, however the bytes are cut', async () => {
    await fc.assert(
      fc.asyncProperty(answer, async (a) => {
        let head = '';
        for (const s of a.informational) head += `HTTP/1.1 ${s} Info\r\nX-Info: ${s}\r\n\r\n`;
        head += `HTTP/1.1 ${a.status}${a.reason ? ` ${a.reason}` : ''}\r\n`;
        for (const [n, v] of a.headers) head += `${n}: ${v}\r\n`;
        const body = Buffer.from(a.body);
        let wire: Buffer;
        const framingHeader: string[] = [];
        if (a.framing === 'length') {
          framingHeader.push('Content-Length', String(body.length));
          wire = Buffer.concat([Buffer.from(`${head}Content-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);
        } else if (a.framing === 'close') {
          wire = Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), body]);
        } else {
          framingHeader.push('Transfer-Encoding', 'chunked');
          const parts: Buffer[] = [Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\n`, 'latin1')];
          let off = 0;
          for (let i = 0; off < body.length; i++) {
            const n = Math.min(a.chunkSizes[i % a.chunkSizes.length]!, body.length - off);
            parts.push(Buffer.from(`${n.toString(16)}${a.extensions ? `;ext${i}="v"` : ''}\r\n`), body.subarray(off, off + n), Buffer.from('\r\n'));
            off += n;
          }
          parts.push(Buffer.from(`0\r\n${a.trailers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`, 'latin1'));
          wire = Buffer.concat(parts);
        }
        const cuts = [...new Set(a.cuts.map((c) => c % (wire.length + 1)))].sort((x, y) => x - y);
        const pieces: Buffer[] = [];
        let from = 0;
        for (const c of [...cuts, wire.length]) {
          if (c > from) pieces.push(wire.subarray(from, c));
          from = Math.max(from, c);
        }
        const c: Case = { name: 'generated', bytes: '', end: a.framing === 'close', expect: {} };
        const o = await runScripted(c, pieces, a.whole, new Pool(1 << 20, a.bufferUpTo));
        expect(o).toEqual({
          status: a.status,
          statusText: a.reason,
          rawHeaders: [...a.headers.flat(), ...framingHeader],
          contentLength: a.framing === 'length' ? body.length : -1,
          // A declared empty body is `whole` (empty) even for a streamed call: there is nothing to stream.
          whole: a.framing === 'length' && body.length === 0 ? true : a.whole && body.length <= a.bufferUpTo,
          body: body.toString('latin1'),
          reused: a.framing !== 'close',
        });
      }),
      { numRuns: 400 },
    );
  });
});

describe('http1 parser: damaged answers', () => {
  const valid = [
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n',
    'HTTP/1.0 200 OK\r\n\r\nuntil close',
  ];
  const damage = fc.array(
    fc.oneof(
      fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.constantFrom(0, 9, 10, 13, 32, 48, 58, 59, 70, 255) }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), byte: fc.constant(0) }),
      fc.record({ op: fc.constant('truncate' as const), at: fc.nat(), byte: fc.constant(0) }),
    ),
    { minLength: 1, maxLength: 4 },
  );

  test('every damaged or truncated answer settles: an answer, or an Http1Error (nothing hangs or throws elsewhere)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...valid), damage, fc.array(fc.nat(), { maxLength: 5 }), fc.boolean(), async (v, ops, cuts, whole) => {
        const b = [...Buffer.from(v, 'latin1')];
        for (const o of ops) {
          const at = o.at % (b.length + 1);
          if (o.op === 'set' && at < b.length) b[at] = o.byte;
          else if (o.op === 'insert') b.splice(at, 0, o.byte);
          else if (o.op === 'delete') b.splice(at, 1);
          else if (o.op === 'truncate') b.length = at;
        }
        const wire = Buffer.from(b);
        const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((x, y) => x - y);
        const pieces: Buffer[] = [];
        let from = 0;
        for (const c of [...points, wire.length]) {
          if (c > from) pieces.push(wire.subarray(from, c));
          from = Math.max(from, c);
        }
        // The server closes after the bytes: whatever they were, the exchange must be over then.
        const o = await runScripted({ name: 'damaged', bytes: '', end: true, expect: {} }, pieces, whole);
        if (o.error !== undefined) expect(o.error).toMatch(/^(ERR_BAD_RESPONSE|ECONNRESET)$/);
        else expect(typeof o.status).toBe('number');
      }),
      { numRuns: 1500 },
    );
  });
});
