// The agent's control-plane session (protocol.md §2, deviations L1–L3, L8): dial the controller, register,
// hand off to the gateway, keep the socket alive, reconnect with backoff, re-register when told to.
// Everything that is not session-level (proxy, streams) is delegated to `handlers`.
import type { Logger } from 'pino';
import type { SessionState } from '../agent/thread-messages.ts';
import type { ConnectionState, SessionMode } from '../agent/status.ts';
import type { MetricUpdate } from '../agent/metrics.ts';
import {
  ErrorPayloadSchema,
  RegisterSuccessSchema,
  SUPPORTED_INBOUND_TYPES,
  needsReregistration,
  registerRequestId,
  type RegisterPayload,
  type RegisterSuccess,
} from '../protocol/control-messages.ts';
import { decodeEnvelope, encodeEnvelope, type InboundMessage } from '../protocol/envelope.ts';
import { controllerUrl, describeEndpoint, gatewayUrl } from '../protocol/session-urls.ts';
import { type BackoffPolicy, backoffDelay } from './backoff.ts';
import { type DialFailure, dialWebSocket, dropSocket, type TlsOptions } from './dial.ts';
import { isolateMessages } from './message-isolation.ts';

export interface SessionOptions {
  apiUrl: string;
  token: string;
  agentVersion: string;
  state: SessionState;
  credentialsChanged: boolean;
  tls: TlsOptions;
  timeouts: {
    handshakeMs: number;
    pingMs: number;
    readMs: number;
    reconnectMs: number;
    reconnectMaxMs: number;
    registrationMs: number;
    registrationMaxWaitMs: number;
    shutdownMs: number;
    /** How long a heartbeat may wait for proof that the peer is alive (timeouts.heartbeat). */
    heartbeatMs: number;
  };
  buildRegisterPayload(mode: 'fresh' | 'resume', clusterId: string): RegisterPayload;
  /** Advertise `supports_yamux=true` on gateway dials (tunnels.enabled, §2.1). */
  yamux?: boolean;
}

export interface SessionStatus {
  state: ConnectionState;
  registered: boolean;
  mode: SessionMode | null;
  endpoint: string | null;
  clusterId: string;
  error: string | null;
  reconnect: boolean;
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
  /** `gateway_hello` (§5.1): the ack payload to send, or null to ignore it (with the reason logged). */
  gatewayHello?(payload: Record<string, unknown>, conn: SessionConnection): Record<string, unknown> | null;
}

/** The live socket as the relays see it. */
export interface SessionConnection {
  send(type: string, payload: Record<string, unknown> | null, requestId?: string): boolean;
  sendBinary(data: Uint8Array<ArrayBuffer> | ArrayBuffer): boolean;
  readonly bufferedAmount: number;
  readonly open: boolean;
}

class FatalSessionError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The control plane told us our cluster is unknown (or the gateway refused our credentials): register anew. */
class ReregisterSignal extends Error {}

type CloseReason = { kind: 'closed'; code: number; reason: string } | { kind: 'reregister'; detail: string } | { kind: 'stopped' };

/** A socket wired for session traffic: registration waiter, end-of-socket promise, and an off switch. */
interface Attachment {
  ws: WebSocket;
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
  #ws: WebSocket | null = null;
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
    this.#backoff = { baseMs: opts.timeouts.reconnectMs, maxMs: opts.timeouts.reconnectMaxMs, jitter: 0.25 };
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
      ws.close(1000, 'agent shutting down');
      await Promise.race([closed, Bun.sleep(Math.min(5000, this.#o.timeouts.shutdownMs))]);
    }
    await Promise.race([this.#done ?? Promise.resolve(), Bun.sleep(1000)]);
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
      const delay = backoffDelay(this.#backoff, attempt++);
      this.#log.info({ delay_ms: delay, attempt }, 'reconnecting to control plane');
      await this.#sleep(delay);
    }
    this.#registered = false;
    this.#emit('disconnected');
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.#stopWake = done;
    });
  }

  #forgetCluster(): void {
    this.#state.cluster_id = '';
    this.#state.cluster_uuid = '';
    this.#state.gateway_ws_url = '';
    this.#preferController = true;
    this.#controllerResume = false;
    this.#h.persist({ cluster_id: '', cluster_uuid: '', gateway_ws_url: '' });
  }

  async #dial(url: string, kind: SessionMode): Promise<WebSocket> {
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
    this.#conn(ws).send('register', payload as unknown as Record<string, unknown>, requestId);
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

    if (!result.gateway_ws_url) return this.#connectedPhase(ws, reg);
    // Hand-off: the controller socket is closed cleanly and all later traffic uses the gateway.
    reg.detach();
    ws.close(1000, 'handing off to gateway');
    const gw = await this.#dial(gatewayUrl(result.gateway_ws_url, uuid, this.#o.agentVersion, { yamux: this.#o.yamux === true }), 'gateway').catch((e) => {
      // The gateway we were just given is unreachable: the next attempt registers again.
      this.#preferController = true;
      throw e;
    });
    this.#ws = gw;
    this.#mode = 'gateway';
    return this.#connectedPhase(gw, this.#attach(gw));
  }

  /** A dropped controller-only session (§2.7 onReconnect): redial the controller; no `register` is sent. */
  async #resumeViaController(): Promise<CloseReason> {
    const ws = await this.#dial(controllerUrl(this.#o.apiUrl), 'controller');
    this.#ws = ws;
    this.#mode = 'controller';
    this.#registered = true;
    this.#log.info({ cluster_id: this.#state.cluster_id }, 'session resumed on controller');
    return this.#connectedPhase(ws, this.#attach(ws));
  }

  /** Session resumption (L8): dial the persisted gateway URL directly; no `register` is sent. */
  async #resumeViaGateway(): Promise<CloseReason> {
    const url = gatewayUrl(this.#state.gateway_ws_url, this.#state.cluster_uuid || this.#state.cluster_id, this.#o.agentVersion, { yamux: this.#o.yamux === true });
    let ws: WebSocket;
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
    return this.#connectedPhase(ws, this.#attach(ws));
  }

  #conn(ws: WebSocket): SessionConnection {
    const log = this.#log;
    const metric = this.#h.metric;
    return {
      send(type, payload, requestId) {
        if (ws.readyState !== WebSocket.OPEN) return false;
        try {
          ws.send(encodeEnvelope(type, payload, requestId));
          metric({ name: 'pipeops_tunnel_messages_total', op: 'inc', labels: { direction: 'out', type } });
          return true;
        } catch (e) {
          log.warn({ type, err: (e as Error).message }, 'send failed');
          return false;
        }
      },
      sendBinary(data) {
        if (ws.readyState !== WebSocket.OPEN) return false;
        ws.send(data);
        return true;
      },
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
      get open() {
        return ws.readyState === WebSocket.OPEN;
      },
    };
  }

  /**
   * Wire the socket's message handling. Returns the registration waiter and a promise for the socket's end.
   * Read deadline: any message or pong pushes it out by `readMs`; expiry closes the socket (→ reconnect).
   */
  #attach(ws: WebSocket): Attachment {
    const conn = this.#conn(ws);
    const waiters = new Map<string, { resolve: (r: RegisterSuccess) => void; reject: (e: Error) => void; extend: () => void }>();
    let readTimer: ReturnType<typeof setTimeout> | undefined;
    let detached = false;
    // Heartbeats waiting for the peer to show it is alive (any inbound message or pong after they were sent).
    const alive = new Set<(r: { ok: boolean; error?: string }) => void>();
    const peerActive = () => {
      // Called for every inbound message: no copy of the set unless a heartbeat is waiting.
      if (alive.size) for (const a of [...alive]) a({ ok: true });
    };
    let reregister: string | null = null;
    const armRead = () => {
      clearTimeout(readTimer);
      readTimer = setTimeout(() => {
        this.#log.warn({ read_timeout_ms: this.#o.timeouts.readMs }, 'no traffic from control plane within the read deadline; reconnecting');
        // The peer is silent (frozen, partitioned): a close handshake would wait for it too. Drop the socket now;
        // the 'close' event follows at once and the session reports itself not connected.
        dropSocket(ws);
      }, this.#o.timeouts.readMs);
    };
    armRead();
    const pingTimer = setInterval(() => {
      // Bun's client has ping(); the DOM typings do not know it.
      if (ws.readyState === WebSocket.OPEN) (ws as unknown as { ping(): void }).ping();
    }, this.#o.timeouts.pingMs);

    const onMessage = (ev: MessageEvent) => {
      if (detached) return;
      armRead();
      peerActive();
      // Without yamux (we never negotiate it) a binary message is a request body or a legacy JSON envelope (§2.3).
      const text = typeof ev.data === 'string' ? ev.data : this.#h.binary(ev.data as ArrayBuffer, conn);
      if (text === null) return;
      this.#h.beforeText();
      const d = decodeEnvelope(text);
      if (!d.ok) {
        this.#h.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: d.reason } });
        this.#log.warn({ reason: d.reason, detail: d.detail, type: d.type, request_id: d.requestId }, 'dropped malformed control message');
        // P1: a proxy request with a known id gets an answer instead of a silent drop.
        if (d.requestId && d.type?.startsWith('proxy_request'))
          conn.send('proxy_error', { request_id: d.requestId, error: `malformed message: ${d.detail}` }, d.requestId);
        return;
      }
      const m = d.message;
      this.#h.metric({ name: 'pipeops_tunnel_messages_total', op: 'inc', labels: { direction: 'in', type: SUPPORTED_TYPE_SET.has(m.type) ? m.type : 'other' } });
      switch (m.type) {
        case 'ping':
          conn.send('pong', { timestamp: new Date().toISOString() }, m.requestId);
          return;
        case 'pong':
        case 'heartbeat_ack':
          this.#log.debug({ type: m.type }, 'control message');
          return;
        case 'register_success': {
          const w = m.requestId ? waiters.get(m.requestId) : undefined;
          if (!w) {
            this.#log.debug({ request_id: m.requestId }, 'register_success for no pending registration; ignored');
            return;
          }
          waiters.delete(m.requestId!);
          const p = RegisterSuccessSchema.safeParse(m.payload);
          if (!p.success)
            w.reject(new FatalSessionError('invalid_register_success', `control plane sent an invalid register_success: ${p.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`));
          else w.resolve(p.data);
          return;
        }
        case 'register_in_progress':
          for (const w of waiters.values()) w.extend();
          this.#log.info('control plane reports registration in progress; waiting longer');
          return;
        case 'error': {
          const p = ErrorPayloadSchema.safeParse(m.payload);
          const text = (p.success ? (p.data.error ?? p.data.message) : undefined) ?? JSON.stringify(m.payload);
          this.#log.warn({ error: text, request_id: m.requestId }, 'control plane reported an error');
          if (needsReregistration(text)) {
            reregister = text;
            for (const w of waiters.values()) w.reject(new ReregisterSignal(text));
            waiters.clear();
            ws.close(1000, 're-registering');
          } else if (waiters.size && /unauthori[sz]ed|forbidden|invalid token/i.test(text)) {
            for (const w of waiters.values()) w.reject(new FatalSessionError('registration_rejected', `the control plane rejected registration: ${text}`));
            waiters.clear();
          }
          return;
        }
        case 'gateway_hello': {
          // §5.1: the ack goes out before any yamux frame (the handler starts the yamux session).
          const ack = this.#h.gatewayHello?.(m.payload, conn) ?? null;
          if (ack) conn.send('gateway_hello_ack', ack);
          return;
        }
        default:
          if (this.#h.message(m, conn)) return;
          this.#h.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: 'unknown_type' } });
          this.#log.warn({ type: m.type, request_id: m.requestId }, 'unknown control message type');
          if (!this.#fallbackSent.has(m.type) && this.#fallbackSent.size < MAX_FALLBACK_TYPES) {
            this.#fallbackSent.add(m.type);
            const payload: Record<string, unknown> = {
              agent_version: 'pipeops-k8-agent',
              unknown_type: m.type,
              supported_types: [...SUPPORTED_INBOUND_TYPES],
              fallback_mode: 'legacy_proxy',
              protocol_version: '1.0',
              timestamp: new Date().toISOString(),
            };
            if (m.requestId) payload.original_request_id = m.requestId;
            conn.send('protocol_fallback', payload);
          }
      }
    };
    const onPong = () => {
      armRead();
      peerActive();
    };
    const isolated = isolateMessages(onMessage, this.#h.metric, this.#log);
    ws.addEventListener('message', isolated);
    ws.addEventListener('pong', onPong as EventListener);

    const closed = new Promise<CloseReason>((resolve) => {
      ws.addEventListener(
        'close',
        (ev) => {
          clearTimeout(readTimer);
          clearInterval(pingTimer);
          for (const a of [...alive]) a({ ok: false, error: `connection closed (${ev.code}) before the control plane answered` });
          for (const w of waiters.values()) w.reject(new Error(`connection closed during registration (${ev.code})`));
          waiters.clear();
          if (reregister) resolve({ kind: 'reregister', detail: reregister });
          else if (this.#stopping) resolve({ kind: 'stopped' });
          else resolve({ kind: 'closed', code: ev.code, reason: ev.reason });
        },
        { once: true },
      );
    });

    const awaitRegistration = (requestId: string) =>
      new Promise<RegisterSuccess>((resolve, reject) => {
        const started = Date.now();
        let timer = setTimeout(onTimeout, this.#o.timeouts.registrationMs);
        function onTimeout() {
          waiters.delete(requestId);
          reject(new Error(`no register_success within ${Math.round((Date.now() - started) / 1000)}s`));
        }
        waiters.set(requestId, {
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
          // register_in_progress extends the wait, never past the absolute cap.
          extend: () => {
            clearTimeout(timer);
            const left = this.#o.timeouts.registrationMaxWaitMs - (Date.now() - started);
            timer = setTimeout(onTimeout, Math.max(0, Math.min(this.#o.timeouts.registrationMs, left)));
          },
        });
        void closed.then((c) => {
          if (c.kind === 'reregister') reject(new ReregisterSignal(c.detail));
        });
      });

    const peerAlive = (ms: number) =>
      new Promise<{ ok: boolean; error?: string }>((resolve) => {
        const t = setTimeout(() => done({ ok: false, error: `no traffic from the control plane within ${ms} ms of the heartbeat` }), ms);
        function done(r: { ok: boolean; error?: string }) {
          clearTimeout(t);
          alive.delete(done);
          resolve(r);
        }
        alive.add(done);
      });

    const att: Attachment = {
      ws,
      awaitRegistration,
      peerAlive,
      closed,
      detach: () => {
        detached = true;
        clearTimeout(readTimer);
        clearInterval(pingTimer);
        ws.removeEventListener('message', isolated);
      },
    };
    this.#att = att;
    return att;
  }

  /** The session is usable: announce it and wait for its end. */
  #connectedPhase(ws: WebSocket, reg: Attachment): Promise<CloseReason> {
    this.#lastError = null;
    this.#fallbackSent.clear();
    const reconnect = this.#everConnected;
    this.#everConnected = true;
    this.#emit('connected');
    if (reconnect) this.#h.metric({ name: 'pipeops_tunnel_reconnects_total', op: 'inc' });
    this.#h.connected(this.#conn(ws), reconnect);
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
    if (!this.#conn(ws).send('heartbeat', payload)) return { ok: false, error: 'send failed' };
    // Bun's client has ping(); the DOM typings do not know it. The pong comes after the peer read the heartbeat.
    (ws as unknown as { ping(): void }).ping();
    return alive;
  }
}

/** Bound on remembered unknown types: a control plane inventing types cannot grow the set without limit. */
const MAX_FALLBACK_TYPES = 256;

const SUPPORTED_TYPE_SET = new Set<string>([...SUPPORTED_INBOUND_TYPES, 'gateway_hello', 'tcp_tunnel_start', 'tcp_tunnel_data', 'tcp_tunnel_close', 'udp_tunnel_data']);
