// The runtime contract (src/runtime/types.ts), checked against whichever implementation `#runtime` resolves to:
// the Bun one under `bun test`, the Deno one under `deno test` (the Deno tier in .ci/run). Same file, same
// assertions: what the agent relies on must hold on both.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { runtime } from '#runtime';
import type { ClientWebSocket, RunningServer } from '../../src/runtime/types.ts';

const FIX = join(import.meta.dirname, '../fixtures/tls');
const TLS = { cert: readFileSync(join(FIX, 'server.crt'), 'utf8'), key: readFileSync(join(FIX, 'server.key'), 'utf8'), ca: readFileSync(join(FIX, 'ca.crt'), 'utf8') };
const GZIPPED = gzipSync(Buffer.from('hello '.repeat(100)));

/** A plain node:http(s) backend (both runtimes implement it): echoes what it saw, or answers pre-gzipped bytes. */
function backend(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/gz') {
    res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' });
    res.end(GZIPPED);
    return;
  }
  if (req.url === '/redirect') {
    res.writeHead(302, { location: '/elsewhere' });
    res.end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    res.writeHead(201, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
    res.end(JSON.stringify({ method: req.method, host: req.headers.host, auth: req.headers.authorization ?? null, body: Buffer.concat(chunks).toString() }));
  });
}

async function listen(s: Server): Promise<string> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(s.address() as AddressInfo).port}`;
}

let plain: Server;
let secure: Server;
let plainAddr = '';
let secureAddr = '';
let app: RunningServer;
let appUrl = '';
const seen: { auth: string | null; protocol: string | null }[] = [];

beforeAll(async () => {
  plain = createHttpServer(backend);
  secure = createHttpsServer({ cert: TLS.cert, key: TLS.key }, backend);
  plainAddr = await listen(plain);
  secureAddr = await listen(secure);
  const hono = new Hono()
    .get('/hello', (c) => c.text('hi'))
    .get('/denied', (c) => c.text('no', 401))
    .get(
      '/ws',
      runtime.upgradeWebSocket((c) => {
        seen.push({ auth: c.req.header('authorization') ?? null, protocol: c.req.header('sec-websocket-protocol') ?? null });
        return {
          onMessage(e, ws) {
            ws.send(typeof e.data === 'string' ? `echo:${e.data}` : (e.data as ArrayBuffer));
          },
        };
      }),
    );
  app = runtime.serve({ port: 0, hostname: '127.0.0.1', fetch: hono.fetch, idleTimeoutS: 30 });
  appUrl = `127.0.0.1:${app.port}`;
});

afterAll(async () => {
  await app?.stop();
  plain?.close();
  secure?.close();
});

/** `p`, or a failure naming `what` after 10 s: deno test has no per-test timeout, a lost event must not hang CI. */
function within<T>(p: Promise<T>, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`no ${what} within 10 s`)), 10_000)));
  return Promise.race([p, limit]).finally(() => clearTimeout(t));
}

function opened(ws: ClientWebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', (e) => reject(new Error((e as ErrorEvent).message || 'websocket error')), { once: true });
  });
}

function nextMessage(ws: ClientWebSocket): Promise<unknown> {
  return new Promise((resolve) => ws.addEventListener('message', (e) => resolve((e as MessageEvent).data), { once: true }));
}

describe(`runtime contract (${runtime.name} ${runtime.version})`, () => {
  test('name and version identify the runtime', () => {
    expect(['bun', 'deno']).toContain(runtime.name);
    expect(runtime.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('serve: port 0 binds a real port and the app answers', async () => {
    expect(app.port).toBeGreaterThan(0);
    const r = await fetch(`http://${appUrl}/hello`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('hi');
  });

  test('openWebSocket: headers and subprotocols reach the server, text and binary echo, binary arrives as ArrayBuffer', async () => {
    const ws = runtime.openWebSocket(`ws://${appUrl}/ws`, { headers: { Authorization: 'Bearer t0k' }, protocols: ['v5.channel.k8s.io'] });
    await opened(ws);
    expect(seen.at(-1)).toEqual({ auth: 'Bearer t0k', protocol: 'v5.channel.k8s.io' });
    const text = nextMessage(ws);
    ws.send('ping?');
    expect(await text).toBe('echo:ping?');
    const bin = nextMessage(ws);
    ws.send(new Uint8Array([1, 2, 3]));
    const got = await bin;
    expect(got).toBeInstanceOf(ArrayBuffer);
    expect([...new Uint8Array(got as ArrayBuffer)]).toEqual([1, 2, 3]);
    ws.close(1000);
  });

  test("ping() is answered by the server's pong, delivered as a 'pong' event; terminate() drops the socket", async () => {
    const ws = runtime.openWebSocket(`ws://${appUrl}/ws`, {});
    await opened(ws);
    const pong = new Promise<void>((resolve) => ws.addEventListener('pong', () => resolve()));
    ws.ping(new Uint8Array([7]));
    await within(pong, 'pong');
    const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve((e as CloseEvent).code)));
    ws.terminate();
    expect(await closed).not.toBe(1000);
  });

  test('a refused handshake reports its HTTP status through handshakeStatus', async () => {
    const ws = runtime.openWebSocket(`ws://${appUrl}/denied`, {});
    const message = await new Promise<string>((resolve) => ws.addEventListener('error', (e) => resolve((e as ErrorEvent).message ?? ''), { once: true }));
    expect(runtime.handshakeStatus(message)).toBe(401);
    expect(runtime.handshakeStatus('connection refused')).toBeUndefined();
  });

  test('fetch with decompress: false hands over the body exactly as sent (gzip stays gzip)', async () => {
    const r = await runtime.fetch(`http://${plainAddr}/gz`, { decompress: false, headers: { 'accept-encoding': 'gzip' } });
    expect(r.headers.get('content-encoding')).toBe('gzip');
    const body = new Uint8Array(await r.arrayBuffer());
    expect(Buffer.from(body).equals(GZIPPED)).toBe(true);
    expect(gunzipSync(body).toString()).toBe('hello '.repeat(100));
  });

  test('fetch sends the Host header, a streamed body, and does not follow redirects with redirect: manual', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('part1-'));
        c.enqueue(new TextEncoder().encode('part2'));
        c.close();
      },
    });
    const r = await runtime.fetch(`http://${plainAddr}/echo`, { method: 'POST', headers: { host: 'app.example.com' }, body, decompress: false, duplex: 'half' } as RequestInit);
    expect(r.status).toBe(201);
    expect(await r.json()).toEqual({ method: 'POST', host: 'app.example.com', auth: null, body: 'part1-part2' });
    expect(r.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    const redirect = await runtime.fetch(`http://${plainAddr}/redirect`, { redirect: 'manual', decompress: false });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('/elsewhere');
  });

  test('fetch over TLS: verified with the CA, refused without it, accepted with rejectUnauthorized: false', async () => {
    const ok = await runtime.fetch(`https://${secureAddr.replace('127.0.0.1', 'localhost')}/x`, { tls: { ca: TLS.ca, rejectUnauthorized: true } });
    expect(ok.status).toBe(201);
    await ok.arrayBuffer();
    let refused: unknown = null;
    try {
      await (await runtime.fetch(`https://${secureAddr}/x`, { tls: { rejectUnauthorized: true } })).arrayBuffer();
    } catch (e) {
      refused = e;
    }
    expect(refused).not.toBeNull();
    const insecure = await runtime.fetch(`https://${secureAddr}/x`, { tls: { rejectUnauthorized: false }, decompress: false });
    expect(insecure.status).toBe(201);
    await insecure.arrayBuffer();
  });

  test('openWebSocket over TLS with the CA', async () => {
    // The app server is plain HTTP; a TLS WebSocket needs a TLS peer: the node:https backend refuses the upgrade
    // with a plain HTTP answer, which proves the TLS handshake (with our CA) completed before it.
    const ws = runtime.openWebSocket(`wss://localhost:${secureAddr.split(':')[1]}/`, { tls: { ca: TLS.ca, rejectUnauthorized: true } });
    const message = await new Promise<string>((resolve) => ws.addEventListener('error', (e) => resolve((e as ErrorEvent).message ?? ''), { once: true }));
    expect(runtime.handshakeStatus(message)).toBe(201);
  });

  test('connectStream: an HTTP/1.1 exchange over TCP and over TLS (verified chain and name), and the errors named by code', async () => {
    /** One GET on a fresh connection: the answer's bytes, or the error and whether 'close' followed it. */
    const exchange = (addr: string, tls: Parameters<typeof runtime.connectStream>[0]['tls'], host?: string) =>
      within(
        new Promise<{ text?: string; error?: { code?: string; message: string }; closed: boolean }>((resolve) => {
          const [h, port] = addr.split(':');
          const out: { text?: string; error?: { code?: string; message: string }; closed: boolean } = { closed: false };
          let got = '';
          const s = runtime.connectStream({ host: host ?? h!, port: Number(port), tls, timeoutMs: 5000, timeoutError: () => new Error('connect timed out') });
          s.on('data', (d) => {
            got += Buffer.from(d).toString('latin1');
            if (got.includes('"method"')) s.destroy();
          });
          s.on('error', (e) => (out.error = { code: (e as Error & { code?: string }).code, message: e.message }));
          s.on('close', () => {
            out.closed = true;
            if (got) out.text = got;
            resolve(out);
          });
          // Written before the connection is ready: queued until then (TLS: until the handshake is verified).
          s.write(Buffer.from('GET /x HTTP/1.1\r\nHost: t\r\n\r\n'));
        }),
        'connectStream exchange',
      );
    const plainOk = await exchange(plainAddr, null);
    expect(plainOk.text).toStartWith('HTTP/1.1 201');
    const verified = await exchange(secureAddr, { ca: TLS.ca, rejectUnauthorized: true });
    expect(verified.text).toStartWith('HTTP/1.1 201');
    expect(verified.error).toBeUndefined();
    const byName = await exchange(secureAddr, { ca: TLS.ca, rejectUnauthorized: true }, 'localhost');
    expect(byName.text).toStartWith('HTTP/1.1 201');
    // No CA: the chain fails verification, with its code, and nothing was sent.
    const untrusted = await exchange(secureAddr, { rejectUnauthorized: true });
    expect(untrusted.text).toBeUndefined();
    expect(untrusted.error?.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(untrusted.closed).toBe(true);
    // A name the certificate does not carry.
    const wrongName = await exchange(secureAddr, { ca: TLS.ca, rejectUnauthorized: true, serverName: 'wrong.example' });
    expect(wrongName.text).toBeUndefined();
    expect(wrongName.error?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    const insecure = await exchange(secureAddr, { rejectUnauthorized: false });
    expect(insecure.text).toStartWith('HTTP/1.1 201');
    // Nobody listening: refused, then closed.
    const gone = createHttpServer(backend);
    const goneAddr = await listen(gone);
    await new Promise<void>((r) => gone.close(() => r()));
    const refused = await exchange(goneAddr, null);
    expect(refused.error?.code).toBe('ECONNREFUSED');
    expect(refused.closed).toBe(true);
  });

  test('gzip at a level round-trips through zlib', () => {
    const data = new TextEncoder().encode('{"kind":"PodList","items":[]}'.repeat(50));
    for (const level of [1, 6]) {
      const z = runtime.gzip(data, level);
      expect(z[0]).toBe(0x1f);
      expect(z[1]).toBe(0x8b);
      expect(z.length).toBeLessThan(data.length);
      expect(new Uint8Array(gunzipSync(z))).toEqual(data);
    }
  });

  test("spawnWorker: a module worker that exchanges messages; an uncaught throw in it ends it with a 'close' event (the supervisor's restart signal)", async () => {
    // spawnWorker resolves names under workers/; the test's worker sits in test/runtime/.
    const w = runtime.spawnWorker('../test/runtime/crash-worker');
    const messages: unknown[] = [];
    let wake = () => {};
    w.addEventListener('message', (e) => {
      messages.push((e as MessageEvent).data);
      wake();
    });
    const next = () => new Promise<void>((r) => (wake = r));
    if (messages.length === 0) await within(next(), "the worker's first message");
    expect(messages[0]).toBe('up');
    w.postMessage('hello');
    await within(next(), 'the echo');
    expect(messages[1]).toEqual({ echo: 'hello' });
    // The code differs (Bun reports 0 for a throw in a handler, 1 for one at the top level); the event is the contract.
    const closed = new Promise<string>((r) => w.addEventListener('close', (e) => r(typeof (e as CloseEvent).code)));
    w.postMessage('crash');
    expect(await within(closed, "'close' event")).toBe('number');
  });

  test('heapStats reports a live heap', () => {
    const h = runtime.heapStats();
    expect(h.heapCapacity).toBeGreaterThan(0);
    expect(h.heapSize).toBeGreaterThanOrEqual(0);
    expect(h.objectCount === null || h.objectCount >= 0).toBe(true);
  });

  test('collectGarbage (with shrink too) frees what is no longer referenced (Bun; Deno only with --expose-gc)', () => {
    let held: number[][] | null = Array.from({ length: 2000 }, (_, i) => Array.from({ length: 1000 }, () => i));
    runtime.collectGarbage();
    const withGarbage = runtime.heapStats().heapSize;
    expect(held.length).toBe(2000);
    held = null;
    runtime.collectGarbage({ shrink: true });
    if (runtime.name === 'deno' && typeof (globalThis as { gc?: unknown }).gc !== 'function') return;
    expect(runtime.heapStats().heapSize).toBeLessThan(withGarbage - 4 * 1024 * 1024);
  });
});
