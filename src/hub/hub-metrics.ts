// Every Prometheus metric the hub exposes at GET /metrics on its main listener, declared once in HUB_METRICS
// (docs/hub-metrics.md is generated from it). The hub's own registry: nothing is shared with an agent in the same
// process. Counters are incremented where things happen; gauges of live state are read at scrape time.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { LabelHistogram } from './label-histogram.ts';
import { mayHaveParam } from './kube-gateway/gateway-route.ts';
import { BUILD_INFO } from '../version.ts';

export interface HubMetricDef {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels?: readonly string[];
  buckets?: readonly number[];
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export const HUB_METRICS = [
  { name: 'pipeops_hub_info', type: 'gauge', help: 'Build information (always 1).', labels: ['version', 'bun_version'] },
  { name: 'pipeops_hub_agents_connected', type: 'gauge', help: 'Registered clusters whose agent has a live session now.' },
  { name: 'pipeops_hub_clusters', type: 'gauge', help: 'Registered clusters by state (connected, disconnected).', labels: ['state'] },
  {
    name: 'pipeops_hub_agent_sockets',
    type: 'gauge',
    help: 'Open agent WebSockets by endpoint kind (controller, gateway) and state (pending: not bound to a cluster yet; bound: carries a cluster session).',
    labels: ['kind', 'state'],
  },
  { name: 'pipeops_hub_registrations_total', type: 'counter', help: 'Agent `register` messages by result (accepted, rejected).', labels: ['result'] },
  {
    name: 'pipeops_hub_registrations_rejected_total',
    type: 'counter',
    help: 'Agents refused, by reason: bad_token and not_websocket (connection refused), invalid_payload, wrong_endpoint and store_unavailable (`register` refused), unknown_cluster (gateway session for a cluster the hub does not know).',
    labels: ['reason'],
  },
  { name: 'pipeops_hub_heartbeats_total', type: 'counter', help: 'Agent heartbeats by result (ok, unknown_cluster).', labels: ['result'] },
  {
    name: 'pipeops_hub_agent_frame_batches_total',
    type: 'counter',
    help: 'Frame batches from agents (several binary messages in one, extension `frame_batches`) by result: ok, or malformed (the whole batch dropped and logged).',
    labels: ['result'],
  },
  { name: 'pipeops_hub_agent_batched_messages_total', type: 'counter', help: 'Binary messages that arrived inside frame batches.' },
  {
    name: 'pipeops_hub_kube_requests_total',
    type: 'counter',
    help: 'Kubernetes API gateway requests by cluster id, verb and HTTP status code. `cluster` is empty until a request is authenticated and names a registered cluster; `verb` is the HTTP method, WATCH for watch=true, CONNECT for upgrades refused before reaching an agent (upgrades handed to an agent: pipeops_hub_upgrades_total); `code` 0 means the client left before a status was sent.',
    labels: ['cluster', 'verb', 'code'],
  },
  {
    name: 'pipeops_hub_kube_request_duration_seconds',
    type: 'histogram',
    help: 'Kubernetes API gateway request duration, from the request to the last byte of the answer, by cluster and verb. Watches and log follows are not observed (their length is the client\'s choice).',
    labels: ['cluster', 'verb'],
    buckets: LATENCY_BUCKETS,
  },
  { name: 'pipeops_hub_requests_in_flight', type: 'gauge', help: 'Requests waiting for or streaming an agent\'s answer, by gateway (kube, public).', labels: ['gateway'] },
  {
    name: 'pipeops_hub_forwarded_total',
    type: 'counter',
    help: 'Requests and upgrades carried to the hub replica that holds the cluster\'s agent session, by gateway (kube, public, l4) and kind (request, upgrade, tcp, udp: one per UDP client address).',
    labels: ['gateway', 'kind'],
  },
  { name: 'pipeops_hub_kube_connections_total', type: 'counter', help: 'Connections the Kubernetes API gateway accepted (TLS handshakes that completed or not).', labels: [] },
  {
    name: 'pipeops_hub_kube_connections_to_node_total',
    type: 'counter',
    help: 'Kubernetes API gateway connections handed from the front\'s own reader (plain GETs answered from memory) to node:http, which keeps them: a request with a body, an upgrade (exec, attach, port-forward), a refusal, a forward between replicas, or a head the reader does not take as it is.',
    labels: [],
  },
  { name: 'pipeops_hub_upgrades_total', type: 'counter', help: 'Upgrades (exec, attach, port-forward, app WebSockets) handed to an agent, by gateway (kube, public).', labels: ['gateway'] },
  { name: 'pipeops_hub_upgrades_active', type: 'gauge', help: 'Upgraded connections relayed through an agent now, by gateway (kube, public).', labels: ['gateway'] },
  {
    name: 'pipeops_hub_public_requests_total',
    type: 'counter',
    help: 'Public gateway requests by route, mode (tunnel, direct, none) and HTTP status code. `route` is the matched route as host + path (`*` for any host); empty when nothing matched. `code` 0 means the client left before a status was sent.',
    labels: ['route', 'mode', 'code'],
  },
  {
    name: 'pipeops_hub_public_request_duration_seconds',
    type: 'histogram',
    help: 'Public gateway request duration, from the request to the last byte of the answer, by route.',
    labels: ['route'],
    buckets: LATENCY_BUCKETS,
  },
  {
    name: 'pipeops_hub_tunnel_bytes_total',
    type: 'counter',
    help: 'Bytes of WebSocket messages between the hub and agents (text and binary payloads), by direction (to_agent, from_agent).',
    labels: ['direction'],
  },
  { name: 'pipeops_hub_routes', type: 'gauge', help: 'Routes the public gateway serves, by source (registry: registered by agents; config: path_routes).', labels: ['source'] },
  {
    name: 'pipeops_hub_route_registrations_rejected_total',
    type: 'counter',
    help: 'Route registry calls (register, sync, unregister) refused, by reason: the `error` code of the answer (unauthorized, invalid_json, invalid_route, cluster_not_found, forbidden, host_conflict, …).',
    labels: ['reason'],
  },
  {
    name: 'pipeops_hub_tunnel_registrations_rejected_total',
    type: 'counter',
    help: 'Tunnel registry calls (§1.2: register, sync, deregister) refused, and tunnels a sync left out, by reason: the `error` code (unauthorized, invalid_json, invalid_tunnel, endpoint_refused for a direct endpoint outside the address policy, cluster_not_found, forbidden, too_many_tunnels, …).',
    labels: ['reason'],
  },
  { name: 'pipeops_hub_l4_connections_total', type: 'counter', help: 'L4 connections accepted (TCP) and UDP client addresses seen, by tunnel (exposure name or registered tunnel id) and protocol.', labels: ['tunnel', 'protocol'] },
  { name: 'pipeops_hub_l4_bytes_total', type: 'counter', help: 'L4 payload bytes by tunnel and direction (to_service, to_client), counted when a connection ends.', labels: ['tunnel', 'direction'] },
  {
    name: 'pipeops_hub_l4_failures_total',
    type: 'counter',
    help: 'L4 connections that failed, by tunnel and reason: cluster_not_found, agent_offline, no_yamux, yamux_closed (no stream could be opened), stream_reset (the agent refused the stream: bad header, dial failure, limit), idle_timeout, connection_error, direct_refused, direct_dial; udp_dropped (a UDP datagram dropped because its bounded queue toward the service or the client was full, or an empty one that an agent in raw mode cannot carry; counted per datagram); between hub replicas: replica_link (the link to the replica holding the session failed or was refused), client_gone, and on the holding replica forward_refused (tunnel "internal": unsigned, forged or malformed forward) and forwarded_connection_error.',
    labels: ['tunnel', 'reason'],
  },
  { name: 'pipeops_hub_l4_connections_active', type: 'gauge', help: 'L4 connections (TCP) and UDP client addresses relayed now, by tunnel.', labels: ['tunnel'] },
  {
    name: 'pipeops_hub_l4_forwarded_active',
    type: 'gauge',
    help: 'L4 links from other hub replicas that this replica relays to its agents now, by protocol: one per forwarded TCP connection or UDP client address.',
    labels: ['protocol'],
  },
  {
    name: 'pipeops_hub_quiet_collections_total',
    type: 'counter',
    help: 'Full garbage collections the hub ran a quiet second after agent messages or gateway requests stopped, at most one per 10 s (src/threads/quiet-collector.ts).',
  },
  {
    name: 'pipeops_hub_quiet_shrinks_total',
    type: 'counter',
    help: 'Of those collections, the ones that also shrank the heap (compiled code dropped, free pages returned): not within 60 s of a gateway request, whose next burst would compile the relay again (src/threads/shrink-policy.ts).',
  },
  { name: 'pipeops_hub_quiet_collection_seconds_total', type: 'counter', help: 'Time the hub spent in those collections.' },
  {
    name: 'pipeops_hub_js_heap_bytes',
    type: 'gauge',
    help: 'JavaScriptCore heap of the hub (bun:jsc), as of the last garbage collection: size (live objects), capacity (reserved for objects), extra (memory owned by objects outside the heap: buffers).',
    labels: ['kind'],
  },
] as const satisfies readonly HubMetricDef[];

export type HubMetricName = (typeof HUB_METRICS)[number]['name'];

/** Live state read at scrape time. */
export interface HubState {
  sockets(): { kind: string; state: string; count: number }[];
  /** Read from the state database: a scrape while it does not answer keeps the previous values. */
  clusters(): { connected: number; disconnected: number } | Promise<{ connected: number; disconnected: number }>;
  tunnelBytes(): { toAgent: number; fromAgent: number };
  routes(): { registry: number; config: number } | Promise<{ registry: number; config: number }>;
  inFlight(): { kube: number; public: number };
  upgradesActive(): { kube: number; public: number };
  /** Active L4 connections per tunnel (absent: no L4 gateway). */
  l4Active?(): { tunnel: string; active: number }[];
  /** L4 links from other replicas relayed here now, by protocol. */
  l4Forwarded?(): { tcp: number; udp: number };
  /** The JavaScript heap as of the last garbage collection. */
  heap?(): { size: number; capacity: number; extra: number };
}

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string> | LabelHistogram<string, string>;
/** Observed on every kube gateway request: counted in plain arrays (label-histogram.ts), rendered the same. */
const KUBE_DURATION = 'pipeops_hub_kube_request_duration_seconds';

export class HubMetrics {
  readonly registry = new Registry();
  readonly #byName = new Map<string, AnyMetric>();
  #state: HubState | null = null;
  #bytesSeen = { toAgent: 0, fromAgent: 0 };
  /** `pipeops_hub_kube_requests_total` increments not yet in the counter: cluster → verb → code → requests. */
  #kubeCounts = new Map<string, Map<string, Map<number, number>>>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    for (const d of HUB_METRICS as readonly HubMetricDef[]) {
      const base = { name: d.name, help: d.help, labelNames: [...(d.labels ?? [])], registers: [this.registry] };
      const buckets = [...(d.buckets ?? LATENCY_BUCKETS)];
      const m =
        d.type === 'counter'
          ? new Counter(base)
          : d.type === 'gauge'
            ? new Gauge(base)
            : d.name === KUBE_DURATION
              ? new LabelHistogram(d.name, d.help, ['cluster', 'verb'], buckets, this.registry)
              : new Histogram({ ...base, buckets });
      this.#byName.set(d.name, m);
    }
    this.#gauge('pipeops_hub_info').set({ version: BUILD_INFO.version, bun_version: BUILD_INFO.bunVersion }, 1);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
  }

  /** Where the scrape-time gauges come from (set once the hub's parts exist). */
  attach(state: HubState): void {
    this.#state = state;
  }

  inc(name: HubMetricName, labels: Record<string, string> = {}, value = 1): void {
    (this.#byName.get(name) as Counter<string>).inc(labels, value);
  }

  observe(name: HubMetricName, labels: Record<string, string>, seconds: number): void {
    const m = this.#byName.get(name);
    if (m instanceof LabelHistogram) m.observe(labels[m.labelNames[0]] ?? '', labels[m.labelNames[1]] ?? '', seconds);
    else (m as Histogram<string>).observe(labels, seconds);
  }

  /** `pipeops_hub_kube_request_duration_seconds` of one kube gateway request (every request: no labels object). */
  kubeDuration(cluster: string, verb: string, seconds: number): void {
    (this.#byName.get(KUBE_DURATION) as LabelHistogram<'cluster', 'verb'>).observe(cluster, verb, seconds);
  }

  /**
   * One kube gateway request ended (`code` 0: no status was sent). Counted here and added to
   * `pipeops_hub_kube_requests_total` at the next scrape: the counter's label validation and hashing on every
   * request was a measurable share of the hub's own CPU per request (issue 14). Scrapes see the same totals.
   */
  kubeRequest(cluster: string, verb: string, code: number): void {
    let byVerb = this.#kubeCounts.get(cluster);
    if (!byVerb) this.#kubeCounts.set(cluster, (byVerb = new Map()));
    let byCode = byVerb.get(verb);
    if (!byCode) byVerb.set(verb, (byCode = new Map()));
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
  }

  async text(): Promise<string> {
    this.#flushKubeCounts();
    await this.#refresh();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #flushKubeCounts(): void {
    if (!this.#kubeCounts.size) return;
    const counter = this.#byName.get('pipeops_hub_kube_requests_total') as Counter<string>;
    for (const [cluster, byVerb] of this.#kubeCounts)
      for (const [verb, byCode] of byVerb) for (const [code, n] of byCode) counter.inc({ cluster, verb, code: String(code) }, n);
    this.#kubeCounts = new Map();
  }

  #gauge(name: HubMetricName): Gauge<string> {
    return this.#byName.get(name) as Gauge<string>;
  }

  async #refresh(): Promise<void> {
    const s = this.#state;
    if (!s) return;
    const sockets = this.#gauge('pipeops_hub_agent_sockets');
    sockets.reset();
    for (const k of ['controller', 'gateway']) for (const st of ['pending', 'bound']) sockets.set({ kind: k, state: st }, 0);
    for (const x of s.sockets()) sockets.set({ kind: x.kind, state: x.state }, x.count);
    const [c, r] = await Promise.all([s.clusters(), s.routes()]).catch(() => [null, null] as const);
    if (c && r) {
      this.#gauge('pipeops_hub_agents_connected').set(c.connected);
      this.#gauge('pipeops_hub_clusters').set({ state: 'connected' }, c.connected);
      this.#gauge('pipeops_hub_clusters').set({ state: 'disconnected' }, c.disconnected);
      this.#gauge('pipeops_hub_routes').set({ source: 'registry' }, r.registry);
      this.#gauge('pipeops_hub_routes').set({ source: 'config' }, r.config);
    }
    const f = s.inFlight();
    this.#gauge('pipeops_hub_requests_in_flight').set({ gateway: 'kube' }, f.kube);
    this.#gauge('pipeops_hub_requests_in_flight').set({ gateway: 'public' }, f.public);
    const u = s.upgradesActive();
    this.#gauge('pipeops_hub_upgrades_active').set({ gateway: 'kube' }, u.kube);
    this.#gauge('pipeops_hub_upgrades_active').set({ gateway: 'public' }, u.public);
    const l4 = this.#gauge('pipeops_hub_l4_connections_active');
    l4.reset();
    for (const t of s.l4Active?.() ?? []) l4.set({ tunnel: t.tunnel }, t.active);
    const fwd = s.l4Forwarded?.();
    if (fwd) for (const protocol of ['tcp', 'udp'] as const) this.#gauge('pipeops_hub_l4_forwarded_active').set({ protocol }, fwd[protocol]);
    // Byte totals are kept by the agent endpoint (per socket, summed); the counter follows them.
    const h = s.heap?.();
    if (h) for (const kind of ['size', 'capacity', 'extra'] as const) this.#gauge('pipeops_hub_js_heap_bytes').set({ kind }, h[kind]);
    const b = s.tunnelBytes();
    this.inc('pipeops_hub_tunnel_bytes_total', { direction: 'to_agent' }, Math.max(0, b.toAgent - this.#bytesSeen.toAgent));
    this.inc('pipeops_hub_tunnel_bytes_total', { direction: 'from_agent' }, Math.max(0, b.fromAgent - this.#bytesSeen.fromAgent));
    this.#bytesSeen = { ...b };
  }
}

/** The verb label of a Kubernetes API gateway request. */
export function kubeVerb(method: string | undefined, query: string): string {
  const m = (method ?? 'GET').toUpperCase();
  if (m === 'GET' && query && mayHaveParam(query, 'watch')) {
    const w = new URLSearchParams(query).get('watch');
    if (w === 'true' || w === '1') return 'WATCH';
  }
  return KUBE_VERBS.has(m) ? m : 'OTHER';
}
// A module constant: the array literal was allocated on every kube gateway request.
const KUBE_VERBS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
