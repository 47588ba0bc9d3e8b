// The runtime contract: everything the agent needs that web standards do not give it the same way on Bun and Deno.
// Each implementation (src/runtime/bun/, src/runtime/deno/) exports `runtime: Runtime`; code imports it as
// `#runtime`, which the launcher resolves: package.json `imports` for Bun (the default), deno.json's import map
// for Deno. Everything else in src/ uses web-standard APIs (fetch, WebSocket, streams, timers, Worker) or
// node: modules both runtimes implement. Not in the contract: sleep and backoff (web-standard timers, src/timing/),
// child processes (the agent runs none: lint rule no-child-process) and SQLite (the hub's, src/runtime/sqlite.ts:
// the hub, demo and sandbox run on Bun only).
import type { UpgradeWebSocket } from 'hono/ws';

export interface ServeOptions {
  port: number;
  hostname: string;
  /** The application (a Hono app's `fetch`); WebSocket routes use `Runtime.upgradeWebSocket`. */
  fetch: (req: Request, env?: unknown) => Response | Promise<Response>;
  /** Seconds a connection may idle before the server drops it (Bun's default 10 s kills SSE, bun-notes §6). */
  idleTimeoutS: number;
}

export interface RunningServer {
  /** The bound port (the one asked for, or the one chosen for port 0). */
  readonly port: number;
  /** Stops listening and closes every open connection, WebSockets and SSE streams included. */
  stop(): Promise<void>;
}

/** TLS settings of an outgoing connection (fetch or WebSocket): PEM strings, as the kubeconfig gives them. */
export interface ClientTls {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  serverName?: string;
}

export interface OpenWebSocketOptions {
  headers?: Record<string, string>;
  protocols?: string[];
  tls?: ClientTls;
}

/**
 * A client WebSocket: the web-standard surface plus the control frames the DOM type lacks. Always opened with
 * `binaryType = 'arraybuffer'` and without permessage-deflate (bodies are already gzipped, bun-notes §7).
 * `addEventListener('pong')` delivers the peer's pongs; pings from the peer are answered automatically.
 */
export interface ClientWebSocket extends WebSocket {
  ping(data?: Uint8Array): void;
  pong(data?: Uint8Array): void;
  /** Drop the connection at once, without a close handshake. */
  terminate(): void;
}

/**
 * An outgoing TCP or TLS connection with the part of node:net's surface the HTTP/1.1 client (src/kube/http1.ts) uses.
 * 'error' (if any) comes before 'close', and 'close' comes once, last. Writes before the connection is ready (TLS:
 * handshake done and verified) and bytes the kernel does not take at once are queued, in order.
 */
export interface StreamSocket {
  on(event: 'data', listener: (d: Buffer) => void): unknown;
  on(event: 'end' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  write(d: Uint8Array): unknown;
  pause(): unknown;
  resume(): unknown;
  /** Close at once; with `e`, 'error' is emitted with it before 'close'. */
  destroy(e?: Error): unknown;
  readonly destroyed: boolean;
}

export interface StreamConnectOptions {
  host: string;
  port: number;
  /** TLS, verified unless `rejectUnauthorized` is false: a chain or name that fails is an 'error' with its code. */
  tls: ClientTls | null;
  /** Connecting (and the TLS handshake) may take this long; then the socket fails with `timeoutError()`. */
  timeoutMs: number;
  timeoutError: () => Error;
}

/** `fetch` with the outgoing TLS settings and, with `decompress: false`, the body exactly as the server sent it. */
export type FetchInit = RequestInit & { tls?: ClientTls; decompress?: boolean };

/** Heap figures of the calling thread; fields a runtime cannot tell are null. */
export interface HeapStats {
  /** Bytes of live objects. */
  heapSize: number;
  /** Bytes the heap has reserved. */
  heapCapacity: number;
  /** Bytes held outside the heap by heap objects (array buffers, strings). */
  extraMemorySize: number;
  /** Live objects (JavaScriptCore counts them; V8 does not). */
  objectCount: number | null;
  protectedObjectCount: number | null;
}

export interface Runtime {
  readonly name: 'bun' | 'deno';
  /** The runtime's own version, e.g. `1.4.5`. */
  readonly version: string;
  serve(o: ServeOptions): RunningServer;
  /**
   * Exempts one long-lived response (SSE) from the server's idle timeout. `env` is what the server handed the app as
   * its environment (Hono's `c.env`); without a server (tests calling `app.request()`) it does nothing.
   */
  keepRequestOpen(req: Request, env: unknown): void;
  /** Hono's WebSocket route helper for this runtime's server. */
  readonly upgradeWebSocket: UpgradeWebSocket;
  openWebSocket(url: string, o: OpenWebSocketOptions): ClientWebSocket;
  /** The HTTP status of a refused WebSocket handshake, read from the error message this runtime reports. */
  handshakeStatus(message: string): number | undefined;
  fetch(url: string | URL, init?: FetchInit): Promise<Response>;
  /** An outgoing TCP or TLS connection (the relay's HTTP/1.1 client to the API server), no delay (Nagle) off. */
  connectStream(o: StreamConnectOptions): StreamSocket;
  gzip(data: Uint8Array, level: number): Uint8Array<ArrayBuffer>;
  /**
   * Starts a module worker from `workers/<name>.ts`. When the worker ends on its own (an uncaught error, an exit) the
   * returned Worker fires 'close' with a `code`, as Bun's does; the supervisor restarts on it.
   */
  spawnWorker(name: string): Worker;
  heapStats(): HeapStats;
  /**
   * A full garbage collection of the calling thread's heap, now. `shrink` also drops compiled code and hands free
   * pages back to the system (Bun: `Bun.shrink()`). Deno: a collection only with --expose-gc, else nothing.
   */
  collectGarbage(o?: { shrink?: boolean }): void;
}
