// Where the agent dials for an L4 stream (§5.3 with T3): the explicit service map first (demo, tests, agents
// outside the cluster), else cluster DNS with the detected cluster domain. The API server's services/proxy
// carries HTTP only, so `apiserver` mode needs a map entry for L4 targets.
import type { ServiceProxyMode } from '../service-endpoint.ts';

export interface L4Target {
  host: string;
  port: number;
}

export interface L4TargetOptions {
  mode: ServiceProxyMode;
  clusterDomain: string;
  /** kubernetes.service_map: `ns/name:port` → `http(s)://host:port` (L4 uses host and port only). */
  serviceMap: Record<string, string>;
}

export function l4Target(s: { namespace: string; name: string; port: number }, o: L4TargetOptions): L4Target | { error: string } {
  const mapped = o.serviceMap[`${s.namespace}/${s.name}:${s.port}`];
  if (mapped) {
    try {
      const u = new URL(mapped);
      const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
      return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port };
    } catch {
      return { error: `kubernetes.service_map entry for ${s.namespace}/${s.name}:${s.port} is not a URL` };
    }
  }
  switch (o.mode) {
    case 'dns':
      return { host: `${s.name}.${s.namespace}.svc.${o.clusterDomain}`, port: s.port };
    case 'apiserver':
      return { error: `service ${s.namespace}/${s.name}:${s.port}: L4 tunnels cannot go through the API server's services/proxy; add a kubernetes.service_map entry or use service_proxy dns` };
    case 'map':
      return { error: `service ${s.namespace}/${s.name}:${s.port} is not in kubernetes.service_map` };
  }
}
