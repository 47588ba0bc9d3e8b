// The one schema for every agent setting. `AgentConfig` (defaults applied, durations in milliseconds) is the
// type the rest of the agent reads; loaders (load.ts), docs and --print-config are all derived from this tree.
import { z } from 'zod';
import { parseLabelSelector } from '../kube/label-selector.ts';
import { gatewaySchema } from './exposure-schema.ts';
import {
  autoBool,
  bool,
  bytes,
  duration,
  int,
  leaf,
  looseBlock,
  objectList,
  oneOf,
  port,
  requiredStr,
  secretStr,
  str,
  stringList,
  stringMap,
} from './fields.ts';

/** client-go's leaderelection JitterFactor: an acquire attempt waits retry_period × [1, 2.2]. */
export const LEADER_ELECTION_JITTER = 1.2;

/**
 * The schema, built on each call. Its few thousand zod objects and closures (≈ 1 MiB of heap) are needed only while
 * the configuration is loaded (and by docs and tests), so nothing keeps it at module level: `agentConfigSchema()`
 * hands out one instance while anything still holds it, and the agent's idle heap does not carry it
 * (docs/benchmarks.md, Memory).
 */
function buildAgentConfigSchema() {
  const NO_EFFECT = 'Accepted for compatibility with upstream config files; no effect.';

  const API_URL_SCHEMES = ['http:', 'https:', 'ws:', 'wss:'];

  const apiUrl = leaf(
    z
      .string({ error: 'required, but not set' })
      .min(1, { error: 'required, must not be empty' })
      .refine(
        (v) => {
          try {
            return API_URL_SCHEMES.includes(new URL(v).protocol);
          } catch {
            return false;
          }
        },
        { error: 'expected a URL with scheme http, https, ws or wss' },
      ),
    'Control-plane base URL. `https`→`wss` and `http`→`ws` for the WebSocket; `wss`/`ws` are kept (L3).',
    { kind: 'string', docDefault: '(required)', type: 'URL (http, https, ws, wss)' },
  );

  // ---- agent -------------------------------------------------------------------------------------------------

  const heartbeatMin = 100;
  const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;

  const compatibility = z
    .object({
      mode: str('', NO_EFFECT),
      ingress: z
        .object({
          auto_fix_configmaps: bool(
            false,
            'When the detected ingress controller is ingress-nginx, patch its ConfigMap for forwarded headers and WebSocket support (local cluster change).',
          ),
          switch_existing_to_traefik: bool(
            false,
            `${NO_EFFECT} Upstream rewrote the ingress class of every Ingress; this agent never touches Ingresses it does not manage (G4).`,
          ),
          require_annotation: bool(false, NO_EFFECT),
          backup_before_modify: bool(false, NO_EFFECT),
          websocket: z
            .object({
              ensure_upgrade_support: bool(false, 'With `auto_fix_configmaps`: enable WebSocket upgrades in the NGINX ConfigMap.'),
              disable_buffering: bool(false, 'With `auto_fix_configmaps`: disable proxy buffering in the NGINX ConfigMap.'),
              set_timeouts: bool(false, 'With `auto_fix_configmaps`: set proxy read/send timeouts to `timeout_seconds`.'),
              timeout_seconds: int(3600, 'NGINX proxy read/send timeout written by `set_timeouts`, in seconds.', { min: 1 }),
              verify_ingress_annotations: bool(false, NO_EFFECT),
            })
            .prefault({}),
        })
        .prefault({}),
      monitoring: z
        .object({
          reuse_existing: bool(false, NO_EFFECT),
          install_if_missing: bool(false, NO_EFFECT),
        })
        .prefault({}),
    })
    .prefault({});

  const leaderElection = z
    .object({
      enabled: bool(
        false,
        'Leader election on a `coordination.k8s.io/v1` Lease (client-go semantics), for more than one replica: only the leader runs the control-plane session, heartbeats, ingress sync and L4 tunnels; the others are ready but passive and take over when the Lease expires or is released. Off: one replica, no Lease.',
      ),
      lease_name: str('pipeops-agent-leader', 'Name of the Lease.'),
      lease_namespace: str('', 'Namespace of the Lease. Empty: the state namespace (`agent.state_namespace`, else the ServiceAccount namespace).'),
      identity: str('', 'This replica\'s holder identity. Empty: `POD_NAME`, else `<hostname>_<random uuid>`.'),
      lease_duration: duration(
        '8s',
        'How long a standby waits, after it last saw the Lease change, before it takes an unrenewed Lease over (client-go LeaseDuration). A standby takes over at most lease_duration + 2 × 2.2 × retry_period after the leader\'s last renewal (12.4 s with the defaults).',
        { unit: 's', min: 1000 },
      ),
      renew_deadline: duration('5s', 'How long the leader keeps retrying a failed renewal before it steps down (client-go RenewDeadline). Must be below lease_duration.', { unit: 's', min: 1 }),
      retry_period: duration('1s', 'Interval of acquire and renew attempts (client-go RetryPeriod; acquire attempts are jittered up to +120 %).', { unit: 's', min: 1 }),
      release_on_cancel: bool(true, 'On shutdown the leader releases the Lease (holder cleared, as client-go ReleaseOnCancel), so a standby takes over at its next attempt instead of after lease_duration.'),
    })
    .superRefine((v, ctx) => {
      if (v.lease_duration <= v.renew_deadline) {
        ctx.addIssue({ code: 'custom', path: ['lease_duration'], message: 'must be greater than agent.leader_election.renew_deadline', params: { sourceKey: 'agent.leader_election.lease_duration' } });
      }
      if (v.renew_deadline <= LEADER_ELECTION_JITTER * v.retry_period) {
        ctx.addIssue({ code: 'custom', path: ['renew_deadline'], message: 'must be greater than 1.2 × agent.leader_election.retry_period', params: { sourceKey: 'agent.leader_election.renew_deadline' } });
      }
    })
    .prefault({});

  const agent = z.object({
    id: str('', 'Agent id. Empty: the persisted id, else one derived as upstream from host and Pod identity (outside a Pod also from the cluster name, API server and state location, so agents on one host differ), then persisted.'),
    name: str('', 'Display name of this agent (informational).'),
    cluster_name: requiredStr('Cluster name sent as `name` in `register`.'),
    labels: stringMap('Labels sent in `register`. Env/flags: JSON object or `k=v,k2=v2`.'),
    port: port(8080, 'Port of the agent\'s local HTTP server (health, readiness, metrics). 0 = ephemeral (tests).'),
    host: str('0.0.0.0', 'Address the local HTTP server binds to.'),
    debug: bool(false, 'Debug mode: verbose request logging on the local server.'),
    version: str('', `${NO_EFFECT} The version of the build is always reported (L4).`),
    grafana_sub_path: bool(true, 'Serve Grafana under the control-plane proxy sub-path when monitoring is present.'),
    auto_install_components: bool(false, `${NO_EFFECT} This agent does not install monitoring or ingress components.`),
    enable_ingress_sync: bool(false, 'Sync Ingress routes to the control plane route registry (gateway proxy, §6). Off by default (G6).'),
    ingress_sync_scope: oneOf(
      ['managed', 'all'] as const,
      'managed',
      '`managed`: only Ingresses labelled `pipeops.io/managed: "true"` or annotated `pipeops.io/managed-by: pipeops`; `all`: every Ingress (G6).',
    ),
    gateway_route_refresh_interval: duration('4h', 'Period of the full bulk route re-sync (keeps the control plane route TTL fresh). 0 = default.', {
      unit: 'h',
      min: 1000,
      zeroMeansDefault: true,
    }),
    gateway_detection_wait: duration('2m', 'How long cluster detection waits for the ingress controller LoadBalancer to get an address before deciding the cluster is private (§6.1).', {
      unit: 's',
      min: 0,
    }),
    heartbeat_interval: duration(
      '30s',
      'Heartbeat period while connected. When set explicitly it overrides `heartbeat_interval_connected`; otherwise it mirrors it.',
      { unit: 's', min: heartbeatMin },
    ),
    heartbeat_interval_connected: duration('30s', 'Heartbeat period while connected. 0 = default.', {
      unit: 's',
      min: heartbeatMin,
      zeroMeansDefault: true,
    }),
    heartbeat_interval_reconnecting: duration('60s', 'Heartbeat period while reconnecting. 0 = default.', {
      unit: 's',
      min: heartbeatMin,
      zeroMeansDefault: true,
    }),
    heartbeat_interval_disconnected: duration('15s', 'Heartbeat period while disconnected. 0 = default.', {
      unit: 's',
      min: heartbeatMin,
      zeroMeansDefault: true,
    }),
    truthful_readiness_probe: bool(true, '`/ready` answers 503 until registered and connected (L1). false: always 200 once the server runs.'),
    api_token: secretStr(
      'Token that lets clients other than loopback use the local dashboard, `/ws`, `/api/realtime/*` and `/api/*` (`Authorization: Bearer`, or `/dashboard?token=` once in a browser). Empty: those are served to loopback clients only (`kubectl port-forward`); `/health`, `/ready`, `/version` and `/metrics` are always open. Secret.',
    ),
    allowed_ws_origins: stringList('Origins allowed on the local `/ws` endpoint. Empty list or `*` = any. Env: comma-separated.'),
    report_public_ip: bool(false, 'Look up the public IP (third-party service) for `register`. Off: region/cloud come from node labels only (L7).'),
    report_worker_join: bool(false, 'Send k3s `worker_join` (contains the plaintext join token) in heartbeats (L10).'),
    cluster_domain: str('', 'Cluster DNS domain. Empty: detected from /etc/resolv.conf, else `cluster.local` (T3).'),
    state_file: str('', 'State file outside a cluster. Empty: first of /var/lib/pipeops, /etc/pipeops, ./tmp/agent-state.yaml (S1).'),
    state_namespace: str('', 'Namespace of the state ConfigMap/Secret. Empty: the ServiceAccount namespace, else `pipeops-system`.'),
    state_configmap_name: str('pipeops-agent-state', 'Name of the state ConfigMap (agent_id, cluster_id, gateway_ws_url).'),
    state_secret_name: str('pipeops-agent-secrets', 'Name of the state Secret (cluster_token, cluster_cert_data).'),
    leader_election: leaderElection,
    compatibility,
  });

  // ---- pipeops -----------------------------------------------------------------------------------------------

  const tls = z
    .object({
      enabled: bool(true, 'Use the TLS settings below for every control-plane call, WebSocket and REST (L6).'),
      insecure_skip_verify: bool(false, 'Skip verification of the control plane certificate. Never in production.'),
      ca_file: str('', 'PEM file with extra CA certificates trusted for the control plane (added to the system roots).'),
      cert_file: str('', 'Client certificate (PEM) for mTLS. Requires `key_file`.'),
      key_file: str('', 'Client private key (PEM) for mTLS. Requires `cert_file`.'),
    })
    .superRefine((v, ctx) => {
      if (v.cert_file !== '' && v.key_file === '') {
        ctx.addIssue({
          code: 'custom',
          path: ['key_file'],
          message: 'pipeops.tls.cert_file is set but pipeops.tls.key_file is not; set both or neither',
          params: { sourceKey: 'pipeops.tls.cert_file' },
        });
      }
      if (v.key_file !== '' && v.cert_file === '') {
        ctx.addIssue({
          code: 'custom',
          path: ['cert_file'],
          message: 'pipeops.tls.key_file is set but pipeops.tls.cert_file is not; set both or neither',
          params: { sourceKey: 'pipeops.tls.key_file' },
        });
      }
    })
    .prefault({});

  const pipeops = z.object({
    api_url: apiUrl,
    token: requiredStr('Agent token for every control-plane call (`Authorization: Bearer`). Secret.', { secret: true }),
    timeout: duration('30s', 'Timeout of control-plane REST calls.', { min: 1 }),
    tls,
    reconnect: z
      .object({
        enabled: bool(true, 'Retry failed heartbeats within a tick (false: one attempt per tick).'),
        max_attempts: int(
          10,
          'Heartbeat attempts per tick (upstream meaning, protocol.md §7). It does not limit control-plane reconnects: the session redials without limit, waiting `timeouts.websocket_reconnect` doubling up to `timeouts.websocket_reconnect_max` (§2.8, L1).',
          { min: 1 },
        ),
        interval: duration('5s', 'Base delay between heartbeat attempts (doubles, capped at 30 s).', { min: 1 }),
        backoff: duration('5s', NO_EFFECT),
      })
      .prefault({}),
  });

  // ---- tunnels -----------------------------------------------------------------------------------------------

  const tunnelForward = z.object({
    name: z.string(),
    local_addr: z.string(),
    remote_port: z.number().int().min(0).max(65535),
  });

  const tunnel = z
    .object({
      enabled: bool(false, `${NO_EFFECT} (legacy chisel tunnel, never started upstream either).`),
      inactivity_timeout: duration('5m', NO_EFFECT),
      forwards: objectList(tunnelForward, `${NO_EFFECT} Items: {name, local_addr, remote_port}.`),
    })
    .prefault({});

  const discovery = (proto: string) =>
    z
      .object({
        enabled: bool(true, `Discover ${proto} listeners on Gateway API Gateways.`),
        gateway_label: str(
          'pipeops.io/managed',
          `Label selecting the Gateways whose ${proto} listeners are registered: a key (the label exists), or \`k=v\`, \`k!=v\`, \`!k\` terms, comma-separated. Empty = \`pipeops.io/managed\`.`,
        ),
      })
      .superRefine((v, ctx) => {
        try {
          parseLabelSelector(v.gateway_label);
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: ['gateway_label'], message: (e as Error).message });
        }
      })
      .prefault({});

  const tunnels = z
    .object({
      enabled: bool(false, 'Enable L4 TCP/UDP tunnels (yamux and JSON tunnel messages, Gateway discovery, §5).'),
      routing: z
        .object({
          force_tunnel_mode: bool(true, 'Skip cluster-type detection and route everything through the tunnel (§6.1).'),
          dual_mode_enabled: bool(false, 'Register Gateway listeners for both direct and tunnel routing (§5.5).'),
          direct_cidrs: leaf(
            z.array(z.string().regex(IPV4_CIDR, 'expected an IPv4 CIDR such as 10.20.0.0/16')).default([]),
            'IPv4 CIDRs of LoadBalancer addresses the control plane reaches directly although they are private (for example a self-hosted hub on the same network as MetalLB): such an address makes the cluster public, routed directly (§6.1). Env: comma-separated.',
            { kind: 'string-list', type: 'list of IPv4 CIDRs' },
          ),
        })
        .prefault({}),
      discovery: z.object({ tcp: discovery('TCP'), udp: discovery('UDP') }).prefault({}),
      tcp: z
        .object({
          buffer_size: bytes(32768, 'Largest `tcp_tunnel_data` payload of the legacy JSON path (backend reads are split into pieces of this size), bytes. Yamux streams carry what the socket reads, within the stream window.'),
          keepalive: bool(true, 'TCP keep-alive on backend connections.'),
          keepalive_period: duration('30s', 'TCP keep-alive period.', { min: 1 }),
          connection_timeout: duration('30s', 'Backend dial timeout.', { min: 1 }),
          idle_timeout: duration('5m', 'Close a TCP tunnel connection idle this long.', { min: 1 }),
          max_connections: int(1000, 'Maximum concurrent TCP tunnel connections.', { min: 1 }),
        })
        .prefault({}),
      udp: z
        .object({
          buffer_size: bytes(65507, 'Maximum UDP datagram size, bytes.'),
          session_timeout: duration('5m', 'Drop a UDP session idle this long.', { min: 1 }),
          max_sessions: int(1000, 'Maximum concurrent UDP sessions.', { min: 1 }),
        })
        .prefault({}),
    })
    .prefault({});

  // ---- kubernetes --------------------------------------------------------------------------------------------

  const SERVICE_KEY = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?:([0-9]{1,5}|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/;

  const kubernetes = z
    .object({
      kubeconfig: str('', 'Kubeconfig path used when not in a cluster (or when `in_cluster: false`).'),
      in_cluster: autoBool('Use the in-cluster ServiceAccount config. `auto`: when KUBERNETES_SERVICE_HOST is set and the SA token exists.'),
      namespace: str('pipeops-system', 'Namespace the agent runs in and installs into.'),
      service_token: secretStr('ServiceAccount token offered to the control plane when no persisted token is valid (§9.6). Secret.'),
      ca_cert_data: secretStr('Cluster CA (base64 PEM) overriding the persisted/mounted one (§9.6). Never logged.'),
      service_account_dir: str('/var/run/secrets/kubernetes.io/serviceaccount', 'Directory of the mounted ServiceAccount token, ca.crt and namespace.'),
      service_proxy: oneOf(
        ['dns', 'apiserver', 'map'] as const,
        'dns',
        'How the agent reaches in-cluster Services: `dns` = cluster DNS (in a cluster); `apiserver` = the API server\'s services/proxy; `map` = `service_map` only.',
      ),
      service_map: leaf(
        z
          .record(
            z.string().regex(SERVICE_KEY, { error: 'keys must look like "namespace/name:port"' }),
            z.string().refine((v) => /^(https?|tcp|udp):\/\/[^/]+/.test(v), { error: 'values must be http(s)://host:port URLs (tcp:// or udp:// for L4 tunnels only)' }),
          )
          .default({}),
        'Explicit Service address map `"ns/name:port"` → `"http://host:port"` (used first in every mode; the only source in `map` mode). L4 tunnels use the host and port of the entry, which may also be written `tcp://host:port` or `udp://host:port` (L4 only).',
        { kind: 'string-map', type: 'map "ns/name:port" → URL' },
      ),
    })
    .prefault({});

  // ---- logging, timeouts, proxy ------------------------------------------------------------------------------

  const logging = z
    .object({
      level: oneOf(['trace', 'debug', 'info', 'warn', 'error'] as const, 'info', 'Minimum log level.'),
      format: oneOf(['json', 'pretty'] as const, 'json', '`json`: one JSON event per line; `pretty`: human-readable lines.'),
      output: oneOf(['stdout', 'stderr'] as const, 'stdout', 'Where log lines go.'),
    })
    .prefault({});

  const positive = { min: 1 };

  const timeouts = z
    .object({
      websocket_handshake: duration('30s', 'Control-plane WebSocket dial and handshake timeout (TCP connect, TLS, HTTP 101).', positive),
      websocket_ping: duration('10s', 'Interval of WebSocket pings to the control plane.', positive),
      websocket_read: duration('60s', 'Read deadline on the control-plane socket (refreshed by every message and pong). On expiry the socket is dropped at once, without a close handshake, and the agent is not ready.', positive),
      websocket_reconnect: duration('500ms', 'Reconnect delay: doubles after each failed attempt, +0–25 % jitter. The first wait after a session that was up ends is drawn from [0, this + 25 %) instead (full jitter), so that the agents of a hub replica that died do not all redial within the same 25 % of it.', positive),
      websocket_reconnect_max: duration('60s', 'Reconnect delay cap, jitter included: at the cap each wait is uniform in [cap / 1.25, cap].', positive),
      registration: duration('30s', 'Wait for `register_success` per attempt.', positive),
      registration_max_wait: duration('120s', 'Absolute cap on waiting for `register_success` (also while `register_in_progress`).', positive),
      heartbeat: duration('10s', 'Send budget of one heartbeat.', positive),
      k8s_operation: duration('30s', 'Timeout of the agent\'s own Kubernetes API calls.', positive),
      proxy_request: duration('30s', 'Total bound of a buffered proxied request; streaming responses have none (P3).', positive),
      proxy_dial: duration('30s', 'Connect timeout (TCP and TLS) of relayed streams (exec, attach, port-forward, application WebSockets) and of the HTTP relay\'s connections to the API server. HTTP requests to Services go through fetch, bounded by `timeouts.proxy_request` only.', positive),
      proxy_idle: duration('90s', 'An idle kept-alive connection of the HTTP relay to the API server is closed after this. HTTP requests to Services go through fetch, whose own idle policy this does not change.', positive),
      proxy_body_idle: duration('60s', 'A streamed request body (`proxy_request_chunk`) with no chunk for this long: the request fails with a `proxy_error` and is freed.', positive),
      stream_idle: duration('4h', 'A stream (exec, attach, port-forward, WebSocket) with no frame in either direction for this long is closed (1001) and freed, as kubelet\'s streaming idle timeout (also 4h) does.', positive),
      shutdown: duration('10s', 'Graceful shutdown budget.', positive),
    })
    .superRefine((v, ctx) => {
      if (v.websocket_reconnect > v.websocket_reconnect_max) {
        ctx.addIssue({ code: 'custom', path: ['websocket_reconnect'], message: 'must not exceed timeouts.websocket_reconnect_max', params: { sourceKey: 'timeouts.websocket_reconnect' } });
      }
      if (v.registration > v.registration_max_wait) {
        ctx.addIssue({ code: 'custom', path: ['registration'], message: 'must not exceed timeouts.registration_max_wait', params: { sourceKey: 'timeouts.registration' } });
      }
    })
    .prefault({});

  const MiB = 1024 * 1024;

  const proxy = z
    .object({
      max_buffered_body_bytes: bytes(64 * MiB, 'Cap on a buffered proxied response body; larger ones fail with a clear error (P3).'),
      max_request_body_bytes: bytes(64 * MiB, 'Cap on a proxied request body (P4).'),
      stream_high_water_bytes: bytes(4 * MiB, 'Pause backend reads while the tunnel socket\'s bufferedAmount exceeds this.'),
      binary_threshold_bytes: int(10240, 'Buffered responses at least this large use the binary response frame (§3.6). Toward a control plane that negotiated binary_chunks (our hub) every non-empty buffered response does, whatever this says (0 still means every one).', { min: 0 }),
      gzip_min_bytes: int(1024, 'Minimum body size for gzip (§3.7).', { min: 0 }),
      ws_channel_capacity: int(100, 'Frames queued per application WebSocket relay before backpressure.', { min: 1 }),
      ws_max_frame_bytes: bytes(MiB, 'Largest application WebSocket frame relayed.'),
      ws_ping_interval: duration('30s', 'Ping interval towards backend WebSockets.', { unit: 's', min: 1 }),
      ws_pong_timeout: duration('90s', 'Close a backend WebSocket with no pong for this long.', { unit: 's', min: 1 }),
    })
    .prefault({});

  // ---- the whole ---------------------------------------------------------------------------------------------

  return z.object({
    agent,
    pipeops,
    tunnel,
    tunnels,
    kubernetes,
    logging,
    timeouts,
    proxy,
    gateway: gatewaySchema(),
    upgrade: looseBlock(NO_EFFECT),
    encryption: looseBlock(NO_EFFECT),
  });
}

export type AgentConfigSchema = ReturnType<typeof buildAgentConfigSchema>;

let built: WeakRef<AgentConfigSchema> | undefined;

/** The agent's config schema: the instance built last while something still holds it, else a new one. */
export function agentConfigSchema(): AgentConfigSchema {
  let s = built?.deref();
  if (!s) {
    s = buildAgentConfigSchema();
    built = new WeakRef(s);
  }
  return s;
}

/** The effective configuration: defaults applied, every duration in milliseconds. */
export type AgentConfig = z.infer<AgentConfigSchema>;
/** What a config file (or a test) may write: durations as strings or numbers, defaults optional. */
export type AgentConfigInput = z.input<AgentConfigSchema>;

/** Parse a config object (e.g. in tests) with defaults applied; throws a ZodError on invalid input. */
export function parseAgentConfig(input: AgentConfigInput): AgentConfig {
  return agentConfigSchema().parse(input);
}

/** JSON Schema of what a config file may contain (input side), e.g. for a Helm values.schema.json. */
export function agentConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(agentConfigSchema(), { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
