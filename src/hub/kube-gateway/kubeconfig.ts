// Kubeconfigs that point kubectl and client-node at one cluster through the hub's Kubernetes API gateway.
import { stringify } from 'yaml';
import { clusterServerUrl } from './gateway-route.ts';

export interface GatewayKubeconfigInput {
  /** Gateway base URL, https://host:port. */
  gatewayUrl: string;
  clusterId: string;
  /** Name used for the kubeconfig's cluster/user/context entries. */
  clusterName: string;
  caPem: string | undefined;
  userToken: string;
  namespace?: string;
}

export function renderGatewayKubeconfig(i: GatewayKubeconfigInput): string {
  const name = `pipeops-hub-${i.clusterName}`;
  const cluster: Record<string, unknown> = { server: clusterServerUrl(i.gatewayUrl, i.clusterId) };
  if (i.caPem) cluster['certificate-authority-data'] = Buffer.from(i.caPem).toString('base64');
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
    users: [{ name, user: { token: i.userToken } }],
    contexts: [{ name, context: { cluster: name, user: name, ...(i.namespace ? { namespace: i.namespace } : {}) } }],
    'current-context': name,
    preferences: {},
  });
}

/** What `kubeconfigFor` needs from a running hub (the `Hub` object satisfies it). */
export interface HubLike {
  kubeUrl: string;
  kubeCaPem: string | undefined;
  store: { find(idOrName: string): Promise<{ cluster_id: string; name: string } | null> };
}

/** Kubeconfig for a registered cluster of a running hub; throws when the cluster is unknown. */
export async function kubeconfigFor(hub: HubLike, clusterIdOrName: string, token: string, opts: { namespace?: string } = {}): Promise<string> {
  const rec = await hub.store.find(clusterIdOrName);
  if (!rec) throw new Error(`cluster "${clusterIdOrName}" is not registered with this hub`);
  return renderGatewayKubeconfig({ gatewayUrl: hub.kubeUrl, clusterId: rec.cluster_id, clusterName: rec.name, caPem: hub.kubeCaPem, userToken: token, ...opts });
}
