// The Deno implementation of the runtime contract (src/runtime/types.ts). deno.json maps `#runtime` here, so
// `deno run` of the same entrypoints (npm run agent:deno) loads it instead of the Bun one. Nothing here runs at
// import time but reading the version, so type-checking and the lint's graph can load it under Bun too.
import { gzipSync } from 'node:zlib';
import { getHeapStatistics } from 'node:v8';
import { upgradeWebSocket } from 'hono/deno';
import WS from 'ws';
import type { ClientWebSocket, FetchInit, Runtime, ServeOptions } from '../types.ts';
import { nodeFetch } from './node-fetch.ts';
import { connectStream } from './stream-socket.ts';

interface DenoHttpServer {
  readonly addr: { port: number };
  shutdown(): Promise<void>;
}
interface DenoApi {
  readonly version: { deno: string };
  serve(o: { port: number; hostname: string; signal?: AbortSignal; onListen?: () => void }, handler: (req: Request, info: unknown) => Response | Promise<Response>): DenoHttpServer;
  createHttpClient(o: { caCerts?: string[]; cert?: string; key?: string; allowHost?: boolean }): unknown;
}
declare const Deno: DenoApi;

// The `ws` package reports a refused handshake as "Unexpected server response: 401".
const STATUS_IN_ERROR = /Unexpected server response:\s*(\d{3})/;

/** How long stop() lets open streams (SSE, /ws) end on their own before it stops waiting for them. */
const STOP_GRACE_MS = 1000;

/**
 * A `ws` client socket with the contract's surface. `ws` dispatches only open/message/error/close through
 * addEventListener; 'ping' and 'pong' arrive as EventEmitter events, so those two listener types are bridged.
 */
function clientSocket(s: WS): ClientWebSocket {
  const add = s.addEventListener.bind(s);
  const bridged = new Map<unknown, (data: Uint8Array) => void>();
  const sock = s as unknown as ClientWebSocket;
  sock.addEventListener = ((type: string, fn: EventListenerOrEventListenerObject, o?: boolean | AddEventListenerOptions) => {
    if (type !== 'ping' && type !== 'pong') return add(type, fn as never, typeof o === 'object' ? o : undefined);
    const call = (data: Uint8Array) => {
      const ev = new MessageEvent(type, { data });
      if (typeof fn === 'function') fn.call(sock, ev);
      else fn.handleEvent(ev);
    };
    bridged.set(fn, call);
    s.on(type, call);
  }) as ClientWebSocket['addEventListener'];
  const remove = s.removeEventListener.bind(s);
  sock.removeEventListener = ((type: string, fn: EventListenerOrEventListenerObject) => {
    const call = bridged.get(fn);
    if ((type === 'ping' || type === 'pong') && call) {
      s.off(type, call);
      bridged.delete(fn);
    } else remove(type, fn as never);
  }) as ClientWebSocket['removeEventListener'];
  return sock;
}

/** Deno HTTP clients by TLS settings: a client holds its own connection pool, so one per distinct setting. */
const clients = new Map<string, unknown>();

function tlsClient(init: FetchInit): unknown {
  const t = init.tls;
  const key = JSON.stringify([t?.ca ?? '', t?.cert ?? '', t?.key ?? '']);
  let c = clients.get(key);
  if (!c) {
    c = Deno.createHttpClient({ ...(t?.ca ? { caCerts: [t.ca] } : {}), ...(t?.cert && t.key ? { cert: t.cert, key: t.key } : {}), allowHost: true });
    clients.set(key, c);
  }
  return c;
}

/** The worker closed by itself: Bun fires 'close' with the exit code; Deno only reports the uncaught error. */
function closeEvent(code: number): Event {
  return Object.assign(new Event('close'), { code });
}

export const runtime: Runtime = {
  name: 'deno',
  version: Deno.version.deno,
  serve(o: ServeOptions) {
    // Deno.serve has no idle timeout to configure: long-lived responses (SSE) are never cut by the server.
    const server = Deno.serve({ port: o.port, hostname: o.hostname, onListen: () => {} }, (req, info) => o.fetch(req, info));
    return {
      port: server.addr.port,
      // shutdown() waits for open responses, and SSE streams and /ws never end on their own: bounded wait.
      stop: () => Promise.race([server.shutdown(), new Promise<void>((r) => setTimeout(r, STOP_GRACE_MS))]),
    };
  },
  keepRequestOpen() {
    // Deno.serve has no idle timeout: nothing to lift.
  },
  upgradeWebSocket,
  openWebSocket(url, o) {
    const t = o.tls;
    const s = new WS(url, o.protocols ?? [], {
      ...(o.headers ? { headers: o.headers } : {}),
      perMessageDeflate: false,
      ...(t ? { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: t.rejectUnauthorized, ...(t.serverName ? { servername: t.serverName } : {}) } : {}),
    });
    s.binaryType = 'arraybuffer';
    return clientSocket(s);
  },
  handshakeStatus(message) {
    const m = STATUS_IN_ERROR.exec(message);
    return m ? Number(m[1]) : undefined;
  },
  fetch(url: string | URL, init: FetchInit = {}) {
    const headers = new Headers(init.headers);
    // Deno's fetch inflates every compressed body and verifies every certificate: node:http for those requests.
    if (init.decompress === false || init.tls?.rejectUnauthorized === false) return nodeFetch(url, init);
    const { tls: _tls, decompress: _d, ...rest } = init;
    return fetch(url, { ...rest, headers, client: tlsClient(init) } as RequestInit);
  },
  connectStream,
  gzip(data, level) {
    const z = gzipSync(data, { level });
    return new Uint8Array(z.buffer, z.byteOffset, z.byteLength) as Uint8Array<ArrayBuffer>;
  },
  spawnWorker(name) {
    const w = new Worker(new URL(`../../../workers/${name}.ts`, import.meta.url).href, { type: 'module', name });
    // Deno rethrows a worker's uncaught error in the parent unless it is handled, and the worker is gone after it.
    w.addEventListener('error', (e) => {
      e.preventDefault();
      w.terminate();
      w.dispatchEvent(closeEvent(1));
    });
    return w;
  },
  collectGarbage() {
    (globalThis as { gc?: () => void }).gc?.();
  },
  heapStats() {
    const h = getHeapStatistics();
    return { heapSize: h.used_heap_size, heapCapacity: h.total_heap_size, extraMemorySize: h.external_memory, objectCount: null, protectedObjectCount: null };
  },
};
