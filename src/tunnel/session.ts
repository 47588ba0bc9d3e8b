// The agent's control-plane session (protocol.md §2, deviations L1–L3, L8): dial the controller, register,
// hand off to the gateway, keep the socket alive, reconnect with backoff, re-register when told to.
// Everything that is not session-level (proxy, streams) is delegated to `handlers`.
import type { Logger } from '../log/logger.ts';
import type { SessionState } from '../threads/messages.ts';
import type { ConnectionState, SessionMode, SessionStatus } from '../threads/connection-state.ts';
import type { SessionTimeouts } from '../threads/tunnel-config.ts';
import type { MetricUpdate } from '../threads/metric-update.ts';
import { registerRequestId, type RegisterPayload, type RegisterSuccess } from '../protocol/control-messages.ts';
import type { InboundMessage } from '../protocol/envelope.ts';
import { controllerUrl, describeEndpoint, gatewayUrl } from '../protocol/session-urls.ts';
import { type BackoffPolicy, backoffDelay, firstRedialDelay } from '../timing/backoff.ts';
import { sleep } from '../timing/sleep.ts';
import type { ClientWebSocket } from '../runtime/types.ts';
import { type ControlContext, dispatchControl } from './control-handlers.ts';
import { type DialFailure, dialWebSocket, type TlsOptions } from './dial.ts';
import { EnvelopeTransport, envelopeConnection, type SessionConnection } from './envelope-transport.ts';
import { Liveness, pingSocket } from './liveness.ts';
import { isolateMessages } from './message-isolation.ts';
import { RegistrationWaiter } from './registration-waiter.ts';
import { FatalSessionError, ReregisterSignal } from './session-errors.ts';
import { BatchingSink } from './batching-sink.ts';
import { type BinaryTransportFactory, type FrameSink, type GatewayHello, socketSink, TransportRouter } from './transport.ts';

export type { SessionConnection };

export interface SessionOptions {
  apiUrl: string;
  token: string;
  agentVersion: string;
  state: SessionState;
  credentialsChanged: boolean;
  tls: TlsOptions;
  timeouts: SessionTimeouts;
  buildRegisterPayload(mode: 'fresh' | 'resume', clusterId: string): RegisterPayload;
  /**
   * The L4 seam (§5.1): builds the transport that takes over a gateway socket's binary frames after
   * `gateway_hello{use_yamux}` → `gateway_hello_ack`. Absent: yamux offers are declined and logged.
   */
  binaryTransport?: BinaryTransportFactory;
  /** Where a socket's frames are written (default: the socket itself); a write scheduler plugs in here. */
  frameSink?: (ws: ClientWebSocket) => FrameSink;
  /** The reconnect jitter's random source (default Math.random; tests pin it). */
  random?: () => number;
}

/** What the session hands to the rest of the worker. */
export interface SessionHandlers {
  status(s: SessionStatus): void;
  persist(p: Partial<SessionState>): void;
  fatal(code: string, message: string): void;
  metric(u: MetricUpdate): void;
  /** Non-session messages (proxy, streams, tunnels). Return false if the type is unknown. */
  message(m: InboundMessage, conn: SessionConnection): boolean;
  /** A binary message. Returns the text of a legacy JSON envelope (§2.3) to dispatch as a text message, else null. */
  binary(data: ArrayBuffer, conn: SessionConnection): string | null;
  /** Every inbound text message, before dispatch (a pending binary body that did not come first fails). */
  beforeText(): void;
  /** A session became usable (after register or resume); `reconnect` is false only the very first time. */
  connected(conn: SessionConnection, reconnect: boolean): void;
  disconnected(): void;
  /** Every inbound message (the thread is busy: src/threads/quiet-collector.ts). Must be cheap. */
  activity?(): void;
  /**
   * Every inbound relay message: a text message the relays took, or a binary one the envelope transport gave them (a
   * request body). Not control messages, and not a negotiated transport's frames (yamux keep-alive pings arrive every
   * 30 s and would keep an idle agent from ever shrinking). The thread then keeps its compiled code for a while
   * (src/threads/shrink-policy.ts). Must be cheap.
   */
  relayed?(): void;
}

type CloseReason = { kind: 'closed'; code: number; reason: string } | { kind: 'reregister'; detail: string } | { kind: 'stopped' };

/** A socket wired for session traffic: registration waiter, end-of-socket promise, and an off switch. */
interface Attachment {
  ws: ClientWebSocket;
  /** The envelope transport's send side on this socket (what the relays get). */
  conn: SessionConnection;
  /** The socket's writer: frame batches wait here until the end of the turn (flushed before a close). */
  sink: BatchingSink;
  awaitRegistration(requestId: string): Promise<RegisterSuccess>;
  /** Resolves ok at the next inbound traffic (message or pong) on this socket; fails on close or after `ms`. */
  peerAlive(ms: number): Promise<{ ok: boolean; error?: string }>;
  closed: Promise<CloseReason>;
  detach(): void;
}

export class ControlSession {
  readonly #o: SessionOptions;
  readonly #h: SessionHandlers;
  readonly #log: Logger;
  #state: SessionState;
  #ws: ClientWebSocket | null = null;
  /** The attachment of `#ws` (heartbeats wait on it for proof of a live peer). */
  #att: Attachment | null = null;
  #stopping = false;
  #stopWake: (() => void) | null = null;
  #everConnected = false;
  #registered = false;
  #mode: SessionMode | null = null;
  /** Unknown types already answered with protocol_fallback in this session (upstream: one per type). */
  #fallbackSent = new Set<string>();
  #preferController: boolean;
  /** The last registration had no gateway: reconnects redial the controller without registering again. */
  #controllerResume = false;
  #lastError: string | null = null;
  #done: Promise<void> | null = null;
  readonly #backoff: BackoffPolicy;

  constructor(opts: SessionOptions, handlers: SessionHandlers, log: Logger) {
    this.#o = opts;
    this.#h = handlers;
    this.#log = log;
    this.#state = { ...opts.state };
    // L8: resume with the persisted gateway URL unless credentials really changed.
    this.#preferController = opts.credentialsChanged || !opts.state.cluster_id || !opts.state.gateway_ws_url;
    this.#backoff = { baseMs: opts.timeouts.reconnectMs, maxMs: opts.timeouts.reconnectMaxMs, jitter: { kind: 'within-cap', fraction: 0.25 } };
  }

  get clusterId(): string {
    return this.#state.cluster_id;
  }

  start(): Promise<void> {
    this.#done ??= this.#run();
    return this.#done;
  }

  /** Close the session with 1000 and stop reconnecting. Resolves when the socket is closed (bounded). */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#stopWake?.();
    const ws = this.#ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      const closed = new Promise<void>((r) => ws.addEventListener('close', () => r(), { once: true }));
      // Answers written in this turn go before the close frame.
      if (this.#att?.ws === ws) this.#att.sink.flush();
      ws.close(1000, 'agent shutting down');
      await Promise.race([closed, sleep(Math.min(5000, this.#o.timeouts.shutdownMs))]);
    }
    await Promise.race([this.#done ?? Promise.resolve(), sleep(1000)]);
  }

  #emit(state: ConnectionState): void {
    this.#h.status({
      state,
      registered: this.#registered,
      mode: this.#mode,
      endpoint: this.#ws ? describeEndpoint(this.#ws.url) : null,
      clusterId: this.#state.cluster_id,
      error: this.#lastError,
      reconnect: this.#everConnected,
    });
  }

  async #run(): Promise<void> {
    let attempt = 0;
    this.#emit('connecting');
    while (!this.#stopping) {
      let reason: CloseReason | null = null;
      try {
        reason = await (!this.#preferController ? this.#resumeViaGateway() : this.#controllerResume ? this.#resumeViaController() : this.#registerViaController());
        attempt = 0;
      } catch (e) {
        if (e instanceof FatalSessionError) {
          this.#lastError = e.message;
          this.#emit('disconnected');
          this.#h.fatal(e.code, e.message);
          return;
        }
        if (e instanceof ReregisterSignal) {
          reason = { kind: 'reregister', detail: e.message };
        } else {
          this.#lastError = (e as Error).message;
          this.#log.warn({ err: this.#lastError, attempt }, 'control-plane connection failed');
        }
      }
      this.#registered = reason?.kind === 'closed' ? this.#registered : false;
      if (this.#stopping || reason?.kind === 'stopped') break;
      if (reason?.kind === 'reregister') {
        this.#log.warn({ reason: reason.detail }, 'control plane does not know this cluster; registering again');
        this.#forgetCluster();
        this.#registered = false;
        this.#emit('reconnecting');
        continue; // re-register at once: the control plane is reachable, only our identity is stale
      }
      if (reason?.kind === 'closed') this.#log.warn({ code: reason.code, reason: reason.reason }, 'control-plane session closed');
      this.#registered = false;
      this.#emit(this.#everConnected ? 'reconnecting' : 'connecting');
      // Right after a session that was up: full jitter over the first interval (every agent of a replica that died
      // lost its session at the same instant; see firstRedialDelay). Failed attempts double as before.
      const random = this.#o.random ?? Math.random;
      const delay = reason?.kind === 'closed' ? firstRedialDelay(this.#backoff, random) : backoffDelay(this.#backoff, attempt, random);
      attempt++;
      this.#log.info({ delay_ms: delay, attempt }, 'reconnecting to control plane');
      await this.#sleep(delay);
    }
    this.#registered = false;
    this.#emit('disconnected');
  }

  #sleep(ms: number): Promise<void> {
    const wake = new AbortController();
    this.#stopWake = () => wake.abort();
    return sleep(ms, wake.signal);
  }

  #forgetCluster(): void {
    this.#state.cluster_id = '';
    this.#state.cluster_uuid = '';
    this.#state.gateway_ws_url = '';
    this.#preferController = true;
    this.#controllerResume = false;
    this.#h.persist({ cluster_id: '', cluster_uuid: '', gateway_ws_url: '' });
  }

  async #dial(url: string, kind: SessionMode): Promise<ClientWebSocket> {
    this.#log.info({ endpoint: describeEndpoint(url), kind }, 'dialing control plane');
    const r = await dialWebSocket(url, { token: this.#o.token, tls: this.#o.tls, handshakeMs: this.#o.timeouts.handshakeMs });
    if (r.ok) return r.ws;
    throw this.#dialError(r, kind);
  }

  #dialError(f: DialFailure, kind: SessionMode): Error {
    if (f.status === 401 || f.status === 403) {
      if (kind === 'controller')
        return new FatalSessionError(
          f.status === 401 ? 'unauthorized' : 'forbidden',
          `the control plane rejected the agent token (HTTP ${f.status}) at ${describeEndpoint(this.#o.apiUrl)}: check pipeops.token / PIPEOPS_TOKEN`,
        );
      return new ReregisterSignal(`gateway refused credentials (HTTP ${f.status})`);
    }
    return new Error(`${kind} dial failed: ${f.message}`);
  }

  /** Full registration on the controller, then hand-off to the gateway when one is given. */
  async #registerViaController(): Promise<CloseReason> {
    const ws = await this.#dial(controllerUrl(this.#o.apiUrl), 'controller');
    this.#ws = ws;
    this.#mode = 'controller';
    const reg = this.#attach(ws);
    // Upstream says "resume" whenever it sends a cluster id (protocol.md §2.5.1); a new token travels either way.
    const mode = this.#state.cluster_id ? 'resume' : 'fresh';
    const payload = this.#o.buildRegisterPayload(mode, this.#state.cluster_id);
    const requestId = registerRequestId(payload.agent_id);
    this.#h.metric({ name: 'pipeops_registration_attempts_total', op: 'inc', labels: { result: 'sent' } });
    const success = reg.awaitRegistration(requestId);
    reg.conn.send({ type: 'register', payload, requestId });
    let result: Awaited<typeof success>;
    try {
      result = await success;
    } catch (e) {
      ws.close(1000, 'registration failed');
      this.#h.metric({ name: 'pipeops_registration_attempts_total', op: 'inc', labels: { result: 'failed' } });
      throw e;
    }
    this.#h.metric({ name: 'pipeops_registration_attempts_total', op: 'inc', labels: { result: 'success' } });
    const clusterId = result.cluster_id;
    const uuid = result.cluster_uuid || clusterId;
    const changed: Partial<SessionState> = {};
    if (clusterId !== this.#state.cluster_id) changed.cluster_id = clusterId;
    // Issue 10 item 1: the issued uuid is kept (and persisted) for every later gateway dial, not the id.
    if (uuid !== this.#state.cluster_uuid) changed.cluster_uuid = uuid;
    if ((result.gateway_ws_url ?? '') !== this.#state.gateway_ws_url) changed.gateway_ws_url = result.gateway_ws_url ?? '';
    if (result.token) changed.cluster_token = result.token;
    Object.assign(this.#state, changed);
    if (Object.keys(changed).length) this.#h.persist(changed);
    this.#log.info({ cluster_id: clusterId, gateway: Boolean(result.gateway_ws_url) }, 'registered with control plane');
    this.#registered = true;
    // Reconnects resume on the gateway when there is one; otherwise they redial the controller without a new
    // `register` (upstream's onReconnect, §2.7); "not registered" from the control plane re-registers (L2).
    this.#preferController = !result.gateway_ws_url;
    this.#controllerResume = !result.gateway_ws_url;

    if (!result.gateway_ws_url) return this.#connectedPhase(reg);
    // Hand-off: the controller socket is closed cleanly and all later traffic uses the gateway.
    reg.detach();
    ws.close(1000, 'handing off to gateway');
    const gw = await this.#dial(gatewayUrl(result.gateway_ws_url, uuid, this.#o.agentVersion, { yamux: this.#o.binaryTransport !== undefined }), 'gateway').catch((e) => {
      // The gateway we were just given is unreachable: the next attempt registers again.
      this.#preferController = true;
      throw e;
    });
    this.#ws = gw;
    this.#mode = 'gateway';
    return this.#connectedPhase(this.#attach(gw));
  }

  /** A dropped controller-only session (§2.7 onReconnect): redial the controller; no `register` is sent. */
  async #resumeViaController(): Promise<CloseReason> {
    const ws = await this.#dial(controllerUrl(this.#o.apiUrl), 'controller');
    this.#ws = ws;
    this.#mode = 'controller';
    this.#registered = true;
    this.#log.info({ cluster_id: this.#state.cluster_id }, 'session resumed on controller');
    return this.#connectedPhase(this.#attach(ws));
  }

  /** Session resumption (L8): dial the persisted gateway URL directly; no `register` is sent. */
  async #resumeViaGateway(): Promise<CloseReason> {
    const url = gatewayUrl(this.#state.gateway_ws_url, this.#state.cluster_uuid || this.#state.cluster_id, this.#o.agentVersion, { yamux: this.#o.binaryTransport !== undefined });
    let ws: ClientWebSocket;
    try {
      ws = await this.#dial(url, 'gateway');
    } catch (e) {
      // Any gateway failure makes the next attempt a full registration (which hands off again).
      this.#preferController = true;
      this.#h.metric({ name: 'pipeops_tunnel_session_resumptions_total', op: 'inc', labels: { result: 'failed' } });
      throw e;
    }
    this.#h.metric({ name: 'pipeops_tunnel_session_resumptions_total', op: 'inc', labels: { result: 'success' } });
    this.#ws = ws;
    this.#mode = 'gateway';
    this.#registered = true;
    this.#log.info({ cluster_id: this.#state.cluster_id }, 'session resumed on gateway');
    return this.#connectedPhase(this.#attach(ws));
  }

  /**
   * Wire a socket for session traffic: liveness (read deadline, ping), the registration waiter, and the transport
   * router with the envelope transport owning text and (until a yamux claim) binary frames.
   */
  #attach(ws: ClientWebSocket): Attachment {
    // Small binary messages of one turn leave together once the control plane accepts frame batches (`frame_batches`).
    const sink = new BatchingSink((this.#o.frameSink ?? socketSink)(ws));
    const router = new TransportRouter(sink);
    const conn = envelopeConnection(router.envelopeWriter, this.#h.metric, this.#log);
    const liveness = new Liveness(ws, { readMs: this.#o.timeouts.readMs, pingMs: this.#o.timeouts.pingMs }, this.#log);
    const registration = new RegistrationWaiter<RegisterSuccess>({ waitMs: this.#o.timeouts.registrationMs, maxWaitMs: this.#o.timeouts.registrationMaxWaitMs });
    let reregister: string | null = null;
    const ctx: ControlContext = {
      conn,
      log: this.#log,
      metric: this.#h.metric,
      registration,
      fallbackSent: this.#fallbackSent,
      reregister: (detail) => {
        reregister = detail;
        registration.rejectAll(new ReregisterSignal(detail));
        ws.close(1000, 're-registering');
      },
      gatewayHello: (hello) => this.#gatewayHello(hello, router, conn),
      frameBatches: () => {
        if (!sink.enabled) this.#log.debug('control plane accepts frame batches');
        sink.enable();
      },
      other: (m) => {
        const handled = this.#h.message(m, conn);
        if (handled) this.#h.relayed?.();
        return handled;
      },
    };
    router.start(
      new EnvelopeTransport({
        conn,
        metric: this.#h.metric,
        log: this.#log,
        // A binary message the relays took (a request body; null back, not legacy JSON to dispatch as text).
        binary: (data, c) => {
          const text = this.#h.binary(data, c);
          if (text === null) this.#h.relayed?.();
          return text;
        },
        beforeText: () => this.#h.beforeText(),
        dispatch: (m) => dispatchControl(m, ctx),
      }),
    );
    const unlisten = this.#listen(ws, liveness, router);
    const closed = new Promise<CloseReason>((resolve) => {
      ws.addEventListener(
        'close',
        (ev) => {
          liveness.stop(`connection closed (${ev.code}) before the control plane answered`);
          registration.rejectAll(reregister ? new ReregisterSignal(reregister) : new Error(`connection closed during registration (${ev.code})`));
          router.close(`connection closed (${ev.code})`);
          if (reregister) resolve({ kind: 'reregister', detail: reregister });
          else if (this.#stopping) resolve({ kind: 'stopped' });
          else resolve({ kind: 'closed', code: ev.code, reason: ev.reason });
        },
        { once: true },
      );
    });
    const att: Attachment = {
      ws,
      conn,
      sink,
      awaitRegistration: (requestId) => registration.wait(requestId),
      peerAlive: (ms) => liveness.peerAlive(ms),
      closed,
      detach: () => {
        unlisten();
        liveness.stop();
        router.close('session detached from socket');
      },
    };
    this.#att = att;
    return att;
  }

  /** Inbound frames: each one proves the peer alive, then goes to its transport. Returns the off switch for messages. */
  #listen(ws: ClientWebSocket, liveness: Liveness, router: TransportRouter): () => void {
    let detached = false;
    const onMessage = (ev: MessageEvent) => {
      if (detached) return;
      liveness.seen();
      this.#h.activity?.();
      router.deliver(ev.data as string | ArrayBuffer);
    };
    const isolated = isolateMessages(onMessage, this.#h.metric, this.#log);
    ws.addEventListener('message', isolated);
    ws.addEventListener('pong', (() => liveness.seen()) as EventListener);
    return () => {
      detached = true;
      ws.removeEventListener('message', isolated);
    };
  }

  /**
   * `gateway_hello` (§5.1). With a binary transport factory on a gateway socket: build the transport, send
   * `gateway_hello_ack`, and hand it the binary frames; otherwise the JSON protocol continues unchanged.
   */
  #gatewayHello(hello: GatewayHello, router: TransportRouter, conn: SessionConnection): void {
    if (!hello.use_yamux) return;
    const factory = this.#o.binaryTransport;
    if (!factory || this.#mode !== 'gateway') {
      this.#log.warn('gateway offered yamux, which this agent does not advertise; continuing with the JSON protocol');
      return;
    }
    if (router.binaryOwner !== 'envelope') {
      this.#log.warn({ transport: router.binaryOwner }, 'repeated gateway_hello ignored: binary frames are already handed over');
      return;
    }
    const transport = factory(hello, router.claimWriter);
    if (!transport) return;
    if (!conn.send({ type: 'gateway_hello_ack', payload: { use_yamux: true, ...transport.ack } })) {
      transport.close('gateway_hello_ack could not be sent');
      return;
    }
    router.claimBinary(transport);
    this.#log.info({ transport: transport.name }, 'binary frames handed to the negotiated transport');
  }

  /** The session is usable: announce it and wait for its end. */
  #connectedPhase(reg: Attachment): Promise<CloseReason> {
    this.#lastError = null;
    this.#fallbackSent.clear();
    const reconnect = this.#everConnected;
    this.#everConnected = true;
    this.#emit('connected');
    if (reconnect) this.#h.metric({ name: 'pipeops_tunnel_reconnects_total', op: 'inc' });
    this.#h.connected(reg.conn, reconnect);
    return reg.closed.then((r) => {
      this.#h.disconnected();
      return r;
    });
  }

  /**
   * Send a heartbeat if the session is registered and open. It counts as delivered only when the peer shows it
   * is alive afterwards (a heartbeat_ack or any other message, or the pong to the ping sent right behind it):
   * a local write to a frozen peer succeeds too.
   */
  async sendHeartbeat(payload: Record<string, unknown>): Promise<{ ok: boolean; error?: string }> {
    const ws = this.#ws;
    const att = this.#att;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.#registered || att?.ws !== ws) return { ok: false, error: 'session not connected' };
    const alive = att.peerAlive(this.#o.timeouts.heartbeatMs);
    if (!att.conn.send({ type: 'heartbeat', payload })) return { ok: false, error: 'send failed' };
    // The pong comes after the peer read the heartbeat.
    pingSocket(ws);
    return alive;
  }
}
