// Builds the registry bodies (src/protocol/route-registry-messages.ts) from extracted routes. Pure.
// Every route points at the ingress controller Service (§1.1); when none is known, at the route's own backend.
import type { IngressController } from './controller-detection.ts';
import type { RoutingDecision } from './cluster-detection.ts';
import type { RegisterRouteBody, SyncRoutesBody } from '../protocol/route-registry-messages.ts';
import { compareRoutes, type IngressRoutes, type Route } from './route-extraction.ts';

/** What every body carries besides the routes: who we are, where traffic goes, how. */
export interface SyncTarget {
  clusterId: string;
  controller: IngressController | null;
  routing: RoutingDecision;
}

export function registerBody(r: Route, t: SyncTarget): RegisterRouteBody {
  const c = t.controller;
  return {
    hostname: r.host,
    cluster_uuid: t.clusterId,
    namespace: c ? c.namespace : r.backend.namespace,
    service_name: c ? c.name : r.backend.name,
    service_port: c ? c.port : r.backend.port,
    ingress_name: r.ingressName,
    path: r.path,
    path_type: r.pathType,
    tls: r.tls,
    ...(Object.keys(r.annotations).length > 0 ? { annotations: r.annotations } : {}),
    ...(t.routing.publicEndpoint ? { public_endpoint: t.routing.publicEndpoint } : {}),
    routing_mode: t.routing.routingMode,
    ...(r.deploymentId ? { deployment_id: r.deploymentId } : {}),
    ...(r.deploymentName ? { deployment_name: r.deploymentName } : {}),
  };
}

/** The bulk body: Ingresses by namespace/name, rules by host, paths in canonical order (so "last route wins" is stable). */
export function syncBody(ingresses: Iterable<IngressRoutes>, t: SyncTarget): SyncRoutesBody {
  const c = t.controller;
  const list = [...ingresses].filter((i) => i.httpHosts.length > 0).sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
  return {
    cluster_uuid: t.clusterId,
    ...(t.routing.publicEndpoint ? { public_endpoint: t.routing.publicEndpoint } : {}),
    routing_mode: t.routing.routingMode,
    ...(c ? { ingress_controller: { name: c.name, namespace: c.namespace, port: c.port, type: c.type } } : {}),
    ingresses: list.map((i) => ({
      namespace: i.namespace,
      ingress_name: i.name,
      ...(Object.keys(i.annotations).length > 0 ? { annotations: i.annotations } : {}),
      rules: [...i.httpHosts].sort(cmp).map((host) => ({
        host,
        tls: i.tls,
        paths: i.routes
          .filter((r) => r.host === host)
          .sort(compareRoutes)
          .map((r) => ({ path: r.path, path_type: r.pathType, service_name: c ? c.name : r.backend.name, service_port: c ? c.port : r.backend.port })),
      })),
    })),
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
