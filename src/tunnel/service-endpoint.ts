// How the agent reaches an in-cluster Service: by cluster DNS inside a cluster, through the API server's
// services/proxy, or through an explicit map (demo, tests). The relay above is the same for all three.
import type { ServiceRef } from './routing.ts';

import type { ServiceProxyMode } from '../threads/tunnel-config.ts';

export type { ServiceProxyMode };

export type ServiceEndpoint =
  /** Plain fetch to this URL (DNS or mapped). */
  | { kind: 'url'; url: string }
  /** A path on the Kubernetes API server (services/proxy), called with the agent's own credentials. */
  | { kind: 'kube'; path: string }
  | { kind: 'error'; error: string };

/** Query re-encoded with keys sorted and canonical escaping, as upstream's url.Values.Encode does. */
export function canonicalQuery(raw: string): string {
  const p = new URLSearchParams(raw);
  p.sort();
  return p.toString();
}

export function serviceEndpoint(
  s: ServiceRef,
  path: string,
  query: string,
  o: { mode: ServiceProxyMode; https: boolean; clusterDomain: string; serviceMap: Record<string, string> },
): ServiceEndpoint {
  const q = canonicalQuery(query);
  const suffix = `${path || '/'}${q ? `?${q}` : ''}`;
  switch (o.mode) {
    case 'dns':
      return { kind: 'url', url: `${o.https ? 'https' : 'http'}://${s.name}.${s.namespace}.svc.${o.clusterDomain}:${s.port}${suffix}` };
    case 'apiserver':
      return { kind: 'kube', path: `/api/v1/namespaces/${s.namespace}/services/${o.https ? 'https:' : ''}${s.name}:${s.port}/proxy${suffix}` };
    case 'map': {
      const base = o.serviceMap[`${s.namespace}/${s.name}:${s.port}`];
      if (!base) return { kind: 'error', error: `service ${s.namespace}/${s.name}:${s.port} is not in kubernetes.service_map` };
      return { kind: 'url', url: `${base.replace(/\/$/, '')}${suffix}` };
    }
  }
}

/** The cluster domain from resolv.conf `search` entries (`svc.<d>` or `*.svc.<d>`), default cluster.local. */
export function clusterDomainFromResolvConf(text: string): string {
  for (const line of text.split('\n')) {
    const m = /^\s*search\s+(.+)$/.exec(line);
    if (!m) continue;
    for (const d of m[1]!.trim().split(/\s+/)) {
      const i = d.indexOf('svc.');
      if (i === 0 || (i > 0 && d[i - 1] === '.')) return d.slice(i + 4);
    }
  }
  return 'cluster.local';
}
