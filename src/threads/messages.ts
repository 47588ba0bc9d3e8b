// Every message between the main thread and the worker threads, as one discriminated union per direction.
// A contract of the main thread (src/agent/) and the workers (src/tunnel/, src/gateway/, src/heartbeat/): neither owns it.
// Plain data only (structured clone); ArrayBuffers of 64 KiB and more are transferred, not copied.
import type { GatewayConfig } from '../config/exposure-schema.ts';
import type { ConnectionState, SessionStatus } from './connection-state.ts';
import type { MetricUpdate } from './metric-update.ts';
import type { L4Config, RelayConfig, ServiceTarget, SessionTimeouts, StreamConfig } from './tunnel-config.ts';

export type { ServiceTarget };

/** The persisted identity/session state (same shape as src/state's PersistedState). */
export interface SessionState {
  agent_id: string;
  cluster_id: string;
  /** The `cluster_uuid` of `register_success` (may differ from `cluster_id`): every gateway dial carries it. */
  cluster_uuid: string;
  gateway_ws_url: string;
  cluster_token: string;
  cluster_cert_data: string;
}

/** What a worker needs to reach the Kubernetes API (resolved once by the main thread). */
export interface KubeAccess {
  server: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecureSkipVerify?: boolean;
  token?: string;
  tokenFile?: string;
  inCluster: boolean;
}

export interface WorkerInit<C> {
  kind: 'init';
  config: C;
  kube: KubeAccess | null;
  logLevel: string;
}

// ---- common worker → main ----
export type CommonWorkerMessage =
  | { kind: 'log'; line: string }
  | { kind: 'metric'; update: MetricUpdate }
  | { kind: 'metrics'; updates: MetricUpdate[] }
  | { kind: 'ready' }
  | { kind: 'stopped' };

// ---- tunnel worker ----
export type MainToTunnel =
  | WorkerInit<TunnelWorkerConfig>
  | { kind: 'gateway_routes'; routes: RouteHint[]; ingressController: ServiceTarget | null }
  /** For the heartbeat running on the tunnel worker's thread (the ingress worker's findings, §6.1). */
  | ({ kind: 'gateway_info' } & HeartbeatGateway)
  | { kind: 'shutdown' };

export type TunnelToMain =
  | CommonWorkerMessage
  | ({ kind: 'session' } & SessionStatus)
  | { kind: 'persist'; state: Partial<SessionState> }
  | { kind: 'heartbeat_result'; seq: number; ok: boolean; error?: string; durationMs: number }
  | K8sInfo
  | { kind: 'fatal'; code: string; message: string };

/** Host → backend hint kept by the tunnel for the Host-header fallback of §3.4. */
export interface RouteHint {
  host: string;
  namespace: string;
  service: string;
  port: number;
}

export interface TunnelWorkerConfig {
  apiUrl: string;
  token: string;
  agentId: string;
  clusterName: string;
  agentVersion: string;
  labels: Record<string, string>;
  agentPort: number;
  state: SessionState;
  credentialsChanged: boolean;
  tls: { enabled: boolean; insecureSkipVerify: boolean; ca?: string; cert?: string; key?: string };
  timeouts: SessionTimeouts;
  reportPublicIp: boolean;
  /** Register-time facts gathered by the main thread (hostname, specs, region, k8s version, SA token). */
  facts: RegisterFacts;
  relay: Omit<RelayConfig, 'ingressController'>;
  streams: StreamConfig;
  /** tunnels.* (L4 tunnels, §5). */
  l4: L4Config;
  /**
   * The heartbeat, which runs on this worker's thread (workers/tunnel.ts), and the gateway facts it reports as the
   * main thread knows them at (re)start (gateway_info messages only come on changes).
   */
  heartbeat: { config: HeartbeatWorkerConfig; gateway: HeartbeatGateway };
}

/** What the ingress worker found out about the gateway, reported in every heartbeat. */
export interface HeartbeatGateway {
  isPrivate: boolean | null;
  routes: number;
  routingMode: string | null;
}

export interface RegisterFacts {
  hostname: string;
  k8sVersion: string;
  region: string;
  cloudProvider: string;
  serverIp: string;
  serverSpecs: { cpu_cores?: number; memory_gb?: number; disk_gb?: number; os?: string };
  serviceToken: string;
}

// ---- heartbeat (src/heartbeat/): runs on the tunnel worker's thread and speaks these messages to it in-thread
// (workers/tunnel.ts); its log, metric and k8s_info messages travel on to the main thread ----
export interface HeartbeatWorkerConfig {
  agentId: string;
  agentVersion: string;
  intervalMs: number;
  /** Tick period by connection state (upstream: connected 30 s, reconnecting 60 s, disconnected 15 s). */
  intervals: { connected: number; reconnecting: number; disconnected: number };
  /** How long one heartbeat may take to be written and answered by the control plane (timeouts.heartbeat). */
  sendBudgetMs: number;
  /** Budget of each Kubernetes read for the payload (timeouts.k8s_operation, capped at 5 s as upstream). */
  k8sTimeoutMs: number;
  retry: { maxAttempts: number; baseMs: number; capMs: number };
  reportUsage: boolean;
}

export type MainToHeartbeat =
  | WorkerInit<HeartbeatWorkerConfig>
  | { kind: 'session'; state: ConnectionState; registered: boolean; clusterId: string }
  | ({ kind: 'gateway_info' } & HeartbeatGateway)
  | { kind: 'heartbeat_result'; seq: number; ok: boolean; error?: string }
  | { kind: 'shutdown' };

export type HeartbeatToMain =
  | CommonWorkerMessage
  | { kind: 'heartbeat'; seq: number; payload: Record<string, unknown> }
  | K8sInfo;

/** The Kubernetes API as the heartbeat's reads found it. */
export type K8sInfo = { kind: 'k8s_info'; version: string | null; reachable: boolean; error: string | null };

// ---- ingress worker ----
export interface IngressWorkerConfig {
  enabled: boolean;
  scope: 'managed' | 'all';
  /** pipeops.api_url and pipeops.token: the route registry REST API (§1.1). */
  apiUrl: string;
  token: string;
  /** pipeops.tls, applied to the REST calls too (L6). */
  tls: { insecureSkipVerify: boolean; ca?: string; cert?: string; key?: string };
  /** agent.gateway_route_refresh_interval (ms): period of the bulk re-sync. */
  refreshIntervalMs: number;
  /** tunnels.routing.force_tunnel_mode */
  forceTunnelMode: boolean;
  /** tunnels.routing.direct_cidrs */
  directCidrs?: string[];
  /** Wait for a LoadBalancer address before calling the cluster private (§6.1); default 2 min. */
  detectionWaitMs?: number;
  /** The session as the main thread knows it at (re)start. */
  session?: { registered: boolean; clusterId: string; state: ConnectionState };
  /** `gateway.*`: the exposure objects the worker keeps (src/gateway/exposure.ts). */
  exposure?: GatewayConfig;
  /** `tunnels.enabled` with `tunnels.discovery.*`: Gateway discovery and the tunnel registry (§5.5, §1.2). */
  discovery?: { enabled: boolean; tcp: { enabled: boolean; selector: string }; udp: { enabled: boolean; selector: string }; dualMode: boolean };
}

/** `session`: the tunnel's session state; `reconnect` is true once a session has been usable before. */
export type MainToIngress =
  | WorkerInit<IngressWorkerConfig>
  | { kind: 'session'; registered: boolean; clusterId: string; state?: ConnectionState; reconnect?: boolean }
  | { kind: 'shutdown' };

export type IngressToMain =
  | CommonWorkerMessage
  | { kind: 'gateway_info'; isPrivate: boolean | null; routes: number; routingMode: string | null }
  | { kind: 'route_hints'; routes: RouteHint[]; ingressController: ServiceTarget | null };

export type WorkerName = 'tunnel' | 'ingress';
