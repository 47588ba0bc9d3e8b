// The one schema for every hub setting. `HubConfig` (defaults applied, durations in milliseconds) is what the hub
// reads; the loader (load.ts), `hub --help`, `hub --print-config` and docs/hub-configuration.md are derived from it
// and from the env/flag tables in bindings.ts. Add a key here (with a description) and it is documented.
import { z } from 'zod';
import { bool, duration, int, leaf, objectList, oneOf, port, str } from '../../config/fields.ts';
import { parseCidr } from '../routes/endpoint-policy.ts';
import { checkHostname, checkPath, checkServiceRef } from '../routes/route-validation.ts';

export const DEFAULT_STATE = 'hub-state/hub.db';

/** A list of tokens (secret): at least 8 characters each. */
function tokenList() {
  return z.array(z.string().min(8, { error: 'every token needs at least 8 characters' }), {
    error: (i) => (i.input === undefined ? 'required, but not set' : 'expected a list of tokens'),
  });
}

const requiredTokens = (description: string) =>
  leaf(tokenList().min(1, { error: 'at least one agent token is required' }), description, { kind: 'string-list', secret: true, type: 'list of secrets', docDefault: '(required)' });

const tokens = (description: string) => leaf(tokenList().default([]), description, { kind: 'string-list', secret: true, type: 'list of secrets', docDefault: '[]' });

const optionalPort = (description: string, docDefault: string) =>
  leaf(z.number({ error: 'expected a port 0–65535' }).int({ error: 'expected a port 0–65535' }).min(0, { error: 'expected a port 0–65535' }).max(65535, { error: 'expected a port 0–65535' }).optional(), description, {
    kind: 'int',
    type: 'port 0–65535',
    docDefault,
  });

const tls = z
  .object({
    cert_file: str('', 'Certificate (PEM) for the agent endpoint and the Kubernetes API gateway. Without it the gateway mints a CA and a certificate once and keeps them in `<state>.tls/`.'),
    key_file: str('', 'Private key (PEM) of `cert_file`.'),
    ca_file: str('', 'CA of that certificate, put into kubeconfigs (empty for publicly trusted certificates).'),
  })
  .superRefine((v, ctx) => {
    for (const [set, missing] of [['cert_file', 'key_file'], ['key_file', 'cert_file']] as const) {
      if (v[set] !== '' && v[missing] === '') {
        ctx.addIssue({ code: 'custom', path: [missing], message: `tls.${set} is set but tls.${missing} is not; set both or neither`, params: { sourceKey: `tls.${set}` } });
      }
    }
  })
  .prefault({});

const pathRoute = z
  .object({
    host: z.string().optional(),
    path_prefix: z.string().startsWith('/'),
    cluster: z.string().min(1),
    namespace: z.string().min(1),
    service: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    strip_prefix: z.boolean().default(false),
  })
  .superRefine((r, ctx) => {
    const bad = (path: string, message: string | null) => message && ctx.addIssue({ code: 'custom', path: [path], message });
    if (r.host) bad('host', checkHostname(r.host));
    bad('path_prefix', checkPath(r.path_prefix));
    const svc = checkServiceRef(r.namespace, r.service, r.port);
    if (svc) bad(svc.startsWith('namespace') ? 'namespace' : svc.startsWith('service_port') ? 'port' : 'service', svc.replace('service_name', 'service').replace('service_port', 'port'));
  });

const l4Exposure = z
  .object({
    name: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: 'expected a DNS label such as redis or dns-udp' }),
    protocol: z.enum(['tcp', 'udp']),
    listen_port: z.number().int().min(0).max(65535),
    cluster: z.string().min(1),
    namespace: z.string().min(1),
    service: z.string().min(1),
    port: z.number().int().min(1).max(65535),
  })
  .superRefine((r, ctx) => {
    const svc = checkServiceRef(r.namespace, r.service, r.port);
    if (svc) ctx.addIssue({ code: 'custom', path: [svc.startsWith('namespace') ? 'namespace' : svc.startsWith('service_port') ? 'port' : 'service'], message: svc.replace('service_name', 'service').replace('service_port', 'port') });
  });

/** `min-max` port range for the listeners of registered tunnels, or empty. */
const PORT_RANGE = /^(\d{1,5})-(\d{1,5})$/;

export function parsePortRange(v: string): { min: number; max: number } | null {
  const m = PORT_RANGE.exec(v);
  if (!m) return null;
  const min = Number(m[1]);
  const max = Number(m[2]);
  return min >= 1 && max <= 65535 && min <= max ? { min, max } : null;
}

const credentials = z
  .object({
    key: leaf(
      z.string().default(''),
      'Key that encrypts cluster credentials at rest (AES-256-GCM): 32 bytes as base64 or 64 hex digits, usually from a file (`PIPEOPS_HUB_CREDENTIALS_KEY_FILE`). Empty: the file `<state>.key`, created with a random key (mode 0600) when missing.',
      { kind: 'string', secret: true },
    ),
    previous_keys: tokens('Keys that encrypted credentials before a rotation: read to decrypt, never to encrypt; the hub re-encrypts everything with `key` at start-up.'),
  })
  .prefault({});

const replica = z
  .object({
    id: str('', "This replica's name in the shared database (`database`); empty: a random one at every start."),
    secret: leaf(
      z.string().default('').refine((v) => v === '' || v.length >= 16, { error: 'at least 16 characters' }),
      'Shared secret of the replicas: authenticates the requests, L4 TCP connections and UDP client links one forwards to the replica holding a cluster\'s session (an HMAC; the secret never travels). Every replica the same; empty: no forwarding (a request reaching a replica without the session gets 503/502). Prefer `PIPEOPS_HUB_REPLICA_SECRET_FILE`.',
      { kind: 'string', secret: true },
    ),
    advertise_host: str('', 'Address other replicas reach this one at (its gateway ports), e.g. the pod IP; empty: `host`, or 127.0.0.1 when `host` is a wildcard.'),
    lease: duration('15s', "How long the sessions a replica holds count without its renewal (renewed every third of it): a dead replica's agents are reported nowhere within this time.", { min: 1000 }),
  })
  .prefault({});

export const HubConfigSchema = z.object({
  host: str('127.0.0.1', 'Address the hub listens on (agent endpoint, admin API, both gateways).'),
  port: port(8090, 'Port for agents, the admin API and the route registry (0 = ephemeral).'),
  kube_port: port(6443, 'HTTPS port of the Kubernetes API gateway (kubectl → /clusters/<id>/k8s/…; 0 = ephemeral).'),
  gateway_port: optionalPort('Public HTTP gateway port (apps by Host + path, through the tunnel or directly).', '8088 (0 when port is 0)'),
  gateway_tls_port: optionalPort('Public HTTPS gateway port, served when `gateway_tls` has certificates.', '8443 (0 when port is 0)'),
  agent_tokens: requiredTokens('Tokens agents present (their pipeops.token). Secret.'),
  admin_tokens: tokens('Tokens for the admin API (GET /api/v1/clusters, /api/v1/gateway/routes). Secret.'),
  user_tokens: tokens('Tokens users present to the Kubernetes API gateway (kubectl). Secret.'),
  state: str(DEFAULT_STATE, "SQLite file for clusters and routes; its directory is created mode 0700, the files are 0600. ':memory:' keeps nothing."),
  database: leaf(
    z
      .string()
      .default('')
      .refine((v) => v === '' || /^postgres(ql)?:\/\/[^\s]+$/i.test(v), { error: 'expected a postgres://user:password@host:port/database URL, or empty for the SQLite file `state`' }),
    'Shared PostgreSQL database for hub replicas (`postgres://user:password@host:5432/db`); empty: the SQLite file `state`. Every replica needs the same `credentials.key`. Secret (it may hold a password): prefer `PIPEOPS_HUB_DATABASE_FILE`.',
    { kind: 'string', secret: true },
  ),
  replica,
  public_url: str('', 'Base URL agents use to reach this hub (for gateway_ws_url); derived from the request when empty.'),
  handoff: bool(true, 'Hand registered agents off to the gateway endpoint, as the PipeOps controller does.'),
  tls,
  proxy_timeout: duration('60s', 'Gateways: how long to wait for an agent or backend to answer a request (watch/follow: until the status arrives).', { min: 1 }),
  gateway_tls: objectList(
    z.object({ hosts: z.array(z.string().min(1)).min(1), cert_file: z.string(), key_file: z.string() }),
    'Certificates for custom domains on the HTTPS gateway, chosen by SNI (`*.example.com` allowed); the first is the default. Items: {hosts, cert_file, key_file}.',
  ),
  path_routes: objectList(
    pathRoute,
    'Path routes to in-cluster Services through the agent (webhook gateways). Items: {host?, path_prefix, cluster (id or name), namespace, service, port, strip_prefix}.',
  ),
  gateway_proxy_protocol_from: leaf(
    z.array(z.string().refine((c) => parseCidr(c) !== null, { error: 'expected a CIDR such as 10.0.0.5/32' })).default([]),
    "Proxies in front of the public gateway's HTTP listener (HAProxy with `send-proxy` or `send-proxy-v2`): connections from these addresses must start with a PROXY protocol header (v1 or v2), whose source address is then the client's (X-Forwarded-For, X-Real-IP, Forwarded, and what a forward to another hub replica carries). Connections from elsewhere are taken as they are. Empty: no PROXY protocol. Not read on the HTTPS listener.",
    { kind: 'string-list', type: 'list of CIDRs' },
  ),
  direct_allowed_cidrs: leaf(
    z.array(z.string().refine((c) => parseCidr(c) !== null, { error: 'expected a CIDR such as 10.20.0.0/16 or fd00::/8' })).default([]),
    "Non-public ranges (loopback, link-local, private, CGNAT, unique-local…) that direct routes' `public_endpoint` may reach. Empty: only public addresses. Unspecified, multicast and broadcast addresses and the hub's own listeners are always refused.",
    { kind: 'string-list', type: 'list of CIDRs' },
  ),
  l4_exposures: objectList(
    l4Exposure,
    'Static L4 exposures: a TCP listener or UDP socket on the hub whose connections (TCP) or client addresses (UDP) become yamux streams to the cluster\'s agent (§5.3). Items: {name, protocol (tcp|udp), listen_port (0 = ephemeral), cluster (id or name), namespace, service, port}.',
  ),
  l4_port_range: leaf(
    z.string().refine((v) => v === '' || parsePortRange(v) !== null, { error: 'expected "min-max" with 1 ≤ min ≤ max ≤ 65535, or empty' }).default(''),
    'Ports for the listeners of tunnels agents register (§1.2), as `min-max`. Empty: ephemeral ports.',
    { kind: 'string', type: 'port range' },
  ),
  l4_host: str('', 'Address the L4 listeners bind to. Empty: `host`.'),
  l4_idle_timeout: duration('5m', 'Close an L4 TCP connection idle this long (either way).', { min: 1 }),
  l4_stream_window: int(
    4 << 20,
    'Yamux receive window per L4 stream, both ways (sent to agents as `max_stream_window_size`), bytes, 256 KiB–16 MiB. A window is credit, not memory: an idle or flowing connection buffers nothing, but one whose receiver stops reading can leave up to this much buffered in the hub or the agent (times `tunnels.tcp.max_connections` at worst). 4 MiB moved 20–40 % more than 1 MiB through a loaded 2-core machine (docs/benchmarks.md); lower it where many stalled connections are a concern.',
    { min: 256 * 1024, max: 16 << 20, what: 'a byte count from 262144 to 16777216' },
  ),
  l4_udp_session_timeout: duration('60s', 'Forget a UDP client address (and end its stream) after this long without a datagram.', { min: 1 }),
  credentials,
  log_level: oneOf(['trace', 'debug', 'info', 'warn', 'error'] as const, 'info', 'Minimum log level.'),
});

/** The effective hub configuration: defaults applied, durations in milliseconds. */
export type HubConfig = z.infer<typeof HubConfigSchema>;
/** What a config file or a test may write. */
export type HubConfigInput = z.input<typeof HubConfigSchema>;
export type PathRouteConfig = HubConfig['path_routes'][number];
export type L4ExposureConfig = HubConfig['l4_exposures'][number];

/** The public gateway's port: `gateway_port`, else 8088 — or ephemeral when the hub itself is (port 0). */
export function gatewayPort(cfg: HubConfig): number {
  return cfg.gateway_port ?? (cfg.port === 0 ? 0 : 8088);
}

/** The HTTPS gateway's port (only served with `gateway_tls`): default 8443, ephemeral when the hub is. */
export function gatewayTlsPort(cfg: HubConfig): number {
  return cfg.gateway_tls_port ?? (cfg.port === 0 ? 0 : 8443);
}
