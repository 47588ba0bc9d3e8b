// The hub's public HTTP(S) gateway: apps reached by Host + path. A matched route goes through the cluster's
// agent (tunnel mode: `proxy_request` to the route's ingress controller or path-route Service, original Host,
// bodies streamed both ways, upgrades relayed raw) or straight to the cluster's load balancer (direct mode).
// Unknown hosts get a plain 404; agent or backend failures 502, timeouts 504, each with a short reason. The
// path is normalised once (routes/request-path.ts) and that form is both matched and forwarded; a path that
// cannot be normalised safely is refused with 400. A direct endpoint is resolved and checked against the
// address policy before every connection (routes/endpoint-resolve.ts).
//
// node:http rather than Bun.serve: upgrades need the raw socket of the 'upgrade' event. TLS is terminated by
// a node:tls server choosing the certificate by SNI (Bun's node:https ignores SNICallback) and handed to a
// second http.Server.
import { randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from '../../log/logger.ts';
import type { AgentEndpoint, AgentSession } from '../agent-endpoint.ts';
import { type Drainable, drained } from '../../timing/drain.ts';
import type { PathRouteConfig } from '../config/schema.ts';
import { AgentExchanges } from '../agent-relay/agent-exchanges.ts';
import { UpgradeRelay } from '../agent-relay/upgrade-relay.ts';
import { type AppBody, appProxyRequest, INLINE_BODY_MAX } from '../../protocol/proxy-request-builders.ts';
import { clientAddress, type ForwardCheck, LINK_HEADERS, type ReplicaLink } from '../replica-link.ts';
import type { SessionDirectory } from '../session-directory.ts';
import type { ClusterStore, RouteStore } from '../store/types.ts';
import { AppWebSocketRelay } from './app-websocket-relay.ts';
import type { EndpointPolicy } from '../routes/endpoint-policy.ts';
import { type LookupFn, resolveEndpoint } from '../routes/endpoint-resolve.ts';
import { normaliseRequestPath } from '../routes/request-path.ts';
import { normaliseRequestHost, type RouteTable } from '../../ingress/route-match.ts';
import { appHeaders, type ClientFacts, declaredBodyLength, splitTarget } from './app-request.ts';
import type { HubMetrics } from '../hub-metrics.ts';
import { RepeatedWarning } from '../repeated-warning.ts';
import { forwardDirect, relayDirectUpgrade } from './direct-forward.ts';
import { buildRouteTable, type GatewayRoute, type GatewayTarget, targetFor } from './gateway-routes.ts';
import { proxyProtocolListener, trustedProxies } from './proxy-listener.ts';

export interface GatewayCert {
  hosts: string[];
  cert: string;
  key: string;
}

export interface PublicGatewayOptions {
  host: string;
  port: number;
  /** HTTPS listener with certificates by SNI; null: HTTP only. */
  tls: { port: number; certs: GatewayCert[] } | null;
  agents: AgentEndpoint;
  /** Where each cluster's session is (this process, another replica, nowhere). */
  directory: SessionDirectory;
  clusters: ClusterStore;
  routes: RouteStore;
  /** Hub replicas: carries requests for sessions another replica holds (absent: one hub). */
  link?: ReplicaLink;
  /** Proxies (CIDRs) whose connections to the plain listener start with a PROXY protocol header naming the client. */
  proxyProtocolFrom?: readonly string[];
  pathRoutes: readonly PathRouteConfig[];
  /** Time until the agent's or backend's status arrives. */
  answerTimeoutMs: number;
  maxClientBacklog?: number;
  /** Which addresses direct routes may reach. */
  endpointPolicy: EndpointPolicy;
  /** Name resolution for direct endpoints (tests inject one). */
  lookup?: LookupFn;
  log: Logger;
  /** Interval of the aggregated "cluster not connected" warnings (default REPEAT_INTERVAL_MS). */
  repeatLogIntervalMs?: number;
  metrics?: HubMetrics;
  /** Called for every request (the hub's QuietCollector). */
  activity?: () => void;
}

export interface PublicGateway {
  url: string;
  port: number;
  tlsUrl: string | null;
  tlsPort: number | null;
  readonly inFlight: number;
  /** Upgraded connections relayed through an agent now. */
  readonly upgradesActive: number;
  stop(): Promise<void>;
}

/** Streamed request bodies pause while the agent's socket holds more than this unsent. */
const UPLOAD_HIGH_WATER = 4 << 20;

/** One writer per agent session, so every upload paused behind it shares one drain monitor (src/timing/drain.ts). */
const sessionWriters = new WeakMap<AgentSession, Drainable>();
function sessionWriter(agents: AgentEndpoint, session: AgentSession): Drainable {
  let w = sessionWriters.get(session);
  if (!w) {
    w = {
      get bufferedAmount() {
        return session.bufferedAmount();
      },
      get open() {
        return agents.sessions.get(session.clusterId) === session;
      },
    };
    sessionWriters.set(session, w);
  }
  return w;
}
const DEFAULT_MAX_CLIENT_BACKLOG = 16 << 20;

const STORE_DOWN = 'the hub cannot reach its state database; retry later';

const plainError = (code: number, message: string) => ({ contentType: 'text/plain; charset=utf-8', body: `${code} ${http.STATUS_CODES[code] ?? 'Error'}: ${message}\n` });

export async function startPublicGateway(o: PublicGatewayOptions): Promise<PublicGateway> {
  const log = o.log.child({ component: 'public-gateway' });
  const tables = new AgentExchanges(o.agents, o.directory, {
    answerTimeoutMs: o.answerTimeoutMs,
    maxClientBacklog: o.maxClientBacklog ?? DEFAULT_MAX_CLIENT_BACKLOG,
    log,
    errorBody: plainError,
    label: 'public gateway request',
  });
  const { pending, upgrades } = tables;
  const sockets = new Set<Duplex>();
  let counter = 0;
  const nextId = () => `gw-${++counter}-${randomBytes(6).toString('hex')}`;
  let table: RouteTable<GatewayRoute> = buildRouteTable(await o.routes.list(), o.pathRoutes);
  // Rebuilt after every change; the registry call that made a change here returns once this table has it.
  let generation = 0;
  const offRoutes = o.routes.onChange(async () => {
    const mine = ++generation;
    try {
      const rows = await o.routes.list();
      if (mine === generation) table = buildRouteTable(rows, o.pathRoutes);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'public gateway: route table not rebuilt (the state database did not answer); the previous one stays');
    }
  });
  // One line per cluster per interval while a cluster is away, however many requests it is asked for.
  const outage = new RepeatedWarning(log, o.repeatLogIntervalMs);

  const sendError = (res: ServerResponse, code: number, reason: string) => {
    const e = plainError(code, reason);
    res.writeHead(code, { 'Content-Type': e.contentType, 'Content-Length': String(Buffer.byteLength(e.body)) });
    res.end(e.body);
  };

  /** Route a request; target null when nothing matches (404 decided by the caller). Throws when the store does not answer. */
  const resolve = async (hostHeader: string | undefined, url: string): Promise<{ host: string; path: string; query: string; target: GatewayTarget | null; route: string }> => {
    const host = normaliseRequestHost(hostHeader);
    const { path: rawPath, query } = splitTarget(url);
    const norm = normaliseRequestPath(rawPath);
    if (!norm.ok) return { host, path: rawPath, query, target: { kind: 'error', status: 400, reason: norm.reason }, route: '' };
    const path = norm.path;
    const route = host ? table.match(host, path) : null;
    if (!route) return { host, path, query, target: null, route: '' };
    // A configured path route names its cluster by id or name: ask the store (registry routes carry the id).
    const configured = route.source === 'config' ? ((await o.clusters.find(route.config.cluster))?.cluster_id ?? null) : null;
    return { host, path, query, target: targetFor(route, path, () => configured), route: `${route.host || '*'}${route.path}` };
  };

  /** Addresses trusted proxies named for their connections (PROXY protocol), by socket. */
  const proxied = new WeakMap<object, string>();
  /**
   * Who sent a request: the client itself (as a trusted proxy in front named it, else the socket's peer), or
   * (verified) the replica that forwarded a client's request.
   */
  const clientOf = (req: IncomingMessage, proto: 'http' | 'https'): { check: ForwardCheck | undefined; client: ClientFacts } => {
    const check = o.link?.check(req);
    const forwarded = check?.kind === 'replica' ? check.client : undefined;
    const ip = forwarded ? clientAddress(req, check) : (proxied.get(req.socket) ?? req.socket.remoteAddress ?? '');
    return { check, client: { ip, proto: forwarded?.proto ?? proto } };
  };

  /** Another replica's public gateway when it holds the cluster's session and this request may go there. */
  const peerFor = async (via: ForwardCheck | undefined, clusterId: string): Promise<{ kind: 'here' } | { kind: 'peer'; url: string } | { kind: 'forged'; reason: string }> => {
    if (!o.link || !via) return { kind: 'here' };
    if (via.kind === 'forged') return via;
    if (via.kind === 'replica' || o.directory.local(clusterId)) return { kind: 'here' };
    const where = await o.directory.locate(clusterId).catch((e: Error) => {
      log.warn({ cluster_id: clusterId, err: e.message }, 'public gateway: session directory did not answer');
      return { kind: 'none' } as const;
    });
    return where.kind === 'remote' ? { kind: 'peer', url: where.replica.public_url } : { kind: 'here' };
  };

  /** Name → checked address, or the refusal logged and answered 502 by `refuse`. */
  const checkDirect = async (target: Extract<GatewayTarget, { kind: 'direct' }>, line: Record<string, unknown>, refuse: (code: number, reason: string) => void) => {
    const ep = await resolveEndpoint(target.endpoint, o.endpointPolicy, o.lookup);
    if (ep.ok) return ep;
    log.warn({ ...line, mode: 'direct', cluster_id: target.clusterId, status: 502, error: ep.reason }, 'public gateway: direct endpoint refused by the address policy');
    refuse(502, "this route's direct endpoint is refused by the hub's address policy");
    return null;
  };

  const onRequest = (proto: 'http' | 'https') => async (req: IncomingMessage, res: ServerResponse) => {
    const t0 = performance.now();
    o.activity?.();
    let mode = 'none';
    let route = '';
    res.once('close', () => {
      o.activity?.();
      o.metrics?.inc('pipeops_hub_public_requests_total', { route, mode, code: String(res.headersSent ? res.statusCode : 0) });
      o.metrics?.observe('pipeops_hub_public_request_duration_seconds', { route }, (performance.now() - t0) / 1000);
    });
    let resolved: Awaited<ReturnType<typeof resolve>>;
    try {
      resolved = await resolve(req.headers.host, req.url ?? '/');
    } catch (e) {
      log.error({ err: (e as Error).message }, 'public gateway: the state database did not answer');
      req.resume();
      return sendError(res, 503, STORE_DOWN);
    }
    const { host, path, query, target } = resolved;
    route = resolved.route;
    if (target?.kind === 'tunnel' || target?.kind === 'direct') mode = target.kind;
    const { check, client } = clientOf(req, proto);
    if (!target) {
      log.debug({ host, path, method: req.method, status: 404 }, 'public gateway: no route');
      req.resume();
      return sendError(res, 404, `no route for ${host || '(no Host header)'}${path}`);
    }
    if (target.kind === 'error') {
      outage.note(`route:${target.reason}`, 'public gateway request failed', { host, path, method: req.method, status: target.status, error: target.reason });
      req.resume();
      return sendError(res, target.status, target.reason);
    }
    const pathAndQuery = `${target.path}${query ? `?${query}` : ''}`;
    if (target.kind === 'direct') {
      const declared = declaredBodyLength(req.rawHeaders);
      void (async () => {
        const connect = await checkDirect(target, { host, path, method: req.method }, (code, reason) => {
          req.resume();
          sendError(res, code, reason);
        });
        if (!connect) return;
        const r = await forwardDirect(req, res, { endpoint: target.endpoint, connect, pathAndQuery, headers: appHeaders(req.rawHeaders, client, { drop: LINK_HEADERS }), hasBody: declared !== 0, timeoutMs: o.answerTimeoutMs }, sendError);
        const line = { mode: 'direct', cluster_id: target.clusterId, host, path, method: req.method, status: r.status, bytes: r.bytes, ms: Math.round(performance.now() - t0), ...(r.error ? { error: r.error } : {}) };
        if (r.error) log.warn(line, 'public gateway request failed');
        else log.debug(line, 'public gateway request');
      })();
      return;
    }
    const via = await peerFor(check, target.clusterId);
    if (via.kind === 'forged') {
      log.warn({ cluster_id: target.clusterId, host, path, reason: via.reason }, 'public gateway: forwarded request refused');
      req.resume();
      return sendError(res, 403, `forwarded request refused: ${via.reason}`);
    }
    if (via.kind === 'peer') {
      o.metrics?.inc('pipeops_hub_forwarded_total', { gateway: 'public', kind: 'request' });
      return o.link!.forwardRequest(req, res, via.url, client, (code, message) => sendError(res, code, message));
    }
    forwardTunnel(req, res, target, host, query, client);
  };

  const forwardTunnel = (req: IncomingMessage, res: ServerResponse, target: Extract<GatewayTarget, { kind: 'tunnel' }>, host: string, query: string, client: ClientFacts) => {
    const clusterId = target.clusterId;
    const session = o.directory.local(clusterId);
    if (!session) {
      outage.note(clusterId, 'public gateway request failed', { mode: 'tunnel', cluster_id: clusterId, host, path: target.path, method: req.method, status: 502, error: 'cluster not connected' });
      req.resume();
      return sendError(res, 502, `cluster "${clusterId}" is not connected to the hub`);
    }
    const requestId = nextId();
    const method = req.method ?? 'GET';
    tables.open(session, { requestId, clusterId, method, path: `${host}${target.path}`, streaming: true }, res);
    const headers = appHeaders(req.rawHeaders, client, { drop: LINK_HEADERS });
    const send = (body: AppBody) =>
      session.send({
        type: 'proxy_request',
        payload: appProxyRequest({ method, path: target.path, query, headers, service: target.service, body, binaryChunks: session.extensions.has('binary_chunks') }),
        requestId,
      });
    const live = () => pending.has(requestId) && tables.current(clusterId, session);
    const declared = declaredBodyLength(req.rawHeaders);
    if (declared === 0) {
      req.resume();
      return send({ kind: 'none' });
    }
    if (declared !== null && declared <= INLINE_BODY_MAX) {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        if (live()) send({ kind: 'inline', bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts) });
      });
      return;
    }
    // Large or unknown length: start the request now and stream the body as chunks (§3.3).
    send({ kind: 'stream' });
    req.on('data', (c: Buffer) => {
      if (!live()) return;
      session.send({ type: 'proxy_request_chunk', payload: { data: c.toString('base64') }, requestId });
      if (session.bufferedAmount() > UPLOAD_HIGH_WATER) {
        req.pause();
        void drained(sessionWriter(o.agents, session), UPLOAD_HIGH_WATER / 4).then(() => req.resume());
      }
    });
    req.on('end', () => {
      if (live()) session.send({ type: 'proxy_request_stream_end', payload: {}, requestId });
    });
  };

  const onUpgrade = (proto: 'http' | 'https') => async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const answer = (code: number, reason: string) => {
      const e = plainError(code, reason);
      socket.end(`HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\nContent-Type: ${e.contentType}\r\nContent-Length: ${Buffer.byteLength(e.body)}\r\nConnection: close\r\n\r\n${e.body}`);
    };
    let resolved: Awaited<ReturnType<typeof resolve>>;
    try {
      resolved = await resolve(req.headers.host, req.url ?? '/');
    } catch (e) {
      log.error({ err: (e as Error).message }, 'public gateway: the state database did not answer');
      return answer(503, STORE_DOWN);
    }
    if (socket.destroyed) return;
    const { host, path, query, target } = resolved;
    const refuse = (code: number, reason: string, logIt = true) => {
      answer(code, reason);
      if (logIt) log[code === 404 ? 'debug' : 'warn']({ host, path, upgrade: req.headers.upgrade, status: code, error: reason }, 'public gateway: upgrade refused');
    };
    if (!target) return refuse(404, `no route for ${host || '(no Host header)'}${path}`);
    if (target.kind === 'error') return refuse(target.status, target.reason);
    const { check, client } = clientOf(req, proto);
    const headers = appHeaders(req.rawHeaders, client, { upgrade: true, drop: LINK_HEADERS });
    const pathAndQuery = `${target.path}${query ? `?${query}` : ''}`;
    if (target.kind === 'direct') {
      void checkDirect(target, { host, path, upgrade: req.headers.upgrade }, answer).then((connect) => {
        if (!connect || socket.destroyed) return;
        log.debug({ mode: 'direct', host, path, upgrade: req.headers.upgrade }, 'public gateway: upgrade relayed');
        relayDirectUpgrade(req, socket, head, { endpoint: target.endpoint, connect, pathAndQuery, headers, host: req.headers.host ?? host }, (reason) => refuse(502, reason));
      });
      return;
    }
    const via = await peerFor(check, target.clusterId);
    if (socket.destroyed) return;
    if (via.kind === 'forged') return refuse(403, `forwarded request refused: ${via.reason}`);
    if (via.kind === 'peer') {
      o.metrics?.inc('pipeops_hub_forwarded_total', { gateway: 'public', kind: 'upgrade' });
      return o.link!.forwardUpgrade(req, socket, head, via.url, client, (code, message) => refuse(code, message));
    }
    const session = o.directory.local(target.clusterId);
    if (!session) {
      outage.note(target.clusterId, 'public gateway: upgrade refused', { cluster_id: target.clusterId, host, path, status: 502, error: 'cluster not connected' });
      return refuse(502, `cluster "${target.clusterId}" is not connected to the hub`, false);
    }
    const requestId = nextId();
    // Application upgrades are replayed verbatim (`raw_upgrade`); an agent without it (the upstream Go agent) gets
    // WebSocket upgrades over its application relay (§3.8), and nothing else.
    if (!session.extensions.has('raw_upgrade')) {
      if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket')
        return refuse(502, `the agent of cluster "${target.clusterId}" carries only WebSocket upgrades (it does not advertise raw_upgrade)`);
      const ws = new AppWebSocketRelay(
        { requestId, clusterId: target.clusterId, session, path: target.path, query, headers, service: target.service, log, refuse, done: () => upgrades.delete(requestId) },
        req,
        socket,
        head,
      );
      upgrades.set(requestId, { relay: ws, clusterId: target.clusterId, session });
      if (!ws.start()) upgrades.delete(requestId);
      return;
    }
    const relay = new UpgradeRelay(
      {
        requestId,
        clusterId: target.clusterId,
        session,
        path: target.path,
        query,
        serviceToken: '',
        log,
        done: () => upgrades.delete(requestId),
        headers,
        service: target.service,
      },
      socket,
      head,
    );
    upgrades.set(requestId, { relay, clusterId: target.clusterId, session });
    o.metrics?.inc('pipeops_hub_upgrades_total', { gateway: 'public' });
    log.debug({ mode: 'tunnel', request_id: requestId, cluster_id: target.clusterId, host, path, upgrade: req.headers.upgrade }, 'public gateway: upgrade relayed');
    relay.start(req);
  };


  const track = (s: Duplex) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const plain = http.createServer(onRequest('http'));
  plain.requestTimeout = 0;
  plain.on('connection', track);
  plain.on('upgrade', onUpgrade('http'));
  const front = o.proxyProtocolFrom?.length ? proxyProtocolListener(plain, trustedProxies(o.proxyProtocolFrom), log, (s, ip) => proxied.set(s, ip)) : plain;

  let secure: { tlsServer: tls.Server; http: http.Server } | null = null;
  if (o.tls && o.tls.certs.length) {
    const contexts = o.tls.certs.map((c) => ({ hosts: c.hosts.map((h) => h.toLowerCase()), ctx: tls.createSecureContext({ cert: c.cert, key: c.key }) }));
    const pick = (name: string) => {
      const n = name.toLowerCase();
      const exact = contexts.find((c) => c.hosts.includes(n));
      if (exact) return exact.ctx;
      const dot = n.indexOf('.');
      const wc = dot > 0 ? `*${n.slice(dot)}` : null;
      return (wc && contexts.find((c) => c.hosts.includes(wc))?.ctx) || contexts[0]!.ctx;
    };
    const inner = http.createServer(onRequest('https'));
    inner.requestTimeout = 0;
    inner.on('upgrade', onUpgrade('https'));
    const first = o.tls.certs[0]!;
    const tlsServer = tls.createServer({ cert: first.cert, key: first.key, SNICallback: (name, cb) => cb(null, pick(name)) }, (s) => {
      track(s);
      inner.emit('connection', s);
    });
    tlsServer.on('tlsClientError', (e) => log.debug({ err: e.message }, 'public gateway: TLS handshake failed'));
    secure = { tlsServer, http: inner };
  }

  const listen = (server: http.Server | tls.Server | net.Server, port: number) =>
    new Promise<number>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(port, o.host, () => {
        server.off('error', reject);
        resolveListen((server.address() as AddressInfo).port);
      });
    });
  const port = await listen(front, o.port);
  let tlsPort: number | null = null;
  if (secure && o.tls) {
    try {
      tlsPort = await listen(secure.tlsServer, o.tls.port);
    } catch (e) {
      front.close();
      throw e;
    }
  }
  const h = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host;
  const base = h.includes(':') ? `[${h}]` : h;
  const url = `http://${base}:${port}`;
  const tlsUrl = tlsPort !== null ? `https://${base}:${tlsPort}` : null;
  log.info({ url, tls_url: tlsUrl, routes: table.size, path_routes: o.pathRoutes.length, proxy_protocol_from: o.proxyProtocolFrom?.length ? o.proxyProtocolFrom : undefined }, 'public gateway listening');

  return {
    url,
    port,
    tlsUrl,
    tlsPort,
    get inFlight() {
      return pending.size + upgrades.size;
    },
    get upgradesActive() {
      return upgrades.size;
    },
    async stop() {
      offRoutes();
      tables.close();
      outage.close();
      const closed = [new Promise<void>((r) => front.close(() => r()))];
      if (secure) closed.push(new Promise<void>((r) => secure.tlsServer.close(() => r())));
      for (const s of [...sockets]) s.destroy();
      await Promise.all(closed);
    },
  };
}
