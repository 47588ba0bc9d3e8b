// In-process ingress sync against the sandbox API server and the fake registry: no agent, no workers.
import { IngressSync, type IngressSyncOptions } from '../../../src/gateway/ingress-sync.ts';
import { RouteRegistryClient } from '../../../src/gateway/route-registry-client.ts';
import { KubeClient, type KubeObject } from '../../../src/kube/client.ts';
import { objectKey } from '../../../src/kube/watch.ts';
import { type Sandbox, startSandbox } from '../../../src/sandbox/index.ts';
import { waitFor } from '../../support/wait.ts';
import { FakeRegistry } from './fake-registry.ts';

export const CLUSTER_ID = 'cluster-under-test';

export interface Env {
  sandbox: Sandbox;
  registry: FakeRegistry;
  kube: KubeClient;
  start(over?: Partial<IngressSyncOptions>): IngressSync;
  /** Until the informers hold exactly what the API server holds and the engine has nothing left to do. */
  settle(sync: IngressSync, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const ns = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

export function service(namespace: string, name: string, spec: Record<string, unknown>, status?: Record<string, unknown>, labels?: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name, ...(labels ? { labels } : {}) }, spec, ...(status ? { status } : {}) };
}

export const controllerSvc = (type = 'NodePort', status?: Record<string, unknown>) =>
  service('pipeops-system', 'traefik', { type, ports: [{ name: 'web', port: 80 }, { name: 'websecure', port: 443 }] }, status);

export function ingress(namespace: string, name: string, o: { managed?: 'label' | 'annotation' | 'none'; rules: { host?: string; paths: { path?: string; pathType?: string; service: string; port: number | string }[] }[]; tls?: boolean; annotations?: Record<string, string> }): KubeObject {
  const managed = o.managed ?? 'label';
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      namespace,
      name,
      ...(managed === 'label' ? { labels: { 'pipeops.io/managed': 'true' } } : {}),
      ...(managed === 'annotation' || o.annotations ? { annotations: { ...(managed === 'annotation' ? { 'pipeops.io/managed-by': 'pipeops' } : {}), ...(o.annotations ?? {}) } } : {}),
    },
    spec: {
      ...(o.tls ? { tls: [{ hosts: o.rules.map((r) => r.host ?? ''), secretName: 'tls' }] } : {}),
      rules: o.rules.map((r) => ({
        ...(r.host !== undefined ? { host: r.host } : {}),
        http: {
          paths: r.paths.map((p) => ({
            ...(p.path !== undefined ? { path: p.path } : {}),
            ...(p.pathType ? { pathType: p.pathType } : {}),
            backend: { service: { name: p.service, port: typeof p.port === 'number' ? { number: p.port } : { name: p.port } } },
          })),
        },
      })),
    },
  };
}

const quiet = { info() {}, warn() {}, debug() {} };

/** `registryTarget`: where the engine's RouteRegistryClient points instead of the fake registry (e.g. a real hub). */
export async function makeEnv(opts: { seedController?: boolean; registryTarget?: { url: string; token: string } } = {}): Promise<Env> {
  const sandbox = await startSandbox({ seed: 'minimal' });
  for (const n of ['app', 'shop', 'pipeops-system', 'ingress-nginx', 'traefik']) sandbox.apply(ns(n));
  if (opts.seedController !== false) sandbox.apply(controllerSvc());
  const registry = new FakeRegistry().start();
  const kube = new KubeClient({ server: sandbox.url, source: 'explicit' });
  const running = new Set<IngressSync>();
  return {
    sandbox,
    registry,
    kube,
    start(over = {}) {
      const s = new IngressSync({
        kube,
        registry: new RouteRegistryClient({ apiUrl: opts.registryTarget?.url ?? registry.url, token: opts.registryTarget?.token ?? registry.token, sleep: async () => {} }),
        scope: 'managed',
        forceTunnel: true,
        detectionWaitMs: 60_000,
        refreshIntervalMs: 0,
        repair: { baseMs: 1, maxMs: 20 },
        watchBackoff: { initialMs: 5, maxMs: 50 },
        clusterId: CLUSTER_ID,
        log: quiet,
        ...over,
      });
      running.add(s);
      const stop = s.stop.bind(s);
      s.stop = async () => {
        running.delete(s);
        await stop();
      };
      return s;
    },
    async settle(sync, timeoutMs = 10_000) {
      await waitFor(
        async () => {
          if (!sync.engine.idle) return false;
          const c = sync.caches();
          for (const [path, cache] of [
            ['/apis/networking.k8s.io/v1/ingresses', c.ingresses],
            ['/api/v1/services', c.services],
          ] as const) {
            const live = await kube.list(path);
            if (live.items.length !== cache.size) return false;
            for (const o of live.items) if (cache.get(objectKey(o))?.metadata?.resourceVersion !== o.metadata?.resourceVersion) return false;
          }
          return sync.engine.idle;
        },
        { timeoutMs, intervalMs: 5, what: 'ingress sync to settle' },
      );
    },
    async close() {
      await Promise.all([...running].map((s) => s.stop()));
      await registry.stop();
      await sandbox.close();
    },
  };
}
