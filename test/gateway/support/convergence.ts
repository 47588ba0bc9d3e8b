// Shared pieces of the ingress-sync convergence property tests: the operation generator, the oracle (protocol.md
// §6.3 written out again, independently of src/gateway) and the runner that applies operations to a harness Env.
// Each variant (fake registry, real hub) supplies how the registry fails and how its state is compared.
import fc from 'fast-check';
import type { KubeObject } from '../../../src/kube/client.ts';
import type { StoredRoute } from './fake-registry.ts';
import { CLUSTER_ID, type Env, ingress, service } from './harness.ts';

export const NAMESPACES = ['app', 'shop'] as const;
const NAMES = ['i0', 'i1', 'i2', 'i3'] as const;
const HOSTS = ['a.test', 'b.test', 'c.test', undefined] as const;
const BACKENDS = [
  { service: 'web', port: 8080 },
  { service: 'web', port: 8080 },
  { service: 'api', port: 9090 },
  { service: 'web', port: 'http' },
  { service: 'web', port: 'nope' },
  { service: 'web', port: 0 },
  { service: 'api', port: 9090 },
  { service: 'lb', port: 80 },
  { service: 'ext', port: 80 },
  { service: 'missing', port: 80 },
] as const;

type Managed = 'label' | 'annotation' | 'none';
type Rule = { host?: string; paths: { path?: string; pathType?: string; service: string; port: number | string }[] };
export type Op =
  | { k: 'noop' }
  | { k: 'put'; ns: string; name: string; managed: Managed; tls: boolean; rules: Rule[] }
  | { k: 'mark'; ns: string; name: string; managed: Managed }
  | { k: 'delete'; ns: string; name: string }
  | { k: 'svc'; ns: string; name: 'web' | 'api'; type: 'ClusterIP' | 'LoadBalancer' | 'gone' }
  | { k: 'dropWatches' }
  | { k: 'expire' }
  | { k: 'restart' }
  | { k: 'registryFails'; n: number }
  | { k: 'reconnect' }
  | { k: 'settle' };

const ns = fc.constantFrom(...NAMESPACES);
const name = fc.constantFrom(...NAMES);
const managed = fc.constantFrom<Managed>('label', 'annotation', 'none');
const rule: fc.Arbitrary<Rule> = fc.record({
  host: fc.constantFrom(...HOSTS),
  paths: fc.array(
    fc.record({
      path: fc.constantFrom(undefined, '/', '/api'),
      pathType: fc.constantFrom(undefined, 'Prefix', 'Exact', 'ImplementationSpecific'),
      backend: fc.constantFrom(...BACKENDS),
    }).map(({ backend, ...p }) => ({ ...p, service: backend.service, port: backend.port })),
    { minLength: 0, maxLength: 2 },
  ),
});

const op: fc.Arbitrary<Op> = fc.oneof(
  { withCrossShrink: true },
  { arbitrary: fc.constant<Op>({ k: 'noop' }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('put' as const), ns, name, managed, tls: fc.boolean(), rules: fc.array(rule, { minLength: 0, maxLength: 3 }) }), weight: 10 },
  { arbitrary: fc.record({ k: fc.constant('mark' as const), ns, name, managed }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('delete' as const), ns, name }), weight: 4 },
  { arbitrary: fc.record({ k: fc.constant('svc' as const), ns, name: fc.constantFrom('web' as const, 'api' as const), type: fc.constantFrom('ClusterIP' as const, 'LoadBalancer' as const, 'gone' as const) }), weight: 2 },
  { arbitrary: fc.constant<Op>({ k: 'dropWatches' }), weight: 1 },
  { arbitrary: fc.constant<Op>({ k: 'expire' }), weight: 1 },
  { arbitrary: fc.constant<Op>({ k: 'restart' }), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 4 }).map((n): Op => ({ k: 'registryFails', n })), weight: 1 },
  { arbitrary: fc.constant<Op>({ k: 'reconnect' }), weight: 1 },
  { arbitrary: fc.constant<Op>({ k: 'settle' }), weight: 1 },
);

function describeOp(o: Op): string {
  switch (o.k) {
    case 'put':
      return `put ${o.ns}/${o.name} managed=${o.managed} tls=${o.tls} rules=${JSON.stringify(o.rules)}`;
    case 'mark':
      return `mark ${o.ns}/${o.name} managed=${o.managed}`;
    case 'delete':
      return `delete ${o.ns}/${o.name}`;
    case 'svc':
      return `service ${o.ns}/${o.name} → ${o.type}`;
    case 'registryFails':
      return `registry fails next ${o.n}`;
    default:
      return o.k;
  }
}

/** 200 operations (create, update hosts/paths/TLS, managed label/annotation, delete, Services, watch drops, 410s, restarts, registry failures, reconnects). */
export const program: fc.Arbitrary<Op[]> = fc.array(op, { minLength: 200, maxLength: 200 }).map((ops) =>
  Object.assign(ops, { [fc.toStringMethod]: () => `\n  ${ops.filter((o) => o.k !== 'noop').map(describeOp).join('\n  ')}\n` }),
);

function appServices(env: Env, namespace: string): void {
  env.sandbox.apply(service(namespace, 'web', { type: 'ClusterIP', ports: [{ name: 'http', port: 8080 }] }));
  env.sandbox.apply(service(namespace, 'api', { type: 'ClusterIP', ports: [{ port: 9090 }] }));
  env.sandbox.apply(service(namespace, 'lb', { type: 'LoadBalancer', ports: [{ name: 'http', port: 80 }] }));
  env.sandbox.apply(service(namespace, 'ext', { type: 'ExternalName', externalName: 'example.org', ports: [{ port: 80 }] }));
}

type Svc = { metadata: { namespace: string; name: string }; spec?: { type?: string; ports?: { name?: string; port: number }[] } };
type Ing = {
  metadata: { namespace: string; name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { tls?: unknown[]; rules?: { host?: string; http?: { paths?: { path?: string; pathType?: string; backend?: { service?: { name: string; port?: { number?: number; name?: string } } } }[] } }[] };
};

/** One managed route as the oracle sees it. */
interface Row {
  host: string;
  ns: string;
  ing: string;
  path: string;
  type: string;
  tls: boolean;
  svc: string;
  port: number;
}

/** The oracle: §6.3 written out again; rows in (namespace, Ingress, path, type, backend) order — registries keep the last write of a key. */
function expectedRows(ings: Ing[], svcs: Svc[]): Row[] {
  const rows: Row[] = [];
  for (const i of ings) {
    const m = i.metadata;
    if (m.labels?.['pipeops.io/managed'] !== 'true' && m.annotations?.['pipeops.io/managed-by'] !== 'pipeops') continue;
    const tls = (i.spec?.tls ?? []).length > 0;
    for (const r of i.spec?.rules ?? [])
      for (const p of r.http?.paths ?? []) {
        const b = p.backend?.service;
        const s = svcs.find((x) => x.metadata.namespace === m.namespace && x.metadata.name === b?.name);
        if (!b || !s || s.spec?.type === 'LoadBalancer' || s.spec?.type === 'ExternalName') continue;
        const port = b.port?.number || s.spec?.ports?.find((x) => b.port?.name !== undefined && x.name === b.port.name)?.port || 0;
        if (port <= 0) continue;
        rows.push({ host: r.host ?? '', ns: m.namespace, ing: m.name, path: p.path ?? '', type: p.pathType ?? 'Prefix', tls, svc: b.name, port });
      }
  }
  const key = (r: Row) => [r.ns, r.ing, r.path, r.type, r.svc].map((x) => x.padEnd(12, ' ')).join('|') + String(r.port).padStart(6, '0');
  return rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** Every route points at the controller Service the harness seeds (pipeops-system/traefik:80), in tunnel mode. */
function stored(r: Row, path = r.path): StoredRoute {
  return {
    hostname: r.host,
    cluster_uuid: CLUSTER_ID,
    ingress_name: r.ing,
    path,
    path_type: r.type,
    tls: r.tls,
    service_namespace: 'pipeops-system',
    service_name: 'traefik',
    service_port: 80,
    routing_mode: 'tunnel',
    public_endpoint: '',
  };
}

const sortKeys = <T>(o: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** A hostname-keyed registry (the Go agent's control plane, FakeRegistry): the last route of each host. */
export function expectedByHost(ings: Ing[], svcs: Svc[]): Record<string, StoredRoute> {
  const out: Record<string, StoredRoute> = {};
  for (const r of expectedRows(ings, svcs)) out[r.host] = stored(r);
  return sortKeys(out);
}

/** The hub's key: `hostname path` (an empty path is stored as '/'). */
export const hostPathKey = (hostname: string, path: string): string => `${hostname} ${path}`;

/**
 * The hub's registry (src/hub/routes): keyed by (hostname, path) with '' stored as '/', the last write of a key wins,
 * host-less rules are not stored (the public gateway cannot route them).
 */
export function expectedByHostPath(ings: Ing[], svcs: Svc[]): Record<string, StoredRoute> {
  const out: Record<string, StoredRoute> = {};
  for (const r of expectedRows(ings, svcs)) {
    if (r.host === '') continue;
    const path = r.path === '' ? '/' : r.path;
    out[hostPathKey(r.host, path)] = stored(r, path);
  }
  return sortKeys(out);
}

/** What the API server holds now, typed for the oracle. */
export async function liveObjects(env: Env): Promise<[Ing[], Svc[]]> {
  const [ings, svcs] = await Promise.all([env.kube.list('/apis/networking.k8s.io/v1/ingresses'), env.kube.list('/api/v1/services')]);
  return [ings.items as unknown as Ing[], svcs.items as unknown as Svc[]];
}

export interface Variant {
  /** The next `n` registry calls fail (500). */
  registryFails(n: number): void;
  /** Asserts the registry equals the oracle; called once the sync is idle. */
  check(env: Env): Promise<void>;
}

/** Applies the operations to `env`, checking at every `settle` and at the end. */
export async function runOps(env: Env, ops: Op[], refreshIntervalMs: number, v: Variant): Promise<void> {
  for (const n of NAMESPACES) appServices(env, n);
  const opts = { refreshIntervalMs };
  let sync = env.start(opts);
  for (const o of ops) {
    // Let the informers and the engine run between operations (interleaving, not synchronisation).
    await new Promise((r) => setImmediate(r));
    switch (o.k) {
      case 'noop':
        break;
      case 'put':
        env.sandbox.apply(ingress(o.ns, o.name, { managed: o.managed, tls: o.tls, rules: o.rules }));
        break;
      case 'mark': {
        const cur = env.sandbox.get('ingresses', o.ns, o.name) as KubeObject | undefined;
        if (!cur) break;
        const md = { ...(cur.metadata ?? {}) } as { labels?: Record<string, string>; annotations?: Record<string, string> };
        const labels = { ...(md.labels ?? {}) };
        const annotations = { ...(md.annotations ?? {}) };
        delete labels['pipeops.io/managed'];
        delete annotations['pipeops.io/managed-by'];
        if (o.managed === 'label') labels['pipeops.io/managed'] = 'true';
        if (o.managed === 'annotation') annotations['pipeops.io/managed-by'] = 'pipeops';
        env.sandbox.apply({ ...cur, metadata: { ...cur.metadata, labels, annotations } });
        break;
      }
      case 'delete':
        env.sandbox.remove('ingresses', o.ns, o.name);
        break;
      case 'svc':
        if (o.type === 'gone') env.sandbox.remove('services', o.ns, o.name);
        else env.sandbox.apply(service(o.ns, o.name, { type: o.type, ports: o.name === 'web' ? [{ name: 'http', port: 8080 }] : [{ port: 9090 }] }));
        break;
      case 'dropWatches':
        env.sandbox.faults.dropWatches();
        break;
      case 'expire':
        env.sandbox.faults.compact();
        env.sandbox.faults.dropWatches();
        break;
      case 'restart':
        await sync.stop();
        sync = env.start(opts);
        break;
      case 'registryFails':
        v.registryFails(o.n);
        break;
      case 'reconnect':
        sync.reconnected();
        break;
      case 'settle':
        await env.settle(sync);
        await v.check(env);
        break;
    }
  }
  await env.settle(sync, 20_000);
  await v.check(env);
}
