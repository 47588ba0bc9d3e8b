// Which Ingresses the agent manages (protocol.md §6.3, deviation G6). Pure.
import type { KubeObject } from '../kube/client.ts';

export type IngressScope = 'managed' | 'all';

export function isManaged(ing: KubeObject, scope: IngressScope): boolean {
  if (scope === 'all') return true;
  return ing.metadata?.labels?.['pipeops.io/managed'] === 'true' || ing.metadata?.annotations?.['pipeops.io/managed-by'] === 'pipeops';
}

/** Number of (host, path) routes an Ingress contributes. */
export function routeCount(ing: KubeObject): number {
  const rules = ((ing.spec as { rules?: { http?: { paths?: unknown[] } }[] } | undefined)?.rules ?? []);
  return rules.reduce((n, r) => n + (r.http?.paths?.length ?? 0), 0);
}
