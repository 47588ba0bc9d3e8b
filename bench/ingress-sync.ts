// Ingress sync benchmark: 1,000 managed Ingresses against the sandbox API server and the fake route registry.
// (1) informer start → bulk sync acknowledged; (2) one Ingress change → its `register` call, p50/p99 over 200 changes.
// Baselines measured in the same run: a bare list + one POST of the same body; a bare informer seeing the change.
// Run: node_modules/.bin/bun bench/ingress-sync.ts
import { IngressSync } from '../src/gateway/ingress-sync.ts';
import { RouteRegistryClient } from '../src/gateway/route-registry-client.ts';
import { KubeClient, type KubeObject } from '../src/kube/client.ts';
import { listWatch } from '../src/kube/watch.ts';
import { startSandbox } from '../src/sandbox/index.ts';
import { FakeRegistry } from '../test/gateway/support/fake-registry.ts';
import { controllerSvc, ingress, ns, service } from '../test/gateway/support/harness.ts';

const N = 1000;
const CHANGES = 200;
const ROUNDS = 5;
const quiet = { info() {}, warn() {}, debug() {} };

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const ms = (x: number) => `${x.toFixed(2)} ms`;

const sandbox = await startSandbox({ seed: 'minimal', historyLimit: 10_000 });
for (const n of ['app', 'pipeops-system']) sandbox.apply(ns(n));
sandbox.apply(controllerSvc());
sandbox.apply(service('app', 'web', { type: 'ClusterIP', ports: [{ name: 'http', port: 8080 }] }));
for (let i = 0; i < N; i++) sandbox.apply(ingress('app', `ing-${i}`, { rules: [{ host: `h${i}.example.com`, paths: [{ path: '/', service: 'web', port: 8080 }] }] }));
const registry = new FakeRegistry().start();
const kube = new KubeClient({ server: sandbox.url, source: 'explicit' });
const start = () =>
  new IngressSync({
    kube,
    registry: new RouteRegistryClient({ apiUrl: registry.url, token: registry.token }),
    scope: 'managed',
    forceTunnel: true,
    detectionWaitMs: 120_000,
    refreshIntervalMs: 0,
    clusterId: 'bench',
    log: quiet,
  });

// ---- (1) startup ----
const startup: number[] = [];
const baseline: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  registry.reset();
  const t0 = performance.now();
  const s = start();
  const call = await registry.next((c) => c.op === 'sync');
  await s.engine.whenIdle();
  startup.push(performance.now() - t0);
  if (registry.routes.size !== N) throw new Error(`expected ${N} routes, registry has ${registry.routes.size}`);
  await s.stop();
  // Baseline: list the Ingresses and POST the very same body once.
  const b0 = performance.now();
  await kube.list('/apis/networking.k8s.io/v1/ingresses', { limit: 500 }).then(async (p) => p.metadata.continue && kube.list('/apis/networking.k8s.io/v1/ingresses', { limit: 500, continue: p.metadata.continue }));
  await kube.list('/api/v1/services');
  await fetch(`${registry.url}/api/v1/gateway/routes/sync`, { method: 'POST', headers: { authorization: `Bearer ${registry.token}`, 'content-type': 'application/json' }, body: JSON.stringify(call.body) });
  baseline.push(performance.now() - b0);
}

// ---- (2) change → register ----
registry.reset();
const s = start();
await registry.next((c) => c.op === 'sync');
await s.engine.whenIdle();
const lat: number[] = [];
for (let i = 0; i < CHANGES; i++) {
  const host = `changed-${i}.example.com`;
  const got = registry.next((c) => c.op === 'register' && (c.body as { hostname: string }).hostname === host);
  const t0 = performance.now();
  sandbox.apply(ingress('app', `ing-${i}`, { rules: [{ host, paths: [{ path: '/', service: 'web', port: 8080 }] }] }));
  const c = await got;
  lat.push(c.at - t0);
  await s.engine.whenIdle();
}
await s.stop();

// Baseline: a bare informer on the same collection, from apply() to its onUpdate.
const ac = new AbortController();
let seen: ((t: number) => void) | null = null;
let synced: () => void = () => {};
const ready = new Promise<void>((r) => {
  synced = r;
});
listWatch<KubeObject>(kube, '/apis/networking.k8s.io/v1/ingresses', { onAdd() {}, onDelete() {}, onUpdate: () => seen?.(performance.now()), onSynced: () => synced() }, { signal: ac.signal });
await ready;
const watchLat: number[] = [];
for (let i = 0; i < CHANGES; i++) {
  const got = new Promise<number>((r) => {
    seen = r;
  });
  const t0 = performance.now();
  sandbox.apply(ingress('app', `ing-${i}`, { rules: [{ host: `again-${i}.example.com`, paths: [{ path: '/', service: 'web', port: 8080 }] }] }));
  watchLat.push((await got) - t0);
}
ac.abort();

const med = (xs: number[]) => pct(xs, 50);
console.log(`\nIngress sync, ${N} managed Ingresses (Bun ${Bun.version}, sandbox API server + fake registry on loopback)\n`);
console.log('| measurement | ours | baseline | ratio | target |');
console.log('|---|---|---|---|---|');
console.log(`| informer start → bulk sync acknowledged (median of ${ROUNDS}) | ${ms(med(startup))} | ${ms(med(baseline))} (list + one POST) | ${(med(startup) / med(baseline)).toFixed(2)}× | ≤ 1000 ms |`);
console.log(`| … best / worst | ${ms(Math.min(...startup))} / ${ms(Math.max(...startup))} | ${ms(Math.min(...baseline))} / ${ms(Math.max(...baseline))} | | |`);
console.log(`| Ingress change → register, p50 (${CHANGES} changes) | ${ms(pct(lat, 50))} | ${ms(pct(watchLat, 50))} (bare informer event) | ${(pct(lat, 50) / pct(watchLat, 50)).toFixed(2)}× | |`);
console.log(`| Ingress change → register, p99 | ${ms(pct(lat, 99))} | ${ms(pct(watchLat, 99))} | ${(pct(lat, 99) / pct(watchLat, 99)).toFixed(2)}× | ≤ 50 ms |`);
await registry.stop();
await sandbox.close();
