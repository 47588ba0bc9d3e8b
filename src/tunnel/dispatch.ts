// Routes the session's non-control messages to the relays (HTTP proxy, WebSocket streams, L4 tunnels).
// Every message type of protocol.md §2.6 is either handled here or explicitly answered.
import type { Logger } from 'pino';
import type { MetricUpdate } from '../agent/metrics.ts';
import type { RouteHint, ServiceTarget } from '../agent/thread-messages.ts';
import type { KubeClient } from '../kube/client.ts';
import { type InboundMessage, legacyJsonText } from '../protocol/envelope.ts';
import { HttpRelay, type RelayConfig } from './http-relay.ts';
import type { SessionConnection } from './session.ts';
import { type StreamConfig, StreamRelay } from './stream-relay.ts';

export interface DispatcherDeps {
  kube: KubeClient | null;
  log: Logger;
  metric(u: MetricUpdate): void;
  relay: Omit<RelayConfig, 'ingressController'>;
  streams: StreamConfig;
}

export class TunnelDispatcher {
  readonly #d: DispatcherDeps;
  #routes = new Map<string, RouteHint>();
  #ingressController: ServiceTarget | null = null;
  readonly http: HttpRelay;
  readonly streams: StreamRelay;

  constructor(deps: DispatcherDeps) {
    this.#d = deps;
    const self = this;
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
  }

  setRouteHints(routes: RouteHint[], ingressController: ServiceTarget | null): void {
    this.#routes = new Map(routes.map((r) => [r.host, r]));
    this.#ingressController = ingressController;
  }

  closeAll(reason: string): void {
    this.http.closeAll(reason);
    this.streams.closeAll();
  }

  beforeText(): void {
    this.http.textArrived();
  }

  /** A binary message: a pending request body, else legacy JSON-in-binary (returned as text for dispatch), else dropped. */
  handleBinary(data: ArrayBuffer, _conn: SessionConnection): string | null {
    if (this.http.binary(data)) return null;
    const legacy = legacyJsonText(new Uint8Array(data));
    if (legacy !== null) return legacy;
    this.#d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: 'unexpected_binary' } });
    this.#d.log.warn({ bytes: data.byteLength }, 'binary frame with no pending request; dropped');
    return null;
  }

  /** Returns false for types this agent does not know (the session then sends protocol_fallback). */
  handle(m: InboundMessage, conn: SessionConnection): boolean {
    switch (m.type) {
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
      // T1: L4 tunnels are not enabled in this agent build: answer instead of crashing like upstream.
      case 'tcp_tunnel_start':
      case 'tcp_tunnel_data':
        conn.send('tcp_tunnel_close', { reason: 'tunnels_disabled', error: 'L4 tunnels are disabled on this agent (tunnels.enabled=false)' }, m.requestId);
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
