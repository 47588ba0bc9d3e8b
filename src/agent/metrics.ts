// Every Prometheus metric the agent exposes, declared once. Workers report updates as plain messages
// (`MetricUpdate`), the main thread applies them here; docs/metrics.md is generated from METRICS.
import type * as Prom from 'prom-client';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from './prom.ts';
import type { MetricUpdate } from '../threads/metric-update.ts';

export type MetricType = 'counter' | 'gauge' | 'histogram';
export interface MetricDef {
  name: string;
  help: string;
  type: MetricType;
  labels?: readonly string[];
  buckets?: readonly number[];
}

/** Prometheus client_golang's DefBuckets, which upstream's histograms use. */
const GO_DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const METRICS = [
  { name: 'pipeops_agent_status', type: 'gauge', help: 'Agent status: 1 when ready (registered, connected, workers alive), else 0.' },
  { name: 'pipeops_tunnel_status', type: 'gauge', help: 'Control-plane session: 0 disconnected, 1 connecting, 2 connected, 3 reconnecting.' },
  { name: 'pipeops_agent_info', type: 'gauge', help: 'Build information (always 1).', labels: ['version', 'bun_version'] },
  { name: 'pipeops_heartbeat_total', type: 'counter', help: 'Heartbeats written to the control-plane session.' },
  { name: 'pipeops_heartbeat_errors_total', type: 'counter', help: 'Heartbeats that could not be sent.', labels: ['reason'] },
  { name: 'pipeops_heartbeat_duration_seconds', type: 'histogram', help: 'Time to build and send a heartbeat.', buckets: LATENCY_BUCKETS },
  { name: 'pipeops_registration_attempts_total', type: 'counter', help: 'Registration attempts by outcome.', labels: ['result'] },
  { name: 'pipeops_tunnel_reconnects_total', type: 'counter', help: 'Control-plane session reconnects.' },
  { name: 'pipeops_tunnel_session_resumptions_total', type: 'counter', help: 'Sessions resumed with a persisted gateway URL.', labels: ['result'] },
  { name: 'pipeops_http_requests_total', type: 'counter', help: 'Requests served by the local HTTP API.', labels: ['method', 'route', 'status'] },
  { name: 'pipeops_tunnel_forwards_active', type: 'gauge', help: 'Requests and streams currently relayed through the tunnel.' },
  { name: 'pipeops_protocol_errors_total', type: 'counter', help: 'Inbound control messages rejected as malformed or unknown.', labels: ['reason'] },
  { name: 'pipeops_late_arrivals_total', type: 'counter', help: 'Messages for a request or stream that had just finished (kind request_chunk, stream_data): a normal race, not a protocol error.', labels: ['kind'] },
  { name: 'pipeops_tunnel_handler_errors_total', type: 'counter', help: 'Inbound messages whose handling threw, by message type and error class: only their request or stream failed, the session and the worker kept running.', labels: ['type', 'error'] },
  { name: 'pipeops_tunnel_reclaimed_total', type: 'counter', help: 'Work the control plane abandoned and the agent ended after an idle time: streamed request bodies (request_body, timeouts.proxy_body_idle) and streams (stream, timeouts.stream_idle).', labels: ['kind'] },
  { name: 'pipeops_tunnel_messages_total', type: 'counter', help: 'Control messages by direction and type.', labels: ['direction', 'type'] },
  { name: 'pipeops_worker_restarts_total', type: 'counter', help: 'Worker threads restarted after a crash (a tunnel restart restarts the heartbeat with it).', labels: ['worker'] },
  { name: 'pipeops_worker_up', type: 'gauge', help: '1 while the worker thread is running (tunnel, which also runs the heartbeat, or ingress).', labels: ['worker'] },
  { name: 'pipeops_agent_leader_election_leader', type: 'gauge', help: 'Leader election (agent.leader_election): 1 while this replica holds the Lease and runs the control-plane session, 0 while it stands by. Absent with election off.', labels: ['lease'] },
  { name: 'pipeops_proxy_requests_total', type: 'counter', help: 'Proxied requests by target kind, status and response encoding (json, json_gzip, binary, binary_gzip, stream; upgrade for a 101; error when no response came).', labels: ['target', 'status', 'encoding'] },
  { name: 'pipeops_proxy_request_duration_seconds', type: 'histogram', help: 'Time from proxy_request to the last byte relayed.', labels: ['target'], buckets: LATENCY_BUCKETS },
  { name: 'pipeops_proxy_bytes_total', type: 'counter', help: 'Body bytes relayed through the tunnel (uncompressed).', labels: ['direction'] },
  { name: 'pipeops_proxy_wire_bytes_total', type: 'counter', help: 'Bytes put on the tunnel socket for buffered responses, by encoding (json, json_gzip, binary, binary_gzip).', labels: ['encoding'] },
  { name: 'pipeops_proxy_gzip_saved_bytes_total', type: 'counter', help: 'Bytes saved by gzip on buffered responses.' },
  { name: 'pipeops_proxy_gzip_ratio', type: 'histogram', help: 'Compressed/raw size of gzipped responses.', buckets: [0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1] },
  { name: 'pipeops_ws_sessions_active', type: 'gauge', help: 'Open WebSocket/stream sessions by kind (exec, attach, port-forward, kubernetes, application).', labels: ['kind'] },
  { name: 'pipeops_ws_session_duration_seconds', type: 'histogram', help: 'Lifetime of stream sessions by kind.', labels: ['kind'], buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200] },
  { name: 'pipeops_ws_bytes_total', type: 'counter', help: 'Stream payload bytes by kind and direction (to_backend, to_control_plane).', labels: ['kind', 'direction'] },
  { name: 'pipeops_ws_backpressure_total', type: 'counter', help: 'Backpressure signals sent to the control plane for streams whose backend does not keep up.', labels: ['kind'] },
  // L4 tunnels (§5), upstream's names: yamux streams from the gateway, and the legacy JSON messages.
  { name: 'pipeops_agent_yamux_streams_accepted_total', type: 'counter', help: 'Yamux streams the gateway opened (each carries one L4 connection).' },
  { name: 'pipeops_agent_yamux_active_streams', type: 'gauge', help: 'Yamux streams relaying to a Service now.' },
  { name: 'pipeops_agent_yamux_bytes_total', type: 'counter', help: 'Yamux TCP stream bytes by direction (in: gateway to Service, out: Service to gateway), counted when a stream ends.', labels: ['direction'] },
  { name: 'pipeops_agent_yamux_stream_errors_total', type: 'counter', help: 'Yamux streams refused: header_error (bad or invalid stream header, T3), dial_error (Service unreachable), limit (tunnels.tcp.max_connections / tunnels.udp.max_sessions).', labels: ['type'] },
  { name: 'pipeops_agent_yamux_stream_duration_seconds', type: 'histogram', help: 'Lifetime of relayed yamux streams.', buckets: [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6, 819.2, 1638.4] },
  { name: 'pipeops_agent_tcp_tunnel_connections_total', type: 'counter', help: 'Legacy JSON TCP tunnel connections started (tcp_tunnel_start).' },
  { name: 'pipeops_agent_tcp_tunnel_active_connections', type: 'gauge', help: 'Legacy JSON TCP tunnel connections open now.' },
  { name: 'pipeops_agent_tcp_tunnel_errors_total', type: 'counter', help: 'Legacy JSON TCP tunnel connections closed by a failure, by close reason (connection_failed, registration_failed, write_error, invalid_message).', labels: ['error_type'] },
  { name: 'pipeops_agent_udp_tunnel_packets_total', type: 'counter', help: 'UDP datagrams relayed (yamux and legacy JSON), by direction (to_backend, to_gateway).', labels: ['direction'] },
  { name: 'pipeops_agent_udp_tunnel_errors_total', type: 'counter', help: 'UDP tunnel failures: dropped (over tunnels.udp.buffer_size or a full stream), limit, invalid_message, invalid_target, socket.', labels: ['error_type'] },
  { name: 'pipeops_bun_heap_bytes', type: 'gauge', help: 'JavaScriptCore heap size of the main thread (bun:jsc).' },
  { name: 'pipeops_bun_heap_objects', type: 'gauge', help: 'Live objects on the main thread heap (bun:jsc).' },
  { name: 'gateway_routes_registered_total', type: 'counter', help: 'Routes acknowledged by the control plane route registry, by call (register, sync).', labels: ['via'] },
  { name: 'gateway_routes_active', type: 'gauge', help: 'Managed routes the control plane route registry has acknowledged and holds now.' },
  { name: 'gateway_tunnels_active', type: 'gauge', help: 'L4 tunnels (TCP/UDP listeners of labelled Gateways) the control plane tunnel registry has acknowledged.' },
  { name: 'gateway_exposure_objects', type: 'gauge', help: 'Exposure objects (gateway.*) after the last pass, by state: applied (changed by it), unchanged, refused (exists without our labels), failed.', labels: ['state'] },
  { name: 'gateway_exposure_deleted_total', type: 'counter', help: 'Exposure objects the agent removed because they are no longer configured.' },
  { name: 'gateway_cluster_type', type: 'gauge', help: 'Detected cluster type: 1 for the current type (label type=private|public), 0 for the other.', labels: ['type'] },
  { name: 'gateway_route_sync_success_total', type: 'counter', help: 'Route registry calls that succeeded (HTTP 200), by operation (register, unregister, sync).', labels: ['operation'] },
  { name: 'gateway_route_sync_failures_total', type: 'counter', help: 'Route registry calls that failed after all retries, by operation.', labels: ['operation'] },
  { name: 'gateway_route_sync_retries_total', type: 'counter', help: 'Route registry call retries, by operation.', labels: ['operation'] },
  { name: 'gateway_route_sync_duration_seconds', type: 'histogram', help: 'Duration of route registry calls including retries, by operation.', labels: ['operation'], buckets: LATENCY_BUCKETS },
  // Upstream's names (protocol.md §8.1), so dashboards and alerts built for the Go agent keep working. Each is filled
  // from one of ours (UPSTREAM_ALIASES, or the main thread); upstream metrics we cannot fill are not exported.
  { name: 'pipeops_agent_heartbeat_success_total', type: 'counter', help: 'Upstream name: heartbeats sent to the control plane (= pipeops_heartbeat_total).' },
  { name: 'pipeops_agent_heartbeat_failures_total', type: 'counter', help: 'Upstream name: heartbeats that could not be sent (pipeops_heartbeat_errors_total except skipped ticks).' },
  { name: 'pipeops_agent_heartbeat_skip_reconnecting_total', type: 'counter', help: 'Upstream name: heartbeat ticks skipped because the session was not connected.' },
  { name: 'pipeops_agent_heartbeat_duration_seconds', type: 'histogram', help: 'Upstream name: time to build and send a heartbeat.', buckets: GO_DEFAULT_BUCKETS },
  { name: 'pipeops_agent_connection_state', type: 'gauge', help: 'Upstream name: 0 disconnected, 1 connecting, 2 connected, 3 reconnecting (= pipeops_tunnel_status).' },
  { name: 'pipeops_agent_connection_state_changes_total', type: 'counter', help: 'Upstream name: control-plane session state changes by target state.', labels: ['state'] },
  { name: 'pipeops_agent_websocket_reconnections_total', type: 'counter', help: 'Upstream name: reconnection attempts (each wait before a redial after the session had been up).' },
  { name: 'pipeops_agent_unhealthy_duration_seconds', type: 'gauge', help: 'Upstream name: seconds the session has not been connected (0 while connected).' },
  { name: 'pipeops_agent_websocket_active_connections', type: 'gauge', help: 'Upstream name: open WebSocket relays (kubectl streams and application WebSockets).' },
  { name: 'pipeops_agent_websocket_proxy_active_streams', type: 'gauge', help: 'Upstream name: open WebSocket relays (kubectl streams and application WebSockets).' },
  { name: 'pipeops_agent_websocket_proxy_streams_total', type: 'counter', help: 'Upstream name: WebSocket relays started.' },
  { name: 'pipeops_agent_websocket_bytes_sent_total', type: 'counter', help: 'Upstream name: WebSocket relay payload bytes sent to the control plane (direction backend_to_controller).', labels: ['direction'] },
  { name: 'pipeops_agent_websocket_bytes_received_total', type: 'counter', help: 'Upstream name: WebSocket relay payload bytes received from the control plane for backends (direction controller_to_backend).', labels: ['direction'] },
] as const satisfies readonly MetricDef[];

/**
 * Upstream's metric names filled from ours as updates arrive: our update → the upstream updates it implies.
 * Not exported because we cannot fill them truthfully: frame counts (our relays count bytes), per-service
 * byte counters and `websocket_proxy_errors_total` (no such labels here), and the gateway-watcher family; the L4
 * tunnel and yamux families are declared above under upstream's names; see docs/compatibility.md.
 */
export const UPSTREAM_ALIASES: Readonly<Record<string, (u: MetricUpdate) => MetricUpdate[]>> = {
  pipeops_heartbeat_total: (u) => [{ ...u, name: 'pipeops_agent_heartbeat_success_total', labels: {} }],
  pipeops_heartbeat_errors_total: (u) => [
    { ...u, name: u.labels?.reason === 'not_connected' ? 'pipeops_agent_heartbeat_skip_reconnecting_total' : 'pipeops_agent_heartbeat_failures_total', labels: {} },
  ],
  pipeops_heartbeat_duration_seconds: (u) => [{ ...u, name: 'pipeops_agent_heartbeat_duration_seconds' }],
  pipeops_ws_sessions_active: (u) => [
    { ...u, name: 'pipeops_agent_websocket_active_connections', labels: {} },
    { ...u, name: 'pipeops_agent_websocket_proxy_active_streams', labels: {} },
    ...((u.value ?? 1) > 0 ? [{ name: 'pipeops_agent_websocket_proxy_streams_total', op: 'inc' as const, value: u.value ?? 1, labels: {} }] : []),
  ],
  pipeops_ws_bytes_total: (u) =>
    u.labels?.direction === 'to_control_plane'
      ? [{ ...u, name: 'pipeops_agent_websocket_bytes_sent_total', labels: { direction: 'backend_to_controller' } }]
      : u.labels?.direction === 'to_backend'
        ? [{ ...u, name: 'pipeops_agent_websocket_bytes_received_total', labels: { direction: 'controller_to_backend' } }]
        : [],
};

export type MetricName = (typeof METRICS)[number]['name'];


type AnyMetric = Prom.Counter<string> | Prom.Gauge<string> | Prom.Histogram<string>;

export class AgentMetrics {
  readonly registry = new Registry();
  readonly #byName = new Map<string, AnyMetric>();

  constructor(defs: readonly MetricDef[] = METRICS, opts: { defaultMetrics?: boolean } = {}) {
    this.declare(defs);
    // process_* and nodejs_eventloop_lag_* are real on Bun; the GC and heap-space collectors are not (bun-notes §9).
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
  }

  /** Apply one update; unknown names or ops are reported, never thrown into the caller. */
  apply(u: MetricUpdate): string | null {
    const m = this.#byName.get(u.name);
    if (!m) return `unknown metric ${u.name}`;
    const labels = u.labels ?? {};
    const v = u.value ?? 1;
    if (u.op === 'inc' && (m instanceof Counter || m instanceof Gauge)) m.inc(labels, v);
    else if (u.op === 'set' && m instanceof Gauge) m.set(labels, v);
    else if (u.op === 'observe' && m instanceof Histogram) {
      if (u.values) {
        // A worker's batch of one series: the labelled child is looked up once, not per observation.
        const child = m.labels(labels);
        for (const x of u.values) child.observe(x);
      } else m.observe(labels, v);
    }
    else return `metric ${u.name} does not support ${u.op}`;
    for (const a of UPSTREAM_ALIASES[u.name]?.(u) ?? []) this.apply(a);
    return null;
  }

  inc(name: MetricName, labels?: Record<string, string>, value = 1): void {
    this.apply({ name, op: 'inc', labels, value });
  }
  set(name: MetricName, value: number, labels?: Record<string, string>): void {
    this.apply({ name, op: 'set', labels, value });
  }
  observe(name: MetricName, value: number, labels?: Record<string, string>): void {
    this.apply({ name, op: 'observe', labels, value });
  }

  /** Register additional metric definitions (capabilities that own their metrics declare them beside their code). */
  declare(defs: readonly MetricDef[]): void {
    for (const d of defs) {
      if (this.#byName.has(d.name)) continue;
      const base = { name: d.name, help: d.help, labelNames: [...(d.labels ?? [])], registers: [this.registry] };
      const m =
        d.type === 'counter'
          ? new Counter(base)
          : d.type === 'gauge'
            ? new Gauge(base)
            : new Histogram({ ...base, buckets: [...(d.buckets ?? LATENCY_BUCKETS)] });
      this.#byName.set(d.name, m);
    }
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
  get contentType(): string {
    return this.registry.contentType;
  }
}
