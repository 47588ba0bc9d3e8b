// The Bun implementation of the runtime contract (src/runtime/types.ts), the default: package.json maps
// `#runtime` here.
import { upgradeWebSocket, websocket } from 'hono/bun';
import type { ClientWebSocket, FetchInit, Runtime, ServeOptions } from '../types.ts';
import { jscHeapStats } from './heap-stats.ts';
import { connectStream } from './stream-socket.ts';
import { spawnWorker } from './workers.ts';

// Bun reports a refused handshake as "... failed: Expected 101 status code: 401".
const STATUS_IN_ERROR = /Expected 101 status code:\s*(\d{3})/;

export const runtime: Runtime = {
  name: 'bun',
  version: Bun.version,
  serve(o: ServeOptions) {
    const server = Bun.serve({ port: o.port, hostname: o.hostname, fetch: o.fetch, websocket, idleTimeout: o.idleTimeoutS });
    return {
      port: server.port ?? o.port,
      stop: () => server.stop(true),
    };
  },
  keepRequestOpen(req, env) {
    // Bun.serve hands itself to the app as the environment; its timeout(req, 0) lifts the idle timeout for one request.
    const server = env as Partial<Pick<import('bun').Server<unknown>, 'timeout'>> | undefined;
    if (typeof server?.timeout === 'function') server.timeout(req, 0);
  },
  upgradeWebSocket,
  openWebSocket(url, o) {
    // Bun's client takes headers and TLS options in the second argument (bun-notes §7); the DOM typing does not.
    const ws = new WebSocket(url, {
      ...(o.headers ? { headers: o.headers } : {}),
      ...(o.protocols ? { protocols: o.protocols } : {}),
      perMessageDeflate: false,
      ...(o.tls ? { tls: o.tls } : {}),
    } as unknown as string[]) as ClientWebSocket;
    ws.binaryType = 'arraybuffer';
    return ws;
  },
  handshakeStatus(message) {
    const m = STATUS_IN_ERROR.exec(message);
    return m ? Number(m[1]) : undefined;
  },
  fetch: (url: string | URL, init?: FetchInit) => fetch(url, init as RequestInit),
  connectStream,
  gzip: (data, level) => Bun.gzipSync(data as Uint8Array<ArrayBuffer>, { level: level as 1 }) as Uint8Array<ArrayBuffer>,
  spawnWorker,
  heapStats: jscHeapStats,
  collectGarbage: (o) => {
    Bun.gc(true);
    if (o?.shrink) Bun.shrink();
  },
};
