// Which routes a (managed) Ingress contributes (protocol.md §6.3, §6.4). Pure: the Service lookup is an argument.
// A route keeps its real backend (for the tunnel's Host fallback, §3.4); what the control plane gets points at the
// ingress controller instead (route-payloads.ts).
import { type KubeIngress, type ServiceLookup, type ServiceRef, serviceKey } from './kube-shapes.ts';

export interface Route {
  host: string;
  path: string;
  /** `Prefix` when the Ingress leaves it unset. */
  pathType: string;
  /** Whole-Ingress: true when `spec.tls` has any entry. */
  tls: boolean;
  annotations: Record<string, string>;
  namespace: string;
  ingressName: string;
  deploymentId: string;
  deploymentName: string;
  /** The application Service the Ingress routes to. */
  backend: ServiceRef;
}

/** Everything the sync needs to know about one managed Ingress. */
export interface IngressRoutes {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  annotations: Record<string, string>;
  tls: boolean;
  /** Distinct hosts of the rules that have `http` (the bulk sync lists them even when every path was filtered out). */
  httpHosts: string[];
  routes: Route[];
}

const SYSTEM_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease']);

function pick(ing: KubeIngress, key: string): string {
  return ing.metadata?.annotations?.[key] ?? ing.metadata?.labels?.[key] ?? '';
}

/** §6.4: annotation `pipeops.io/deployment-id`, else `<environment>:<owner>` when both are set. */
export function deploymentId(ing: KubeIngress): string {
  const id = pick(ing, 'pipeops.io/deployment-id');
  if (id) return id;
  const env = pick(ing, 'pipeops.io/environment');
  const owner = pick(ing, 'pipeops.io/owner');
  return env && owner ? `${env}:${owner}` : '';
}

/** §6.4: annotation `pipeops.io/deployment-name`, else `pipeops.io/owner`, else the first DNS label of the host. */
export function deploymentName(ing: KubeIngress, host: string): string {
  return pick(ing, 'pipeops.io/deployment-name') || pick(ing, 'pipeops.io/owner') || (host.split('.')[0] ?? '');
}

/** Why a backend is not routed, or null when it is; `port` is the resolved number. */
export function checkBackend(namespace: string, name: string, port: { number?: number; name?: string } | undefined, lookup: ServiceLookup): { port: number } | { skip: string } {
  if (!name) return { skip: 'backend has no service name' };
  if (namespace === 'default' && name === 'kubernetes') return { skip: 'backend is the Kubernetes API Service' };
  if (SYSTEM_NAMESPACES.has(namespace)) return { skip: `namespace ${namespace} is a system namespace` };
  const svc = lookup(namespace, name);
  if (!svc) return { skip: `Service ${namespace}/${name} does not exist` };
  const type = svc.spec?.type ?? 'ClusterIP';
  if (type === 'LoadBalancer' || type === 'ExternalName') return { skip: `Service ${namespace}/${name} is of type ${type}` };
  let n = typeof port?.number === 'number' ? port.number : 0;
  if (n === 0 && port?.name) n = svc.spec?.ports?.find((p) => p.name === port.name)?.port ?? 0;
  if (!(n > 0)) return { skip: `Service ${namespace}/${name} has no port ${port?.name ?? port?.number ?? '(unset)'}` };
  return { port: n };
}

/** The routes of one Ingress, in rule and path order. Does not look at whether the Ingress is managed. */
export function extractRoutes(ing: KubeIngress, lookup: ServiceLookup): IngressRoutes {
  const namespace = ing.metadata?.namespace ?? '';
  const name = ing.metadata?.name ?? '';
  const annotations = { ...(ing.metadata?.annotations ?? {}) };
  const tls = (ing.spec?.tls?.length ?? 0) > 0;
  const id = deploymentId(ing);
  const httpHosts: string[] = [];
  const routes: Route[] = [];
  for (const rule of ing.spec?.rules ?? []) {
    if (!rule.http) continue;
    const host = rule.host ?? '';
    if (!httpHosts.includes(host)) httpHosts.push(host);
    for (const p of rule.http.paths ?? []) {
      const svc = p.backend?.service;
      if (!svc) continue;
      const ok = checkBackend(namespace, svc.name ?? '', svc.port, lookup);
      if ('skip' in ok) continue;
      routes.push({
        host,
        path: p.path ?? '',
        pathType: p.pathType || 'Prefix',
        tls,
        annotations,
        namespace,
        ingressName: name,
        deploymentId: id,
        deploymentName: deploymentName(ing, host),
        backend: { namespace, name: svc.name ?? '', port: ok.port },
      });
    }
  }
  return { key: serviceKey(namespace, name), namespace, name, annotations, tls, httpHosts, routes };
}

/** `namespace/name` of every Service the Ingress's paths refer to (so a Service change re-extracts its Ingresses). */
export function referencedServices(ing: KubeIngress): string[] {
  const ns = ing.metadata?.namespace ?? '';
  const out = new Set<string>();
  for (const rule of ing.spec?.rules ?? []) for (const p of rule.http?.paths ?? []) if (p.backend?.service?.name) out.add(serviceKey(ns, p.backend.service.name));
  return [...out];
}

/** Canonical route order: namespace, Ingress, path, path type, backend. The registry keeps the last route of a host. */
export function compareRoutes(a: Route, b: Route): number {
  return (
    cmp(a.namespace, b.namespace) ||
    cmp(a.ingressName, b.ingressName) ||
    cmp(a.path, b.path) ||
    cmp(a.pathType, b.pathType) ||
    cmp(a.backend.name, b.backend.name) ||
    a.backend.port - b.backend.port
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
