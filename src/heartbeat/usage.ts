// Cluster CPU/memory usage for heartbeats from metrics.k8s.io (L9): usage summed over nodes against
// allocatable. When the Metrics API is not served, null: the keys are omitted rather than faked.
import type { KubeClient, KubeObject } from '../kube/client.ts';

/** Kubernetes quantity → number (cores for CPU, bytes for memory). Pure. */
export function parseQuantity(q: string): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  const suffix: Record<string, number> = {
    n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50,
  };
  const f = suffix[m[2] ?? ''];
  return f === undefined ? Number.NaN : n * f;
}

export function usagePercent(
  usage: { cpu: string; memory: string }[],
  allocatable: { cpu: string; memory: string }[],
): { cpuPercent: number; memoryPercent: number } | null {
  const sum = (xs: string[]) => xs.reduce((a, x) => a + parseQuantity(x), 0);
  const cpuCap = sum(allocatable.map((a) => a.cpu));
  const memCap = sum(allocatable.map((a) => a.memory));
  if (!(cpuCap > 0) || !(memCap > 0) || usage.length === 0) return null;
  return {
    cpuPercent: (100 * sum(usage.map((u) => u.cpu))) / cpuCap,
    memoryPercent: (100 * sum(usage.map((u) => u.memory))) / memCap,
  };
}

export async function clusterUsage(kube: KubeClient, signal?: AbortSignal): Promise<{ cpuPercent: number; memoryPercent: number } | null> {
  const res = await kube.request('/apis/metrics.k8s.io/v1beta1/nodes', { signal, timeoutMs: 5000 });
  if (!res.ok) {
    await res.body?.cancel();
    return null;
  }
  const metrics = (await res.json()) as { items?: { usage?: { cpu: string; memory: string } }[] };
  const nodes = await kube.list<KubeObject>('/api/v1/nodes');
  const alloc = nodes.items.map((n) => ((n.status as { allocatable?: { cpu: string; memory: string } } | undefined)?.allocatable ?? { cpu: '0', memory: '0' }));
  return usagePercent(
    (metrics.items ?? []).flatMap((i) => (i.usage ? [i.usage] : [])),
    alloc,
  );
}
