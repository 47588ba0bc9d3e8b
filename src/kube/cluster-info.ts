// Cheap cluster facts for register and heartbeat: node/pod counts without listing everything, and region/cloud
// from node labels and providerID (deviation L7: no third-party IP lookups).
import type { KubeClient, KubeList, KubeObject } from './client.ts';

/** Metadata-only list: the server sends names and RVs, not whole Pods. */
export const PARTIAL_METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json';

/** Counts a collection with a `limit=1` list: items + remainingItemCount; falls back to a full metadata list. */
export async function countCollection(client: KubeClient, path: string): Promise<number> {
  const first = await client.list<KubeObject>(path, { limit: 1, accept: PARTIAL_METADATA_LIST_ACCEPT });
  const n = first.items?.length ?? 0;
  const remaining = first.metadata?.remainingItemCount;
  if (typeof remaining === 'number') return n + remaining;
  if (!first.metadata?.continue) return n; // everything fit (or the server ignored limit and sent it all)
  // The server paginates but gives no count (e.g. with a field selector): count page by page.
  let total = n;
  let cont: string | undefined = first.metadata.continue;
  while (cont) {
    const page: KubeList<KubeObject> = await client.list<KubeObject>(path, { limit: 500, continue: cont, accept: PARTIAL_METADATA_LIST_ACCEPT });
    total += page.items?.length ?? 0;
    cont = page.metadata?.continue || undefined;
  }
  return total;
}

export function countNodes(client: KubeClient): Promise<number> {
  return countCollection(client, '/api/v1/nodes');
}

/** Pods in all namespaces, or in one. */
export function countPods(client: KubeClient, namespace?: string): Promise<number> {
  return countCollection(client, namespace ? `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods` : '/api/v1/pods');
}

const PROVIDER_PREFIXES: [string, string][] = [
  ['aws', 'aws'],
  ['gce', 'gcp'],
  ['azure', 'azure'],
  ['digitalocean', 'digitalocean'],
  ['linode', 'linode'],
  ['hcloud', 'hetzner'],
  ['vultr', 'vultr'],
  ['oci', 'oracle'],
  ['ibm', 'ibm'],
  ['openstack', 'openstack'],
  ['equinixmetal', 'equinix'],
  ['k3s', 'bare-metal'],
  ['kind', 'bare-metal'],
];

/** Cloud provider name from a node's `spec.providerID` (`aws:///eu-west-1a/i-…` ⇒ aws); 'agent' when unknown. */
export function cloudFromProviderId(providerId: string | undefined): string {
  if (!providerId) return 'agent';
  const scheme = providerId.split('://')[0]?.toLowerCase() ?? '';
  for (const [prefix, name] of PROVIDER_PREFIXES) if (scheme === prefix) return name;
  return 'agent';
}

export type NodeFacts = { region: string; cloudProvider: string };

/** Region and cloud from one node (pure). Region falls back to "unknown-country", upstream's value. */
export function factsFromNode(node: KubeObject | undefined): NodeFacts {
  const labels = node?.metadata?.labels ?? {};
  const region = labels['topology.kubernetes.io/region'] ?? labels['failure-domain.beta.kubernetes.io/region'];
  const spec = (node?.spec ?? {}) as { providerID?: string };
  let cloudProvider = cloudFromProviderId(spec.providerID);
  if (cloudProvider === 'agent' && (labels['node.kubernetes.io/instance-type'] === 'k3s' || labels['k3s.io/hostname'])) cloudProvider = 'bare-metal';
  return { region: region && region !== '' ? region : 'unknown-country', cloudProvider };
}

/** Region/cloud from the first node (one `limit=1` list). */
export async function nodeFacts(client: KubeClient): Promise<NodeFacts> {
  const l = await client.list<KubeObject>('/api/v1/nodes', { limit: 1 });
  return factsFromNode(l.items?.[0]);
}
