// The hub's Kubernetes API gateway: an HTTPS server where `kubectl` (or client-node) talks to
// /clusters/<id|name>/k8s/<Kubernetes path> with a hub user token; each request travels to the cluster's agent
// as a `proxy_request` over its WebSocket session, carrying the cluster's ServiceAccount token, and the agent's
// answer (buffered, binary frame or streamed) is written back (protocol.md §3).
//
// The listener is http-front.ts (TLS on Bun.listen): plain GETs the gateway can answer from memory (authorized, the
// cluster cached, its session on this replica) are served there, with a light response object; everything else —
// request bodies, refusals, forwards between replicas, and the SPDY/WebSocket upgrades of exec/attach/port-forward,
// which need the raw socket of node's 'upgrade' event — goes to a node:http server, unchanged (issue 14: node's
// server cost ≈ 10 µs of hub CPU per small request more). Upgrades are relayed byte-exact by upgrade-relay.ts, or,
// for an agent without `raw_upgrade` (the upstream Go agent), carried over its channel translation by
// channel-relay.ts.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../log/logger.ts';
import type { AgentEndpoint } from '../agent-endpoint.ts';
import { bearerToken, tokenMatches } from '../auth.ts';
import { type HubMetrics, kubeVerb } from '../hub-metrics.ts';
import { ClusterLookup } from '../cluster-lookup.ts';
import { RepeatedWarning } from '../repeated-warning.ts';
import { checkKubePath, type GatewayTarget, parseGatewayTarget, requestHeaders, type RequestHeaders, wantsStreamingResponse } from './gateway-route.ts';
import { AgentExchanges } from '../agent-relay/agent-exchanges.ts';
import { UpgradeRelay } from '../agent-relay/upgrade-relay.ts';
import { clientAddress, L4_PATH, LINK_HEADERS, type ReplicaLink } from '../replica-link.ts';
import type { SessionDirectory } from '../session-directory.ts';
import type { ClusterRecord, ClusterStore } from '../store/types.ts';
import { startChannelRelay } from './channel-relay.ts';
import { OncePerCluster } from './once-per-cluster.ts';
import { kubeErrorBody } from './kube-status.ts';
import { KUBE_REQUEST_DROP, MAX_REQUEST_BODY } from '../../protocol/proxy-request-builders.ts';
import { ProxyRequestWriter } from '../../protocol/proxy-request-text.ts';
import { isoNow } from '../../protocol/envelope.ts';
import type { ClientAnswer } from '../agent-relay/proxy-exchange.ts';
import { type FrontRequest, type FrontResponse, HttpFront } from './http-front.ts';

/** Default bound on what a slow client may leave unread on one stream before it is cut. */
export const DEFAULT_MAX_CLIENT_BACKLOG = 16 * 1024 * 1024;

export interface KubeGatewayOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string };
  userTokens: readonly string[];
  /** Time until the agent's first answer (buffered response or stream header). */
  proxyTimeoutMs: number;
  maxClientBacklog?: number;
  agents: AgentEndpoint;
  /** Where each cluster's session is (this process, another replica, nowhere). */
  directory: SessionDirectory;
  clusters: ClusterStore;
  /** Hub replicas: carries requests for sessions another replica holds (absent: one hub). */
  link?: ReplicaLink;
  /** Hub replicas: L4 connections another replica forwards (upgrades of /internal/l4, checked by the handler). */
  internalL4?: () => ((req: IncomingMessage, socket: Duplex, head: Buffer) => void) | null;
  log: Logger;
  /** Interval of the aggregated "cluster not connected" warnings (default REPEAT_INTERVAL_MS). */
  repeatLogIntervalMs?: number;
  metrics?: HubMetrics;
  /** Called for every request (the hub's QuietCollector). */
  activity?: () => void;
  /** Serve plain GETs on the front's own path (default true); false sends every request to node's server. */
  fastPath?: boolean;
  /** Tests: the front's keep-alive and head timeouts (node's defaults, 5 s and 60 s). */
  keepAliveTimeoutMs?: number;
  headersTimeoutMs?: number;
  /**
   * How long a request may take to arrive whole, head and body (node's requestTimeout; default 300 s, 0: no bound):
   * then 408 and the connection's end (http-front.ts). Upgrades and answers are not bounded by it.
   */
  requestTimeoutMs?: number;
}

export interface KubeGateway {
  /** https://host:port, without the /clusters/… part. */
  url: string;
  port: number;
  /** Requests waiting for or streaming an agent's answer. */
  readonly inFlight: number;
  /** Upgraded connections relayed through an agent now. */
  readonly upgradesActive: number;
  /** Client connections open now, on the fast path or handed to node's server. */
  readonly connections: number;
  /** Connections handed to node's server since the start (which path answered, for tests). */
  readonly handedOff: number;
  stop(): Promise<void>;
}

const EMPTY = new Uint8Array(0);

export async function startKubeGateway(o: KubeGatewayOptions): Promise<KubeGateway> {
  const log = o.log.child({ component: 'kube-gateway' });
  const tables = new AgentExchanges(o.agents, o.directory, {
    answerTimeoutMs: o.proxyTimeoutMs,
    maxClientBacklog: o.maxClientBacklog ?? DEFAULT_MAX_CLIENT_BACKLOG,
    log,
    // The request's own 'close' listener (metrics) tells the exchange.
    callerWatchesClose: true,
  });
  const { pending, upgrades } = tables;
  const sockets = new Set<Duplex>();
  const notices = new OncePerCluster();
  const clusters = new ClusterLookup(o.agents, (idOrName) => o.clusters.find(idOrName));
  // The replicas' link headers are dropped with the rest: what withoutLinkRawHeaders did before the header map.
  const requests = new ProxyRequestWriter([...KUBE_REQUEST_DROP, ...LINK_HEADERS]);
  let counter = 0;
  // Random suffixes are cut from a pool filled 256 at a time: one randomBytes call per request was 1 % of the hub's CPU.
  let pool = '';
  let at = 0;
  const nextId = () => {
    if (at >= pool.length) {
      pool = randomBytes(6 * 256).toString('hex');
      at = 0;
    }
    at += 12;
    return `k8s-${++counter}-${pool.slice(at - 12, at)}`;
  };
  // kubectl retries discovery several times per command: one line per cluster per interval while it is away.
  const outage = new RepeatedWarning(log, o.repeatLogIntervalMs);
  const notConnected = (clusterId: string, method: string | undefined) =>
    outage.note(clusterId, 'kube gateway: cluster not connected', { cluster_id: clusterId, method, status: 503 });

  const sendStatus = (res: ClientAnswer, code: number, message: string, extra: Record<string, string> = {}) => {
    const e = kubeErrorBody(code, message);
    res.writeHead(code, { 'Content-Type': e.contentType, 'Content-Length': String(Buffer.byteLength(e.body)), ...extra });
    res.end(e.body);
  };
  const authorized = (req: IncomingMessage) => tokenMatches(bearerToken(req.headers.authorization), o.userTokens);
  /** The cluster by id or name; a state database that does not answer is the caller's 503. */
  const findCluster = async (idOrName: string): Promise<ClusterRecord | null | Error> => {
    try {
      return await clusters.find(idOrName);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'kube gateway: the state database did not answer');
      return e as Error;
    }
  };
  const STORE_DOWN = 'the hub cannot reach its state database; retry later';
  /**
   * A refusal before the request's body was read: the connection ends after the answer (`Connection: close`). Kept
   * alive, node would go on reading the refused body to reach the next request, so a client that trickles one —
   * unauthenticated, for a 401 — held the connection (until the front's headers clock, 60 s, cut it).
   */
  const CLOSE = { Connection: 'close' };
  const refuseBefore = (res: ClientAnswer, h: RequestHeaders, code: number, message: string) =>
    sendStatus(res, code, message, h.transferEncoding !== undefined || (h.contentLength !== undefined && h.contentLength !== '0') ? CLOSE : {});
  /**
   * Where a request for a cluster without a session here goes: 'here' (served, or 503, as by one hub), a peer's
   * gateway URL, or a refusal of a forged forward. A verified forward is never forwarded again.
   */
  type Route = { kind: 'here' } | { kind: 'peer'; url: string } | { kind: 'forged'; reason: string };
  const HERE: Route = { kind: 'here' };
  /** `route` without a promise when this replica can decide alone (one hub, a verified forward, a session here). */
  const routeNow = (req: IncomingMessage, clusterId: string): Route | null => {
    if (!o.link) return HERE;
    const via = o.link.check(req);
    if (via.kind === 'forged') return via;
    if (via.kind === 'replica' || o.directory.local(clusterId)) return HERE;
    return null;
  };
  /** Where the session directory places a cluster that `routeNow` could not. */
  const routeByDirectory = async (clusterId: string): Promise<Route> => {
    const where = await o.directory.locate(clusterId).catch((e: Error) => {
      log.warn({ cluster_id: clusterId, err: e.message }, 'kube gateway: session directory did not answer');
      return { kind: 'none' } as const;
    });
    return where.kind === 'remote' ? { kind: 'peer', url: where.replica.kube_url } : HERE;
  };
  const route = async (req: IncomingMessage, clusterId: string): Promise<Route> => routeNow(req, clusterId) ?? routeByDirectory(clusterId);

  /**
   * One request's record, found by the shared 'close' and 'error' listeners on its response and request (issue 14: a
   * closure per listener per request, and the scope they captured, were garbage of every request).
   */
  class Observed {
    /** The metrics' labels (cluster '' until a registered cluster is named). */
    cluster = '';
    duration = true;
    /** The exchange's id once the request went to an agent ('' before). */
    requestId = '';
    constructor(
      readonly verb: string,
      readonly t0: number,
      readonly res: ClientAnswer,
    ) {}
  }
  const SEEN = Symbol('kube gateway request');
  type Watched = { [SEEN]?: Observed };

  // 'close' is emitted once per response: `on`, without once's wrapper per request. The one listener of the
  // request: the metrics, then the exchange (a client gone before the answer is complete).
  function onResponseClose(this: ClientAnswer) {
    const seen = (this as ClientAnswer & Watched)[SEEN]!;
    o.activity?.();
    o.metrics?.kubeRequest(seen.cluster, seen.verb, this.headersSent ? this.statusCode : 0);
    if (seen.duration) o.metrics?.kubeDuration(seen.cluster, seen.verb, (performance.now() - seen.t0) / 1000);
    if (seen.requestId) tables.clientClosed(seen.requestId, this);
  }
  /** A request starts: activity, its record (verb from the method and query), and its one 'close' listener. */
  const observe = (res: ClientAnswer, method: string | undefined, url: string): Observed => {
    const t0 = performance.now();
    o.activity?.();
    const q = url.indexOf('?');
    const seen = new Observed(kubeVerb(method, q >= 0 ? url.slice(q + 1) : ''), t0, res);
    (res as ClientAnswer & Watched)[SEEN] = seen;
    res.on('close', onResponseClose);
    return seen;
  };
  // The client vanished while sending its body; nothing was sent to the agent yet.
  function onRequestError(this: IncomingMessage) {
    const res = (this as IncomingMessage & Watched)[SEEN]!.res;
    if (!res.headersSent) res.destroy();
  }

  // Synchronous while the cluster record is cached and the route is known here (every request but the first per
  // cluster and second): each await cost a microtask round per request (issue 14).
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const seen = observe(res, req.method, url);
    const h = requestHeaders(req.rawHeaders);
    if (!tokenMatches(bearerToken(h.authorization), o.userTokens)) {
      log.warn({ method: req.method, remote: clientAddress(req, o.link?.check(req)) }, 'kube gateway: unauthorized request');
      return refuseBefore(res, h, 401, 'Unauthorized');
    }
    const target = parseGatewayTarget(url);
    if (!target) return refuseBefore(res, h, 404, 'the server could not find the requested resource (expected /clusters/<cluster>/k8s/<path>)');
    const hit = clusters.cached(target.cluster);
    if (hit) return withCluster(req, res, h, target, hit, seen);
    lookUp(req, res, h, target, seen);
  };

  /** A cluster not cached: the body waits in the request stream (paused) while the store answers. */
  const lookUp = (req: IncomingMessage, res: ServerResponse, h: RequestHeaders, target: GatewayTarget, seen: Observed) => {
    void findCluster(target.cluster).then((rec) => {
      // Answered meanwhile: the request timeout's 408 (http-front.ts), or the client gone.
      if (res.headersSent || res.destroyed) return;
      if (rec instanceof Error) return refuseBefore(res, h, 503, STORE_DOWN);
      if (!rec) return refuseBefore(res, h, 404, `cluster "${target.cluster}" not found`);
      withCluster(req, res, h, target, rec, seen);
    });
  };

  const withCluster = (req: IncomingMessage, res: ServerResponse, h: RequestHeaders, target: GatewayTarget, rec: ClusterRecord, seen: Observed) => {
    const clusterId = rec.cluster_id;
    seen.cluster = clusterId;
    const badPath = checkKubePath(target.path);
    if (badPath) {
      log.warn({ cluster_id: clusterId, method: req.method, error: badPath }, 'kube gateway: path refused');
      return refuseBefore(res, h, 400, badPath);
    }
    const now = routeNow(req, clusterId);
    if (now) return routed(req, res, h, target, rec, seen, now);
    void routeByDirectory(clusterId).then((via) => {
      if (!res.headersSent && !res.destroyed) routed(req, res, h, target, rec, seen, via);
    });
  };

  const routed = (req: IncomingMessage, res: ServerResponse, h: RequestHeaders, target: GatewayTarget, rec: ClusterRecord, seen: Observed, via: Route) => {
    const clusterId = rec.cluster_id;
    if (via.kind === 'forged') {
      log.warn({ cluster_id: clusterId, method: req.method, reason: via.reason }, 'kube gateway: forwarded request refused');
      return refuseBefore(res, h, 403, `forwarded request refused: ${via.reason}`);
    }
    if (via.kind === 'peer') {
      seen.duration = false;
      o.metrics?.inc('pipeops_hub_forwarded_total', { gateway: 'kube', kind: 'request' });
      return o.link!.forwardRequest(req, res, via.url, { ip: req.socket.remoteAddress ?? '' }, (code, message) => sendStatus(res, code, message));
    }
    (req as IncomingMessage & Watched)[SEEN] = seen;
    req.on('error', onRequestError);
    // A request without a body (every GET, LIST and WATCH): forwarded at once, without the request stream's
    // data/end round (issue 14: the end event alone came a tick later, through the stream machinery). Its stream
    // is not resumed either: without Content-Length or Transfer-Encoding there is no body to drain (RFC 9112 §6.3).
    if (h.transferEncoding === undefined && (h.contentLength === undefined || h.contentLength === '0')) {
      forward(req, res, target, rec, seen, EMPTY);
    } else readBody(req, res, target, rec, seen);
  };

  /** The client's body, whole, then `forward` (413 above MAX_REQUEST_BODY). */
  const readBody = (req: IncomingMessage, res: ServerResponse, target: GatewayTarget, rec: ClusterRecord, seen: Observed) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      if (tooLarge) return;
      size += c.length;
      if (size > MAX_REQUEST_BODY) {
        tooLarge = true;
        chunks.length = 0;
        res.once('finish', () => req.destroy());
        sendStatus(res, 413, `request body larger than ${MAX_REQUEST_BODY} bytes`, { Connection: 'close' });
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (tooLarge) return;
      forward(req, res, target, rec, seen, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
  };

  /** The whole client body is here: the request goes to the agent. */
  const forward = (req: Pick<IncomingMessage, 'method' | 'rawHeaders'>, res: ClientAnswer, target: GatewayTarget, rec: ClusterRecord, seen: Observed, body: Uint8Array) => {
    if (res.destroyed) return;
    const clusterId = rec.cluster_id;
    // Checked after the body: the session may have gone while it arrived.
    const session = o.directory.local(clusterId);
    if (!session) {
      notConnected(clusterId, req.method);
      return sendStatus(res, 503, `cluster "${target.cluster}" is not connected to the hub`);
    }
    const requestId = nextId();
    const streaming = wantsStreamingResponse(target.query);
    seen.duration = !streaming;
    if (streaming && !session.extensions.has('long_streams') && notices.first(clusterId, 'long_streams'))
      log.warn(
        { cluster_id: clusterId, agent_version: rec.agent_version, path: target.path },
        'kube gateway: this cluster\'s agent does not advertise long_streams (the upstream PipeOps agent): it cuts watches and logs -f after 30 s (deviation P3); clients see the stream end and must reconnect',
      );
    const method = req.method ?? 'GET';
    const out = requests.write(
      {
        requestId,
        method,
        path: target.path,
        query: target.query,
        rawHeaders: req.rawHeaders,
        serviceToken: rec.k8s_service_token,
        body,
        streaming,
        binaryChunks: session.extensions.has('binary_chunks'),
      },
      isoNow(),
    );
    tables.open(session, { requestId, clusterId, method, path: target.path, streaming }, res, streaming);
    seen.requestId = requestId;
    // The JSON message and its binary body frame must be adjacent on the socket: both sends are synchronous.
    session.sendRaw(out.text, true);
    if (out.frame) session.sendBinary(out.frame);
  };

  /**
   * The front's fast path: a plain GET answered from memory, as onRequest → withCluster → routed → forward would
   * answer it. Anything else (not authorized, no route, cluster not cached, session elsewhere, a replica's forward)
   * returns false before any effect, and node's server answers the same request through onRequest.
   */
  const fast = (req: FrontRequest, res: FrontResponse): boolean => {
    const raw = req.rawHeaders;
    if (o.link) for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length > 17 && raw[i]!.toLowerCase().startsWith('x-pipeops-forward')) return false;
    if (!tokenMatches(bearerToken(requestHeaders(raw).authorization), o.userTokens)) return false;
    const target = parseGatewayTarget(req.url);
    if (!target) return false;
    const rec = clusters.cached(target.cluster);
    if (rec) return fastFor(req, res, target, rec);
    // The record is cached for a second: the first request after that waits for the store here, as onRequest's
    // would, and only a cluster this replica cannot serve at once goes to node (which looks it up again).
    void findCluster(target.cluster).then((found) => {
      if (res.destroyed) return;
      if (found instanceof Error || !found || !fastFor(req, res, target, found)) res.passToNode();
    });
    return true;
  };
  /** A GET for a known cluster: forwarded when its path is clean and its session is on this replica (false: node's). */
  const fastFor = (req: FrontRequest, res: FrontResponse, target: GatewayTarget, rec: ClusterRecord): boolean => {
    if (checkKubePath(target.path) !== null || !o.directory.local(rec.cluster_id)) return false;
    const seen = observe(res, 'GET', req.url);
    seen.cluster = rec.cluster_id;
    forward(req, res, target, rec, seen, EMPTY);
    return true;
  };
  const noFast = () => false;

  const server = http.createServer(onRequest);
  // Every connection reaches this server from the front (emit('connection')), where Bun's node:http runs none of its
  // timers: the front bounds idle connections, heads and whole requests (requestTimeoutMs, node's requestTimeout:
  // the time to receive a request, never its answer, so watches and log follows are not cut by it). 0 here keeps one
  // clock, the front's, should a Bun version start running this one. The answers' bounds are ours (proxy timeout, backlog).
  server.requestTimeout = 0;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('upgrade', async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    let refusedCluster = '';
    const refuse = (code: number, message: string, logIt = true) => {
      o.metrics?.inc('pipeops_hub_kube_requests_total', { cluster: refusedCluster, verb: 'CONNECT', code: String(code) });
      const e = kubeErrorBody(code, message);
      socket.end(`HTTP/1.1 ${code} Refused\r\nContent-Type: ${e.contentType}\r\nContent-Length: ${Buffer.byteLength(e.body)}\r\nConnection: close\r\n\r\n${e.body}`);
      if (logIt) log.warn({ method: req.method, code }, 'kube gateway: upgrade request refused');
    };
    if ((req.url ?? '').split('?')[0] === L4_PATH) {
      const accept = o.internalL4?.();
      if (!accept) return refuse(404, 'this hub does not accept L4 forwards');
      return accept(req, socket, head);
    }
    if (!authorized(req)) return refuse(401, 'Unauthorized');
    const target = parseGatewayTarget(req.url ?? '/');
    if (!target) return refuse(404, 'the server could not find the requested resource (expected /clusters/<cluster>/k8s/<path>)');
    // A client that resets while the store answers must not take the process down.
    const early = () => socket.destroy();
    socket.once('error', early);
    const rec = await findCluster(target.cluster);
    if (socket.destroyed) return;
    if (rec instanceof Error) return refuse(503, STORE_DOWN);
    if (!rec) return refuse(404, `cluster "${target.cluster}" not found`);
    refusedCluster = rec.cluster_id;
    const badPath = checkKubePath(target.path);
    if (badPath) return refuse(400, badPath);
    const via = await route(req, rec.cluster_id);
    socket.off('error', early);
    if (socket.destroyed) return;
    if (via.kind === 'forged') return refuse(403, `forwarded request refused: ${via.reason}`);
    if (via.kind === 'peer') {
      o.metrics?.inc('pipeops_hub_forwarded_total', { gateway: 'kube', kind: 'upgrade' });
      return o.link!.forwardUpgrade(req, socket, head, via.url, { ip: req.socket.remoteAddress ?? '' }, (code, message) => refuse(code, message));
    }
    const session = o.directory.local(rec.cluster_id);
    if (!session) {
      notConnected(rec.cluster_id, req.method);
      return refuse(503, `cluster "${target.cluster}" is not connected to the hub`, false);
    }
    const requestId = nextId();
    if (!session.extensions.has('raw_upgrade')) {
      // The upstream Go agent: kubectl's stream goes through its channel translation (channel-translation.ts).
      if (notices.first(rec.cluster_id, 'raw_upgrade'))
        log.info(
          { cluster_id: rec.cluster_id, agent_version: rec.agent_version },
          'kube gateway: this cluster\'s agent does not advertise raw_upgrade: exec/attach/port-forward use its channel translation (stdout and stderr merged)',
        );
      const translated = startChannelRelay(
        { requestId, clusterId: rec.cluster_id, session, path: target.path, query: target.query, serviceToken: rec.k8s_service_token, log, done: () => upgrades.delete(requestId) },
        req,
        socket,
        head,
      );
      if (translated) upgrades.set(requestId, { relay: translated, clusterId: rec.cluster_id, session });
      return;
    }
    const relay = new UpgradeRelay(
      { requestId, clusterId: rec.cluster_id, session, path: target.path, query: target.query, serviceToken: rec.k8s_service_token, log, done: () => upgrades.delete(requestId) },
      socket,
      head,
    );
    upgrades.set(requestId, { relay, clusterId: rec.cluster_id, session });
    o.metrics?.inc('pipeops_hub_upgrades_total', { gateway: 'kube' });
    log.debug({ request_id: requestId, path: target.path, upgrade: req.headers.upgrade }, 'kube gateway: upgrade relayed');
    relay.start(req);
  });

  const front = new HttpFront({
    hostname: o.host,
    port: o.port,
    tls: { cert: o.tls.cert, key: o.tls.key },
    handle: o.fastPath === false ? noFast : fast,
    node: server,
    opened: () => o.metrics?.inc('pipeops_hub_kube_connections_total', {}),
    handedOff: () => o.metrics?.inc('pipeops_hub_kube_connections_to_node_total', {}),
    ...(o.keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs: o.keepAliveTimeoutMs } : {}),
    ...(o.headersTimeoutMs !== undefined ? { headersTimeoutMs: o.headersTimeoutMs } : {}),
    ...(o.requestTimeoutMs !== undefined ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    // The 408 as the gateway's other refusals write theirs: a Kubernetes Status.
    requestTimedOut: (req, res, remote) => {
      if (res) sendStatus(res, 408, `the request was not received whole within ${front.requestTimeoutMs / 1000} s`, { Connection: 'close' });
      log.warn({ method: req.method, remote, answered: res ? 408 : 'cut' }, 'kube gateway: request not received whole within the request timeout');
    },
  });
  if (o.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = o.keepAliveTimeoutMs;
  if (o.headersTimeoutMs !== undefined) server.headersTimeout = o.headersTimeoutMs;
  const port = front.port;
  const host = o.host === '0.0.0.0' || o.host === '::' ? '127.0.0.1' : o.host;
  const url = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url }, 'kube gateway listening');

  return {
    url,
    port,
    get inFlight() {
      return pending.size;
    },
    get upgradesActive() {
      return upgrades.size;
    },
    get connections() {
      return front.conns.size;
    },
    get handedOff() {
      return front.handedOff;
    },
    async stop() {
      tables.close();
      clusters.close();
      outage.close();
      front.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of [...front.conns]) {
        if (c.handedOff) continue;
        if (c.s.writableLength === 0) c.close(true);
        else {
          c.close(false);
          setTimeout(() => c.close(true), 2_000).unref();
        }
      }
      // Streams ended cleanly above still have their terminating chunk to flush: end those sockets (bounded), cut the rest.
      for (const s of [...sockets]) {
        if (s.writableLength === 0) s.destroy();
        else {
          s.end();
          setTimeout(() => s.destroy(), 2_000).unref();
        }
      }
      await closed;
    },
  };
}
