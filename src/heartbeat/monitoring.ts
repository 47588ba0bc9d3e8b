// Monitoring discovery for heartbeats: Prometheus, Loki, Grafana and OpenCost Services, found by the
// well-known labels/names and reported as in-cluster URLs. Cached: a Service list every 5 minutes at most.
import type { KubeClient, KubeObject } from '../kube/client.ts';

export interface MonitoringEndpoints {
  prometheus?: string;
  loki?: string;
  grafana?: string;
  opencost?: string;
}

type Kind = keyof MonitoringEndpoints;

const PREFERRED_PORT: Record<Kind, number[]> = {
  prometheus: [9090],
  loki: [3100],
  grafana: [3000, 80],
  opencost: [9003, 9090],
};

/** Which monitoring component a Service is, by app.kubernetes.io/name, app label, or name. Pure. */
export function classifyService(svc: KubeObject): Kind | null {
  const labels = svc.metadata?.labels ?? {};
  const hint = `${labels['app.kubernetes.io/name'] ?? labels.app ?? ''} ${svc.metadata?.name ?? ''}`.toLowerCase();
  // Operator-managed helpers (node exporters, alertmanager, operated headless services) are not endpoints.
  if (/alertmanager|node-exporter|operator|kube-state|operated|pushgateway|promtail|canary|memberlist|headless/.test(hint)) return null;
  for (const k of ['opencost', 'grafana', 'loki', 'prometheus'] as const) if (hint.includes(k)) return k;
  return null;
}

export function endpointsFromServices(services: KubeObject[], clusterDomain: string): MonitoringEndpoints {
  const found: MonitoringEndpoints = {};
  for (const svc of services) {
    const kind = classifyService(svc);
    if (!kind || found[kind]) continue;
    const ports = ((svc.spec as { ports?: { port: number; name?: string }[] } | undefined)?.ports ?? []).map((p) => p.port);
    const port = PREFERRED_PORT[kind].find((p) => ports.includes(p)) ?? ports[0];
    if (!port) continue;
    found[kind] = `http://${svc.metadata?.name}.${svc.metadata?.namespace}.svc.${clusterDomain}:${port}`;
  }
  return found;
}

export class MonitoringDiscovery {
  #cached: { at: number; value: MonitoringEndpoints } | null = null;
  constructor(
    private readonly kube: KubeClient,
    private readonly clusterDomain: string,
    private readonly ttlMs = 5 * 60_000,
  ) {}

  async get(now = Date.now()): Promise<MonitoringEndpoints> {
    if (this.#cached && now - this.#cached.at < this.ttlMs) return this.#cached.value;
    const list = await this.kube.list<KubeObject>('/api/v1/services');
    const value = endpointsFromServices(list.items, this.clusterDomain);
    this.#cached = { at: now, value };
    return value;
  }
}
