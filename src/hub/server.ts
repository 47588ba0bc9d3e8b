// The hub process: one Bun.serve for the agent endpoints, the admin API and the route registry; the
// Kubernetes API gateway and the public gateway listen on their own ports.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Context, Hono } from 'hono';
import type { Logger } from 'pino';
import type { Server, ServerWebSocket } from 'bun';
import { CONTROLLER_WS_PATH } from '../protocol/session-urls.ts';
import { AgentEndpoint, type AgentSocketData } from './agent-endpoint.ts';
import { bearerToken, tokenDigest, tokenMatches } from './auth.ts';
import { ClusterStore } from './cluster-store.ts';
import { gatewayPort, gatewayTlsPort, type HubConfig } from './config.ts';
import { ensureGatewayTls } from './kube-gateway/gateway-tls.ts';
import { type KubeGateway, startKubeGateway } from './kube-gateway/kube-gateway.ts';
import { checkPathRoutes, describePathRoute } from './public-gateway/gateway-routes.ts';
import { type PublicGateway, startPublicGateway } from './public-gateway/public-gateway.ts';
import { RouteStore } from './routes/route-store.ts';
import { mountRoutesApi } from './routes/routes-api.ts';

export const GATEWAY_WS_PATH = '/gateway/ws';

export interface Hub {
  url: string;
  wsUrl: string;
  port: number;
  store: ClusterStore;
  agents: AgentEndpoint;
  app: Hono<HubEnv>;
  /** Kubernetes API gateway base URL (https://host:kube_port); clusters live under /clusters/<id>/k8s. */
  kubeUrl: string;
  /** CA of the gateway's certificate (generated, or `tls.ca_file`); undefined for a publicly trusted certificate. */
  kubeCaPem: string | undefined;
  kubeGateway: KubeGateway;
  /** Route registry (routes agents registered through /api/v1/gateway/routes/*). */
  routes: RouteStore;
  /** Public HTTP gateway base URL (apps by Host + path); `gatewayTlsUrl` when certificates are configured. */
  gatewayUrl: string;
  gatewayTlsUrl: string | null;
  publicGateway: PublicGateway;
  stop(): Promise<void>;
}

type SocketData = AgentSocketData & { clusterUuid?: string };
/** Hono env: the Bun server, so handlers can upgrade. */
export type HubEnv = { Bindings: { server: Server<SocketData> } };

export function clusterView(agents: AgentEndpoint, id: string) {
  const r = agents.store.get(id);
  if (!r) return null;
  const connected = agents.isConnected(r.cluster_id);
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
  };
}

function buildApp(cfg: HubConfig, agents: AgentEndpoint, routes: RouteStore, log: Logger): Hono<HubEnv> {
  const app = new Hono<HubEnv>();
  const agentAuth = (req: Request) => tokenMatches(bearerToken(req.headers.get('authorization')), cfg.agent_tokens);
  const adminAuth = (req: Request) => tokenMatches(bearerToken(req.headers.get('authorization')), cfg.admin_tokens);
  const unauthorized = { error: 'unauthorized', message: 'missing or invalid bearer token' };

  const agentSocket = (kind: 'controller' | 'gateway') => (c: Context<HubEnv>) => {
    const req = c.req.raw;
    if (!agentAuth(req)) {
      log.warn({ kind, remote: c.env.server.requestIP(req)?.address }, 'agent connection refused: bad token');
      return c.json(unauthorized, 401);
    }
    if (req.headers.get('upgrade')?.toLowerCase() !== 'websocket') return c.json({ error: 'expected a WebSocket upgrade' }, 400);
    const url = new URL(req.url);
    const origin = `${url.protocol === 'https:' ? 'wss' : 'ws'}://${req.headers.get('host') ?? url.host}`;
    const remote = c.env.server.requestIP(req)?.address ?? 'unknown';
    const data: SocketData = { kind, clusterId: null, origin, remote, tokenDigest: tokenDigest(bearerToken(req.headers.get('authorization')) ?? '') };
    if (kind === 'gateway') data.clusterUuid = url.searchParams.get('cluster_uuid') ?? undefined;
    if (c.env.server.upgrade(req, { data })) return new Response(null);
    return c.json({ error: 'upgrade failed' }, 400);
  };

  app.get(CONTROLLER_WS_PATH, agentSocket('controller'));
  app.get(GATEWAY_WS_PATH, agentSocket('gateway'));
  app.get('/healthz', (c) => c.text('ok'));
  // Ready: the state database answers (every registration, heartbeat and route call goes through it).
  app.get('/readyz', (c) => {
    try {
      agents.store.database.query('SELECT 1').get();
      return c.json({ status: 'ready' });
    } catch (e) {
      return c.json({ status: 'not ready', reason: `state database: ${(e as Error).message}` }, 503);
    }
  });

  app.get('/api/v1/clusters', (c) => {
    if (!adminAuth(c.req.raw)) return c.json(unauthorized, 401);
    return c.json({ clusters: agents.store.list().map((r) => clusterView(agents, r.cluster_id)) });
  });
  app.get('/api/v1/clusters/:id', (c) => {
    if (!adminAuth(c.req.raw)) return c.json(unauthorized, 401);
    const r = agents.store.find(c.req.param('id'));
    return r ? c.json(clusterView(agents, r.cluster_id)) : c.json({ error: 'cluster not found' }, 404);
  });
  mountRoutesApi(app, {
    routes,
    clusters: agents.store,
    agentTokens: cfg.agent_tokens,
    adminTokens: cfg.admin_tokens,
    log,
    pathRoutes: () => cfg.path_routes.map(describePathRoute),
  });
  app.notFound((c) => c.json({ error: 'not found', path: c.req.path }, 404));
  app.onError((e, c) => {
    log.error({ err: e.message, path: c.req.path }, 'hub request failed');
    return c.json({ error: 'internal error', message: e.message }, 500);
  });
  return app;
}

export async function startHub(cfg: HubConfig, log: Logger): Promise<Hub> {
  const badRoutes = checkPathRoutes(cfg.path_routes);
  if (badRoutes.length) throw new Error(`invalid hub configuration:\n${badRoutes.map((p) => `  - ${p}`).join('\n')}`);
  const gatewayCerts = cfg.gateway_tls.map((t) => ({ hosts: t.hosts, cert: readFileSync(t.cert_file, 'utf8'), key: readFileSync(t.key_file, 'utf8') }));
  const store = new ClusterStore(cfg.state);
  const routes = new RouteStore(store.database);
  const agents = new AgentEndpoint(store, log, { handoff: cfg.handoff, publicUrl: cfg.public_url.replace(/\/$/, '') });
  const app = buildApp(cfg, agents, routes, log);
  const tls = cfg.tls ? { cert: readFileSync(cfg.tls.cert_file, 'utf8'), key: readFileSync(cfg.tls.key_file, 'utf8') } : undefined;

  // The gateway (and its certificate, possibly minted now) is ready before agents can connect, so a caller of
  // startHub sees every agent message from the first one.
  let kubeGateway: KubeGateway;
  let kubeCaPem: string | undefined;
  try {
    const gwTls = await ensureGatewayTls({ state: cfg.state, host: cfg.host, publicUrl: cfg.public_url, tls: cfg.tls });
    kubeGateway = await startKubeGateway({
      host: cfg.host,
      port: cfg.kube_port,
      tls: gwTls,
      userTokens: cfg.user_tokens,
      proxyTimeoutMs: cfg.proxy_timeout,
      agents,
      log,
    });
    kubeCaPem = gwTls.caPem;
    // A hint for `hub kubeconfig`, which runs as a separate process and cannot know an ephemeral port.
    writeFileSync(join(gwTls.dir, 'kube-url'), kubeGateway.url);
  } catch (e) {
    store.close();
    throw e;
  }

  let publicGateway: PublicGateway;
  try {
    publicGateway = await startPublicGateway({
      host: cfg.host,
      port: gatewayPort(cfg),
      tls: gatewayCerts.length ? { port: gatewayTlsPort(cfg), certs: gatewayCerts } : null,
      agents,
      clusters: store,
      routes,
      pathRoutes: cfg.path_routes,
      answerTimeoutMs: cfg.proxy_timeout,
      log,
    });
  } catch (e) {
    await kubeGateway.stop();
    store.close();
    throw e;
  }

  type Data = SocketData;
  let server: Server<Data>;
  try {
    server = Bun.serve<Data>({
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
        open: (ws: ServerWebSocket<Data>) => agents.open(ws as never, ws.data.clusterUuid),
        message: (ws: ServerWebSocket<Data>, msg) => agents.message(ws as never, typeof msg === 'string' ? msg : new Uint8Array(msg)),
        close: (ws: ServerWebSocket<Data>, code) => agents.close(ws as never, code),
      },
    });
  } catch (e) {
    await publicGateway.stop();
    await kubeGateway.stop();
    store.close();
    throw e;
  }
  const scheme = tls ? 'https' : 'http';
  const url = `${scheme}://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${server.port}`;
  log.info({ url, gateway_url: publicGateway.url, handoff: cfg.handoff, state: cfg.state }, 'hub listening');
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    port: server.port ?? cfg.port,
    store,
    agents,
    app,
    kubeUrl: kubeGateway.url,
    kubeCaPem,
    kubeGateway,
    routes,
    gatewayUrl: publicGateway.url,
    gatewayTlsUrl: publicGateway.tlsUrl,
    publicGateway,
    async stop() {
      await publicGateway.stop();
      await kubeGateway.stop();
      agents.closeAll('hub shutting down');
      await server.stop(true);
      store.close();
    },
  };
}
