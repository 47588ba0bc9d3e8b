// kubectl's upgrades (exec, attach, port-forward; WebSocket or SPDY/3.1) through the tunnel, using the
// negotiated raw upgrade (src/protocol/stream-messages.ts): the client's upgrade request travels unchanged
// except for credentials, the API server answers it, and the upgraded connection's bytes are relayed as-is.
// Every kubectl from 1.27 (SPDY) to 1.33 (WebSocket v5, SPDY-in-WebSocket port-forward) works the same way.
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.ts';
import type { InboundMessage } from '../../protocol/envelope.ts';
import { HOP_BY_HOP, type HeaderMap, rawHeadersToMap } from '../../protocol/http-headers.ts';
import { rawUpgradeRequest, type ServiceTarget } from '../../protocol/proxy-request-builders.ts';
import { decodeFrameData, encodeFrameData, OPCODE } from '../../protocol/stream-messages.ts';
import type { AgentSession } from '../agent-endpoint.ts';
import { LINK_HEADERS } from '../replica-link.ts';
import { withoutRuntimeHints } from '../runtime-error-text.ts';
import { agentErrorStatus, kubeErrorBody } from '../kube-gateway/kube-status.ts';

/** What the client may leave unread before the stream is cut (the agent has no per-stream flow control). */
const MAX_CLIENT_BACKLOG = 64 * 1024 * 1024;

/** Largest chunk sent as one `proxy_websocket_data`. */
const MAX_FRAME = 256 * 1024;

export interface UpgradeContext {
  requestId: string;
  clusterId: string;
  session: AgentSession;
  path: string;
  query: string;
  serviceToken: string;
  log: Logger;
  /** Called once when the relay is over, whatever the reason. */
  done(): void;
  /**
   * The public gateway's app upgrades: headers to send instead of `upgradeHeaders` (Host and the app's own
   * Authorization kept), and the Service the agent replays the upgrade to.
   */
  headers?: HeaderMap;
  service?: ServiceTarget;
}

/** Headers for the agent: the client's upgrade headers kept, credentials replaced, Host and the replica link's headers dropped. */
export function upgradeHeaders(req: IncomingMessage, serviceToken: string): HeaderMap {
  const all = rawHeadersToMap(req.rawHeaders);
  const out: HeaderMap = {};
  for (const [k, vs] of Object.entries(all)) {
    const l = k.toLowerCase();
    if (l === 'authorization' || l === 'host' || l === 'content-length' || LINK_HEADERS.includes(l)) continue;
    if (HOP_BY_HOP.has(l) && l !== 'connection' && l !== 'upgrade') continue;
    out[k] = vs;
  }
  if (serviceToken) out.Authorization = [`Bearer ${serviceToken}`];
  return out;
}

export class UpgradeRelay {
  #state: 'waiting' | 'open' | 'closed' = 'waiting';

  constructor(
    private readonly c: UpgradeContext,
    private readonly socket: Duplex,
    private readonly head: Buffer,
  ) {
    socket.on('error', (e) => c.log.debug({ request_id: c.requestId, err: e.message }, 'upgrade client socket error'));
    socket.on('close', () => this.#close(true));
  }

  start(req: IncomingMessage): void {
    const payload = rawUpgradeRequest({
      method: req.method ?? 'GET',
      path: this.c.path,
      query: this.c.query,
      headers: this.c.headers ?? upgradeHeaders(req, this.c.serviceToken),
      service: this.c.service,
    });
    this.c.session.send({ type: 'proxy_request', payload, requestId: this.c.requestId });
  }

  /** A message from the agent for this relay's id. */
  message(m: InboundMessage): void {
    switch (m.type) {
      case 'proxy_response':
        return this.#response(m.payload);
      case 'proxy_error': {
        const text = typeof m.payload.error === 'string' && m.payload.error ? withoutRuntimeHints(m.payload.error) : 'the agent could not open the stream';
        return this.#fail(agentErrorStatus(text), text);
      }
      case 'proxy_websocket_data': {
        if (this.#state !== 'open') return;
        const f = decodeFrameData(m.payload, false);
        if (typeof f === 'string' || f.opcode !== OPCODE.binary) return;
        this.socket.write(f.payload);
        if (this.socket.writableLength > MAX_CLIENT_BACKLOG) {
          this.c.log.warn({ request_id: this.c.requestId }, 'upgrade client is not reading; stream cut');
          this.socket.destroy();
        }
        return;
      }
      case 'proxy_websocket_close':
        this.socket.end();
        this.#close(false);
        return;
    }
  }

  /** The agent's session went away. */
  lost(): void {
    if (this.#state === 'waiting') this.#fail(503, `cluster "${this.c.clusterId}" disconnected from the hub`);
    else this.socket.destroy();
    this.#close(false);
  }

  #response(p: Record<string, unknown>): void {
    if (this.#state !== 'waiting') return;
    const status = typeof p.status === 'number' ? p.status : 502;
    const headers = (p.headers && typeof p.headers === 'object' ? p.headers : {}) as HeaderMap;
    const body = typeof p.body === 'string' ? Buffer.from(p.body, 'base64') : Buffer.alloc(0);
    const lines = [`HTTP/1.1 ${status} ${status === 101 ? 'Switching Protocols' : 'Upgrade Refused'}`];
    for (const [k, vs] of Object.entries(headers)) {
      if (status !== 101 && /^(connection|upgrade|content-length|transfer-encoding)$/i.test(k)) continue;
      for (const v of Array.isArray(vs) ? vs : [String(vs)]) lines.push(`${k}: ${v}`);
    }
    if (status !== 101) {
      lines.push(`Content-Length: ${body.length}`, 'Connection: close');
      this.socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]));
      this.#close(false);
      return;
    }
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    this.#state = 'open';
    const send = (chunk: Buffer) => {
      // However large a read is, no frame exceeds what the agent accepts (`proxy.ws_max_frame_bytes`, 1 MiB by default).
      // Bulk: behind the session's control and request messages, round-robin with other streams; when too much of
      // this stream waits, the client socket pauses (TCP backpressure) until it has room (issue 14).
      let room = true;
      for (let at = 0; at < chunk.length; at += MAX_FRAME)
        room = this.c.session.sendBulk(this.c.requestId, {
          type: 'proxy_websocket_data',
          payload: { stream_id: this.c.requestId, data: encodeFrameData(OPCODE.binary, chunk.subarray(at, at + MAX_FRAME)) },
          requestId: this.c.requestId,
        });
      if (!room) {
        this.socket.pause();
        this.c.session.whenWritable(this.c.requestId, () => this.socket.resume());
      }
    };
    if (this.head.length) send(this.head);
    this.socket.on('data', send);
    this.socket.on('end', () => {
      // The client finished its side (a WebSocket client does so after answering the server's close frame). The
      // gateway's sockets allow half-open connections, so end ours too, or that client waits for a TCP close
      // that never comes (it sits in CLOSING, and the relay is already forgotten).
      this.socket.end();
      this.#close(true);
    });
  }

  #fail(status: number, message: string): void {
    if (this.#state !== 'waiting') return;
    const e = kubeErrorBody(status, message);
    this.socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: ${e.contentType}\r\nContent-Length: ${Buffer.byteLength(e.body)}\r\nConnection: close\r\n\r\n${e.body}`);
    this.#close(false);
  }

  #close(tellAgent: boolean): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    // The agent registered the stream as soon as the request arrived, so a close ends it in either phase.
    // Behind this stream's data still waiting in the session's bulk queue, never ahead of it.
    if (tellAgent) this.c.session.sendBulk(this.c.requestId, { type: 'proxy_websocket_close', payload: { stream_id: this.c.requestId }, requestId: this.c.requestId });
    this.c.done();
  }
}
