// Application WebSocket upgrades through the public gateway for an agent without `raw_upgrade` (the shipped Go
// agent), over upstream's application relay (protocol.md §3.8): the upgrade travels as a `proxy_request` with
// `is_websocket`, the agent dials the Service and answers 101, and messages then travel as `proxy_websocket_data`
// with a 1-byte opcode prefix. The hub completes the client's handshake itself once the agent answered 101.
// Upstream limits that remain (documented in the README): the agent never reports a backend close (W1), so the
// client's connection ends only when the client closes it or the agent's session ends; permessage-deflate is
// never offered to the client.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.ts';
import { acceptWebSocket, handshakeProblem, offeredSubprotocols, type WebSocketConnection } from '../../kube/websocket-server.ts';
import type { InboundMessage } from '../../protocol/envelope.ts';
import type { HeaderMap } from '../../protocol/http-headers.ts';
import { appWebSocketRequest, type ServiceTarget } from '../../protocol/proxy-request-builders.ts';
import { decodeFrameData, encodeFrameData, OPCODE } from '../../protocol/stream-messages.ts';
import type { AgentSession } from '../agent-endpoint.ts';

/** What the client may leave unread before the connection is cut (upstream has no flow control here). */
const MAX_CLIENT_BACKLOG = 64 * 1024 * 1024;

export interface AppWebSocketContext {
  requestId: string;
  clusterId: string;
  session: AgentSession;
  path: string;
  query: string;
  /** The forwarded request headers (Host kept, X-Forwarded-* set). */
  headers: HeaderMap;
  service: ServiceTarget;
  log: Logger;
  /** Refuse the upgrade before any 101 (plain error body), as the public gateway does elsewhere. */
  refuse(status: number, reason: string): void;
  done(): void;
}

export class AppWebSocketRelay {
  #state: 'waiting' | 'open' | 'closed' = 'waiting';
  #ws: WebSocketConnection | null = null;

  constructor(
    private readonly c: AppWebSocketContext,
    private readonly req: IncomingMessage,
    private readonly socket: Duplex,
    private readonly head: Buffer,
  ) {
    socket.on('error', (e) => c.log.debug({ request_id: c.requestId, err: e.message }, 'app websocket client socket error'));
    socket.on('close', () => this.#close(true));
  }

  /** Sends the upgrade to the agent; false when the client's handshake is invalid (refused already). */
  start(): boolean {
    const problem = handshakeProblem(this.req);
    if (problem) {
      this.#state = 'closed';
      this.c.refuse(400, problem);
      this.c.done();
      return false;
    }
    const payload = appWebSocketRequest({ path: this.c.path, query: this.c.query, headers: this.c.headers, service: this.c.service });
    this.c.session.send({ type: 'proxy_request', payload, requestId: this.c.requestId });
    return true;
  }

  message(m: InboundMessage): void {
    switch (m.type) {
      case 'proxy_response':
      case 'proxy_response_header':
        return this.#answer(m.payload);
      case 'proxy_error':
      case 'proxy_response_abort':
        if (this.#state === 'waiting') return this.#refuse(502, typeof m.payload.error === 'string' ? m.payload.error : 'the agent could not reach the Service');
        return this.#end(1011, 'the agent reported an error');
      case 'proxy_websocket_data':
      case 'ws_data': {
        if (this.#state !== 'open') return;
        const f = decodeFrameData(m.payload, true);
        if (typeof f === 'string') {
          this.c.log.warn({ request_id: this.c.requestId, error: f }, 'undecodable websocket data from the agent');
          return;
        }
        if (f.opcode === OPCODE.close) return this.#end(f.payload.length >= 2 ? (f.payload[0]! << 8) | f.payload[1]! : 1000, '');
        if (f.opcode !== OPCODE.text && f.opcode !== OPCODE.binary) return;
        this.#ws?.send(f.payload, f.opcode === OPCODE.binary);
        if (this.socket.writableLength > MAX_CLIENT_BACKLOG) {
          this.c.log.warn({ request_id: this.c.requestId }, 'app websocket client is not reading; connection cut');
          this.socket.destroy();
        }
        return;
      }
      case 'proxy_websocket_close':
      case 'ws_close':
        return this.#end(1000, '');
    }
  }

  lost(): void {
    if (this.#state === 'waiting') this.#refuse(502, `cluster "${this.c.clusterId}" disconnected from the hub`);
    else this.#end(1001, 'the cluster disconnected from the hub', false);
  }

  #answer(p: Record<string, unknown>): void {
    if (this.#state !== 'waiting') return;
    const status = typeof p.status === 'number' ? p.status : 502;
    if (status !== 101) return this.#refuse(status === 200 ? 502 : status, `the Service answered the upgrade with ${status}`);
    const headers = (p.headers && typeof p.headers === 'object' ? p.headers : {}) as Record<string, string[] | string>;
    const key = Object.keys(headers).find((k) => k.toLowerCase() === 'sec-websocket-protocol');
    const chosen = key ? String(([] as string[]).concat(headers[key]!)[0] ?? '') : '';
    // The agent's backend chose among what the client offered; anything else would break the client's handshake.
    const protocol = offeredSubprotocols(this.req).includes(chosen) ? chosen : '';
    this.#state = 'open';
    const ws = acceptWebSocket(this.req, this.socket, this.head, protocol);
    this.#ws = ws;
    const id = this.c.requestId;
    ws.onMessage((data, binary) => {
      const opcode = binary ? OPCODE.binary : OPCODE.text;
      this.c.session.send({ type: 'proxy_websocket_data', payload: { request_id: id, stream_id: id, data: encodeFrameData(opcode, data), message_type: opcode }, requestId: id });
    });
    ws.onClose(() => this.#close(true));
  }

  #refuse(status: number, reason: string): void {
    if (this.#state !== 'waiting') return;
    this.#state = 'closed';
    this.c.refuse(status, reason);
    this.c.done();
  }

  #end(code: number, reason: string, tellAgent = true): void {
    if (this.#state === 'closed') return;
    const ws = this.#ws;
    this.#close(tellAgent);
    if (ws) ws.close(code, reason);
    else this.socket.destroy();
  }

  #close(tellAgent: boolean): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    // Before the 101 the agent may still be dialling; the close cancels that too (§2.6).
    if (tellAgent) this.c.session.send({ type: 'proxy_websocket_close', payload: { request_id: this.c.requestId, stream_id: this.c.requestId }, requestId: this.c.requestId });
    this.c.done();
  }
}
