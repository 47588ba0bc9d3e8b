// Routes the session's non-control messages to the relays (HTTP proxy, WebSocket streams, L4 tunnels).
// Every message type of protocol.md §2.6 is either handled here or explicitly answered.
import type { Logger } from '../log/logger.ts';
import type { MetricUpdate } from '../threads/metric-update.ts';
import type { RouteHint, ServiceTarget } from '../threads/messages.ts';
import type { KubeClient } from '../kube/client.ts';
import { frameRequestId } from '../protocol/binary-frame.ts';
import { type InboundMessage, legacyJsonText } from '../protocol/envelope.ts';
import { AGENT_INBOUND_TYPES, isRelayType, type RelayType } from '../protocol/message-table.ts';
import { ProxyOut } from '../protocol/proxy-messages.ts';
import type { RelayConfig, StreamConfig } from '../threads/tunnel-config.ts';
import { HttpRelay } from './http-relay.ts';
import { LegacyTunnels } from './l4/legacy-tunnels.ts';
import type { L4Config } from './l4/yamux-tunnels.ts';
import type { SessionConnection } from './session.ts';
import { StreamRelay } from './stream-relay.ts';

export interface DispatcherDeps {
  kube: KubeClient | null;
  log: Logger;
  metric(u: MetricUpdate): void;
  relay: Omit<RelayConfig, 'ingressController'>;
  streams: StreamConfig;
  /** tunnels.* (§5); `enabled: false` answers the L4 messages with T1. */
  l4?: L4Config;
}

export class TunnelDispatcher {
  readonly #d: DispatcherDeps;
  #routes = new Map<string, RouteHint>();
  #ingressController: ServiceTarget | null = null;
  readonly http: HttpRelay;
  readonly streams: StreamRelay;
  /** The legacy JSON L4 messages (§5.4), when tunnels are enabled. */
  readonly legacyTunnels: LegacyTunnels | null;

  constructor(deps: DispatcherDeps) {
    this.#d = deps;
    const self = this;
    this.legacyTunnels = deps.l4?.enabled ? new LegacyTunnels(deps.l4, deps.log, deps.metric) : null;
    this.streams = new StreamRelay({ kube: deps.kube, log: deps.log, metric: deps.metric, config: deps.streams });
    this.http = new HttpRelay({
      upgrade: (req, decision, conn) => this.streams.upgrade(req, decision, conn, req.rawUpgrade),
      kube: deps.kube,
      log: deps.log,
      metric: deps.metric,
      routes: () => this.#routes,
      config: {
        ...deps.relay,
        get ingressController() {
          return self.#ingressController;
        },
      },
    });
  }

  attach(_conn: SessionConnection, _reconnect: boolean): void {}

  /** The session is gone: in-flight requests and streams cannot be answered any more. */
  detach(): void {
    this.http.closeAll('tunnel connection lost');
    this.streams.closeAll();
    this.legacyTunnels?.closeAll();
  }

  setRouteHints(routes: RouteHint[], ingressController: ServiceTarget | null): void {
    this.#routes = new Map(routes.map((r) => [r.host, r]));
    this.#ingressController = ingressController;
  }

  closeAll(reason: string): void {
    this.http.closeAll(reason);
    this.streams.closeAll();
    this.legacyTunnels?.closeAll();
  }

  beforeText(): void {
    this.http.textArrived();
  }

  /** A binary message: a pending request body, else legacy JSON-in-binary (returned as text for dispatch), else dropped. */
  handleBinary(data: ArrayBuffer, conn: SessionConnection): string | null {
    try {
      if (this.http.binary(data)) return null;
      const legacy = legacyJsonText(new Uint8Array(data));
      if (legacy !== null) return legacy;
      this.#d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: 'unexpected_binary' } });
      this.#d.log.warn({ bytes: data.byteLength }, 'binary frame with no pending request; dropped');
    } catch (e) {
      this.#failed('binary', binaryFrameId(data), e, conn);
    }
    return null;
  }

  /**
   * Returns false for types this agent does not know (the session then sends protocol_fallback).
   * Isolation: whatever one message's handling throws fails that message's request or stream only
   * (`proxy_error` / `proxy_websocket_close` with the reason), is counted and logged, and never leaves here.
   */
  handle(m: InboundMessage, conn: SessionConnection): boolean {
    try {
      return this.#route(m, conn);
    } catch (e) {
      this.#failed(m.type, messageId(m), e, conn);
      return true;
    }
  }

  #failed(type: string, id: string | undefined, e: unknown, conn: SessionConnection): void {
    const err = e instanceof Error ? e : new Error(String(e));
    const reason = `internal error handling ${type}: ${err.message}`.slice(0, 500);
    this.#d.metric({ name: 'pipeops_tunnel_handler_errors_total', op: 'inc', labels: { type: KNOWN_TYPES.has(type) ? type : 'other', error: err.name || 'Error' } });
    this.#d.log.error({ type, request_id: id, err: err.message, stack: err.stack }, 'message handler failed; its request or stream is ended, the session continues');
    if (!id) return;
    try {
      // In flight under that id: end it (its own code sends the one terminal message).
      if (this.http.fail(id, reason) || this.streams.fail(id, reason)) return;
      if (type.startsWith('proxy_websocket') || type.startsWith('ws_')) conn.send({ type: 'proxy_websocket_close', payload: { stream_id: id, code: 1011, reason }, requestId: id });
      else conn.send({ type: 'proxy_error', payload: ProxyOut.error(reason), requestId: id });
    } catch (e2) {
      this.#d.log.error({ type, request_id: id, err: (e2 as Error).message }, 'could not report a failed message');
    }
  }

  /** Every relay type of the message table has its case: a type added there without one does not compile. */
  #route(m: InboundMessage, conn: SessionConnection): boolean {
    if (!isRelayType(m.type)) return false;
    const type: RelayType = m.type;
    switch (type) {
      case 'proxy_request':
        this.http.request(m, conn);
        return true;
      case 'proxy_request_chunk':
        this.http.chunk(m);
        return true;
      case 'proxy_request_stream_end':
        this.http.streamEnd(m);
        return true;
      case 'proxy_cancel':
        this.http.cancel(m);
        return true;
      case 'proxy_window':
        this.http.window(m);
        return true;
      case 'proxy_stream_data':
        // P5: upstream crashes here after a 101; we ignore it with a warning.
        this.#d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: 'proxy_stream_data_ignored' } });
        this.#d.log.warn({ request_id: m.requestId }, 'proxy_stream_data is not used by this agent; ignored (use proxy_websocket_data)');
        return true;
      case 'proxy_websocket_start':
      case 'ws_start':
        this.streams.start(m, conn);
        return true;
      case 'proxy_websocket_data':
      case 'ws_data':
        this.streams.data(m);
        return true;
      case 'proxy_websocket_close':
      case 'ws_close':
        this.streams.close(m, conn);
        return true;
      case 'tcp_tunnel_start':
      case 'tcp_tunnel_data':
      case 'tcp_tunnel_close':
      case 'udp_tunnel_data':
        if (!this.legacyTunnels) return this.#tunnelsDisabled(m, conn);
        this.legacyTunnels.handle(m, conn);
        return true;
      default: {
        const unhandled: never = type;
        return unhandled;
      }
    }
  }

  /** T1: L4 tunnels are disabled (tunnels.enabled=false): answer instead of crashing like upstream. */
  #tunnelsDisabled(m: InboundMessage, conn: SessionConnection): boolean {
    switch (m.type) {
      case 'tcp_tunnel_start':
      case 'tcp_tunnel_data':
        conn.send({ type: 'tcp_tunnel_close', payload: { reason: 'tunnels_disabled', error: 'L4 tunnels are disabled on this agent (tunnels.enabled=false)' }, requestId: m.requestId });
        this.#d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: 'tunnels_disabled' } });
        return true;
      case 'tcp_tunnel_close':
        return true;
      case 'udp_tunnel_data':
        this.#d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: 'tunnels_disabled' } });
        this.#d.log.debug({ tunnel_id: m.payload.tunnel_id }, 'udp_tunnel_data dropped: tunnels disabled');
        return true;
      default:
        return false;
    }
  }
}

/** Message types used as metric labels: the message table's, and `binary` frames; anything else is `other` (bounded label values). */
const KNOWN_TYPES = new Set<string>([...AGENT_INBOUND_TYPES, 'binary']);

/** The request or stream a message is about: top-level id, else the payload's stream_id / request_id. */
function messageId(m: InboundMessage): string | undefined {
  if (m.requestId) return m.requestId;
  const p = m.payload as Record<string, unknown> | null | undefined;
  const v = p?.stream_id ?? p?.request_id;
  return typeof v === 'string' && v ? v : undefined;
}

/** The request id of a binary frame (`[u16 L][id]…`), if it has a readable one. */
function binaryFrameId(data: ArrayBuffer): string | undefined {
  try {
    return frameRequestId(new Uint8Array(data)) ?? undefined;
  } catch {
    return undefined;
  }
}
