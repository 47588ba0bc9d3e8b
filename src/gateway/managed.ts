// Which Ingresses the agent manages (protocol.md §6.3, deviation G6). Pure.
import type { KubeObject } from '../kube/client.ts';

export type IngressScope = 'managed' | 'all';

export function isManaged(ing: KubeObject, scope: IngressScope): boolean {
  if (scope === 'all') return true;
  return ing.metadata?.labels?.['pipeops.io/managed'] === 'true' || ing.metadata?.annotations?.['pipeops.io/managed-by'] === 'pipeops';
}
