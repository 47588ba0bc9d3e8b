// The L4 tunnel registry REST API (protocol.md §1.2) agents call:
//   POST   /api/v1/clusters/agent/{cluster_uuid}/tunnels            register one (201 created, 200 otherwise)
//   POST   /api/v1/clusters/agent/{cluster_uuid}/tunnels/sync       the cluster's complete set → {accepted, rejected}
//   DELETE /api/v1/clusters/agent/{cluster_uuid}/tunnels/{tunnel_id} 200 {removed}
//   GET    /api/v1/clusters/agent/{cluster_uuid}/tunnels            the cluster's tunnels (an array)
// Ownership as for routes: an agent token, the cluster must be registered with this hub, and a cluster that
// registered with a token is changed only with that token. Tunnel ids are per cluster, so a cluster cannot touch
// another's tunnels. A sync takes the valid entries and lists each invalid one under `rejected` with the reason;
// a direct (or dual) tunnel's public_endpoint must resolve to addresses the hub's EndpointPolicy allows.
import type { Context, Env, Hono } from 'hono';
import type { Logger } from '../../log/logger.ts';
import { SyncTunnelsSchema, type TunnelRegistrationBody, TunnelRegistrationSchema } from '../../protocol/tunnel-registry-messages.ts';
import { bearerToken, tokenDigest, tokenMatches } from '../auth.ts';
import type { ClusterRecord, ClusterStore } from '../store/types.ts';
import type { EndpointPolicy } from '../routes/endpoint-policy.ts';
import { type LookupFn, resolveEndpoint } from '../routes/endpoint-resolve.ts';
import { checkPublicEndpoint, checkServiceRef } from '../routes/route-validation.ts';
import type { NewTunnel, TunnelRecord, TunnelRegistryStore } from './tunnel-store.ts';

export const TUNNELS_API = '/api/v1/clusters/agent/:cluster_uuid/tunnels';

/** At most this many tunnels per cluster (each may hold a hub port): a sync with more is refused, and so is a
 * register of a new tunnel beyond it. */
export const MAX_TUNNELS_PER_CLUSTER = 1000;

export interface TunnelsApiDeps {
  tunnels: TunnelRegistryStore;
  clusters: Pick<ClusterStore, 'get'>;
  agentTokens: readonly string[];
  log: Logger;
  /** Which addresses direct tunnels may reach. */
  endpointPolicy: EndpointPolicy;
  lookup?: LookupFn;
  /** The hub's public port and endpoint for a registered tunnel (the L4 listeners); null while it has none. */
  hubEndpoint?: (t: TunnelRecord) => Promise<{ tunnel_port: number; tunnel_endpoint: string } | null> | { tunnel_port: number; tunnel_endpoint: string } | null;
  /** A registry call was refused with this error code (metrics). */
  rejected?: (reason: string) => void;
  /** Tunnels per cluster (default MAX_TUNNELS_PER_CLUSTER). */
  maxTunnelsPerCluster?: number;
}

type Fail = { status: 400 | 401 | 403 | 404 | 409 | 413; error: string; message: string };

const NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const TUNNEL_ID = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/;

export function mountTunnelsApi<E extends Env>(app: Hono<E>, d: TunnelsApiDeps): void {
  const log = d.log.child({ component: 'tunnel-registry' });
  const cap = d.maxTunnelsPerCluster ?? MAX_TUNNELS_PER_CLUSTER;
  const fail = (c: Context, f: Fail) => {
    if (c.req.method !== 'GET') d.rejected?.(f.error);
    return c.json({ error: f.error, message: f.message }, f.status);
  };

  /** The path's cluster, when the caller's agent token may act for it. */
  const cluster = async (c: Context): Promise<ClusterRecord | Fail> => {
    const token = bearerToken(c.req.header('authorization'));
    if (!token || !tokenMatches(token, d.agentTokens)) return { status: 401, error: 'unauthorized', message: 'missing or invalid agent token' };
    const id = c.req.param('cluster_uuid') ?? '';
    const rec = await d.clusters.get(id);
    if (!rec) return { status: 404, error: 'cluster_not_found', message: `cluster ${JSON.stringify(id)} is not registered with this hub` };
    if (rec.token_sha256 !== '' && rec.token_sha256 !== tokenDigest(token))
      return { status: 403, error: 'forbidden', message: `cluster ${JSON.stringify(id)} registered with a different agent token` };
    return rec;
  };

  const json = async (c: Context): Promise<unknown | Fail> => {
    try {
      return await c.req.json();
    } catch {
      return { status: 400, error: 'invalid_json', message: 'the body is not JSON' } satisfies Fail;
    }
  };

  /** A direct/dual tunnel's endpoint against the address policy: null when allowed, else the reason. */
  const endpointRefused = async (t: NewTunnel): Promise<string | null> => {
    if (t.routing_mode === 'tunnel' || t.public_endpoint === '') return null;
    const ep = await resolveEndpoint(t.public_endpoint, d.endpointPolicy, d.lookup);
    if (ep.ok) return null;
    log.warn({ cluster_id: t.cluster_id, tunnel_id: t.tunnel_id, public_endpoint: t.public_endpoint, reason: ep.reason }, 'tunnel registry: direct endpoint refused');
    return ep.reason;
  };

  const answer = async (t: TunnelRecord) => {
    const hub = (await d.hubEndpoint?.(t)) ?? null;
    return toWire(t, hub);
  };

  app.post(TUNNELS_API, async (c: Context) => {
    const rec = await cluster(c);
    if (isFail(rec)) return fail(c, rec);
    const raw = await json(c);
    if (isFail(raw)) return fail(c, raw);
    const p = TunnelRegistrationSchema.safeParse(raw);
    if (!p.success) return fail(c, { status: 400, error: 'invalid_tunnel', message: zodMessage(p.error.issues) });
    const t = toTunnel(p.data, rec.cluster_id);
    if (typeof t === 'string') return fail(c, { status: 400, error: 'invalid_tunnel', message: t });
    const refused = await endpointRefused(t);
    if (refused) return fail(c, { status: 400, error: 'endpoint_refused', message: refused });
    if (!(await d.tunnels.get(t.cluster_id, t.tunnel_id)) && (await d.tunnels.list(t.cluster_id)).length >= cap)
      return fail(c, { status: 409, error: 'too_many_tunnels', message: `cluster ${t.cluster_id} already has ${cap} tunnels, the most this hub keeps per cluster` });
    const out = await d.tunnels.register(t);
    if (out.change !== 'unchanged')
      log.info({ op: 'register', cluster_id: t.cluster_id, tunnel_id: t.tunnel_id, protocol: t.protocol, routing_mode: t.routing_mode, change: out.change }, 'tunnel registry: tunnel registered');
    return c.json(await answer(out.tunnel), out.change === 'created' ? 201 : 200);
  });

  app.post(`${TUNNELS_API}/sync`, async (c: Context) => {
    const rec = await cluster(c);
    if (isFail(rec)) return fail(c, rec);
    const raw = await json(c);
    if (isFail(raw)) return fail(c, raw);
    const p = SyncTunnelsSchema.safeParse(raw);
    if (!p.success) return fail(c, { status: 400, error: 'invalid_tunnel', message: zodMessage(p.error.issues) });
    if (p.data.cluster_uuid && p.data.cluster_uuid !== rec.cluster_id)
      return fail(c, { status: 400, error: 'invalid_tunnel', message: `cluster_uuid ${JSON.stringify(p.data.cluster_uuid)} differs from the path's cluster` });
    const list = p.data.tunnels ?? [];
    if (list.length > cap) return fail(c, { status: 413, error: 'too_many_tunnels', message: `a sync carries at most ${cap} tunnels (the most this hub keeps per cluster); got ${list.length}` });
    const valid: NewTunnel[] = [];
    const rejected: { tunnel_id: string; reason: string }[] = [];
    const seen = new Set<string>();
    for (const body of list) {
      const t = toTunnel(body, rec.cluster_id);
      if (typeof t === 'string') {
        rejected.push({ tunnel_id: body.tunnel_id, reason: t });
        continue;
      }
      if (seen.has(t.tunnel_id)) {
        rejected.push({ tunnel_id: t.tunnel_id, reason: 'tunnel_id appears more than once in this sync' });
        continue;
      }
      const refused = await endpointRefused(t);
      if (refused) {
        rejected.push({ tunnel_id: t.tunnel_id, reason: `endpoint refused: ${refused}` });
        continue;
      }
      seen.add(t.tunnel_id);
      valid.push(t);
    }
    const out = await d.tunnels.sync(rec.cluster_id, valid);
    const level = out.added || out.removed || out.updated || rejected.length ? 'info' : 'debug';
    log[level](
      { op: 'sync', cluster_id: rec.cluster_id, tunnels: out.tunnels.length, added: out.added, removed: out.removed, updated: out.updated, rejected: rejected.length },
      'tunnel registry: tunnels synced',
    );
    // One count per entry left out, by what was wrong with it.
    for (const r of rejected) d.rejected?.(r.reason.startsWith('endpoint refused') ? 'endpoint_refused' : 'invalid_tunnel');
    return c.json({ accepted: await Promise.all(out.tunnels.map(answer)), rejected, added: out.added, removed: out.removed, updated: out.updated });
  });

  app.delete(`${TUNNELS_API}/:tunnel_id`, async (c: Context) => {
    const rec = await cluster(c);
    if (isFail(rec)) return fail(c, rec);
    const id = c.req.param('tunnel_id') ?? '';
    const out = await d.tunnels.deregister(rec.cluster_id, id);
    if (out.removed) log.info({ op: 'deregister', cluster_id: rec.cluster_id, tunnel_id: id }, 'tunnel registry: tunnel deregistered');
    return c.json({ ok: true, removed: out.removed });
  });

  app.get(TUNNELS_API, async (c: Context) => {
    const rec = await cluster(c);
    if (isFail(rec)) return fail(c, rec);
    return c.json(await Promise.all((await d.tunnels.list(rec.cluster_id)).map(answer)));
  });
}

function zodMessage(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ');
}

function isFail(x: unknown): x is Fail {
  return typeof x === 'object' && x !== null && 'status' in x && 'error' in x && 'message' in x && typeof (x as Fail).status === 'number';
}

const sorted = (m: Record<string, string> | undefined) => Object.fromEntries(Object.entries(m ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The validated tunnel of `clusterId`, or why it is refused. */
export function toTunnel(b: TunnelRegistrationBody, clusterId: string): NewTunnel | string {
  if (b.cluster_uuid && b.cluster_uuid !== clusterId) return `cluster_uuid ${JSON.stringify(b.cluster_uuid)} differs from the path's cluster`;
  if (b.protocol !== 'tcp' && b.protocol !== 'udp') return `protocol ${JSON.stringify(b.protocol)} must be tcp or udp`;
  if (!TUNNEL_ID.test(b.tunnel_id)) return `tunnel_id ${JSON.stringify(b.tunnel_id)} must be 1-253 letters, digits, '.', '_' or '-'`;
  if (!NAME.test(b.gateway_namespace)) return `gateway_namespace ${JSON.stringify(b.gateway_namespace)} is not a valid Kubernetes name`;
  if (!NAME.test(b.gateway_name)) return `gateway_name ${JSON.stringify(b.gateway_name)} is not a valid Kubernetes name`;
  if (b.gateway_port < 1 || b.gateway_port > 65535) return `gateway_port ${b.gateway_port} is out of range 1-65535`;
  const svc = { name: b.service_name ?? '', namespace: b.service_namespace ?? '', port: b.service_port ?? 0 };
  if (svc.name !== '' || svc.namespace !== '' || svc.port !== 0) {
    const bad = checkServiceRef(svc.namespace, svc.name, svc.port);
    if (bad) return bad.replace(/^namespace/, 'service_namespace');
  }
  const mode = b.routing_mode === undefined || b.routing_mode === '' ? 'tunnel' : b.routing_mode;
  if (mode !== 'tunnel' && mode !== 'direct' && mode !== 'dual') return `routing_mode ${JSON.stringify(b.routing_mode)} must be direct, tunnel or dual`;
  const endpoint = b.public_endpoint ?? '';
  if (mode === 'direct' && endpoint === '') return 'a direct tunnel needs public_endpoint';
  if (endpoint !== '') {
    const bad = checkPublicEndpoint(endpoint);
    if (bad) return bad;
  }
  return {
    cluster_id: clusterId,
    tunnel_id: b.tunnel_id,
    protocol: b.protocol,
    gateway_name: b.gateway_name,
    gateway_namespace: b.gateway_namespace,
    gateway_port: b.gateway_port,
    service_name: svc.name,
    service_namespace: svc.namespace,
    service_port: svc.port,
    routing_mode: mode,
    public_endpoint: endpoint,
    labels: sorted(b.labels),
    annotations: sorted(b.annotations),
  };
}

/** A stored tunnel as the wire's TunnelRegistration (omitempty fields omitted). */
export function toWire(t: TunnelRecord, hub: { tunnel_port: number; tunnel_endpoint: string } | null): TunnelRegistrationBody {
  return {
    cluster_uuid: t.cluster_id,
    protocol: t.protocol,
    tunnel_id: t.tunnel_id,
    gateway_name: t.gateway_name,
    gateway_namespace: t.gateway_namespace,
    gateway_port: t.gateway_port,
    service_name: t.service_name,
    service_namespace: t.service_namespace,
    service_port: t.service_port,
    routing_mode: t.routing_mode,
    ...(t.public_endpoint ? { public_endpoint: t.public_endpoint } : {}),
    ...(hub ? { tunnel_port: hub.tunnel_port, tunnel_endpoint: hub.tunnel_endpoint } : {}),
    ...(Object.keys(t.labels).length ? { labels: t.labels } : {}),
    ...(Object.keys(t.annotations).length ? { annotations: t.annotations } : {}),
  };
}
