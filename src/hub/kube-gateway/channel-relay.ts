// kubectl's exec, attach and port-forward for an agent without `raw_upgrade` (the shipped Go agent): the hub
// completes the client's upgrade itself and opens the stream with `proxy_websocket_start` (protocol.md §4.1),
// mapping messages to and from upstream's channel translation (§4.3) as channel-translation.ts describes.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { InboundMessage } from '../../protocol/envelope.ts';
import { decodeFrameData, encodeFrameData, OPCODE } from '../../protocol/stream-messages.ts';
import type { SpdySession, SpdyStream } from '../../kube/spdy.ts';
import { spdyOverSocket } from '../../kube/spdy-transport.ts';
import { rejectUpgrade, writeSwitchingProtocols } from '../../kube/upgrade-response.ts';
import { acceptWebSocket, handshakeProblem, offeredSubprotocols } from '../../kube/websocket-server.ts';
import type { UpgradeContext } from './upgrade-relay.ts';
import { failureStatus, parseChannelStatus, planTranslation, type SpdyStreamType, type TranslationPlan } from './channel-translation.ts';

/** What the client may leave unread before the stream is cut (upstream has no per-stream flow control). */
const MAX_CLIENT_BACKLOG = 64 * 1024 * 1024;
/** Largest slice of a raw SPDY byte stream sent as one tunnel message. */
const MAX_TUNNEL_MESSAGE = 256 * 1024;
/** How long a SPDY exec client may take to open its streams (the kubelet's own bound). */
const SPDY_STREAMS_TIMEOUT_MS = 30_000;

/** The client side of one relay: where translated output goes, and how it ends. */
interface ClientSink {
  /** A channel message (1 stdout, 2 stderr, 3 status) of an exec; tunnels never get one. */
  output(channel: number, payload: Buffer): void;
  /** Bytes of a tunnel, or an untranslated channel message (4 and up) of an exec, as received. */
  raw(payload: Buffer): void;
  /** Orderly end after the last output. */
  end(): void;
  /** Cut without an orderly end (tunnels), with a reason where the client can show one. */
  abort(reason: string): void;
  /** Bytes written and not yet taken by the client's socket. */
  backlog(): number;
}

/** What a translated stream needs: the raw relay's context without the public gateway's app-upgrade fields. */
export type ChannelRelayContext = Pick<UpgradeContext, 'requestId' | 'clusterId' | 'session' | 'path' | 'query' | 'serviceToken' | 'log' | 'done'>;

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
  c.log.debug({ request_id: c.requestId, cluster_id: c.clusterId, path: c.path, upgrade, plan: plan.kind, protocol: plan.kind === 'spdy-exec' ? plan.clientProtocol : plan.protocol }, 'kube gateway: upgrade carried over channel translation');
  return new ChannelRelay(c, plan, req, socket, head);
}

export class ChannelRelay {
  #closed = false;
  #sink: ClientSink | null = null;
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
    if (plan.kind === 'spdy-exec') this.#spdyExec(plan, head);
    else if (plan.kind === 'tunnel' && plan.client === 'spdy') this.#spdyTunnel(head);
    else this.#webSocket(req, head, plan.protocol);
  }

  #toAgent(opcode: number, data: Uint8Array): void {
    if (this.#closed) return;
    this.c.session.send({ type: 'proxy_websocket_data', payload: { stream_id: this.c.requestId, data: encodeFrameData(opcode, data) }, requestId: this.c.requestId });
  }

  #start(): void {
    this.c.session.send({
      type: 'proxy_websocket_start',
      payload: {
        stream_id: this.c.requestId,
        method: 'GET',
        path: this.c.path,
        query: this.c.query,
        // Exactly one subprotocol, so the API server agrees with what the relay speaks.
        protocol: this.plan.protocol,
        headers: this.c.serviceToken ? { Authorization: [`Bearer ${this.c.serviceToken}`] } : {},
      },
      requestId: this.c.requestId,
    });
  }

  /** WebSocket clients (exec v5/v4, the port-forward tunnel): the hub completes the handshake at once. */
  #webSocket(req: IncomingMessage, head: Buffer, protocol: string): void {
    const ws = acceptWebSocket(req, this.socket, head, protocol);
    this.#sink = {
      output: (ch, payload) => ws.send(withChannel(ch, payload), true),
      raw: (payload) => ws.send(payload, true),
      end: () => ws.close(1000, ''),
      abort: (reason) => ws.close(1011, reason.slice(0, 120)),
      backlog: () => this.socket.writableLength,
    };
    // The start goes first: the agent registers the stream before any data for it.
    this.#start();
    // Channel messages keep their channel byte (binary passes the agent unchanged); text would become stdin.
    ws.onMessage((data, binary) => this.#toAgent(binary ? OPCODE.binary : OPCODE.text, data));
    ws.onClose(() => this.#close(true));
  }

  /** kubectl's raw SPDY port-forward: the same SPDY bytes the WebSocket tunnel carries. */
  #spdyTunnel(head: Buffer): void {
    const socket = this.socket;
    writeSwitchingProtocols(socket, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'portforward.k8s.io' });
    this.#sink = {
      output: () => {},
      raw: (payload) => socket.write(payload),
      end: () => socket.end(),
      abort: () => socket.destroy(),
      backlog: () => socket.writableLength,
    };
    const send = (chunk: Buffer) => {
      for (let at = 0; at < chunk.length; at += MAX_TUNNEL_MESSAGE) this.#toAgent(OPCODE.binary, chunk.subarray(at, at + MAX_TUNNEL_MESSAGE));
    };
    this.#start();
    if (head.length) send(head);
    socket.on('data', send);
    socket.on('end', () => {
      socket.end();
      this.#close(true);
    });
    socket.on('close', () => this.#close(true));
  }

  /** SPDY exec/attach: the hub is the SPDY server; the stream starts once the client opened its streams. */
  #spdyExec(plan: Extract<TranslationPlan, { kind: 'spdy-exec' }>, head: Buffer): void {
    writeSwitchingProtocols(this.socket, { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': plan.clientProtocol });
    const streams = new Map<SpdyStreamType, SpdyStream>();
    const byChannel: Record<number, SpdyStreamType> = { 1: 'stdout', 2: 'stderr', 3: 'error' };
    let started = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const spdy: SpdySession = spdyOverSocket(
      this.socket,
      head,
      (stream) => {
        const type = stream.headers.streamtype as SpdyStreamType | undefined;
        if (!type || !plan.streams.includes(type) || streams.has(type)) {
          this.c.log.warn({ request_id: this.c.requestId, type }, 'kube gateway: unexpected SPDY exec stream, reset');
          stream.reset();
          return;
        }
        streams.set(type, stream);
        if (started || !plan.streams.every((t) => streams.has(t))) return;
        started = true;
        clearTimeout(timer);
        // The stream exists at the agent before the first stdin bytes (kept by the SPDY streams until now) follow.
        this.#start();
        this.#wireSpdyInput(streams);
      },
      this.c.log,
    );
    timer = setTimeout(() => {
      if (started) return;
      this.c.log.warn({ request_id: this.c.requestId, got: [...streams.keys()] }, 'kube gateway: SPDY exec client did not open its streams');
      spdy.close();
    }, SPDY_STREAMS_TIMEOUT_MS);
    timer.unref();
    const finish = () => {
      for (const st of streams.values()) st.end();
      spdy.close();
    };
    this.#sink = {
      output: (ch, payload) => streams.get(byChannel[ch] ?? 'stdout')?.write(payload),
      raw: () => {},
      end: finish,
      abort: finish,
      backlog: () => this.socket.writableLength,
    };
    spdy.onClose(() => {
      clearTimeout(timer);
      this.#close(true);
    });
  }

  #wireSpdyInput(streams: Map<SpdyStreamType, SpdyStream>): void {
    const stdin = streams.get('stdin');
    stdin?.onData((d) => this.#toAgent(OPCODE.binary, withChannel(0, d)));
    // v5 toward the API server: the stdin FIN becomes the CLOSE signal for stream 0.
    const closeStdin = () => this.#toAgent(OPCODE.binary, Buffer.from([255, 0]));
    stdin?.onEnd(closeStdin);
    stdin?.onReset(closeStdin);
    // The resize stream carries JSON objects, one per line (Go's json.Encoder); v5 wants one per message.
    let pending = '';
    streams.get('resize')?.onData((d) => {
      pending += d.toString('utf8');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl + 1);
        pending = pending.slice(nl + 1);
        if (line.trim()) this.#toAgent(OPCODE.binary, withChannel(4, Buffer.from(line)));
      }
    });
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
    const sink = this.#sink;
    if (!sink) return;
    if (this.plan.kind === 'tunnel' || opcode === OPCODE.binary) {
      // Tunnel bytes, or exec channels the agent does not translate (4 and up), as received.
      sink.raw(payload);
    } else {
      if (this.#held) sink.output(this.#outputChannel(), this.#held);
      this.#held = null;
      if (parseChannelStatus(payload.toString('utf8'))) this.#held = payload;
      else sink.output(this.#outputChannel(), payload);
    }
    if (sink.backlog() > MAX_CLIENT_BACKLOG) {
      this.c.log.warn({ request_id: this.c.requestId }, 'upgrade client is not reading; stream cut');
      this.socket.destroy();
      this.#close(true);
    }
  }

  #outputChannel(): number {
    return this.plan.kind === 'tunnel' ? 1 : this.plan.outputChannel;
  }

  /** The agent closed the stream: the held Status (if any) is the API server's channel 3. */
  #finish(): void {
    if (this.#held) this.#sink?.output(3, this.#held);
    this.#held = null;
    // Forgotten first: ending the client's side reports back through its close listener.
    this.#close(false);
    this.#sink?.end();
  }

  /** The stream cannot go on (the agent reported an error, or its session is gone: it has nothing to close). */
  #fail(message: string): void {
    if (this.#closed) return;
    this.#close(false);
    if (this.plan.kind === 'tunnel') {
      this.#sink?.abort(message);
      return;
    }
    if (this.#held) this.#sink?.output(this.#outputChannel(), this.#held);
    this.#held = null;
    // A Failure status without an exit code: kubectl reports it as an error carrying the message.
    this.#sink?.output(3, Buffer.from(failureStatus(message)));
    this.#sink?.end();
  }

  #close(tellAgent: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    if (tellAgent) this.c.session.send({ type: 'proxy_websocket_close', payload: { stream_id: this.c.requestId }, requestId: this.c.requestId });
    this.c.done();
  }
}

function withChannel(channel: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(payload.length + 1);
  b[0] = channel;
  b.set(payload, 1);
  return b;
}
