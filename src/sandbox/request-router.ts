// Routes every HTTP request and upgrade of the sandbox API server: health, discovery, OpenAPI, access reviews,
// authentication + authorization, then resources, logs, service proxy and pod streams.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parseAccessReview, reviewAccess } from './access-review.ts';
import { type AuditEntry, forbidden, isAllowed, policyUser, type RequestAttributes, type TokenPolicy } from './access-policy.ts';
import { parseResourcePath, requestedResource, type ResourcePath } from './api-path.ts';
import { type ApiError, apiError, badRequest, isApiError, notFound, pathNotFound, statusObject, unauthorized } from './api-status.ts';
import { aggregatedDiscovery, apiGroupDoc, apiGroupList, apiResourceList, apiVersions } from './discovery.ts';
import type { Faults } from './faults.ts';
import { readBody, sendError, sendJson, sendText } from './http-reply.ts';
import { asArray, asRecord, asString, type KubeObject } from './kube-object.ts';
import { aggregatedContentType, discoveryFlavour } from './media-type.ts';
import { emptyOpenApiV2, OPENAPI_V2_PROTOBUF_RESPONSE, type OpenApiDocs } from './openapi.ts';
import type { LogBook } from './pod-logs.ts';
import { handleResource, type ResourceContext } from './resource-handlers.ts';
import type { ServiceProxy } from './service-proxy.ts';
import { handlePodStreamUpgrade } from './streams/index.ts';
import type { StreamHooks } from './streams/types.ts';

export interface RecordedRequest {
  method: string;
  url: string;
  accept?: string;
  contentType?: string;
  authorization: boolean;
  userAgent?: string;
  upgrade?: string;
  protocols?: string;
  streamProtocolVersion?: string;
  at: number;
}

export interface RouterContext {
  resources: ResourceContext;
  logs: LogBook;
  proxy: ServiceProxy;
  openapi: OpenApiDocs;
  tokens?: Record<string, TokenPolicy>;
  /** `--anonymous-auth=true`: a request without credentials is `system:anonymous` (403) instead of 401. */
  anonymousAuth?: boolean;
  aggregatedDiscovery: boolean;
  gitVersion: string;
  requests: RecordedRequest[];
  audit: AuditEntry[];
  faults: Faults;
  hooks: StreamHooks;
  serverAddress(): string;
  /** Sockets the server must destroy on cutConnections()/close() beyond its own connections (proxy upstreams). */
  track(s: Duplex): void;
  upgraded: Set<Duplex>;
}

const HEALTH = new Set(['/healthz', '/livez', '/readyz']);

function record(ctx: RouterContext, req: IncomingMessage): void {
  const h = req.headers;
  ctx.requests.push({
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    ...(h.accept ? { accept: h.accept } : {}),
    ...(h['content-type'] ? { contentType: h['content-type'] } : {}),
    authorization: typeof h.authorization === 'string' && h.authorization.length > 0,
    ...(h['user-agent'] ? { userAgent: h['user-agent'] } : {}),
    ...(h.upgrade ? { upgrade: h.upgrade } : {}),
    ...(h['sec-websocket-protocol'] ? { protocols: String(h['sec-websocket-protocol']) } : {}),
    ...(h['x-stream-protocol-version'] ? { streamProtocolVersion: String(h['x-stream-protocol-version']) } : {}),
    at: Date.now(),
  });
}

interface Caller {
  user: string;
  policy?: TokenPolicy;
  /** No credentials under `anonymousAuth`: only the public info paths (/version) are open to it. */
  anonymous?: boolean;
}

const ANONYMOUS = 'system:anonymous';
/** What `system:public-info-viewer` grants `system:anonymous` on a real apiserver (health is answered earlier). */
const PUBLIC_INFO = new Set(['/version', '/version/']);

function authenticate(ctx: RouterContext, req: IncomingMessage): Caller | ApiError {
  if (!ctx.tokens || Object.keys(ctx.tokens).length === 0) return { user: ANONYMOUS };
  if (ctx.anonymousAuth && !req.headers.authorization) return { user: ANONYMOUS, policy: { user: ANONYMOUS, rules: [] }, anonymous: true };
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  const token = m?.[1]?.trim();
  const policy = token ? ctx.tokens[token] : undefined;
  if (!token || !policy) return unauthorized();
  return { user: policyUser(policy, token), policy };
}

function authorize(ctx: RouterContext, caller: Caller, a: RequestAttributes): ApiError | undefined {
  const allowed = !caller.policy || isAllowed(caller.policy, a);
  ctx.audit.push({ ...a, user: caller.user, allowed });
  return allowed ? undefined : forbidden(caller.user, a);
}

function verbFor(method: string, p: Pick<ResourcePath, 'name' | 'subresource'>, watch: boolean): string {
  const sub = p.subresource;
  if (sub === 'exec' || sub === 'attach' || sub === 'portforward') return 'create';
  switch (method) {
    case 'GET':
    case 'HEAD':
      return p.name ? 'get' : watch ? 'watch' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return p.name ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

function attributesOf(method: string, p: ResourcePath, query: URLSearchParams): RequestAttributes {
  const watch = query.get('watch') === 'true' || query.get('watch') === '1';
  let ns = p.namespace;
  // A namespace object's own namespace, for RBAC purposes, is itself.
  if (p.kind.resource === 'namespaces' && p.kind.group === '' && p.name) ns = p.name;
  return {
    verb: verbFor(method, p, watch),
    group: p.kind.group,
    resource: p.kind.resource,
    ...(p.subresource ? { subresource: p.subresource } : {}),
    ...(ns !== undefined ? { namespace: ns } : {}),
    ...(p.name ? { name: p.name } : {}),
  };
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function routeRequest(ctx: RouterContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  record(ctx, req);
  const url = new URL(req.url ?? '/', 'http://sandbox');
  const path = url.pathname;
  if (ctx.faults.latencyMs > 0) await delay(ctx.faults.latencyMs);
  if (HEALTH.has(path)) return sendText(res, 200, 'ok');
  const injected = ctx.faults.takeFailure();
  if (injected) return sendError(res, apiError(injected, 'InternalError', `injected failure (HTTP ${injected})`));

  const caller = authenticate(ctx, req);
  if (isApiError(caller)) return sendError(res, caller);

  if (caller.anonymous && req.method === 'GET' && !PUBLIC_INFO.has(path) && !parseResourcePath(ctx.resources.registry, path)) {
    return sendError(res, apiError(403, 'Forbidden', `forbidden: User "${ANONYMOUS}" cannot get path "${path}"`, {}));
  }
  if (req.method === 'GET' && serveNonResource(ctx, req, res, path)) return;
  if (path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews') {
    if (req.method !== 'POST') return sendError(res, apiError(405, 'MethodNotAllowed', 'only POST is supported'));
    const deniedReview = caller.anonymous && authorize(ctx, caller, { verb: 'create', group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews' });
    if (deniedReview) return sendError(res, deniedReview);
    ctx.audit.push({ verb: 'create', group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews', user: caller.user, allowed: true });
    const body = await readBody(req);
    const spec = body ? parseAccessReview(body) : badRequest('empty body');
    if (isApiError(spec)) return sendError(res, spec);
    return sendJson(res, 201, reviewAccess(spec, caller.policy));
  }

  const p = parseResourcePath(ctx.resources.registry, path);
  if (p === undefined || isApiError(p)) {
    // A real apiserver authorizes before it routes: an API it does not serve is 403 without a grant, 404 with one.
    const r = requestedResource(path);
    const denied = r && authorize(ctx, caller, { ...r, verb: verbFor(req.method ?? 'GET', r, url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') });
    if (denied) return sendError(res, denied);
    // A group/version nobody serves has no handler at all on a real apiserver: its mux answers a plain-text 404.
    if (!servesGroupVersion(ctx, path)) return sendText(res, 404, '404 page not found\n');
    return sendError(res, p ?? pathNotFound());
  }
  const attrs = attributesOf(req.method ?? 'GET', p, url.searchParams);
  const denied = authorize(ctx, caller, attrs);
  if (denied) return sendError(res, denied);
  // A server-side apply that creates the object is authorized as create too (kube-apiserver's patch handler).
  if (req.method === 'PATCH' && p.name && !p.subresource && (req.headers['content-type'] ?? '').startsWith('application/apply-patch+yaml')) {
    if (!ctx.resources.store.get(p.kind, p.namespace ?? '', p.name)) {
      const deniedCreate = authorize(ctx, caller, { ...attrs, verb: 'create' });
      if (deniedCreate) return sendError(res, deniedCreate);
    }
  }

  switch (p.subresource) {
    case 'log':
      return serveLog(ctx, res, p, url.searchParams);
    case 'proxy':
      return serveProxy(ctx, req, res, p, url);
    case 'exec':
    case 'attach':
    case 'portforward':
      return sendError(res, badRequest('Upgrade request required'));
    default:
      return handleResource(ctx.resources, req, res, p, url.searchParams);
  }
}

/** True when the path's `/api/v1` or `/apis/{group}/{version}` is one the registry serves. */
function servesGroupVersion(ctx: RouterContext, path: string): boolean {
  const m = /^\/(?:api\/(v1)(?:\/|$)|apis\/([^/]+)\/([^/]+))/.exec(path);
  if (!m) return false;
  const group = m[1] ? '' : (m[2] as string);
  const version = m[1] ?? (m[3] as string);
  return ctx.resources.registry.kinds.some((k) => k.group === group && k.version === version);
}

/** Discovery, version and OpenAPI; true when answered. */
function serveNonResource(ctx: RouterContext, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const reg = ctx.resources.registry;
  const p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  if (p === '/version') {
    const m = /^v(\d+)\.(\d+)/.exec(ctx.gitVersion);
    sendJson(res, 200, {
      major: m?.[1] ?? '1',
      minor: m?.[2] ?? '32',
      gitVersion: ctx.gitVersion,
      gitCommit: '0000000000000000000000000000000000000000',
      gitTreeState: 'clean',
      buildDate: '2025-01-01T00:00:00Z',
      goVersion: 'go1.23.4',
      compiler: 'gc',
      platform: 'linux/amd64',
    });
    return true;
  }
  if (p === '/api' || p === '/apis') {
    const flavour = discoveryFlavour(req.headers.accept, ctx.aggregatedDiscovery);
    if (flavour !== 'legacy') sendJson(res, 200, aggregatedDiscovery(reg, p === '/api', flavour), aggregatedContentType(flavour));
    else sendJson(res, 200, p === '/api' ? apiVersions(ctx.serverAddress()) : apiGroupList(reg));
    return true;
  }
  const legacy = /^\/(?:api\/(v\w+)|apis\/([^/]+)(?:\/([^/]+))?)$/.exec(p);
  if (legacy) {
    const doc = legacy[1]
      ? apiResourceList(reg, '', legacy[1])
      : legacy[3]
        ? apiResourceList(reg, legacy[2] as string, legacy[3])
        : apiGroupDoc(reg, legacy[2] as string);
    if (doc) sendJson(res, 200, doc);
    else sendError(res, pathNotFound());
    return true;
  }
  if (p === '/openapi/v2') {
    const protobuf = (req.headers.accept ?? '').includes('proto-openapi.spec.v2');
    const doc = emptyOpenApiV2(ctx.gitVersion, protobuf);
    if (doc instanceof Uint8Array) {
      res.writeHead(200, { 'Content-Type': OPENAPI_V2_PROTOBUF_RESPONSE, 'Content-Length': doc.length });
      res.end(doc);
    } else sendJson(res, 200, doc);
    return true;
  }
  if (p === '/openapi/v3') {
    sendJson(res, 200, ctx.openapi.root);
    return true;
  }
  if (p.startsWith('/openapi/v3/')) {
    const doc = ctx.openapi.doc(p.slice('/openapi/v3/'.length));
    if (doc) sendJson(res, 200, doc);
    else sendError(res, pathNotFound());
    return true;
  }
  return false;
}

function findPod(ctx: RouterContext, p: ResourcePath): KubeObject | ApiError {
  const pod = ctx.resources.store.get(p.kind, p.namespace ?? '', p.name ?? '');
  return pod ?? notFound('pods', '', p.name ?? '');
}

function serveLog(ctx: RouterContext, res: ServerResponse, p: ResourcePath, q: URLSearchParams): void {
  if (p.kind.resource !== 'pods' || !p.name) {
    sendError(res, pathNotFound());
    return;
  }
  const pod = findPod(ctx, p);
  if (isApiError(pod)) {
    sendError(res, pod);
    return;
  }
  const err = ctx.logs.serve(res, pod, q);
  if (err) sendError(res, err);
}

function serveProxy(ctx: RouterContext, req: IncomingMessage, res: ServerResponse, p: ResourcePath, url: URL): void {
  if (p.kind.resource !== 'services' || !p.name) {
    sendError(res, apiError(503, 'ServiceUnavailable', `${p.kind.resource}/proxy is not simulated by the sandbox`));
    return;
  }
  const svc = ctx.resources.store.get(p.kind, p.namespace ?? '', parseProxyServiceName(p.name));
  const target = ctx.proxy.resolve(p.namespace ?? '', p.name, svc);
  if (isApiError(target)) {
    sendError(res, target);
    return;
  }
  ctx.proxy.relayHttp(req, res, target, `${p.proxyPath || '/'}${url.search}`);
}

/** Answers an upgrade request with a plain HTTP Status response and closes the socket. */
function rejectUpgrade(socket: Duplex, e: ApiError): void {
  const body = JSON.stringify(statusObject(e));
  const reason: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 501: 'Not Implemented', 503: 'Service Unavailable' };
  socket.end(
    `HTTP/1.1 ${e.code} ${reason[e.code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function containerCheck(pod: KubeObject, q: URLSearchParams, podName: string): ApiError | undefined {
  const spec = asRecord(pod.spec);
  const names = [...asArray(spec.containers), ...asArray(spec.initContainers), ...asArray(spec.ephemeralContainers)].map((c) =>
    asString(asRecord(c).name),
  );
  const regular = asArray(spec.containers).map((c) => asString(asRecord(c).name));
  const c = q.get('container');
  if (!c) {
    if (regular.length === 1) {
      q.set('container', regular[0] as string);
      return undefined;
    }
    return badRequest(`a container name must be specified for pod ${podName}, choose one of: [${regular.join(' ')}]`);
  }
  return names.includes(c) ? undefined : badRequest(`container ${c} is not valid for pod ${podName}`);
}

export async function routeUpgrade(ctx: RouterContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  record(ctx, req);
  socket.on('error', () => socket.destroy());
  const url = new URL(req.url ?? '/', 'http://sandbox');
  if (ctx.faults.latencyMs > 0) await delay(ctx.faults.latencyMs);
  const injected = ctx.faults.takeFailure();
  if (injected) return rejectUpgrade(socket, apiError(injected, 'InternalError', `injected failure (HTTP ${injected})`));
  const caller = authenticate(ctx, req);
  if (isApiError(caller)) return rejectUpgrade(socket, caller);
  const p = parseResourcePath(ctx.resources.registry, url.pathname);
  if (p === undefined) return rejectUpgrade(socket, pathNotFound());
  if (isApiError(p)) return rejectUpgrade(socket, p);
  const denied = authorize(ctx, caller, attributesOf(req.method ?? 'GET', p, url.searchParams));
  if (denied) return rejectUpgrade(socket, denied);

  const sub = p.subresource;
  if (p.kind.resource === 'services' && p.kind.group === '' && sub === 'proxy' && p.name) {
    const svcName = parseProxyServiceName(p.name);
    const target = ctx.proxy.resolve(p.namespace ?? '', p.name, ctx.resources.store.get(p.kind, p.namespace ?? '', svcName));
    if (isApiError(target)) return rejectUpgrade(socket, target);
    ctx.upgraded.add(socket);
    socket.on('close', () => ctx.upgraded.delete(socket));
    ctx.proxy.relayUpgrade(req, socket, head, target, `${p.proxyPath || '/'}${url.search}`, (s) => ctx.track(s));
    return;
  }
  if (p.kind.resource !== 'pods' || p.kind.group !== '' || !p.name || (sub !== 'exec' && sub !== 'attach' && sub !== 'portforward')) {
    return rejectUpgrade(socket, badRequest(`upgrade is not supported for ${url.pathname}`));
  }
  const pod = findPod(ctx, p);
  if (isApiError(pod)) return rejectUpgrade(socket, pod);
  const query = new URLSearchParams(url.searchParams);
  if (sub !== 'portforward') {
    const bad = containerCheck(pod, query, p.name);
    if (bad) return rejectUpgrade(socket, bad);
  }
  if (ctx.hooks.rejectWebSockets && (req.headers.upgrade ?? '').toLowerCase() === 'websocket') {
    return rejectUpgrade(socket, badRequest('unsupported upgrade: websocket'));
  }
  ctx.upgraded.add(socket);
  let closed = false;
  const onClosed = () => {
    if (closed) return;
    closed = true;
    ctx.upgraded.delete(socket);
  };
  socket.on('close', onClosed);
  try {
    await handlePodStreamUpgrade({
      kind: sub,
      req,
      socket,
      head,
      namespace: p.namespace ?? 'default',
      podName: p.name,
      pod,
      query,
      hooks: ctx.hooks,
      onClosed,
    });
  } catch (e) {
    if (!socket.destroyed) rejectUpgrade(socket, apiError(500, 'InternalError', `pod stream failed: ${(e as Error).message}`));
  }
}

function parseProxyServiceName(spec: string): string {
  const parts = spec.split(':');
  return parts.length === 3 ? (parts[1] ?? '') : (parts[0] ?? '');
}
