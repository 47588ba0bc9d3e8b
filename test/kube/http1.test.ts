// The HTTP/1.1 client's pool (src/kube/http1.ts) against real loopback servers: a raw node:net one that writes exact
// bytes and records exactly what it received, Bun.serve for ordinary answers, and TLS with the fixtures in
// test/fixtures/tls (a client certificate for mTLS is made from the fixture CA at start). Framing at every cut is
// test/kube/http1-framing.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { Http1Error, Http1Pool } from '../../src/kube/http1.ts';

const FIX = join(import.meta.dirname, '../fixtures/tls');
const CA = readFileSync(join(FIX, 'ca.crt'), 'utf8');
const SERVER = { cert: readFileSync(join(FIX, 'server.crt'), 'utf8'), key: readFileSync(join(FIX, 'server.key'), 'utf8') };

interface Req {
  method: string;
  target: string;
  head: string;
  headers: [string, string][];
  body: Buffer;
  /** Which accepted connection (0, 1, …) carried it. */
  conn: number;
  sock: net.Socket;
}

interface Raw {
  url: string;
  port: number;
  requests: Req[];
  sockets: net.Socket[];
  closed: Set<number>;
  close(): void;
}

/** A server that parses requests (Content-Length bodies only) and hands each to `onReq`, which writes what it likes. */
async function raw(onReq: (req: Req, sock: net.Socket) => void, secure?: tls.TlsOptions): Promise<Raw> {
  const requests: Req[] = [];
  const sockets: net.Socket[] = [];
  const closed = new Set<number>();
  const accept = (sock: net.Socket): void => {
    const id = sockets.length;
    sockets.push(sock);
    sock.setNoDelay(true);
    sock.on('error', () => {});
    sock.on('close', () => closed.add(id));
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const e = buf.indexOf('\r\n\r\n');
        if (e < 0) return;
        const head = buf.toString('latin1', 0, e);
        const lines = head.split('\r\n');
        const [method, target] = lines[0]!.split(' ') as [string, string];
        const headers = lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as [string, string]);
        const cl = Number(headers.find((h) => h[0].toLowerCase() === 'content-length')?.[1] ?? 0);
        if (buf.length < e + 4 + cl) return;
        const body = Buffer.from(buf.subarray(e + 4, e + 4 + cl));
        buf = buf.subarray(e + 4 + cl);
        const req = { method, target, head, headers, body, conn: id, sock };
        requests.push(req);
        onReq(req, sock);
      }
    });
  };
  const srv = secure ? tls.createServer(secure, accept) : net.createServer(accept);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    url: `${secure ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    sockets,
    closed,
    close() {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}

const ok = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

/** Wait for a condition that events will make true (polled; fails the test after 10 s instead of hanging). */
async function until(cond: () => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const never = (): AbortSignal => new AbortController().signal;
const text = async (p: Promise<import('../../src/kube/http1.ts').Http1Response>): Promise<string> => Buffer.from(await (await p).bytes()).toString();

const servers: { close(): void }[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});
async function rawServer(onReq: (req: Req, sock: net.Socket) => void, secure?: tls.TlsOptions): Promise<Raw> {
  const r = await raw(onReq, secure);
  servers.push(r);
  return r;
}

describe('framing through the pool', () => {
  test('Content-Length, chunked and close-delimited bodies; HEAD, 204 and 304 keep the connection', async () => {
    const srv = await rawServer((req, sock) => {
      if (req.target === '/cl') sock.write(ok('hello'));
      else if (req.target === '/chunked') sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n');
      else if (req.method === 'HEAD' || req.target === '/204' || req.target === '/304') {
        const status = req.method === 'HEAD' ? '200 OK' : req.target === '/204' ? '204 No Content' : '304 Not Modified';
        sock.write(`HTTP/1.1 ${status}\r\nContent-Length: 99\r\n\r\n`);
      } else if (req.target === '/eof') sock.end('HTTP/1.1 200 OK\r\n\r\nto the end');
    });
    const pool = new Http1Pool(srv.url, null);
    for (const whole of [true, false]) {
      expect(await text(pool.request('GET', '/cl', {}, undefined, never(), whole))).toBe('hello');
      expect(await text(pool.request('GET', '/chunked', {}, undefined, never(), whole))).toBe('abcde');
      const head = await pool.request('HEAD', '/x', {}, undefined, never(), whole);
      expect([head.status, head.contentLength, head.body, (await head.bytes()).length]).toEqual([200, 99, null, 0]);
      for (const s of [204, 304]) {
        const r = await pool.request('GET', `/${s}`, {}, undefined, never(), whole);
        expect([r.status, (await r.bytes()).length]).toEqual([s, 0]);
      }
    }
    expect(pool.opened).toBe(1);
    expect(srv.requests.length).toBe(10);
    expect(await text(pool.request('GET', '/eof', {}, undefined, never(), true))).toBe('to the end');
    expect(pool.idle).toBe(0);
    pool.close();
  });

  test('1xx answers are skipped; a 101 is an error', async () => {
    const srv = await rawServer((req, sock) => {
      if (req.target === '/101') sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n');
      else sock.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n${ok('final', 'X-A: 1\r\n')}`);
    });
    const pool = new Http1Pool(srv.url, null);
    const r = await pool.request('GET', '/', {}, undefined, never(), true);
    expect([r.status, r.header('x-a'), r.header('link'), Buffer.from(r.whole!).toString()]).toEqual([200, '1', null, 'final']);
    const e = await pool.request('GET', '/101', {}, undefined, never(), true).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Http1Error);
    expect((e as Http1Error).code).toBe('ERR_BAD_RESPONSE');
    await until(() => srv.closed.has(0), 'the connection to close after the 101');
    pool.close();
  });

  test('a malformed answer fails its request only: concurrent requests on other connections get their answers', async () => {
    const srv = await rawServer((req, sock) => {
      const n = Number(req.target.slice(2));
      if (req.target.startsWith('/b') && n % 4 === 3) sock.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
      else if (req.target.startsWith('/b')) sock.write(['HTTP/1.1 2OO OK\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n'][n % 4]!);
      else {
        // Half of the good answers come in two writes, after the malformed ones were sent.
        const bytes = ok(`good ${n}`);
        sock.write(bytes.slice(0, 20));
        setImmediate(() => sock.write(bytes.slice(20)));
      }
    });
    const pool = new Http1Pool(srv.url, null);
    const goods = Array.from({ length: 20 }, (_, i) => text(pool.request('GET', `/g${i}`, {}, undefined, never(), i % 2 === 0)));
    const bads = Array.from({ length: 12 }, (_, i) => pool.request('GET', `/b${i}`, {}, undefined, never(), i % 2 === 0).then((r) => r.bytes()).then(() => 'resolved', (e: unknown) => (e as Http1Error).code));
    expect(await Promise.all(goods)).toEqual(Array.from({ length: 20 }, (_, i) => `good ${i}`));
    expect(await Promise.all(bads)).toEqual(Array.from({ length: 12 }, (_, i) => (i % 4 === 3 ? 'ECONNRESET' : 'ERR_BAD_RESPONSE')));
    pool.close();
  });
});

describe('keep-alive', () => {
  test('sequential requests reuse one connection', async () => {
    const srv = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (r) => new Response(new URL(r.url).pathname) });
    servers.push({ close: () => srv.stop(true) });
    const pool = new Http1Pool(`http://127.0.0.1:${srv.port}`, null);
    for (let i = 0; i < 10; i++) expect(await text(pool.request('GET', `/n${i}`, {}, undefined, never(), i % 2 === 0))).toBe(`/n${i}`);
    expect([pool.opened, pool.idle]).toEqual([1, 1]);
    pool.close();
  });

  for (const [name, answer] of [
    ['Connection: close', ok('x', 'Connection: close\r\n')],
    ['HTTP/1.0', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx'],
    ['Transfer-Encoding with Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n'],
  ] as const) {
    test(`an answer with ${name} is not reused`, async () => {
      const srv = await rawServer((_req, sock) => sock.write(answer));
      const pool = new Http1Pool(srv.url, null);
      for (let i = 0; i < 3; i++) expect(await text(pool.request('GET', '/', {}, undefined, never(), true))).toBe('x');
      expect([pool.opened, pool.idle, srv.sockets.length]).toEqual([3, 0, 3]);
      await until(() => srv.closed.size === 3, 'the client to close every connection');
      pool.close();
    });
  }

  test('extra bytes after a complete answer close that connection and never reach the next request', async () => {
    const srv = await rawServer((req, sock) => sock.write(req.conn === 0 ? `${ok('first')}${ok('smuggled')}` : ok('second')));
    const pool = new Http1Pool(srv.url, null);
    expect(await text(pool.request('GET', '/', {}, undefined, never(), true))).toBe('first');
    expect(await text(pool.request('GET', '/', {}, undefined, never(), true))).toBe('second');
    expect(pool.opened).toBe(2);
    expect(srv.requests.map((r) => r.conn)).toEqual([0, 1]);
    pool.close();
  });

  test('idle connections beyond maxIdle are closed', async () => {
    const srv = await rawServer((req) => {
      // Answer once three requests are in, so that they hold three connections at once.
      if (srv.requests.length === 3) for (const r of srv.requests) r.sock.write(ok(r.target));
      else if (srv.requests.length > 3) req.sock.write(ok(req.target));
    });
    const pool = new Http1Pool(srv.url, null, { maxIdle: 1 });
    expect(await Promise.all(['/a', '/b', '/c'].map((p) => text(pool.request('GET', p, {}, undefined, never(), true))))).toEqual(['/a', '/b', '/c']);
    expect([pool.opened, pool.idle]).toEqual([3, 1]);
    await until(() => srv.closed.size === 2, 'two connections to close');
    for (let i = 0; i < 3; i++) expect(await text(pool.request('GET', `/${i}`, {}, undefined, never(), true))).toBe(`/${i}`);
    expect(pool.opened).toBe(3);
    pool.close();
  });

  test('an idle connection older than idleMs is not reused', async () => {
    const srv = await rawServer((req, sock) => sock.write(ok(req.target)));
    // 200 ms: long enough for two requests in a row on a loaded machine, short enough to wait for.
    const pool = new Http1Pool(srv.url, null, { idleMs: 200 });
    expect(await text(pool.request('GET', '/1', {}, undefined, never(), true))).toBe('/1');
    expect(await text(pool.request('GET', '/2', {}, undefined, never(), true))).toBe('/2');
    expect(pool.opened).toBe(1);
    const done = Date.now();
    await until(() => Date.now() - done > 220, 'the idle connection to age');
    expect(await text(pool.request('GET', '/3', {}, undefined, never(), true))).toBe('/3');
    expect(pool.opened).toBe(2);
    await until(() => srv.closed.has(0), 'the aged connection to close');
    pool.close();
  });

  test('the server closing an idle connection: the pool drops it, and a POST goes on a new one', async () => {
    const srv = await rawServer((req, sock) => sock.end(ok(`${req.method} ${req.body}`)));
    const pool = new Http1Pool(srv.url, null);
    expect(await text(pool.request('GET', '/1', {}, undefined, never(), true))).toBe('GET ');
    expect(pool.idle).toBe(1);
    await until(() => pool.idle === 0, 'the pool to drop the connection the server closed');
    expect(await text(pool.request('POST', '/2', {}, 'data', never(), true))).toBe('POST data');
    expect([pool.opened, srv.requests.length]).toEqual([2, 2]);
    pool.close();
  });

  test('bytes on an idle connection (a server’s 408 on its idle timeout) drop it', async () => {
    const srv = await rawServer((req, sock) => {
      sock.write(ok(req.target));
      if (req.conn === 0) setImmediate(() => sock.write('HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
    });
    const pool = new Http1Pool(srv.url, null);
    expect(await text(pool.request('GET', '/1', {}, undefined, never(), true))).toBe('/1');
    await until(() => pool.idle === 0, 'the pool to drop the connection');
    await until(() => srv.closed.has(0), 'the connection to close');
    expect(await text(pool.request('GET', '/2', {}, undefined, never(), true))).toBe('/2');
    expect(pool.opened).toBe(2);
    pool.close();
  });

  test('the server closing an idle connection: the next GET opens a new one', async () => {
    const srv = await rawServer((req, sock) => sock.end(ok(req.target)));
    const pool = new Http1Pool(srv.url, null);
    // The answer says keep-alive, then the server closes.
    expect(await text(pool.request('GET', '/1', {}, undefined, never(), true))).toBe('/1');
    await until(() => srv.closed.has(0), 'the server to close');
    expect(await text(pool.request('GET', '/2', {}, undefined, never(), true))).toBe('/2');
    expect(pool.opened).toBe(2);
    pool.close();
  });

  test('a reused connection closed by the server before answering: a GET is sent again once, a POST is not', async () => {
    // The first request on a connection is answered; the second is read and the connection dropped unanswered.
    const srv = await rawServer((req, sock) => {
      if (srv.requests.filter((r) => r.conn === req.conn).length === 1) sock.write(ok(`${req.method} ${req.target}`));
      else sock.destroy();
    });
    const pool = new Http1Pool(srv.url, null);
    expect(await text(pool.request('GET', '/1', {}, undefined, never(), true))).toBe('GET /1');
    expect(await text(pool.request('GET', '/2', {}, undefined, never(), true))).toBe('GET /2');
    expect(srv.requests.map((r) => `${r.conn} ${r.target}`)).toEqual(['0 /1', '0 /2', '1 /2']);
    expect(pool.opened).toBe(2);
    // The connection is idle again after its first answer; a POST on it is lost with it and not sent twice.
    const e = await pool.request('POST', '/3', {}, 'payload', never(), true).catch((x: unknown) => x);
    expect((e as Http1Error).code).toBe('ECONNRESET');
    expect(srv.requests.filter((r) => r.method === 'POST').length).toBe(1);
    expect(pool.opened).toBe(2);
    pool.close();
  });
});

describe('request encoding', () => {
  test('an IPv6 origin: connects to the address, Host keeps the brackets and port', async () => {
    const hosts: string[] = [];
    const srv = net.createServer((sock) => {
      sock.on('data', (d: Buffer) => {
        hosts.push(/\r\nHost: ([^\r]*)\r\n/.exec(d.toString('latin1'))?.[1] ?? '');
        sock.write(ok('v6'));
      });
    });
    const up = await new Promise<boolean>((r) => {
      srv.once('error', () => r(false));
      srv.listen(0, '::1', () => r(true));
    });
    if (!up) return console.warn('skipped: no ::1 on this machine');
    const port = (srv.address() as net.AddressInfo).port;
    const pool = new Http1Pool(`http://[::1]:${port}`, null);
    expect(await text(pool.request('GET', '/', {}, undefined, never(), true))).toBe('v6');
    expect(hosts).toEqual([`[::1]:${port}`]);
    pool.close();
    srv.close();
  });

  test('Host from the URL; the caller’s Host, Content-Length, Transfer-Encoding and Connection are not sent', async () => {
    const srv = await rawServer((_req, sock) => sock.write(ok('')));
    const pool = new Http1Pool(srv.url, null);
    await pool.request('PUT', '/p', { Host: 'evil', 'content-length': '999', 'Transfer-Encoding': 'chunked', Connection: 'close', 'X-A': 'a' }, 'héllo', never(), true);
    await pool.request('POST', '/p', [['X-M', '1'], ['x-m', '2'], ['Accept', 'application/json']], undefined, never(), true);
    await pool.request('PATCH', '/p', {}, new Uint8Array(0), never(), true);
    await pool.request('GET', '/p', {}, undefined, never(), true);
    const [put, post, patch, get] = srv.requests;
    expect(put!.headers).toEqual([
      ['Host', `127.0.0.1:${srv.port}`],
      ['X-A', 'a'],
      ['Content-Length', '6'],
    ]);
    expect(put!.body.toString('utf8')).toBe('héllo');
    expect(post!.headers).toEqual([
      ['Host', `127.0.0.1:${srv.port}`],
      ['X-M', '1'],
      ['x-m', '2'],
      ['Accept', 'application/json'],
      ['Content-Length', '0'],
    ]);
    expect(patch!.headers.find((h) => h[0] === 'Content-Length')?.[1]).toBe('0');
    expect(get!.headers).toEqual([['Host', `127.0.0.1:${srv.port}`]]);
    expect(pool.opened).toBe(1);
    pool.close();
  });

  test('invalid header names and values are refused with a TypeError before anything is sent', async () => {
    const srv = await rawServer((_req, sock) => sock.write(ok('')));
    const pool = new Http1Pool(srv.url, null);
    const bad: [string, string][] = [
      ['X-A', 'a\r\nX-Injected: 1'],
      ['X-A', 'a\nb'],
      ['X-A', 'a\rb'],
      ['X-A', 'a\0b'],
      ['X-A', 'snowman ☃'],
      ['X A', 'v'],
      ['X-A:', 'v'],
      ['', 'v'],
      ['X-Ä', 'v'],
    ];
    for (const h of bad) {
      for (const headers of [[h], Object.fromEntries([h])]) {
        const e = await pool.request('GET', '/', headers, undefined, never(), true).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(TypeError);
      }
    }
    await expect(pool.request('GE T', '/', {}, undefined, never(), true)).rejects.toBeInstanceOf(TypeError);
    // Latin-1 values are what fetch allows too.
    await pool.request('GET', '/', { 'X-L': 'café' }, undefined, never(), true);
    expect(srv.sockets.length).toBe(1);
    expect(srv.requests.length).toBe(1);
    expect(srv.requests[0]!.head).toContain('X-L: caf\xe9');
    pool.close();
  });

  test('targets go on the wire as fetch would send them (new URL of the origin and the target)', async () => {
    const srv = await rawServer((req, sock) => sock.write(ok(req.target)));
    const pool = new Http1Pool(srv.url, null);
    const targets = [
      '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&limit=500',
      '/api/v1/namespaces/a b/pods',
      '/api/v1/namespaces/ä/pods?fieldSelector=metadata.name=ö ü',
      '/x?q="<>`{}^|',
      '/a"b<c>d{e}f^g`h',
      '//double/slash',
      '//a b/c',
      '/a/./b/../c',
      '/a/%2e%2E/b',
      '/a\\b',
      '/frag#ment',
      '/a b#frag',
      "/it's?it's",
      '/%zz?%zz',
      '/😀',
    ];
    for (const t of targets) {
      const u = new URL(srv.url + t);
      expect({ t, got: await text(pool.request('GET', t, {}, undefined, never(), true)) }).toEqual({ t, got: u.pathname + u.search });
    }
    pool.close();
  });

  test('bodies above 16 KiB (two writes) and UTF-8 string bodies arrive intact', async () => {
    const srv = await rawServer((req, sock) => sock.write(ok(String(req.body.length))));
    const pool = new Http1Pool(srv.url, null);
    const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 255);
    const edge = new Uint8Array(16 * 1024 + 1).fill(9);
    const s = 'ünïcödé ☃ 😀 '.repeat(3000);
    await Promise.all([pool.request('POST', '/b', {}, big, never(), true), pool.request('POST', '/e', {}, edge, never(), true), pool.request('POST', '/s', {}, s, never(), true)]);
    const by = (t: string) => srv.requests.find((r) => r.target === t)!.body;
    expect(Buffer.compare(by('/b'), Buffer.from(big))).toBe(0);
    expect(Buffer.compare(by('/e'), Buffer.from(edge))).toBe(0);
    expect(by('/s').toString('utf8')).toBe(s);
    pool.close();
  });
});

describe('body delivery', () => {
  test('whole: a body up to bufferUpTo resolves in one piece (Content-Length or chunked), a larger one as a stream of all of it', async () => {
    const big = 'z'.repeat(5000);
    const srv = await rawServer((req, sock) => {
      if (req.target === '/small') sock.write(ok('small body'));
      else if (req.target === '/chunked') sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nsmall\r\n5\r\n body\r\n0\r\n\r\n');
      else if (req.target === '/big') sock.write(ok(big));
      else {
        // A chunked body that passes bufferUpTo only in its third chunk.
        sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (let i = 0; i < 5; i++) sock.write(`3e8\r\n${String(i).repeat(1000)}\r\n`);
        sock.write('0\r\n\r\n');
      }
    });
    const pool = new Http1Pool(srv.url, null, { bufferUpTo: 2500 });
    for (const t of ['/small', '/chunked']) {
      const r = await pool.request('GET', t, {}, undefined, never(), true);
      expect([r.body, Buffer.from(r.whole!).toString()]).toEqual([null, 'small body']);
    }
    const b = await pool.request('GET', '/big', {}, undefined, never(), true);
    expect([b.whole, b.contentLength]).toEqual([null, 5000]);
    expect(Buffer.from(await b.bytes()).toString()).toBe(big);
    const c = await pool.request('GET', '/bigchunked', {}, undefined, never(), true);
    expect(c.whole).toBe(null);
    expect(Buffer.from(await c.bytes()).toString()).toBe([0, 1, 2, 3, 4].map((i) => String(i).repeat(1000)).join(''));
    expect(pool.opened).toBe(1);
    pool.close();
  });

  test('whole with a declared length above bufferUpTo resolves at the head too', async () => {
    let sendBody!: () => void;
    const bodySent = new Promise<void>((r) => {
      sendBody = r;
    });
    const srv = await rawServer((_req, sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n');
      void bodySent.then(() => sock.write('y'.repeat(2000)));
    });
    const pool = new Http1Pool(srv.url, null, { bufferUpTo: 1000 });
    const r = await pool.request('GET', '/', {}, undefined, never(), true);
    expect([r.whole, r.contentLength]).toEqual([null, 2000]);
    sendBody();
    expect(Buffer.from(await r.bytes()).toString()).toBe('y'.repeat(2000));
    pool.close();
  });

  test('a whole body stays intact while the connection serves the next requests', async () => {
    const srv = await rawServer((req, sock) => sock.write(ok(req.target.slice(1).repeat(100))));
    const pool = new Http1Pool(srv.url, null);
    const first = await pool.request('GET', '/a', {}, undefined, never(), true);
    for (const c of 'bcdefgh') await pool.request('GET', `/${c}`, {}, undefined, never(), true);
    expect(pool.opened).toBe(1);
    expect(Buffer.from(first.whole!).toString()).toBe('a'.repeat(100));
    pool.close();
  });

  test('without whole the call resolves at the head, before any byte of the body was sent', async () => {
    let sendBody!: () => void;
    const bodySent = new Promise<void>((r) => {
      sendBody = r;
    });
    const srv = await rawServer((_req, sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n');
      void bodySent.then(() => sock.write('late'));
    });
    const pool = new Http1Pool(srv.url, null);
    const r = await pool.request('GET', '/', {}, undefined, never(), false);
    expect([r.status, r.whole, r.contentLength]).toEqual([200, null, 4]);
    sendBody();
    expect(Buffer.from(await r.bytes()).toString()).toBe('late');
    pool.close();
  });

  for (const secure of [false, true]) {
    test(`backpressure${secure ? ' over TLS' : ''}: a 64 MiB body the reader does not read stays mostly in the server, then arrives intact`, async () => {
      const total = 64 << 20;
      const piece = Buffer.alloc(64 * 1024);
      for (let i = 0; i < piece.length; i++) piece[i] = i & 255;
      let written = 0;
      let blocked = false;
      const srv = await rawServer((_req, sock) => {
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
        const pump = (): void => {
          blocked = false;
          while (written < total) {
            written += piece.length;
            if (!sock.write(piece)) {
              blocked = true;
              sock.once('drain', pump);
              return;
            }
          }
        };
        pump();
      }, secure ? SERVER : undefined);
      const pool = new Http1Pool(srv.url, secure ? { ca: CA, rejectUnauthorized: true } : null);
      const r = await pool.request('GET', '/', {}, undefined, never(), false);
      // Wait until the server is blocked and stays blocked (without backpressure it writes all 64 MiB at once).
      let last = -1;
      let still = 0;
      await until(() => {
        if (written >= total) return true;
        still = blocked && written === last ? still + 1 : 0;
        last = written;
        return still >= 25;
      }, 'the server to block');
      // Measured ≈ 5.5 MiB (loopback socket buffers and the stream's 256 KiB).
      expect(written).toBeLessThan(16 << 20);
      const reader = r.body!.getReader();
      let got = 0;
      let mismatch = -1;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (let i = 0; i < value.length; i += 4099) if (mismatch < 0 && value[i] !== ((got + i) & 255)) mismatch = got + i;
        got += value.length;
      }
      expect([got, mismatch]).toEqual([total, -1]);
      expect(pool.idle).toBe(1);
      pool.close();
    });
  }

  test('cancelling the body stream closes the connection (not reused)', async () => {
    const srv = await rawServer((req, sock) => {
      if (req.target === '/long') sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nfirst');
      else sock.write(ok('next'));
    });
    const pool = new Http1Pool(srv.url, null);
    const r = await pool.request('GET', '/long', {}, undefined, never(), false);
    const reader = r.body!.getReader();
    expect(Buffer.from((await reader.read()).value!).toString()).toBe('first');
    await reader.cancel();
    await until(() => srv.closed.has(0), 'the cancelled connection to close');
    expect(await text(pool.request('GET', '/', {}, undefined, never(), true))).toBe('next');
    expect(pool.opened).toBe(2);
    pool.close();
  });
});

describe('abort', () => {
  test('a signal aborted before the call rejects at once with its reason, nothing sent', async () => {
    const srv = await rawServer((_req, sock) => sock.write(ok('')));
    const pool = new Http1Pool(srv.url, null);
    const reason = new Error('gone already');
    await expect(pool.request('GET', '/', {}, undefined, AbortSignal.abort(reason), true)).rejects.toBe(reason);
    expect(pool.opened).toBe(0);
    pool.close();
  });

  test('aborting while connecting, while waiting for the head, and while streaming the body', async () => {
    const srv = await rawServer((req, sock) => {
      if (req.target === '/stream') sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n');
      else if (req.target === '/ok') sock.write(ok('ok'));
      else if (req.target === '/partial') sock.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
      // '/hang': no answer
    });
    const pool = new Http1Pool(srv.url, null);
    // While connecting: aborted in the same tick as the call.
    const a1 = new AbortController();
    const p1 = pool.request('GET', '/ok', {}, undefined, a1.signal, true);
    const r1 = new Error('while connecting');
    a1.abort(r1);
    await expect(p1).rejects.toBe(r1);
    // While waiting for the head.
    const a2 = new AbortController();
    const p2 = pool.request('GET', '/hang', {}, undefined, a2.signal, true);
    await until(() => srv.requests.some((r) => r.target === '/hang'), 'the request to arrive');
    const hung = srv.requests.find((r) => r.target === '/hang')!;
    const r2 = new Error('while waiting');
    a2.abort(r2);
    await expect(p2).rejects.toBe(r2);
    await until(() => srv.closed.has(hung.conn), 'the aborted connection to close');
    // While collecting a whole body.
    const a5 = new AbortController();
    const p5 = pool.request('GET', '/partial', {}, undefined, a5.signal, true);
    await until(() => srv.requests.some((r) => r.target === '/partial'), 'the request to arrive');
    const partial = srv.requests.find((r) => r.target === '/partial')!;
    await until(() => partial.sock.bytesWritten > 0, 'the partial answer to be written');
    const r5 = new Error('while collecting');
    a5.abort(r5);
    await expect(p5).rejects.toBe(r5);
    await until(() => srv.closed.has(partial.conn), 'the aborted connection to close');
    // While streaming the body.
    const a3 = new AbortController();
    const res = await pool.request('GET', '/stream', {}, undefined, a3.signal, false);
    const reader = res.body!.getReader();
    expect(Buffer.from((await reader.read()).value!).toString()).toBe('first');
    const r3 = new Error('while streaming');
    a3.abort(r3);
    await expect(reader.read()).rejects.toBe(r3);
    const streamed = srv.requests.find((r) => r.target === '/stream')!;
    await until(() => srv.closed.has(streamed.conn), 'the aborted stream’s connection to close');
    expect(pool.idle).toBe(0);
    expect(await text(pool.request('GET', '/ok', {}, undefined, never(), true))).toBe('ok');
    // Aborting after the answer is complete changes nothing: the connection serves again.
    const a4 = new AbortController();
    expect(await text(pool.request('GET', '/ok', {}, undefined, a4.signal, true))).toBe('ok');
    a4.abort();
    const opened = pool.opened;
    expect(await text(pool.request('GET', '/ok', {}, undefined, never(), true))).toBe('ok');
    expect(pool.opened).toBe(opened);
    pool.close();
  });
});

describe('one signal for many requests', () => {
  test('no abort listener is left on it, whichever way each request ended', async () => {
    const srv = await rawServer((req, sock) => {
      if (req.target === '/bad') sock.write('HTTP/1.1 2xx\r\n\r\n');
      else if (req.target === '/eof') sock.end('HTTP/1.1 200 OK\r\n\r\nbye');
      else if (req.target === '/long') sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome');
      else if (req.target === '/drop' && srv.requests.filter((r) => r.conn === req.conn).length > 1) sock.destroy();
      else sock.write(ok(req.target));
    });
    const pool = new Http1Pool(srv.url, null);
    const ac = new AbortController();
    const listeners = (): number => getEventListeners(ac.signal, 'abort').length;
    for (let i = 0; i < 3; i++) {
      expect(await text(pool.request('GET', '/w', {}, undefined, ac.signal, true))).toBe('/w');
      expect(await text(pool.request('GET', '/s', {}, undefined, ac.signal, false))).toBe('/s');
      await pool.request('GET', '/bad', {}, undefined, ac.signal, true).catch(() => {});
      expect(await text(pool.request('GET', '/eof', {}, undefined, ac.signal, false))).toBe('bye');
      const long = await pool.request('GET', '/long', {}, undefined, ac.signal, false);
      await long.body!.cancel();
      // Reused, dropped by the server, sent again on a new connection.
      expect(await text(pool.request('GET', '/drop', {}, undefined, ac.signal, true))).toBe('/drop');
      expect(await text(pool.request('GET', '/drop', {}, undefined, ac.signal, true))).toBe('/drop');
      await pool.request('GET', 'x', { 'X-A': '\n' }, undefined, ac.signal, true).catch(() => {});
    }
    expect(srv.requests.some((r) => r.target === '/drop' && r.conn > 0)).toBe(true);
    expect(listeners()).toBe(0);
    pool.close();
  });

  test('close() lets an exchange in flight finish, then closes its connection', async () => {
    let answer!: () => void;
    const go = new Promise<void>((r) => {
      answer = r;
    });
    const srv = await rawServer((req, sock) => void go.then(() => sock.write(ok(req.target))));
    const pool = new Http1Pool(srv.url, null);
    const p = pool.request('GET', '/late', {}, undefined, never(), true);
    await until(() => srv.requests.length === 1, 'the request to arrive');
    pool.close();
    answer();
    expect(await text(p)).toBe('/late');
    await until(() => srv.closed.has(0), 'the connection to close after its answer');
    expect(pool.idle).toBe(0);
  });
});

describe('connect failures', () => {
  test('a refused port rejects with ECONNREFUSED', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    const pool = new Http1Pool(`http://127.0.0.1:${port}`, null);
    const e = await pool.request('GET', '/', {}, undefined, never(), true).catch((x: unknown) => x);
    expect((e as { code?: string }).code).toBe('ECONNREFUSED');
    pool.close();
  });

  // A listener that never accepts, its queue (backlog 0: one connection) filled: the kernel drops the next SYN, so a
  // TCP connect hangs. Python makes it (node:net and Bun accept every connection).
  const python = spawnSync('python3', ['-c', 'pass']).status === 0;
  test.skipIf(!python)('a TCP connect that never completes fails after connectTimeoutMs with ETIMEDOUT (needs python3)', async () => {
    const py = spawn('python3', ['-c', "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()"], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const port = Number(await new Promise<string>((r) => py.stdout!.once('data', (d: Buffer) => r(String(d)))));
      const filler = net.connect(port, '127.0.0.1');
      await new Promise<void>((r, j) => filler.once('connect', r).once('error', j));
      const pool = new Http1Pool(`http://127.0.0.1:${port}`, null, { connectTimeoutMs: 150 });
      const e = await pool.request('GET', '/', {}, undefined, never(), true).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(Http1Error);
      expect((e as Http1Error).code).toBe('ETIMEDOUT');
      expect(pool.idle).toBe(0);
      filler.destroy();
      pool.close();
    } finally {
      py.kill();
    }
  });

  test('a TLS handshake that never completes fails after connectTimeoutMs with ETIMEDOUT', async () => {
    const silent = await rawServer(() => {});
    const pool = new Http1Pool(`https://127.0.0.1:${silent.port}`, { rejectUnauthorized: false }, { connectTimeoutMs: 100 });
    const e = await pool.request('GET', '/', {}, undefined, never(), true).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Http1Error);
    expect((e as Http1Error).code).toBe('ETIMEDOUT');
    await until(() => silent.closed.has(0), 'the timed-out connection to close');
    pool.close();
  });
});

describe('concurrency and closing', () => {
  test('200 concurrent requests each get their own answer', async () => {
    const srv = Bun.serve({
      hostname: '127.0.0.1',
      port: 0,
      fetch: async (r) => {
        const path = new URL(r.url).pathname;
        const body = r.method === 'POST' ? await r.text() : '';
        // Some answers large enough to need several reads, in varying sizes.
        return new Response(`${path}|${body}|${'x'.repeat((Number(path.slice(1)) * 997) % 70000)}`);
      },
    });
    servers.push({ close: () => srv.stop(true) });
    const pool = new Http1Pool(`http://127.0.0.1:${srv.port}`, null, { bufferUpTo: 32 * 1024 });
    const all = await Promise.all(
      Array.from({ length: 200 }, (_, i) => text(pool.request(i % 3 ? 'GET' : 'POST', `/${i}`, {}, i % 3 ? undefined : `body ${i}`, never(), i % 2 === 0))),
    );
    all.forEach((t, i) => expect(t).toBe(`/${i}|${i % 3 ? '' : `body ${i}`}|${'x'.repeat((i * 997) % 70000)}`));
    expect(pool.opened).toBeLessThanOrEqual(200);
    // A second wave reuses what the first one opened.
    const opened = pool.opened;
    await Promise.all(Array.from({ length: 50 }, (_, i) => text(pool.request('GET', `/${i}`, {}, undefined, never(), true))));
    expect(pool.opened).toBe(opened);
    pool.close();
  });

  test('close() closes the idle connections; later requests fail', async () => {
    const srv = await rawServer(() => {
      if (srv.requests.length === 3) for (const r of srv.requests) r.sock.write(ok(r.target));
    });
    const pool = new Http1Pool(srv.url, null);
    await Promise.all(['/a', '/b', '/c'].map((p) => text(pool.request('GET', p, {}, undefined, never(), true))));
    expect(pool.idle).toBe(3);
    expect(srv.closed.size).toBe(0);
    pool.close();
    expect(pool.idle).toBe(0);
    await until(() => srv.closed.size === 3, 'the idle connections to close');
    const e = await pool.request('GET', '/', {}, undefined, never(), true).catch((x: unknown) => x);
    expect((e as Http1Error).code).toBe('ERR_CLOSED');
  });
});

describe('TLS', () => {
  let dir = '';
  let client = { cert: '', key: '' };
  beforeAll(() => {
    // A client certificate from the fixture CA (the fixture server certificate is for servers only).
    dir = mkdtempSync(join(tmpdir(), 'http1-tls-'));
    const f = (n: string) => join(dir, n);
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('c.key'), '-out', f('c.csr'), '-subj', '/CN=http1-test-client'], { stdio: 'ignore' });
    const ext = f('ext');
    writeFileSync(ext, 'extendedKeyUsage=clientAuth\n');
    execFileSync('openssl', ['x509', '-req', '-in', f('c.csr'), '-CA', join(FIX, 'ca.crt'), '-CAkey', join(FIX, 'ca.key'), '-set_serial', '4242', '-out', f('c.crt'), '-days', '2', '-extfile', ext], { stdio: 'ignore' });
    client = { cert: readFileSync(f('c.crt'), 'utf8'), key: readFileSync(f('c.key'), 'utf8') };
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const echoPeer = (req: Req, sock: net.Socket): void => {
    const peer = (sock as tls.TLSSocket).getPeerCertificate?.();
    sock.write(ok(`${req.target} ${peer?.subject?.CN ?? '-'}`));
  };

  test('the CA verifies the server, by IP and by name; connections are kept alive', async () => {
    const srv = await rawServer(echoPeer, SERVER);
    const pool = new Http1Pool(srv.url, { ca: CA, rejectUnauthorized: true });
    expect(await text(pool.request('GET', '/a', {}, undefined, never(), true))).toBe('/a -');
    expect(await text(pool.request('GET', '/b', {}, undefined, never(), false))).toBe('/b -');
    expect(pool.opened).toBe(1);
    pool.close();
    const named = new Http1Pool(`https://localhost:${srv.port}`, { ca: CA, rejectUnauthorized: true });
    expect(await text(named.request('GET', '/c', {}, undefined, never(), true))).toBe('/c -');
    named.close();
  });

  test('an untrusted server certificate is refused with a TLS code or a certificate message', async () => {
    const srv = await rawServer(echoPeer, SERVER);
    const tlsish = (e: unknown): boolean => {
      const x = e as { code?: string; message?: string };
      return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME|ALTNAME|TLS|SSL/i.test(x?.code ?? '') || /certificate/i.test(x?.message ?? '');
    };
    const untrusted = new Http1Pool(srv.url, { rejectUnauthorized: true });
    const e1 = await untrusted.request('GET', '/', {}, undefined, never(), true).catch((x: unknown) => x);
    expect({ tlsish: tlsish(e1), e: String(e1) }).toEqual({ tlsish: true, e: String(e1) });
    untrusted.close();
    // Trusted CA, wrong name.
    const wrongName = new Http1Pool(srv.url, { ca: CA, rejectUnauthorized: true, serverName: 'not-the-server.example' });
    const e2 = await wrongName.request('GET', '/', {}, undefined, never(), true).catch((x: unknown) => x);
    expect({ tlsish: tlsish(e2), e: String(e2) }).toEqual({ tlsish: true, e: String(e2) });
    wrongName.close();
    expect(srv.requests.length).toBe(0);
    // rejectUnauthorized false: accepted without the CA.
    const insecure = new Http1Pool(srv.url, { rejectUnauthorized: false });
    expect(await text(insecure.request('GET', '/ok', {}, undefined, never(), true))).toBe('/ok -');
    insecure.close();
  });

  test('a client certificate (mTLS) is presented', async () => {
    const srv = await rawServer(echoPeer, { ...SERVER, ca: CA, requestCert: true, rejectUnauthorized: true });
    const pool = new Http1Pool(srv.url, { ca: CA, ...client, rejectUnauthorized: true });
    expect(await text(pool.request('GET', '/m', {}, undefined, never(), true))).toBe('/m http1-test-client');
    pool.close();
    const without = new Http1Pool(srv.url, { ca: CA, rejectUnauthorized: true });
    await expect(without.request('GET', '/m', {}, undefined, never(), true)).rejects.toBeDefined();
    without.close();
    expect(srv.requests.length).toBe(1);
  });
});
