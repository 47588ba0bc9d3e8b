// Where each key can come from besides the file: explicit env bindings (upstream names), the generic
// `a.b_c` ⇐ `A_B_C` rule, and the CLI flags. docs/configuration.md and --help are generated from these tables.

/** Explicit env bindings, in priority order per key (first one set wins; the generic name comes last). */
export const ENV_BINDINGS: readonly { env: string; key: string }[] = [
  { env: 'PIPEOPS_API_URL', key: 'pipeops.api_url' },
  { env: 'PIPEOPS_TOKEN', key: 'pipeops.token' },
  { env: 'PIPEOPS_CLUSTER_NAME', key: 'agent.cluster_name' },
  { env: 'PIPEOPS_AGENT_ID', key: 'agent.id' },
  { env: 'PIPEOPS_AGENT_GRAFANA_SUB_PATH', key: 'agent.grafana_sub_path' },
  { env: 'PIPEOPS_AUTO_INSTALL_COMPONENTS', key: 'agent.auto_install_components' },
  { env: 'ENABLE_INGRESS_SYNC', key: 'agent.enable_ingress_sync' },
  { env: 'PIPEOPS_ENABLE_INGRESS_SYNC', key: 'agent.enable_ingress_sync' },
  { env: 'PIPEOPS_INGRESS_SYNC_SCOPE', key: 'agent.ingress_sync_scope' },
  { env: 'PIPEOPS_PORT', key: 'agent.port' },
  { env: 'PIPEOPS_HEARTBEAT_INTERVAL', key: 'agent.heartbeat_interval' },
  { env: 'PIPEOPS_HEARTBEAT_INTERVAL_CONNECTED', key: 'agent.heartbeat_interval_connected' },
  { env: 'PIPEOPS_HEARTBEAT_INTERVAL_RECONNECTING', key: 'agent.heartbeat_interval_reconnecting' },
  { env: 'PIPEOPS_HEARTBEAT_INTERVAL_DISCONNECTED', key: 'agent.heartbeat_interval_disconnected' },
  { env: 'PIPEOPS_TRUTHFUL_READINESS_PROBE', key: 'agent.truthful_readiness_probe' },
  { env: 'GATEWAY_ROUTE_REFRESH_INTERVAL', key: 'agent.gateway_route_refresh_interval' },
  { env: 'PIPEOPS_REPORT_PUBLIC_IP', key: 'agent.report_public_ip' },
  { env: 'PIPEOPS_REPORT_WORKER_JOIN', key: 'agent.report_worker_join' },
  { env: 'PIPEOPS_CLUSTER_DOMAIN', key: 'agent.cluster_domain' },
  { env: 'PIPEOPS_STATE_FILE', key: 'agent.state_file' },
  { env: 'PIPEOPS_STATE_NAMESPACE', key: 'agent.state_namespace' },
  { env: 'PIPEOPS_POD_NAMESPACE', key: 'agent.state_namespace' },
  { env: 'PIPEOPS_STATE_CONFIGMAP_NAME', key: 'agent.state_configmap_name' },
  { env: 'PIPEOPS_STATE_SECRET_NAME', key: 'agent.state_secret_name' },
  { env: 'PIPEOPS_LEADER_ELECT', key: 'agent.leader_election.enabled' },
  { env: 'PIPEOPS_LEADER_ELECTION_IDENTITY', key: 'agent.leader_election.identity' },
  { env: 'PIPEOPS_LOG_LEVEL', key: 'logging.level' },
  { env: 'PIPEOPS_LOG_FORMAT', key: 'logging.format' },
  { env: 'PIPEOPS_K8S_SERVICE_TOKEN', key: 'kubernetes.service_token' },
  { env: 'PIPEOPS_K8S_CERT_DATA', key: 'kubernetes.ca_cert_data' },
  { env: 'KUBECONFIG', key: 'kubernetes.kubeconfig' },
  { env: 'PIPEOPS_IN_CLUSTER', key: 'kubernetes.in_cluster' },
  { env: 'PIPEOPS_SERVICE_PROXY', key: 'kubernetes.service_proxy' },
  { env: 'PIPEOPS_SERVICE_MAP', key: 'kubernetes.service_map' },
  { env: 'PIPEOPS_FORCE_TUNNEL_MODE', key: 'tunnels.routing.force_tunnel_mode' },
  { env: 'PIPEOPS_DIRECT_CIDRS', key: 'tunnels.routing.direct_cidrs' },
  { env: 'AGENT_WS_CHANNEL_CAPACITY', key: 'proxy.ws_channel_capacity' },
  { env: 'AGENT_MAX_WS_FRAME_BYTES', key: 'proxy.ws_max_frame_bytes' },
  { env: 'AGENT_WS_PING_INTERVAL_SECONDS', key: 'proxy.ws_ping_interval' },
  { env: 'AGENT_WS_PONG_TIMEOUT_SECONDS', key: 'proxy.ws_pong_timeout' },
  { env: 'GATEWAY_ENVIRONMENT_MODE', key: 'gateway.environment.mode' },
  { env: 'GATEWAY_ENVIRONMENT_VM_IP', key: 'gateway.environment.vm_ip' },
  { env: 'GATEWAY_GWAPI_LISTENERS_JSON', key: 'gateway.gateway_api.listeners' },
  { env: 'GATEWAY_GWAPI_TCP_ROUTES_JSON', key: 'gateway.gateway_api.tcp_routes' },
  { env: 'GATEWAY_GWAPI_UDP_ROUTES_JSON', key: 'gateway.gateway_api.udp_routes' },
  { env: 'GATEWAY_ISTIO_SERVERS_JSON', key: 'gateway.istio.gateway.servers' },
  { env: 'GATEWAY_ISTIO_TCP_ROUTES_JSON', key: 'gateway.istio.virtual_service.tcp_routes' },
  { env: 'GATEWAY_ISTIO_TLS_ROUTES_JSON', key: 'gateway.istio.virtual_service.tls_routes' },
];

/** Upstream's AutomaticEnv rule: key `a.b_c` is also read from `A_B_C`. */
export function genericEnvName(key: string): string {
  return key.replace(/\./g, '_').toUpperCase();
}

/** ENV_BINDINGS' names by key, in their order. */
const BINDINGS_BY_KEY = new Map<string, string[]>();
for (const b of ENV_BINDINGS) BINDINGS_BY_KEY.set(b.key, [...(BINDINGS_BY_KEY.get(b.key) ?? []), b.env]);

/**
 * Env names read for a key, highest priority first. Called for every key at start-up: a scan of ENV_BINDINGS per key
 * (134 keys × 48 bindings, ≈ 6,400 predicate calls) was hot enough to set off JavaScriptCore's optimising compilers
 * during start-up, whose code and compiler pages then stay in the idle agent's RSS (docs/benchmarks.md, tenth round).
 */
export function envNamesFor(key: string): string[] {
  const names = [...(BINDINGS_BY_KEY.get(key) ?? [])];
  const generic = genericEnvName(key);
  if (!names.includes(generic)) names.push(generic);
  return names;
}

export interface FlagSpec {
  /** Without the leading dashes. */
  name: string;
  /** Config key it sets; absent for action flags. */
  key?: string;
  /** Boolean flags take no value (`--in-cluster`, `--in-cluster=false`). */
  boolean?: boolean;
  /** Placeholder for the value in --help. */
  arg?: string;
  help: string;
  /** A list key: each occurrence adds to the list instead of replacing it. */
  repeatable?: boolean;
  /** A boolean flag that sets its key to false (`--no-handoff`). */
  negate?: boolean;
  /** The value is a file to read the key's value from (secrets: `--agent-token-file`). */
  file?: boolean;
}

/** Flags that set a config key (upstream §9.2 names). */
export const KEY_FLAGS: readonly FlagSpec[] = [
  { name: 'log-level', key: 'logging.level', arg: 'level', help: 'log level: trace, debug, info, warn, error' },
  { name: 'pipeops-url', key: 'pipeops.api_url', arg: 'url', help: 'control plane URL (http, https, ws, wss)' },
  { name: 'token', key: 'pipeops.token', arg: 'token', help: 'agent token (prefer PIPEOPS_TOKEN: flags are visible in ps)' },
  { name: 'cluster-name', key: 'agent.cluster_name', arg: 'name', help: 'cluster name' },
  { name: 'agent-id', key: 'agent.id', arg: 'id', help: 'agent id (default: persisted or derived)' },
  { name: 'kubeconfig', key: 'kubernetes.kubeconfig', arg: 'path', help: 'kubeconfig path when not in a cluster' },
  { name: 'in-cluster', key: 'kubernetes.in_cluster', boolean: true, help: 'use the in-cluster ServiceAccount config' },
  { name: 'port', key: 'agent.port', arg: 'port', help: 'local HTTP server port (0 = ephemeral)' },
  { name: 'leader-elect', key: 'agent.leader_election.enabled', boolean: true, help: 'leader election on a Lease (more than one replica)' },
  { name: 'leader-elect-lease-duration', key: 'agent.leader_election.lease_duration', arg: 'duration', help: 'Lease duration (default 8s)' },
  { name: 'leader-elect-renew-deadline', key: 'agent.leader_election.renew_deadline', arg: 'duration', help: 'renew deadline (default 5s)' },
  { name: 'leader-elect-retry-period', key: 'agent.leader_election.retry_period', arg: 'duration', help: 'retry period (default 1s)' },
  { name: 'leader-elect-resource-name', key: 'agent.leader_election.lease_name', arg: 'name', help: 'Lease name' },
  { name: 'leader-elect-resource-namespace', key: 'agent.leader_election.lease_namespace', arg: 'ns', help: 'Lease namespace' },
  { name: 'gateway-enabled', key: 'gateway.enabled', boolean: true, help: 'keep the exposure objects (Istio or Gateway API)' },
  { name: 'gateway-namespace', key: 'gateway.namespace', arg: 'ns', help: 'namespace of the exposure objects' },
  { name: 'gateway-release-name', key: 'gateway.release_name', arg: 'name', help: 'name of the exposure Gateway' },
  { name: 'gateway-env-mode', key: 'gateway.environment.mode', arg: 'mode', help: 'managed or single-vm (empty: detect)' },
  { name: 'gateway-env-vm-ip', key: 'gateway.environment.vm_ip', arg: 'ip', help: 'load-balancer IP in single-vm mode' },
  { name: 'gateway-gwapi-enabled', key: 'gateway.gateway_api.enabled', boolean: true, help: 'keep a Gateway API Gateway + TCPRoutes/UDPRoutes' },
  { name: 'gateway-gwapi-gateway-class', key: 'gateway.gateway_api.gateway_class', arg: 'class', help: 'GatewayClass name' },
  { name: 'gateway-istio-enabled', key: 'gateway.istio.enabled', boolean: true, help: 'keep an Istio Gateway + VirtualService' },
  { name: 'gateway-istio-service-create', key: 'gateway.istio.service.create', boolean: true, help: 'accepted; no effect' },
  { name: 'gateway-istio-service-namespace', key: 'gateway.istio.service.namespace', arg: 'ns', help: 'Istio ingress namespace' },
  { name: 'gateway-gwapi-listeners-json', key: 'gateway.gateway_api.listeners', arg: 'json', help: 'Gateway listeners (JSON array)' },
  { name: 'gateway-gwapi-tcp-routes-json', key: 'gateway.gateway_api.tcp_routes', arg: 'json', help: 'TCPRoutes (JSON array)' },
  { name: 'gateway-gwapi-udp-routes-json', key: 'gateway.gateway_api.udp_routes', arg: 'json', help: 'UDPRoutes (JSON array)' },
  { name: 'gateway-istio-servers-json', key: 'gateway.istio.gateway.servers', arg: 'json', help: 'Istio servers (JSON array)' },
  { name: 'gateway-istio-tcp-routes-json', key: 'gateway.istio.virtual_service.tcp_routes', arg: 'json', help: 'Istio TCP routes (JSON array)' },
  { name: 'gateway-istio-tls-routes-json', key: 'gateway.istio.virtual_service.tls_routes', arg: 'json', help: 'Istio TLS routes (JSON array)' },
];

/** Flags the loader handles itself or hands to the CLI as actions. */
export const OTHER_FLAGS: readonly FlagSpec[] = [
  { name: 'config', arg: 'path', help: 'config file (default: first of ./config.yaml, ~/.pipeops-agent.yaml, /etc/pipeops/config.yaml)' },
  { name: 'set', arg: 'key=value', help: 'set any config key, e.g. --set timeouts.websocket_ping=5s (repeatable)' },
  { name: 'print-config', boolean: true, help: 'print the effective configuration (secrets redacted) with each value\'s source, then exit' },
  { name: 'help', boolean: true, help: 'show this help and exit' },
  { name: 'version', boolean: true, help: 'print the version and exit' },
];

export function flagsFor(key: string): string[] {
  return KEY_FLAGS.filter((f) => f.key === key).map((f) => `--${f.name}`);
}
