// The public gateway's route table: registry routes (from agents) and configured path routes (webhook
// gateways: host? + path prefix → a cluster's Service), and where a matched request goes. Pure.
import type { PathRouteConfig } from '../config/schema.ts';
import { type MatchCandidate, RouteTable } from '../../ingress/route-match.ts';
import type { RouteRecord } from '../routes/route-store.ts';
import { checkHostname, checkPath, checkServiceRef } from '../routes/route-validation.ts';
import type { ServiceTarget } from '../../protocol/proxy-request-builders.ts';
import { stripPrefix } from './app-request.ts';

export type GatewayRoute = MatchCandidate & ({ source: 'registry'; record: RouteRecord } | { source: 'config'; config: PathRouteConfig });

export type GatewayTarget =
  | { kind: 'tunnel'; clusterId: string; service: ServiceTarget; path: string }
  | { kind: 'direct'; endpoint: string; clusterId: string; path: string }
  | { kind: 'error'; status: 400 | 502; reason: string };

/** Problems of configured path routes, all at once (the hub refuses to start with any). */
export function checkPathRoutes(routes: readonly PathRouteConfig[]): string[] {
  const out: string[] = [];
  routes.forEach((r, i) => {
    const at = `path_routes[${i}]`;
    if (r.host !== undefined && r.host !== '') {
      const bad = checkHostname(r.host);
      if (bad) out.push(`${at}.host: ${bad}`);
    }
    const badPath = checkPath(r.path_prefix);
    if (badPath) out.push(`${at}.path_prefix: ${badPath}`);
    const badSvc = checkServiceRef(r.namespace, r.service, r.port);
    if (badSvc) out.push(`${at}: ${badSvc.replace('service_name', 'service').replace('service_port', 'port')}`);
  });
  return out;
}

export function buildRouteTable(registry: readonly RouteRecord[], configured: readonly PathRouteConfig[]): RouteTable<GatewayRoute> {
  const all: GatewayRoute[] = [];
  for (const record of registry) all.push({ host: record.hostname, path: record.path, pathType: record.path_type, source: 'registry', record });
  for (const config of configured)
    all.push({ host: (config.host ?? '').toLowerCase(), path: config.path_prefix, pathType: 'Prefix', source: 'config', config });
  return new RouteTable(all);
}

/** Where a request for `path` matched by `route` goes; `findCluster` resolves a configured cluster id or name. */
export function targetFor(route: GatewayRoute, path: string, findCluster: (idOrName: string) => string | null): GatewayTarget {
  if (route.source === 'registry') {
    const r = route.record;
    if (r.routing_mode === 'direct') return { kind: 'direct', endpoint: r.public_endpoint, clusterId: r.cluster_id, path };
    return { kind: 'tunnel', clusterId: r.cluster_id, service: { namespace: r.namespace, name: r.service_name, port: r.service_port }, path };
  }
  const c = route.config;
  const clusterId = findCluster(c.cluster);
  if (!clusterId) return { kind: 'error', status: 502, reason: `cluster ${JSON.stringify(c.cluster)} of this path route is not registered with the hub` };
  return { kind: 'tunnel', clusterId, service: { namespace: c.namespace, name: c.service, port: c.port }, path: c.strip_prefix ? stripPrefix(path, c.path_prefix) : path };
}

/** How the admin listing shows configured path routes. */
export function describePathRoute(c: PathRouteConfig): Record<string, unknown> {
  return { host: c.host || null, path_prefix: c.path_prefix, cluster: c.cluster, service: `${c.namespace}/${c.service}:${c.port}`, strip_prefix: c.strip_prefix };
}
