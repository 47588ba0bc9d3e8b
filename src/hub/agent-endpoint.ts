// The hub's agent-facing protocol: `register` on the controller socket, heartbeats and liveness on either
// socket, and "cluster not found" for sessions the hub does not know (protocol.md §2; deviations L2).
import type { Logger } from '../log/logger.ts';
import { RegisterPayloadSchema } from '../protocol/control-messages.ts';
import { decodeEnvelope, type InboundMessage } from '../protocol/envelope.ts';
import { EXTENSIONS_METADATA_KEY, type Extension, parseExtensions } from '../protocol/extensions.ts';
import { isFrameBatch, splitFrameBatch } from '../protocol/frame-batch.ts';
import { encodeMessage, type HubToAgent, type HubToAgentPayloads } from '../protocol/wire-messages.ts';
import { AgentOutbound } from './agent-outbound.ts';
import type { ClusterRecord, ClusterStore } from './store/types.ts';

export type AgentSocketKind = 'controller' | 'gateway';

/** What the endpoint needs from a socket: Bun's ServerWebSocket satisfies it, so do test doubles. */
export interface AgentSocket {
  send(data: string | Uint8Array<ArrayBuffer>): unknown;
  close(code?: number, reason?: string): void;
  readonly data: AgentSocketData;
  /** Bytes queued for sending (Bun's ServerWebSocket has it; doubles may not). */
  getBufferedAmount?(): number;
  /** Sends inside `cb` leave in one write (Bun's ServerWebSocket): text messages are coalesced (agent-outbound.ts). */
  cork?(cb: () => void): unknown;
}

export interface AgentSocketData {
  kind: AgentSocketKind;
  /** Set once the socket belongs to a registered cluster. */
  clusterId: string | null;
  /** ws(s)://host:port as the agent reached us; the gateway URL handed out points back here. */
  origin: string;
  remote: string;
  /** sha256 hex of the token the socket authenticated with (tokenDigest); binds route registry calls to clusters. */
  tokenDigest?: string;
  /** Message bytes sent to and received from the agent on this socket (pipeops_hub_tunnel_bytes_total). */
  bytesOut?: number;
  bytesIn?: number;
  /** Extensions the agent advertised (gateway query, or register metadata on a controller session); none: upstream. */
  extensions?: ReadonlySet<Extension>;
  /** The gateway dial said `supports_yamux=true` (§2.1): the hub may send `gateway_hello` (§5.1). */
  yamux?: boolean;
}

/** Agent events the hub counts (hub-metrics.ts); every method optional so tests and tools may omit it. */
export interface AgentEvents {
  registration?(result: 'accepted' | 'rejected', reason?: string): void;
  refused?(reason: string): void;
  heartbeat?(result: 'ok' | 'unknown_cluster'): void;
  /** A frame batch from an agent (src/protocol/frame-batch.ts) and the messages in it (0 when malformed). */
  frameBatch?(result: 'ok' | 'malformed', messages: number): void;
}

/** A live agent session as the rest of the hub sees it (the Kubernetes and public gateways use it later). */
export interface AgentSession {
  clusterId: string;
  kind: AgentSocketKind;
  connectedAt: number;
  /** What this session's agent advertised (src/protocol/extensions.ts); the hub uses nothing else. */
  extensions: ReadonlySet<Extension>;
  /** The agent advertised yamux on this (gateway) socket. */
  yamux: boolean;
  /** One typed message (src/protocol/wire-messages.ts). */
  send(m: HubToAgent): void;
  /** A binary message, in order with the earlier messages; sent or copied before this returns (callers reuse buffers). */
  sendBinary(data: Uint8Array<ArrayBuffer>): void;
  /**
   * A text frame exactly as given (relays that already hold an encoded message; protocol tests). `coalesce`: it may
   * wait for the end of this event-loop turn and leave with the other texts of the turn (agent-outbound.ts).
   */
  sendRaw(text: string, coalesce?: boolean): void;
  /** Bytes queued on the socket and not yet sent: senders of bulk data pause above a bound. */
  bufferedAmount(): number;
  /**
   * Bulk stream data toward the agent (what a client uploads on a relayed stream): written behind control and
   * request messages, round-robin between streams (agent-outbound.ts). False: the stream has too much waiting; pause
   * its source until `whenWritable` calls back.
   */
  sendBulk(streamKey: string, m: HubToAgent): boolean;
  whenWritable(streamKey: string, cb: () => void): void;
  close(code: number, reason: string): void;
}

/** Non-session messages from an agent (proxy responses, stream data) go to whoever subscribed. */
export type AgentMessageListener = (clusterId: string, m: InboundMessage) => void;
export type AgentBinaryListener = (clusterId: string, data: Uint8Array) => void;

export class AgentEndpoint {
  /** Sessions held by this process. Gateways ask the SessionDirectory (session-directory.ts), not this map. */
  readonly sessions = new Map<string, AgentSession>();
  readonly #sockets = new Set<AgentSocket>();
  /**
   * Per socket, the handling still running of a message that waits for the store (register, heartbeat, a
   * gateway socket's binding): later messages of that socket queue behind it, so each socket's messages are
   * handled in the order they came.
   */
  readonly #busy = new Map<AgentSocket, Promise<void>>();
  readonly #messageListeners = new Set<AgentMessageListener>();
  readonly #binaryListeners = new Set<AgentBinaryListener>();
  /** Asked first for every binary message; true = consumed (yamux bytes, src/hub/l4/agent-yamux.ts). */
  #binaryClaim: ((clusterId: string, data: Uint8Array) => boolean) | null = null;
  readonly #sessionListeners = new Set<(clusterId: string, connected: boolean) => void>();
  readonly #taps = new Set<(clusterId: string | null, m: InboundMessage) => void>();
  /** The bulk writer of each bound socket (hub → agent scheduling, issue 14). */
  readonly #outbound = new WeakMap<AgentSocket, AgentOutbound>();
  /** Bytes of sockets already closed; live sockets keep their own (trafficBytes sums both). */
  #closedBytes = { toAgent: 0, fromAgent: 0 };

  constructor(
    readonly store: ClusterStore,
    readonly log: Logger,
    readonly opts: { handoff: boolean; publicUrl: string; events?: AgentEvents },
  ) {}

  /** Open agent sockets by kind and state (pending: not bound to a cluster yet). */
  socketCounts(): { kind: AgentSocketKind; state: 'pending' | 'bound'; count: number }[] {
    const n = new Map<string, number>();
    for (const ws of this.#sockets) {
      const k = `${ws.data.kind}/${ws.data.clusterId ? 'bound' : 'pending'}`;
      n.set(k, (n.get(k) ?? 0) + 1);
    }
    return [...n].map(([k, count]) => {
      const [kind, state] = k.split('/') as [AgentSocketKind, 'pending' | 'bound'];
      return { kind, state, count };
    });
  }

  /** Message bytes exchanged with agents since the hub started. */
  trafficBytes(): { toAgent: number; fromAgent: number } {
    let { toAgent, fromAgent } = this.#closedBytes;
    for (const ws of this.#sockets) {
      toAgent += ws.data.bytesOut ?? 0;
      fromAgent += ws.data.bytesIn ?? 0;
    }
    return { toAgent, fromAgent };
  }

  onMessage(l: AgentMessageListener): () => void {
    this.#messageListeners.add(l);
    return () => this.#messageListeners.delete(l);
  }
  onBinary(l: AgentBinaryListener): () => void {
    this.#binaryListeners.add(l);
    return () => this.#binaryListeners.delete(l);
  }
  claimBinary(claim: (clusterId: string, data: Uint8Array) => boolean): void {
    this.#binaryClaim = claim;
  }
  onSession(l: (clusterId: string, connected: boolean) => void): () => void {
    this.#sessionListeners.add(l);
    return () => this.#sessionListeners.delete(l);
  }

  /** Observe every decoded message from agents, including session messages (diagnostics, tests). */
  tap(l: (clusterId: string | null, m: InboundMessage) => void): () => void {
    this.#taps.add(l);
    return () => this.#taps.delete(l);
  }

  isConnected(clusterId: string): boolean {
    return this.sessions.has(clusterId);
  }

  /** A gateway socket opened: bind it to its cluster, or tell the agent to register again. */
  open(ws: AgentSocket, clusterUuid?: string): void {
    this.#sockets.add(ws);
    if (ws.data.kind !== 'gateway') return;
    this.#serially(ws, () => this.#openGateway(ws, clusterUuid));
  }

  async #openGateway(ws: AgentSocket, clusterUuid: string | undefined): Promise<void> {
    let rec: ClusterRecord | null;
    try {
      rec = clusterUuid ? await this.store.get(clusterUuid) : null;
    } catch (e) {
      this.log.error({ err: (e as Error).message, cluster_id: clusterUuid }, 'gateway session refused: the state database did not answer');
      ws.close(1011, 'hub state database unavailable');
      return;
    }
    if (!rec) {
      this.log.warn({ cluster_id: clusterUuid, remote: ws.data.remote }, 'gateway session for an unknown cluster');
      this.opts.events?.refused?.('unknown_cluster');
      this.#send(ws, { type: 'error', payload: { error: 'cluster not found', cluster_uuid: clusterUuid ?? '' } });
      ws.close(1008, 'cluster not found');
      return;
    }
    this.#bind(ws, rec.cluster_id);
  }

  #binary(clusterId: string, data: Uint8Array): void {
    if (!this.#binaryClaim?.(clusterId, data)) for (const l of this.#binaryListeners) l(clusterId, data);
  }

  /** A message to one socket: behind the session's waiting ordered messages once the socket is bound (see AgentOutbound). */
  #send(ws: AgentSocket, m: HubToAgent): void {
    const o = this.#outbound.get(ws);
    if (o) o.sendOrdered(encodeMessage(m));
    else send(ws, m);
  }

  message(ws: AgentSocket, data: string | Uint8Array): void {
    ws.data.bytesIn = (ws.data.bytesIn ?? 0) + (typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
    this.#serially(ws, () => this.#handle(ws, data));
  }

  /** Run `fn` now when nothing of this socket is pending, else after what is; a returned promise holds the queue. */
  #serially(ws: AgentSocket, fn: () => void | Promise<void>): void {
    const prev = this.#busy.get(ws);
    const run = prev ? prev.then(fn) : fn();
    if (!run) return;
    const held: Promise<void> = run
      .catch((e: unknown) => {
        this.log.error({ err: (e as Error).message, cluster_id: ws.data.clusterId }, 'agent message handling failed');
      })
      .then(() => {
        if (this.#busy.get(ws) === held) this.#busy.delete(ws);
      });
    this.#busy.set(ws, held);
  }

  #handle(ws: AgentSocket, data: string | Uint8Array): void | Promise<void> {
    if (typeof data !== 'string') {
      const id = ws.data.clusterId;
      if (!id) return;
      // Several binary messages in one, from an agent this hub told it may (`frame_batches`, sent at bind).
      if (isFrameBatch(data) && ws.data.extensions?.has('frame_batches')) {
        const b = splitFrameBatch(data);
        if (!b.ok) {
          this.opts.events?.frameBatch?.('malformed', 0);
          this.log.warn({ cluster_id: id, err: b.error, bytes: data.length }, 'malformed frame batch from agent dropped');
          return;
        }
        this.opts.events?.frameBatch?.('ok', b.value.length);
        for (const m of b.value) this.#binary(id, m);
        return;
      }
      this.#binary(id, data);
      return;
    }
    const d = decodeEnvelope(data);
    if (!d.ok) {
      this.log.warn({ reason: d.reason, detail: d.detail, cluster_id: ws.data.clusterId }, 'malformed message from agent');
      return;
    }
    const m = d.message;
    for (const t of this.#taps) t(ws.data.clusterId, m);
    switch (m.type) {
      case 'register':
        return this.#register(ws, m);
      case 'heartbeat':
        return this.#heartbeat(ws, m);
      case 'ping':
        this.#send(ws, { type: 'pong', payload: { timestamp: new Date().toISOString() }, requestId: m.requestId });
        return;
      case 'pong':
        return;
      case 'protocol_fallback':
        this.log.warn({ cluster_id: ws.data.clusterId, payload: m.payload }, 'agent did not understand a message');
        return;
      default:
        if (!ws.data.clusterId) {
          this.#send(ws, { type: 'error', payload: { error: 'not registered' }, requestId: m.requestId });
          return;
        }
        for (const l of this.#messageListeners) l(ws.data.clusterId, m);
    }
  }

  /** The socket's send buffer drained (Bun's websocket `drain`): bulk data waiting for it goes out. */
  drain(ws: AgentSocket): void {
    this.#outbound.get(ws)?.drain();
  }

  close(ws: AgentSocket, code: number): void {
    this.#outbound.get(ws)?.close();
    if (this.#sockets.delete(ws)) {
      this.#closedBytes.toAgent += ws.data.bytesOut ?? 0;
      this.#closedBytes.fromAgent += ws.data.bytesIn ?? 0;
    }
    const id = ws.data.clusterId;
    if (!id) return;
    const s = this.sessions.get(id);
    if (s && (s as AgentSession & { socket?: AgentSocket }).socket === ws) {
      this.sessions.delete(id);
      this.log.info({ cluster_id: id, code }, 'agent session closed');
      for (const l of this.#sessionListeners) l(id, false);
    }
  }

  /** Close every agent socket with 1000 (hub shutdown). */
  closeAll(reason: string): void {
    for (const ws of this.#sockets) {
      this.#outbound.get(ws)?.flush();
      ws.close(1000, reason);
    }
  }

  #bind(ws: AgentSocket, clusterId: string): void {
    // The socket closed while the store answered: nothing to bind.
    if (!this.#sockets.has(ws)) return;
    ws.data.clusterId = clusterId;
    const prev = this.sessions.get(clusterId) as (AgentSession & { socket?: AgentSocket }) | undefined;
    const outbound = new AgentOutbound(ws, (n) => {
      ws.data.bytesOut = (ws.data.bytesOut ?? 0) + n;
    });
    this.#outbound.get(ws)?.close();
    this.#outbound.set(ws, outbound);
    const session: AgentSession & { socket: AgentSocket } = {
      clusterId,
      kind: ws.data.kind,
      connectedAt: Date.now(),
      extensions: ws.data.extensions ?? new Set(),
      yamux: ws.data.yamux === true,
      socket: ws,
      // In order and never dropped (Bun drops a message above its backpressure limit, and a control message
      // must not overtake a body frame that waits): control messages, yamux bytes, body frames.
      send: (m) => outbound.sendOrdered(encodeMessage(m)),
      sendBinary: (bytes) => outbound.sendOrdered(bytes),
      sendRaw: (text, coalesce) => outbound.sendOrdered(text, coalesce),
      bufferedAmount: () => ws.getBufferedAmount?.() ?? 0,
      sendBulk: (key, m) => outbound.sendBulk(key, encodeMessage(m)),
      whenWritable: (key, cb) => outbound.whenWritable(key, cb),
      close: (code, reason) => {
        outbound.flush();
        ws.close(code, reason);
      },
    };
    this.sessions.set(clusterId, session);
    // An agent that reconnects before its old socket timed out replaces it.
    if (prev?.socket && prev.socket !== ws) {
      this.#outbound.get(prev.socket)?.flush();
      prev.socket.close(1000, 'session replaced');
    }
    // The agent may batch its small binary messages on this socket from now on (src/protocol/frame-batch.ts).
    if (session.extensions.has('frame_batches')) session.send({ type: 'frame_batches', payload: {} });
    this.log.info({ cluster_id: clusterId, kind: ws.data.kind, remote: ws.data.remote, extensions: [...session.extensions] }, 'agent session established');
    for (const l of this.#sessionListeners) l(clusterId, true);
  }

  async #register(ws: AgentSocket, m: InboundMessage): Promise<void> {
    if (ws.data.kind !== 'controller') {
      this.#send(ws, { type: 'error', payload: { error: 'register is only accepted on the controller endpoint' }, requestId: m.requestId });
      this.#rejected('wrong_endpoint');
      return;
    }
    const p = RegisterPayloadSchema.safeParse(m.payload);
    if (!p.success) {
      const why = p.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
      this.log.warn({ why }, 'invalid register payload');
      this.#send(ws, { type: 'error', payload: { error: `invalid register payload: ${why}` }, requestId: m.requestId });
      this.#rejected('invalid_payload');
      return;
    }
    const r = p.data;
    const { k8s_service_token, ...registration } = r;
    let rec: ClusterRecord;
    try {
      rec = await this.store.register({
        agentId: r.agent_id,
        name: r.name,
        requestedId: r.cluster_id,
        k8sVersion: r.k8s_version,
        agentVersion: r.agent_version,
        serviceToken: k8s_service_token,
        tokenDigest: ws.data.tokenDigest,
        metadata: { ...(r.metadata ?? {}), labels: r.labels, region: r.region, cloud_provider: r.cloud_provider },
        registration,
      });
    } catch (e) {
      this.log.error({ err: (e as Error).message, agent_id: r.agent_id, name: r.name }, 'registration failed: the state database did not store it');
      this.#send(ws, { type: 'error', payload: { error: 'registration failed: the hub cannot reach its state database; retry later' }, requestId: m.requestId });
      this.#rejected('store_unavailable');
      return;
    }
    const payload: HubToAgentPayloads['register_success'] = { cluster_id: rec.cluster_id, cluster_uuid: rec.cluster_id, name: rec.name, status: 'registered' };
    if (this.opts.handoff) payload.gateway_ws_url = `${this.opts.publicUrl || ws.data.origin}/gateway/ws`;
    this.log.info({ cluster_id: rec.cluster_id, name: rec.name, agent_id: r.agent_id, handoff: this.opts.handoff }, 'agent registered');
    this.#send(ws, { type: 'register_success', payload, requestId: m.requestId });
    this.opts.events?.registration?.('accepted');
    // Without a hand-off the controller socket is the session, with what the register payload advertised.
    if (!this.opts.handoff) {
      ws.data.extensions = parseExtensions(r.metadata?.[EXTENSIONS_METADATA_KEY]);
      this.#bind(ws, rec.cluster_id);
    }
  }

  #rejected(reason: string): void {
    this.opts.events?.registration?.('rejected', reason);
    this.opts.events?.refused?.(reason);
  }

  async #heartbeat(ws: AgentSocket, m: InboundMessage): Promise<void> {
    let known: boolean;
    try {
      known = await this.#recordHeartbeat(ws, m);
    } catch (e) {
      this.log.error({ err: (e as Error).message, cluster_id: ws.data.clusterId }, 'heartbeat not recorded: the state database did not answer');
      this.#send(ws, { type: 'error', payload: { error: 'heartbeat not recorded: the hub cannot reach its state database' }, requestId: m.requestId });
      return;
    }
    const id = ws.data.clusterId;
    if (!id || !known) {
      this.#send(ws, { type: 'error', payload: { error: 'cluster not found' }, requestId: m.requestId });
      this.opts.events?.heartbeat?.('unknown_cluster');
      return;
    }
    this.opts.events?.heartbeat?.('ok');
    this.#send(ws, { type: 'heartbeat_ack', payload: { cluster_id: id, received_at: new Date().toISOString() }, requestId: m.requestId });
  }

  async #recordHeartbeat(ws: AgentSocket, m: InboundMessage): Promise<boolean> {
    // A controller-only agent redials without a new `register` (upstream's onReconnect, §2.7): its heartbeat names
    // the cluster, which binds the socket when the cluster is known and was registered with this agent token.
    if (!ws.data.clusterId && ws.data.kind === 'controller' && typeof m.payload.cluster_id === 'string') {
      const rec = await this.store.get(m.payload.cluster_id);
      if (rec && rec.token_sha256 && rec.token_sha256 === ws.data.tokenDigest) {
        // No new register on this socket: the extensions are those of the stored registration (kept across hub restarts).
        const advertised = rec.metadata[EXTENSIONS_METADATA_KEY];
        ws.data.extensions = parseExtensions(typeof advertised === 'string' ? advertised : undefined);
        this.#bind(ws, rec.cluster_id);
      }
    }
    const id = ws.data.clusterId;
    return !!id && (await this.store.recordHeartbeat(id, m.payload));
  }
}

function send(ws: AgentSocket, m: HubToAgent): void {
  const text = encodeMessage(m);
  ws.data.bytesOut = (ws.data.bytesOut ?? 0) + Buffer.byteLength(text);
  ws.send(text);
}
