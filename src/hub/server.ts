// The hub process: one Bun server for the agent endpoints, the admin API, the route registry and /healthz,
// /readyz, /metrics; the Kubernetes API gateway and the public gateway listen on their own ports.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type Context, Hono } from 'hono';
import type { Logger } from '../log/logger.ts';
import { type Server, type ServerWebSocket, serveWithSockets } from '../runtime/bun/socket-server.ts';
import { EXTENSIONS_QUERY_PARAM, parseExtensions } from '../protocol/extensions.ts';
import { CONTROLLER_WS_PATH } from '../protocol/session-urls.ts';
import { AgentEndpoint, type AgentSocketData } from './agent-endpoint.ts';
import { bearerToken, tokenDigest, tokenMatches } from './auth.ts';
import { gatewayPort, gatewayTlsPort, type HubConfig, parsePortRange } from './config/schema.ts';
import { HubMetrics } from './hub-metrics.ts';
import { ensureGatewayTls } from './kube-gateway/gateway-tls.ts';
import { type KubeGateway, startKubeGateway } from './kube-gateway/kube-gateway.ts';
import { checkPathRoutes, describePathRoute } from './public-gateway/gateway-routes.ts';
import { type PublicGateway, startPublicGateway } from './public-gateway/public-gateway.ts';
import { EndpointPolicy } from './routes/endpoint-policy.ts';
import type { LookupFn } from './routes/endpoint-resolve.ts';
import { openCredentialCipher, prepareStateFiles } from './state-files.ts';
import { mountRoutesApi } from './routes/routes-api.ts';
import { AgentYamux } from './l4/agent-yamux.ts';
import { ClusterNames } from './l4/cluster-names.ts';
import { L4Gateway } from './l4/l4-gateway.ts';
import { RegisteredTunnels } from './l4/registered-tunnels.ts';
import type { TunnelStore } from './tunnels/tunnel-store.ts';
import { mountTunnelsApi } from './tunnels/tunnels-api.ts';
import { ReplicaLink } from './replica-link.ts';
import { runtime } from '#runtime';
import { collectAndShrink, QUIET_COLLECT_MS, QuietCollector } from '../threads/quiet-collector.ts';
import { ShrinkPolicy } from '../threads/shrink-policy.ts';
import { type ReplicaIdentity, SessionDirectory } from './session-directory.ts';
import { isPostgresUrl, openHubStore, redactDatabaseUrl } from './store/open-store.ts';
import type { ClusterRecord, ClusterStore, HubStore, RouteStore } from './store/types.ts';

export const GATEWAY_WS_PATH = '/gateway/ws';

export interface Hub {
  url: string;
  wsUrl: string;
  port: number;
  /** Registered clusters (in `state`). */
  store: ClusterStore;
  /** The whole state database: clusters, routes, session leases. */
  state: HubStore;
  agents: AgentEndpoint;
  /** Where each cluster's agent session is; the gateways ask it. */
  directory: SessionDirectory;
  /** This process's name among hub replicas. */
  replicaId: string;
  app: Hono<HubEnv>;
  /** Kubernetes API gateway base URL (https://host:kube_port); clusters live under /clusters/<id>/k8s. */
  kubeUrl: string;
  /** CA of the gateway's certificate (generated, or `tls.ca_file`); undefined for a publicly trusted certificate. */
  kubeCaPem: string | undefined;
  kubeGateway: KubeGateway;
  /** Route registry (routes agents registered through /api/v1/gateway/routes/*). */
  routes: RouteStore;
  /** L4 tunnel registry (tunnels agents registered through /api/v1/clusters/agent/{id}/tunnels). */
  tunnels: TunnelStore;
  /** Public HTTP gateway base URL (apps by Host + path); `gatewayTlsUrl` when certificates are configured. */
  gatewayUrl: string;
  gatewayTlsUrl: string | null;
  publicGateway: PublicGateway;
  /** Public L4 listeners (static `l4_exposures` and registered tunnels). */
  l4: L4Gateway;
  /** Yamux sessions with agents (L4 streams). */
  yamux: AgentYamux;
  /** The hub's Prometheus registry, served at GET /metrics. */
  metrics: HubMetrics;
  stop(): Promise<void>;
}

type SocketData = AgentSocketData & { clusterUuid?: string };
/** Hono env: the Bun server, so handlers can upgrade. */
export type HubEnv = { Bindings: { server: Server<SocketData> } };

export async function clusterView(agents: AgentEndpoint, directory: SessionDirectory, r: ClusterRecord) {
  const where = await directory.locate(r.cluster_id);
  const connected = where.kind !== 'none';
  return {
    cluster_id: r.cluster_id,
    name: r.name,
    agent_id: r.agent_id,
    connected,
    status: connected ? 'connected' : 'disconnected',
    last_heartbeat: r.last_heartbeat,
    k8s_version: r.k8s_version,
    agent_version: r.agent_version,
    registered_at: r.registered_at,
    metadata: { ...r.metadata, heartbeat: r.last_heartbeat_payload?.metadata ?? null },
    // What the connected agent advertised (src/protocol/extensions.ts); empty for the upstream Go agent.
    extensions: [...(agents.sessions.get(r.cluster_id)?.extensions ?? [])].sort(),
    // Hub replicas: which one holds the session (null on a single hub, or when not connected).
    session_replica: where.kind === 'remote' ? where.replica.replica_id : where.kind === 'local' ? directory.replicaId : null,
  };
}

interface AppParts {
  metrics: HubMetrics;
  l4: () => L4Gateway | null;
  registered: () => RegisteredTunnels | null;
  /** False until every listener is up and again once shutdown began. */
  ready: () => boolean;
}

/** What tests may substitute. */
export interface HubDeps {
  /** Name resolution for direct route endpoints. */
  lookup?: LookupFn;
  /** Tests: the least time between two quiet collections (default QUIET_MIN_INTERVAL_MS). */
  quietMinIntervalMs?: number;
  /** Tests: how long after gateway requests quiet collections do not shrink (default KEEP_RELAY_CODE_MS). */
  keepRelayCodeMs?: number;
}

function buildApp(
  cfg: HubConfig,
  agents: AgentEndpoint,
  directory: SessionDirectory,
  state: HubStore,
  routes: RouteStore,
  tunnels: TunnelStore,
  policy: EndpointPolicy,
  deps: HubDeps,
  log: Logger,
  parts: AppParts,
): Hono<HubEnv> {
  const app = new Hono<HubEnv>();
  const agentAuth = (req: Request) => tokenMatches(bearerToken(req.headers.get('authorization')), cfg.agent_tokens);
  const adminAuth = (req: Request) => tokenMatches(bearerToken(req.headers.get('authorization')), cfg.admin_tokens);
  const unauthorized = { error: 'unauthorized', message: 'missing or invalid bearer token' };

  const agentSocket = (kind: 'controller' | 'gateway') => (c: Context<HubEnv>) => {
    const req = c.req.raw;
    if (!agentAuth(req)) {
      log.warn({ kind, remote: c.env.server.requestIP(req)?.address }, 'agent connection refused: bad token');
      parts.metrics.inc('pipeops_hub_registrations_rejected_total', { reason: 'bad_token' });
      return c.json(unauthorized, 401);
    }
    if (req.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      parts.metrics.inc('pipeops_hub_registrations_rejected_total', { reason: 'not_websocket' });
      return c.json({ error: 'expected a WebSocket upgrade' }, 400);
    }
    const url = new URL(req.url);
    const origin = `${url.protocol === 'https:' ? 'wss' : 'ws'}://${req.headers.get('host') ?? url.host}`;
    const remote = c.env.server.requestIP(req)?.address ?? 'unknown';
    const data: SocketData = { kind, clusterId: null, origin, remote, tokenDigest: tokenDigest(bearerToken(req.headers.get('authorization')) ?? '') };
    if (kind === 'gateway') {
      data.clusterUuid = url.searchParams.get('cluster_uuid') ?? undefined;
      data.extensions = parseExtensions(url.searchParams.get(EXTENSIONS_QUERY_PARAM));
      data.yamux = url.searchParams.get('supports_yamux') === 'true';
    }
    if (c.env.server.upgrade(req, { data })) return new Response(null);
    return c.json({ error: 'upgrade failed' }, 400);
  };

  app.get(CONTROLLER_WS_PATH, agentSocket('controller'));
  app.get(GATEWAY_WS_PATH, agentSocket('gateway'));
  // Liveness: the process answers. Readiness: every listener is up, the state database answers, not shutting down.
  app.get('/healthz', (c) => c.text('ok'));
  app.get('/readyz', async (c) => {
    if (!parts.ready()) return c.text('not ready: starting or shutting down', 503);
    try {
      await state.ping();
    } catch (e) {
      return c.text(`not ready: state database: ${(e as Error).message}`, 503);
    }
    return c.text('ok');
  });
  app.get('/metrics', async (c) => c.body(await parts.metrics.text(), 200, { 'Content-Type': parts.metrics.contentType }));

  app.get('/api/v1/clusters', async (c) => {
    if (!adminAuth(c.req.raw)) return c.json(unauthorized, 401);
    const all = await agents.store.list();
    return c.json({ clusters: await Promise.all(all.map((r) => clusterView(agents, directory, r))) });
  });
  app.get('/api/v1/clusters/:id', async (c) => {
    if (!adminAuth(c.req.raw)) return c.json(unauthorized, 401);
    const r = await agents.store.find(c.req.param('id'));
    return r ? c.json(await clusterView(agents, directory, r)) : c.json({ error: 'cluster not found' }, 404);
  });
  // Admin: the L4 listeners and their counters (issue 13 item 6).
  app.get('/api/v1/l4/tunnels', (c) => {
    if (!adminAuth(c.req.raw)) return c.json(unauthorized, 401);
    return c.json({ tunnels: parts.l4()?.list() ?? [] });
  });
  mountRoutesApi(app, {
    routes,
    clusters: agents.store,
    agentTokens: cfg.agent_tokens,
    adminTokens: cfg.admin_tokens,
    log,
    pathRoutes: () => cfg.path_routes.map(describePathRoute),
    rejected: (reason) => parts.metrics.inc('pipeops_hub_route_registrations_rejected_total', { reason }),
    endpointPolicy: policy,
    lookup: deps.lookup,
  });
  mountTunnelsApi(app, {
    tunnels,
    clusters: agents.store,
    agentTokens: cfg.agent_tokens,
    log,
    endpointPolicy: policy,
    lookup: deps.lookup,
    hubEndpoint: (t) => parts.registered()?.endpoint(t) ?? null,
    rejected: (reason) => parts.metrics.inc('pipeops_hub_tunnel_registrations_rejected_total', { reason }),
  });
  app.notFound((c) => c.json({ error: 'not found', path: c.req.path }, 404));
  app.onError((e, c) => {
    log.error({ err: e.message, path: c.req.path }, 'hub request failed');
    return c.json({ error: 'internal error', message: e.message }, 500);
  });
  return app;
}

/** Addresses of this machine's interfaces: a direct endpoint there on a hub port is the hub itself. */
function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
}

/** The hub's quiet collections (see startHub) are at least this far apart. */
export const QUIET_MIN_INTERVAL_MS = 10_000;

export async function startHub(cfg: HubConfig, log: Logger, deps: HubDeps = {}): Promise<Hub> {
  const badRoutes = checkPathRoutes(cfg.path_routes);
  if (badRoutes.length) throw new Error(`invalid hub configuration:\n${badRoutes.map((p) => `  - ${p}`).join('\n')}`);
  const gatewayCerts = cfg.gateway_tls.map((t) => ({ hosts: t.hosts, cert: readFileSync(t.cert_file, 'utf8'), key: readFileSync(t.key_file, 'utf8') }));
  const userTls = cfg.tls.cert_file ? cfg.tls : undefined;
  const tls = userTls ? { cert: readFileSync(userTls.cert_file, 'utf8'), key: readFileSync(userTls.key_file, 'utf8') } : undefined;
  const shared = isPostgresUrl(cfg.database);
  if (shared && !cfg.credentials.key)
    throw new Error('with a shared database (database: postgres://…) every replica needs the same credentials.key (PIPEOPS_HUB_CREDENTIALS_KEY_FILE); a per-replica key file would make the others unable to read cluster credentials');
  if (shared) {
    // The state path still names where this replica keeps its own files (the gateway certificate).
    if (cfg.state !== ':memory:') mkdirSync(dirname(resolve(cfg.state)), { recursive: true, mode: 0o700 });
  } else for (const w of prepareStateFiles(cfg.state)) log.warn(w);
  const cipher = await openCredentialCipher(cfg.state, { key: cfg.credentials.key, previous: cfg.credentials.previous_keys }, (w) => log.warn(w));
  const replicaId = cfg.replica.id || randomUUID();
  const { store: state, reencrypted, migrated } = await openHubStore({ database: shared ? cfg.database : cfg.state, cipher, origin: replicaId });
  if (migrated.length) log.info({ versions: migrated, database: shared ? redactDatabaseUrl(cfg.database) : cfg.state }, 'state database schema migrated');
  if (reencrypted) log.info({ clusters: reencrypted }, 'cluster credentials re-encrypted with the current key');
  const store = state.clusters;
  const routes = state.routes;
  const tunnels = state.tunnels;
  const metrics = new HubMetrics();
  // JavaScriptCore collects when the thread allocates: after a burst (registrations, a reconnect storm, gateway
  // requests) the hub would keep the burst's garbage, and the RSS it holds, until the next one. A quiet second after
  // the last agent message or gateway request it collects once, at most once per QUIET_MIN_INTERVAL_MS, so that
  // sparse traffic (a heartbeat every couple of seconds) does not buy a full collection per message. Steady traffic
  // is never quiet and never collects this way. The collection also shrinks (as every thread of the agent does),
  // except within a minute of a gateway request (ShrinkPolicy): the next burst then finds the relay's code compiled.
  // The start-up's garbage is collected a second after the hub is up.
  const shrink = new ShrinkPolicy(deps.keepRelayCodeMs);
  const quiet = new QuietCollector({
    quietMs: QUIET_COLLECT_MS,
    minIntervalMs: deps.quietMinIntervalMs ?? QUIET_MIN_INTERVAL_MS,
    collect: () => {
      const t0 = performance.now();
      const shrinks = shrink.shrinkAt(Date.now());
      if (shrinks) collectAndShrink();
      else runtime.collectGarbage();
      metrics.inc('pipeops_hub_quiet_collections_total');
      if (shrinks) metrics.inc('pipeops_hub_quiet_shrinks_total');
      metrics.inc('pipeops_hub_quiet_collection_seconds_total', {}, (performance.now() - t0) / 1000);
    },
  });
  // Called for every agent message and gateway request: a flag, not a clock read (the next tick dates it).
  const activity = () => quiet.touch();
  const gatewayActivity = () => {
    quiet.touch();
    shrink.relayed();
  };
  const agents = new AgentEndpoint(store, log, {
    handoff: cfg.handoff,
    publicUrl: cfg.public_url.replace(/\/$/, ''),
    events: {
      registration: (result) => metrics.inc('pipeops_hub_registrations_total', { result }),
      refused: (reason) => metrics.inc('pipeops_hub_registrations_rejected_total', { reason }),
      heartbeat: (result) => metrics.inc('pipeops_hub_heartbeats_total', { result }),
      frameBatch: (result, messages) => {
        metrics.inc('pipeops_hub_agent_frame_batches_total', { result });
        if (messages) metrics.inc('pipeops_hub_agent_batched_messages_total', {}, messages);
      },
    },
  });
  // One hub: sessions are here or nowhere. Replicas on a shared database record theirs with a lease.
  // The URLs are filled in once the gateways listen, before the first renewal.
  const identity: ReplicaIdentity = { id: replicaId, kube_url: '', public_url: '' };
  const directory = new SessionDirectory(agents, shared ? { leases: state.leases, replica: identity, leaseMs: cfg.replica.lease, log } : { log });
  if (shared && !cfg.replica.secret) log.warn('database is shared but replica.secret is empty: requests reaching a replica that does not hold the cluster\'s session are not forwarded');
  const policy = new EndpointPolicy(cfg.direct_allowed_cidrs, localAddresses());
  let ready = false;
  let l4: L4Gateway | null = null;
  let registered: RegisteredTunnels | null = null;
  const app = buildApp(cfg, agents, directory, state, routes, tunnels, policy, deps, log, { metrics, ready: () => ready, l4: () => l4, registered: () => registered });

  // The gateway (and its certificate, possibly minted now) is ready before agents can connect, so a caller of
  // startHub sees every agent message from the first one.
  let kubeGateway: KubeGateway;
  let kubeCaPem: string | undefined;
  let link: ReplicaLink | undefined;
  try {
    const gwTls = await ensureGatewayTls({ state: cfg.state, host: cfg.host, publicUrl: cfg.public_url, tls: userTls });
    if (shared && cfg.replica.secret) link = new ReplicaLink({ replicaId, secret: cfg.replica.secret, kubeCaPem: gwTls.caPem, log: log.child({ component: 'replica-link' }) });
    kubeGateway = await startKubeGateway({
      host: cfg.host,
      port: cfg.kube_port,
      tls: gwTls,
      userTokens: cfg.user_tokens,
      proxyTimeoutMs: cfg.proxy_timeout,
      agents,
      directory,
      clusters: store,
      link,
      internalL4: () => (l4 ? (req, socket, head) => l4!.acceptForwarded(req, socket, head) : null),
      log,
      metrics,
      activity: gatewayActivity,
    });
    kubeCaPem = gwTls.caPem;
    policy.listeners.push({ host: cfg.host, port: kubeGateway.port });
    // A hint for `hub kubeconfig`, which runs as a separate process and cannot know an ephemeral port.
    writeFileSync(join(gwTls.dir, 'kube-url'), kubeGateway.url);
  } catch (e) {
    await state.close();
    throw e;
  }

  let publicGateway: PublicGateway;
  try {
    publicGateway = await startPublicGateway({
      host: cfg.host,
      port: gatewayPort(cfg),
      tls: gatewayCerts.length ? { port: gatewayTlsPort(cfg), certs: gatewayCerts } : null,
      agents,
      directory,
      clusters: store,
      routes,
      link,
      proxyProtocolFrom: cfg.gateway_proxy_protocol_from,
      pathRoutes: cfg.path_routes,
      answerTimeoutMs: cfg.proxy_timeout,
      endpointPolicy: policy,
      lookup: deps.lookup,
      log,
      metrics,
      activity: gatewayActivity,
    });
    policy.listeners.push({ host: cfg.host, port: publicGateway.port });
    if (publicGateway.tlsPort !== null) policy.listeners.push({ host: cfg.host, port: publicGateway.tlsPort });
  } catch (e) {
    await kubeGateway.stop();
    await state.close();
    throw e;
  }

  type Data = SocketData;
  let server: Server<Data>;
  try {
    server = serveWithSockets<Data>({
      hostname: cfg.host,
      port: cfg.port,
      // Agent sockets and streaming proxy responses are long-lived; liveness is the WebSocket ping/pong.
      idleTimeout: 0,
      ...(tls ? { tls } : {}),
      fetch: (req, srv) => app.fetch(req, { server: srv }),
      websocket: {
        perMessageDeflate: false,
        maxPayloadLength: 256 * 1024 * 1024,
        idleTimeout: 120,
        open: (ws: ServerWebSocket<Data>) => {
          activity();
          agents.open(ws as never, ws.data.clusterUuid);
        },
        // A view of the message's bytes, not a copy (`new Uint8Array(buffer)` copied every 256 KiB body chunk).
        message: (ws: ServerWebSocket<Data>, msg) => {
          activity();
          agents.message(ws as never, typeof msg === 'string' ? msg : new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
        },
        close: (ws: ServerWebSocket<Data>, code) => {
          activity();
          agents.close(ws as never, code);
        },
        drain: (ws: ServerWebSocket<Data>) => agents.drain(ws as never),
      },
    });
  } catch (e) {
    await publicGateway.stop();
    await kubeGateway.stop();
    await state.close();
    throw e;
  }
  const advertise = cfg.replica.advertise_host || (cfg.host === '0.0.0.0' || cfg.host === '::' ? '127.0.0.1' : cfg.host);
  const at = advertise.includes(':') ? `[${advertise}]` : advertise;
  identity.kube_url = `https://${at}:${kubeGateway.port}`;
  identity.public_url = `http://${at}:${publicGateway.port}`;
  try {
    await directory.start();
  } catch (e) {
    await server.stop(true);
    await publicGateway.stop();
    await kubeGateway.stop();
    await state.close();
    throw e;
  }
  policy.listeners.push({ host: cfg.host, port: server.port ?? cfg.port });
  const yamux = new AgentYamux(agents, log, { keepAliveMs: 30_000, writeTimeoutMs: 30_000, maxStreamWindow: cfg.l4_stream_window });
  const l4Host = cfg.l4_host || cfg.host;
  const clusterNames = new ClusterNames(store, log);
  await clusterNames.refresh();
  agents.onSession((clusterId, connected) => {
    if (connected) void clusterNames.learn(clusterId);
  });
  const l4Gateway = new L4Gateway({
    host: l4Host,
    // What clients dial: the public URL's host, else the bind address (the machine's name for a wildcard bind).
    publicHost: cfg.public_url ? new URL(cfg.public_url).hostname.replace(/^\[(.*)\]$/, '$1') : l4Host === '0.0.0.0' || l4Host === '::' ? hostname() : l4Host,
    portRange: cfg.l4_port_range ? parsePortRange(cfg.l4_port_range) : null,
    agents: yamux,
    clusters: clusterNames,
    policy,
    lookup: deps.lookup,
    idleMs: cfg.l4_idle_timeout,
    udpIdleMs: cfg.l4_udp_session_timeout,
    log,
    metrics,
    remote: link
      ? {
          locate: async (clusterId) => {
            const where = await directory.locate(clusterId);
            return where.kind === 'remote' ? where.replica.kube_url : null;
          },
          link,
        }
      : undefined,
  });
  l4 = l4Gateway;
  try {
    for (const x of cfg.l4_exposures) {
      await l4Gateway.expose({ name: x.name, protocol: x.protocol, listenPort: x.listen_port, cluster: x.cluster, namespace: x.namespace, service: x.service, port: x.port, tunnelId: x.name, mode: 'tunnel', source: 'config' });
    }
  } catch (e) {
    await l4Gateway.stop();
    yamux.stop();
    await server.stop(true);
    await publicGateway.stop();
    await kubeGateway.stop();
    await state.close();
    throw new Error(`L4 exposure: ${(e as Error).message}`);
  }
  registered = new RegisteredTunnels(tunnels, l4Gateway, log);
  await registered.reconcile();
  metrics.attach({
    sockets: () => agents.socketCounts(),
    clusters: async () => {
      const all = await store.list();
      const connected = all.filter((r) => agents.isConnected(r.cluster_id)).length;
      return { connected, disconnected: all.length - connected };
    },
    tunnelBytes: () => agents.trafficBytes(),
    routes: async () => ({ registry: (await routes.list()).length, config: cfg.path_routes.length }),
    inFlight: () => ({ kube: kubeGateway.inFlight, public: publicGateway.inFlight - publicGateway.upgradesActive }),
    upgradesActive: () => ({ kube: kubeGateway.upgradesActive, public: publicGateway.upgradesActive }),
    l4Active: () => l4Gateway.list().map((t) => ({ tunnel: t.name, active: t.connections_active })),
    l4Forwarded: () => l4Gateway.forwardedActive(),
    heap: () => {
      const h = runtime.heapStats();
      return { size: h.heapSize, capacity: h.heapCapacity, extra: h.extraMemorySize };
    },
  });
  activity();
  const stopQuiet = quiet.start();
  ready = true;
  const scheme = tls ? 'https' : 'http';
  const url = `${scheme}://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${server.port}`;
  log.info({ url, gateway_url: publicGateway.url, handoff: cfg.handoff, state: shared ? redactDatabaseUrl(cfg.database) : cfg.state, replica_id: replicaId }, 'hub listening');
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    port: server.port ?? cfg.port,
    store,
    state,
    agents,
    directory,
    replicaId,
    app,
    kubeUrl: kubeGateway.url,
    kubeCaPem,
    kubeGateway,
    routes,
    tunnels,
    gatewayUrl: publicGateway.url,
    gatewayTlsUrl: publicGateway.tlsUrl,
    publicGateway,
    l4: l4Gateway,
    yamux,
    metrics,
    async stop() {
      ready = false;
      stopQuiet();
      registered?.stop();
      await l4Gateway.stop();
      yamux.stop();
      await publicGateway.stop();
      await kubeGateway.stop();
      agents.closeAll('hub shutting down');
      await server.stop(true);
      await directory.stop();
      await state.close();
    },
  };
}
