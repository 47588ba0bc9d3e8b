// The route registry REST API (protocol.md §1.1) agents call, and the admin listing. Success is exactly 200
// with a small JSON body (the agent reads only the status). Agents authenticate with an agent token; a
// cluster that registered with a token can be changed only with that token. One hostname belongs to one
// cluster: another cluster's claim is answered 409 with the owner's name. A direct route's public_endpoint must
// resolve to addresses the hub's EndpointPolicy allows (else 400 endpoint_refused).
import type { Context, Env, Hono } from 'hono';
import type { Logger } from '../../log/logger.ts';
import type { z } from 'zod';
import { RegisterRouteSchema, SyncRoutesSchema, UnregisterRouteSchema } from '../../protocol/route-registry-messages.ts';
import { bearerToken, tokenDigest, tokenMatches } from '../auth.ts';
import type { EndpointPolicy } from './endpoint-policy.ts';
import { type LookupFn, resolveEndpoint } from './endpoint-resolve.ts';
import type { ClusterRecord, ClusterStore, HostConflict, NewRoute, RouteStore } from '../store/types.ts';
import { checkHostname, checkPath, checkPublicEndpoint, checkServiceRef, normalisePathType, normaliseRoutingMode } from './route-validation.ts';

export const ROUTES_API = '/api/v1/gateway/routes';

export interface RoutesApiDeps {
  routes: RouteStore;
  clusters: ClusterStore;
  agentTokens: readonly string[];
  adminTokens: readonly string[];
  log: Logger;
  /** Configured path routes, shown by the admin listing. */
  pathRoutes?: () => unknown[];
  /** A registry call (register, sync, unregister) was refused with this error code (metrics). */
  rejected?: (reason: string) => void;
  /** Which addresses direct routes may reach. */
  endpointPolicy: EndpointPolicy;
  lookup?: LookupFn;
}

const HOSTLESS = 'host-less rules are not routed by the public gateway';

type Fail = { status: 400 | 401 | 403 | 404 | 409; error: string; message: string; owner_cluster?: string };

export function mountRoutesApi<E extends Env>(app: Hono<E>, d: RoutesApiDeps): void {
  const log = d.log.child({ component: 'route-registry' });
  const fail = (c: Context, f: Fail) => {
    if (c.req.method === 'POST') d.rejected?.(f.error);
    return c.json({ error: f.error, message: f.message, ...(f.owner_cluster ? { owner_cluster: f.owner_cluster } : {}) }, f.status);
  };

  /** The caller's token digest, or a 401. */
  const caller = (c: Context): string | Fail => {
    const token = bearerToken(c.req.header('authorization'));
    if (!token || !tokenMatches(token, d.agentTokens)) return { status: 401, error: 'unauthorized', message: 'missing or invalid agent token' };
    return tokenDigest(token);
  };

  /** The cluster the body names, if it exists and the caller's token may act for it. */
  const clusterFor = async (id: string, digest: string): Promise<ClusterRecord | Fail> => {
    if (!id) return { status: 400, error: 'invalid_route', message: 'cluster_uuid is required' };
    const rec = await d.clusters.get(id);
    if (!rec) return { status: 404, error: 'cluster_not_found', message: `cluster ${JSON.stringify(id)} is not registered with this hub` };
    if (!mayAct(rec, digest)) return { status: 403, error: 'forbidden', message: `cluster ${JSON.stringify(id)} registered with a different agent token` };
    return rec;
  };

  const conflict = async (x: HostConflict, claimant: string): Promise<Fail> => {
    const owner = await d.clusters.get(x.conflict.owner);
    const who = owner ? `${owner.name} (${owner.cluster_id})` : x.conflict.owner;
    log.warn({ hostname: x.conflict.hostname, owner_cluster: x.conflict.owner, cluster_id: claimant }, 'route registry: host claimed by another cluster refused');
    return { status: 409, error: 'host_conflict', message: `hostname ${JSON.stringify(x.conflict.hostname)} belongs to cluster ${who}`, owner_cluster: x.conflict.owner };
  };

  /** Null when a direct route's endpoint passes the address policy, else the 400 (logged once). */
  const endpointRefused = async (endpoint: string, clusterId: string): Promise<Fail | null> => {
    const ep = await resolveEndpoint(endpoint, d.endpointPolicy, d.lookup);
    if (ep.ok) return null;
    log.warn({ cluster_id: clusterId, public_endpoint: endpoint, reason: ep.reason }, 'route registry: direct endpoint refused');
    return { status: 400, error: 'endpoint_refused', message: ep.reason };
  };

  const body = async <T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T> | Fail> => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      return { status: 400, error: 'invalid_json', message: 'the body is not JSON' };
    }
    const p = schema.safeParse(raw);
    if (!p.success) return { status: 400, error: 'invalid_route', message: p.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') };
    return p.data;
  };

  app.post(`${ROUTES_API}/register`, async (c: Context) => {
    const digest = caller(c);
    if (typeof digest !== 'string') return fail(c, digest);
    const b = await body(c, RegisterRouteSchema);
    if (isFail(b)) return fail(c, b);
    const rec = await clusterFor(b.cluster_uuid, digest);
    if (isFail(rec)) return fail(c, rec);
    if (b.hostname === '') return c.json({ ok: true, ignored: HOSTLESS });
    const r = toRoute(
      { hostname: b.hostname, path: b.path, path_type: b.path_type, namespace: b.namespace, service_name: b.service_name, service_port: b.service_port, tls: b.tls },
      { cluster_id: rec.cluster_id, ingress_namespace: '', ingress_name: b.ingress_name, annotations: b.annotations, public_endpoint: b.public_endpoint, routing_mode: b.routing_mode, deployment_id: b.deployment_id, deployment_name: b.deployment_name },
    );
    if (typeof r === 'string') return fail(c, { status: 400, error: 'invalid_route', message: r });
    const refused = r.routing_mode === 'direct' ? await endpointRefused(r.public_endpoint, rec.cluster_id) : null;
    if (refused) return fail(c, refused);
    const out = await d.routes.register(r);
    if ('conflict' in out) return fail(c, await conflict(out, rec.cluster_id));
    if (out.change !== 'unchanged')
      log.info({ op: 'register', cluster_id: rec.cluster_id, hostname: r.hostname, path: r.path, routing_mode: r.routing_mode, change: out.change }, 'route registry: route registered');
    return c.json({ ok: true, change: out.change });
  });

  app.post(`${ROUTES_API}/sync`, async (c: Context) => {
    const digest = caller(c);
    if (typeof digest !== 'string') return fail(c, digest);
    const b = await body(c, SyncRoutesSchema);
    if (isFail(b)) return fail(c, b);
    const rec = await clusterFor(b.cluster_uuid, digest);
    if (isFail(rec)) return fail(c, rec);
    const routes: NewRoute[] = [];
    let ignored = 0;
    for (const [i, ing] of b.ingresses.entries()) {
      for (const rule of ing.rules) {
        if (rule.host === '') {
          ignored += rule.paths.length;
          continue;
        }
        for (const p of rule.paths) {
          const r = toRoute(
            {
              hostname: rule.host,
              path: p.path,
              path_type: p.path_type,
              namespace: b.ingress_controller?.namespace ?? ing.namespace,
              service_name: p.service_name,
              service_port: p.service_port,
              tls: rule.tls,
            },
            { cluster_id: rec.cluster_id, ingress_namespace: ing.namespace, ingress_name: ing.ingress_name, annotations: ing.annotations, public_endpoint: b.public_endpoint, routing_mode: b.routing_mode },
          );
          if (typeof r === 'string') return fail(c, { status: 400, error: 'invalid_route', message: `ingresses[${i}] ${ing.namespace}/${ing.ingress_name}: ${r}` });
          routes.push(r);
        }
      }
    }
    const direct = routes.find((r) => r.routing_mode === 'direct');
    const refused = direct ? await endpointRefused(direct.public_endpoint, rec.cluster_id) : null;
    if (refused) return fail(c, refused);
    const out = await d.routes.sync(rec.cluster_id, routes);
    if ('conflict' in out) return fail(c, await conflict(out, rec.cluster_id));
    const level = out.added || out.removed || out.updated ? 'info' : 'debug';
    log[level]({ op: 'sync', cluster_id: rec.cluster_id, routes: out.total, added: out.added, removed: out.removed, updated: out.updated, ignored }, 'route registry: routes synced');
    return c.json({ ok: true, routes: out.total, added: out.added, removed: out.removed, updated: out.updated, ...(ignored ? { ignored, ignored_reason: HOSTLESS } : {}) });
  });

  app.post(`${ROUTES_API}/unregister`, async (c: Context) => {
    const digest = caller(c);
    if (typeof digest !== 'string') return fail(c, digest);
    const b = await body(c, UnregisterRouteSchema);
    if (isFail(b)) return fail(c, b);
    if (b.hostname === '') return c.json({ ok: true, removed: 0, ignored: HOSTLESS });
    const bad = checkHostname(b.hostname);
    if (bad) return fail(c, { status: 400, error: 'invalid_route', message: bad });
    // The body names only the host; the caller's clusters are those registered with its token.
    const out = await d.routes.unregister(b.hostname, async (owner) => {
      const rec = await d.clusters.get(owner);
      return !rec || mayAct(rec, digest);
    });
    if ('conflict' in out) return fail(c, await conflict(out, ''));
    if (out.removed) log.info({ op: 'unregister', hostname: b.hostname, removed: out.removed }, 'route registry: host unregistered');
    return c.json({ ok: true, removed: out.removed });
  });

  app.get(ROUTES_API, async (c: Context) => {
    if (!tokenMatches(bearerToken(c.req.header('authorization')), d.adminTokens)) return fail(c, { status: 401, error: 'unauthorized', message: 'missing or invalid admin token' });
    const names = new Map((await d.clusters.list()).map((r) => [r.cluster_id, r.name]));
    return c.json({
      routes: (await d.routes.list()).map((r) => ({
        cluster_id: r.cluster_id,
        cluster_name: names.get(r.cluster_id) ?? null,
        hostname: r.hostname,
        path: r.path,
        path_type: r.path_type,
        routing_mode: r.routing_mode,
        public_endpoint: r.public_endpoint || null,
        tls: r.tls,
        service: `${r.namespace}/${r.service_name}:${r.service_port}`,
        ingress: r.ingress_name ? `${r.ingress_namespace ? `${r.ingress_namespace}/` : ''}${r.ingress_name}` : null,
        updated_at: r.updated_at,
      })),
      path_routes: d.pathRoutes?.() ?? [],
    });
  });
}

function isFail(x: unknown): x is Fail {
  return typeof x === 'object' && x !== null && 'status' in x && 'error' in x && 'message' in x && typeof (x as Fail).status === 'number';
}

/** Clusters without a recorded token (registered before tokens were recorded) accept any agent token. */
function mayAct(rec: ClusterRecord, digest: string): boolean {
  return rec.token_sha256 === '' || rec.token_sha256 === digest;
}

interface RouteCore {
  hostname: string;
  path: string;
  path_type: string;
  namespace: string;
  service_name: string;
  service_port: number;
  tls: boolean;
}

interface RouteMeta {
  cluster_id: string;
  ingress_namespace: string;
  ingress_name: string;
  annotations?: Record<string, string>;
  public_endpoint?: string;
  routing_mode?: string;
  deployment_id?: string;
  deployment_name?: string;
}

/** Validated route, or the reason it is refused. */
function toRoute(r: RouteCore, m: RouteMeta): NewRoute | string {
  const host = checkHostname(r.hostname);
  if (host) return host;
  const path = r.path === '' ? '/' : r.path;
  const badPath = checkPath(path);
  if (badPath) return badPath;
  const pathType = normalisePathType(r.path_type);
  if (!pathType) return `path_type ${JSON.stringify(r.path_type)} must be Prefix, Exact or ImplementationSpecific`;
  const mode = normaliseRoutingMode(m.routing_mode);
  if (!mode) return `routing_mode ${JSON.stringify(m.routing_mode)} must be tunnel or direct`;
  const endpoint = m.public_endpoint ?? '';
  if (mode === 'direct') {
    if (!endpoint) return 'a direct route needs public_endpoint';
    const bad = checkPublicEndpoint(endpoint);
    if (bad) return bad;
  } else {
    const bad = checkServiceRef(r.namespace, r.service_name, r.service_port);
    if (bad) return bad;
  }
  const annotations = Object.fromEntries(Object.entries(m.annotations ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return {
    cluster_id: m.cluster_id,
    hostname: r.hostname,
    path,
    path_type: pathType,
    namespace: r.namespace,
    service_name: r.service_name,
    service_port: r.service_port,
    ingress_namespace: m.ingress_namespace,
    ingress_name: m.ingress_name,
    tls: r.tls,
    annotations,
    public_endpoint: endpoint,
    routing_mode: mode,
    deployment_id: m.deployment_id ?? '',
    deployment_name: m.deployment_name ?? '',
  };
}
