// kubectl's exec, attach and port-forward for an agent without `raw_upgrade` (the shipped Go agent): the hub
// completes the client's upgrade itself and opens the stream with `proxy_websocket_start` (protocol.md §4.1),
// mapping messages to and from upstream's channel translation (§4.3) as channel-translation.ts describes.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { InboundMessage } from '../../protocol/envelope.ts';
import { decodeFrameData, encodeFrameData, OPCODE } from '../../protocol/stream-messages.ts';
import { rejectUpgrade, writeSwitchingProtocols } from '../../kube/upgrade-response.ts';
import { acceptWebSocket, handshakeProblem, offeredSubprotocols, type WebSocketConnection } from '../../kube/websocket-server.ts';
import type { AgentSession } from '../agent-endpoint.ts';
import { failureStatus, parseChannelStatus, planTranslation, type TranslationPlan } from './channel-translation.ts';

/** What the client may leave unread before the stream is cut (upstream has no per-stream flow control). */
const MAX_CLIENT_BACKLOG = 64 * 1024 * 1024;
/** Largest slice of a raw SPDY byte stream sent as one tunnel message. */
const MAX_TUNNEL_MESSAGE = 256 * 1024;

export interface ChannelRelayContext {
  requestId: string;
  clusterId: string;
  session: AgentSession;
  path: string;
  query: string;
  serviceToken: string;
  log: Logger;
  /** Called once when the relay is over, whatever the reason. */
  done(): void;
}

function listHeader(v: string | string[] | undefined): string[] {
  return (Array.isArray(v) ? v.join(',') : (v ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Plans the request and, when it can be carried, answers the client's upgrade and opens the stream. Returns
 * the relay to route agent messages to, or null when the upgrade was refused (the client got a Status).
 */
export function startChannelRelay(c: ChannelRelayContext, req: IncomingMessage, socket: Duplex, head: Buffer): ChannelRelay | null {
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  const plan = planTranslation({
    method: req.method ?? 'GET',
    path: c.path,
    query: c.query,
    upgrade,
    offered: offeredSubprotocols(req),
    streamVersions: listHeader(req.headers['x-stream-protocol-version']),
  });
  const problem = !plan.ok ? plan.message : upgrade === 'websocket' ? handshakeProblem(req) : null;
  if (!plan.ok || problem) {
    c.log.warn({ request_id: c.requestId, cluster_id: c.clusterId, path: c.path, upgrade, reason: problem }, 'kube gateway: upgrade refused (channel translation)');
    rejectUpgrade(socket, plan.ok ? 400 : plan.status, problem ?? '');
    c.done();
    return null;
  }
  return new ChannelRelay(c, plan, req, socket, head);
}

export class ChannelRelay {
  #closed = false;
  #ws: WebSocketConnection | null = null;
  /** A text message that parsed as a Status: channel 3 if nothing follows it, output otherwise. */
  #held: Buffer | null = null;

  constructor(
    private readonly c: ChannelRelayContext,
    private readonly plan: Extract<TranslationPlan, { ok: true }>,
    req: IncomingMessage,
    private readonly socket: Duplex,
    head: Buffer,
  ) {
    socket.on('error', (e) => c.log.debug({ request_id: c.requestId, err: e.message }, 'upgrade client socket error'));
    const toAgent = (opcode: number, data: Uint8Array) => c.session.send('proxy_websocket_data', { stream_id: c.requestId, data: encodeFrameData(opcode, data) }, c.requestId);
    if (plan.kind === 'tunnel' && plan.client === 'spdy') {
      writeSwitchingProtocols(socket, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'portforward.k8s.io' });
      const send = (chunk: Buffer) => {
        for (let at = 0; at < chunk.length; at += MAX_TUNNEL_MESSAGE) toAgent(OPCODE.binary, chunk.subarray(at, at + MAX_TUNNEL_MESSAGE));
      };
      if (head.length) send(head);
      socket.on('data', send);
      socket.on('end', () => {
        socket.end();
        this.#close(true);
      });
      socket.on('close', () => this.#close(true));
    } else {
      const ws = acceptWebSocket(req, socket, head, plan.protocol);
      this.#ws = ws;
      // Channel messages keep their channel byte (binary passes the agent unchanged); text would become stdin.
      ws.onMessage((data, binary) => toAgent(binary ? OPCODE.binary : OPCODE.text, data));
      ws.onClose(() => this.#close(true));
    }
    c.session.send(
      'proxy_websocket_start',
      {
        stream_id: c.requestId,
        method: 'GET',
        path: c.path,
        query: c.query,
        // Exactly one subprotocol, so the API server agrees with what the client was answered.
        protocol: plan.protocol,
        headers: c.serviceToken ? { Authorization: [`Bearer ${c.serviceToken}`] } : {},
      },
      c.requestId,
    );
  }

  /** A message from the agent for this stream. */
  message(m: InboundMessage): void {
    if (this.#closed) return;
    switch (m.type) {
      case 'proxy_websocket_data':
      case 'ws_data': {
        const f = decodeFrameData(m.payload, false);
        if (typeof f === 'string') {
          this.c.log.warn({ request_id: this.c.requestId, error: f }, 'undecodable stream data from the agent');
          return;
        }
        if (f.opcode === OPCODE.text || f.opcode === OPCODE.binary) this.#fromAgent(f.opcode, Buffer.from(f.payload));
        return;
      }
      case 'proxy_websocket_close':
      case 'ws_close':
        this.#finish();
        return;
      case 'proxy_error': {
        const error = typeof m.payload.error === 'string' ? m.payload.error : 'the agent could not open the stream';
        this.c.log.warn({ request_id: this.c.requestId, cluster_id: this.c.clusterId, error }, 'kube gateway: agent could not open the stream');
        this.#fail(error);
        return;
      }
    }
  }

  /** The agent's session went away. */
  lost(): void {
    this.#fail(`cluster "${this.c.clusterId}" disconnected from the hub`);
  }

  #fromAgent(opcode: number, payload: Buffer): void {
    if (this.plan.kind === 'tunnel') {
      if (this.#ws) this.#ws.send(payload, true);
      else this.socket.write(payload);
    } else if (opcode === OPCODE.binary) {
      // Channels the agent does not translate (4 and up) arrive with their channel byte.
      this.#ws?.send(payload, true);
    } else {
      if (this.#held) this.#output(this.#held);
      this.#held = null;
      if (parseChannelStatus(payload.toString('utf8'))) this.#held = payload;
      else this.#output(payload);
    }
    if (this.socket.writableLength > MAX_CLIENT_BACKLOG) {
      this.c.log.warn({ request_id: this.c.requestId }, 'upgrade client is not reading; stream cut');
      this.socket.destroy();
      this.#close(true);
    }
  }

  #output(payload: Buffer, channel: number = this.plan.kind === 'exec' ? this.plan.outputChannel : 1): void {
    const b = Buffer.allocUnsafe(payload.length + 1);
    b[0] = channel;
    payload.copy(b, 1);
    this.#ws?.send(b, true);
  }

  /** The agent closed the stream: the held Status (if any) is the API server's channel 3. */
  #finish(): void {
    if (this.#held) this.#output(this.#held, 3);
    this.#held = null;
    // Forgotten first: closing the client's side reports back through onClose.
    this.#close(false);
    if (this.#ws) this.#ws.close(1000, '');
    else this.socket.end();
  }

  /** The stream cannot go on (the agent reported an error, or its session is gone: it has nothing to close). */
  #fail(message: string): void {
    if (this.#closed) return;
    this.#close(false);
    if (this.plan.kind === 'exec') {
      if (this.#held) this.#output(this.#held);
      this.#held = null;
      // kubectl prints a Failure Status without an exit code as `Error from server: <message>`.
      this.#output(Buffer.from(failureStatus(message)), 3);
      this.#ws?.close(1000, '');
    } else if (this.#ws) this.#ws.close(1011, message.slice(0, 120));
    else this.socket.destroy();
  }

  #close(tellAgent: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    if (tellAgent) this.c.session.send('proxy_websocket_close', { stream_id: this.c.requestId }, this.c.requestId);
    this.c.done();
  }
}
