// One request in flight through an agent (kubectl's, or an app's on the public gateway): waits for the agent's
// answer (buffered or streamed) and writes it to the client, or fails it. Every way out (answer, agent error, timeout, client gone, agent gone,
// slow client) ends in exactly one `finish`, and tells the agent `proxy_cancel` when the agent may still be working.
import type { Logger } from '../../log/logger.ts';
import type { HeaderMap } from '../../protocol/http-headers.ts';
import type { DecodedResponse } from '../../protocol/response-decoders.ts';
import { clientHead } from './client-head.ts';
import { kubeErrorBody } from '../kube-gateway/kube-status.ts';
import type { DeadlineSweep } from '../../timing/deadlines.ts';
import type { AgentSession } from '../agent-endpoint.ts';
import type { ChunkCredit } from '../../protocol/flow-control.ts';

/**
 * Where an exchange writes its answer: node's ServerResponse, or the kube gateway's fast-path FrontResponse
 * (src/hub/kube-gateway/http-front.ts). Only what the exchanges and their chunk credit use.
 */
export interface ClientAnswer {
  statusCode: number;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly writableLength: number;
  writeHead(status: number, headers?: Record<string, string | string[]>): unknown;
  flushHeaders(): void;
  write(chunk: Uint8Array): boolean;
  end(chunk?: Uint8Array | string): unknown;
  destroy(): unknown;
  on(event: 'close', listener: () => void): unknown;
  once(event: 'drain' | 'finish', listener: () => void): unknown;
}

export interface ExchangeInfo {
  requestId: string;
  clusterId: string;
  method: string;
  /** Kubernetes path without the query (logged; queries never carry secrets, but keep lines short). */
  path: string;
  streaming: boolean;
}

export interface ExchangeOptions {
  /** Bound on the time until the agent's first answer (status known); 504 + proxy_cancel after it. */
  answerTimeoutMs: number;
  /** Bytes a client may leave unread on a stream before the stream is cut (the agent cannot be paused per stream). */
  maxClientBacklog: number;
  /** Send `proxy_cancel` for this exchange's request to the agent. */
  cancel: (ex: ProxyExchange) => void;
  /** Called exactly once when the exchange is over (remove it from the pending table). */
  finish: (ex: ProxyExchange) => void;
  /**
   * The table's answer timeouts, all on one timer over its exchanges (clock: `performance.now()`): no timer, entry or
   * closure per exchange (issue 14); the sweep calls `expire`.
   */
  sweep: DeadlineSweep<ProxyExchange>;
  /**
   * The caller calls `clientClosed` from a 'close' listener of its own on the response (the kube gateway has one for
   * its metrics): the exchange adds none (one listener per request instead of two).
   */
  callerWatchesClose?: boolean;
  log: Logger;
  /** Body of an error answered before the status was sent; default kubeErrorBody (kubectl). */
  errorBody?: (code: number, message: string) => { contentType: string; body: string };
  /** Log message of the one line per request (default "kube gateway request"). */
  label?: string;
}

type State = 'waiting' | 'streaming' | 'done';

export class ProxyExchange {
  #state: State = 'waiting';
  /** When the answer timeout fires (performance.now() ms); Infinity once cleared or fired (opts.sweep). */
  deadlineAt: number;
  #bytes = 0;
  readonly #started = Date.now();
  /** Binary chunk credit, made at the first body chunk (a buffered answer never needs one; agent-exchanges.ts). */
  credit: ChunkCredit | undefined = undefined;

  constructor(
    readonly info: ExchangeInfo,
    readonly res: ClientAnswer,
    /** The agent session the request was written to (its answers count only from there). */
    readonly session: AgentSession,
    readonly opts: ExchangeOptions,
    /**
     * A watch or log follow: at hub shutdown the stream ends with its terminating chunk, as a real kube-apiserver
     * ends held watches on SIGTERM (clients see a clean end and re-establish), instead of a cut connection.
     */
    readonly endsCleanlyOnShutdown = false,
  ) {
    this.deadlineAt = performance.now() + opts.answerTimeoutMs;
    opts.sweep.watch(this.deadlineAt);
    if (!opts.callerWatchesClose) res.on('close', () => this.clientClosed());
  }

  /** The response's 'close': the client went away if the response was not complete. */
  clientClosed(): void {
    if (this.#state === 'done') return;
    this.opts.cancel(this);
    this.#done(0, 'client disconnected', 'debug');
  }

  /** The answer timeout passed while waiting: 504, and the agent is told to stop. */
  expire(): void {
    if (this.#state !== 'waiting') return;
    this.deadlineAt = Number.POSITIVE_INFINITY;
    this.opts.cancel(this);
    this.fail(504, `timed out after ${this.opts.answerTimeoutMs} ms waiting for cluster "${this.info.clusterId}" to answer`, 'warn');
  }

  get state(): State {
    return this.#state;
  }

  /** A complete buffered answer (`proxy_response` or a binary response frame). */
  respond(r: DecodedResponse): void {
    if (this.#state !== 'waiting') {
      this.#unexpected('buffered response');
      return;
    }
    const headers = clientHead(r.status, r.headers, r.body);
    headers['Content-Length'] = String(r.body.length);
    this.#bytes = r.body.length;
    this.#state = 'done';
    this.#clearTimer();
    this.res.writeHead(r.status, headers);
    this.res.end(r.body);
    this.#log(r.status, 'debug');
    this.opts.finish(this);
  }

  /** `proxy_response_header`: status and headers now; the body follows chunked. */
  streamHeader(status: number, headers: HeaderMap): void {
    if (this.#state !== 'waiting') {
      this.#unexpected('stream header');
      return;
    }
    this.#state = 'streaming';
    this.#clearTimer();
    this.res.writeHead(status, clientHead(status, headers));
    // Watches and follows may stay quiet for minutes: the client must see the status line now.
    this.res.flushHeaders();
    this.res.statusCode = status;
  }

  streamChunk(bytes: Uint8Array): void {
    if (this.#state !== 'streaming') {
      this.#unexpected('stream chunk');
      return;
    }
    this.#bytes += bytes.length;
    this.res.write(bytes);
    if (this.res.writableLength > this.opts.maxClientBacklog) {
      // The agent keeps sending at the backend's pace; buffering without bound here would let one slow client
      // exhaust the hub. Cut the stream (the client sees an error, never a truncated success) and stop the agent.
      this.opts.cancel(this);
      this.#destroy(`client did not drain ${this.res.writableLength} buffered bytes`);
    }
  }

  streamEnd(): void {
    if (this.#state !== 'streaming') {
      this.#unexpected('stream end');
      return;
    }
    this.#state = 'done';
    this.res.end();
    this.#log(this.res.statusCode, 'debug');
    this.opts.finish(this);
  }

  /** Hub shutdown: a watch or follow ends cleanly (and the agent is told to stop it); anything else fails with 503. */
  shutdown(): void {
    if (this.#state !== 'streaming' || !this.endsCleanlyOnShutdown) {
      this.fail(503, 'the hub is shutting down', 'debug');
      return;
    }
    this.opts.cancel(this);
    this.#state = 'done';
    this.res.end();
    this.#log(this.res.statusCode, 'debug');
    this.opts.finish(this);
  }

  /**
   * The request failed (agent error, abort, timeout, session lost). Before the status was sent: a Status JSON
   * with `code`. Mid-stream: the client socket is destroyed without the terminating chunk.
   */
  fail(code: number, message: string, level: 'warn' | 'debug' = 'warn'): void {
    if (this.#state === 'done') return;
    if (this.#state === 'streaming') {
      this.#destroy(message, level);
      return;
    }
    this.#state = 'done';
    this.#clearTimer();
    const e = (this.opts.errorBody ?? kubeErrorBody)(code, message);
    this.res.writeHead(code, { 'Content-Type': e.contentType, 'Content-Length': String(Buffer.byteLength(e.body)) });
    this.res.end(e.body);
    this.#log(code, level, message);
    this.opts.finish(this);
  }

  #destroy(reason: string, level: 'warn' | 'debug' = 'warn'): void {
    this.#done(this.res.statusCode, reason, level);
    this.res.destroy();
  }

  #done(status: number, reason: string, level: 'warn' | 'debug'): void {
    this.#state = 'done';
    this.#clearTimer();
    this.#log(status, level, reason);
    this.opts.finish(this);
  }

  #unexpected(what: string): void {
    this.opts.log.warn({ request_id: this.info.requestId, cluster_id: this.info.clusterId, state: this.#state }, `${this.opts.label ?? 'kube gateway request'}: unexpected ${what} from agent, ignored`);
  }

  #clearTimer(): void {
    // The sweep finds nothing due for it (its timer is armed for the earliest deadline and re-armed when it wakes).
    this.deadlineAt = Number.POSITIVE_INFINITY;
  }

  #log(status: number, level: 'warn' | 'debug', error?: string): void {
    // One line per request at debug: not even its fields are built when debug is off (the hub's default).
    if (level === 'debug' && !this.opts.log.isLevelEnabled('debug')) return;
    const i = this.info;
    this.opts.log[level](
      { request_id: i.requestId, cluster_id: i.clusterId, method: i.method, path: i.path, streaming: i.streaming, status, bytes: this.#bytes, ms: Date.now() - this.#started, ...(error ? { error } : {}) },
      error ? `${this.opts.label ?? 'kube gateway request'} failed` : (this.opts.label ?? 'kube gateway request'),
    );
  }
}
