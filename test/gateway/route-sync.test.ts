// Scenario tests of the ingress sync against the sandbox API server and the fake registry (deviations G1–G4).
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import { waitFor } from '../support/wait.ts';
import { CLUSTER_ID, type Env, ingress, makeEnv, service } from './support/harness.ts';

let env: Env;
beforeEach(async () => {
  env = await makeEnv();
  env.sandbox.apply(service('app', 'web', { type: 'ClusterIP', ports: [{ name: 'http', port: 8080 }] }));
});
afterEach(async () => {
  await env.close();
});

const web = (host: string, path = '/') => ({ host, paths: [{ path, service: 'web', port: 8080 }] });
const hosts = () => Object.keys(env.registry.snapshot());
const ops = () => env.registry.calls.map((c) => c.op);

describe('startup', () => {
  test('an empty cluster gets one empty bulk sync and nothing else (G3)', async () => {
    const s = env.start();
    await env.settle(s);
    expect(ops()).toEqual(['sync']);
    expect(env.registry.calls[0]!.body).toMatchObject({ cluster_uuid: CLUSTER_ID, routing_mode: 'tunnel', ingresses: [] });
  });

  test('existing Ingresses: exactly one bulk sync, no per-route registers (G1)', async () => {
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com'), web('b.example.com', '/api')] }));
    env.sandbox.apply(ingress('app', 'b', { managed: 'annotation', rules: [web('c.example.com')], tls: true }));
    const s = env.start();
    await env.settle(s);
    expect(ops()).toEqual(['sync']);
    expect(hosts()).toEqual(['a.example.com', 'b.example.com', 'c.example.com']);
    const body = env.registry.calls[0]!.body as Record<string, unknown>;
    expect(body.ingress_controller).toEqual({ name: 'traefik', namespace: 'pipeops-system', port: 80, type: 'traefik' });
    expect(env.registry.routes.get('c.example.com')).toMatchObject({ tls: true, service_name: 'traefik', service_namespace: 'pipeops-system', service_port: 80 });
  });

  test('stale routes at the registry are cleared by the startup sync', async () => {
    const s0 = env.start();
    env.sandbox.apply(ingress('app', 'a', { rules: [web('old.example.com')] }));
    await env.settle(s0);
    await s0.stop();
    env.sandbox.remove('ingresses', 'app', 'a');
    expect(hosts()).toEqual(['old.example.com']);
    const s1 = env.start();
    await env.settle(s1);
    expect(hosts()).toEqual([]);
  });
});

describe('changes', () => {
  test('a new Ingress is registered with register, per route, pointing at the controller', async () => {
    const s = env.start();
    await env.settle(s);
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com')], annotations: { 'pipeops.io/deployment-id': 'dep-1', 'pipeops.io/deployment-name': 'shop' } }));
    await env.settle(s);
    expect(ops()).toEqual(['sync', 'register']);
    expect(env.registry.calls[1]!.body).toEqual({
      hostname: 'a.example.com',
      cluster_uuid: CLUSTER_ID,
      namespace: 'pipeops-system',
      service_name: 'traefik',
      service_port: 80,
      ingress_name: 'a',
      path: '/',
      path_type: 'Prefix',
      tls: false,
      annotations: { 'pipeops.io/deployment-id': 'dep-1', 'pipeops.io/deployment-name': 'shop' },
      routing_mode: 'tunnel',
      deployment_id: 'dep-1',
      deployment_name: 'shop',
    });
  });

  test('unmanaged Ingresses never reach the registry (G4)', async () => {
    env.sandbox.apply(ingress('app', 'x', { managed: 'none', rules: [web('x.example.com')] }));
    const s = env.start();
    await env.settle(s);
    env.sandbox.apply(ingress('app', 'y', { managed: 'none', rules: [web('y.example.com')] }));
    env.sandbox.remove('ingresses', 'app', 'x');
    await env.settle(s);
    expect(ops()).toEqual(['sync']);
    expect(JSON.stringify(env.registry.calls)).not.toContain('example.com');
    // Nothing was written to the unmanaged Ingress (no class migration).
    expect(env.sandbox.requests.filter((r) => r.method !== 'GET').length).toBe(0);
  });

  test('removing the managed label unregisters; adding it back registers', async () => {
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com')] }));
    const s = env.start();
    await env.settle(s);
    env.sandbox.apply(ingress('app', 'a', { managed: 'none', rules: [web('a.example.com')] }));
    await env.settle(s);
    expect(ops()).toEqual(['sync', 'unregister']);
    expect(hosts()).toEqual([]);
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com')] }));
    await env.settle(s);
    expect(hosts()).toEqual(['a.example.com']);
  });

  test('removing a host unregisters it; a host shared by two Ingresses stays until both are gone', async () => {
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com'), web('shared.example.com', '/a')] }));
    env.sandbox.apply(ingress('app', 'b', { rules: [web('shared.example.com', '/b')] }));
    const s = env.start();
    await env.settle(s);
    expect(env.registry.routes.get('shared.example.com')?.ingress_name).toBe('b');
    env.sandbox.apply(ingress('app', 'a', { rules: [web('shared.example.com', '/a')] }));
    await env.settle(s);
    expect(hosts()).toEqual(['shared.example.com']);
    env.sandbox.remove('ingresses', 'app', 'b');
    await env.settle(s);
    // The host lost path /b: it is cleared and its remaining route registered again.
    expect(env.registry.routes.get('shared.example.com')).toMatchObject({ ingress_name: 'a', path: '/a' });
    env.sandbox.remove('ingresses', 'app', 'a');
    await env.settle(s);
    expect(hosts()).toEqual([]);
    expect(env.registry.calls.filter((c) => c.op === 'unregister').map((c) => c.body)).toEqual([{ hostname: 'a.example.com' }, { hostname: 'shared.example.com' }, { hostname: 'shared.example.com' }]);
  });

  test('a host that loses a path is unregistered, then its other routes registered (registries keyed by host and path)', async () => {
    env.sandbox.apply(ingress('app', 'a', { rules: [{ host: 'a.example.com', paths: [{ path: '/', service: 'web', port: 8080 }, { path: '/api', service: 'web', port: 8080 }] }] }));
    const s = env.start();
    await env.settle(s);
    const from = env.registry.calls.length;
    const tail = () => env.registry.calls.slice(from).map((c) => [c.op, (c.body as { hostname?: string; path?: string }).hostname, (c.body as { path?: string }).path]);
    // A path added: only registers (nothing can be left over).
    env.sandbox.apply(ingress('app', 'a', { rules: [{ host: 'a.example.com', paths: [{ path: '/', service: 'web', port: 8080 }, { path: '/api', service: 'web', port: 8080 }, { path: '/v2', service: 'web', port: 8080 }] }] }));
    await env.settle(s);
    expect(tail()).toEqual([
      ['register', 'a.example.com', '/'],
      ['register', 'a.example.com', '/api'],
      ['register', 'a.example.com', '/v2'],
    ]);
    // Paths removed while the host keeps a route: unregister the host first, then register what remains.
    const mid = env.registry.calls.length;
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com', '/api')] }));
    await env.settle(s);
    expect(tail().slice(mid - from)).toEqual([
      ['unregister', 'a.example.com', undefined],
      ['register', 'a.example.com', '/api'],
    ]);
    expect(env.registry.routes.get('a.example.com')).toMatchObject({ path: '/api' });
  });

  test('an Ingress deleted after its Service is still unregistered (G2)', async () => {
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com')] }));
    const s = env.start();
    await env.settle(s);
    env.sandbox.remove('services', 'app', 'web');
    env.sandbox.remove('ingresses', 'app', 'a');
    await env.settle(s);
    expect(hosts()).toEqual([]);
    expect(ops()).toContain('unregister');
  });

  test('a deletion missed by the watch (tombstone after 410 relist) is unregistered', async () => {
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com')] }));
    env.sandbox.apply(ingress('app', 'b', { rules: [web('b.example.com')] }));
    const s = env.start();
    await env.settle(s);
    // Hold the re-watch back, delete while no watch is open, forget history: the informer must relist.
    env.sandbox.faults.latencyMs = 100;
    env.sandbox.faults.dropWatches();
    env.sandbox.remove('services', 'app', 'web');
    env.sandbox.remove('ingresses', 'app', 'a');
    env.sandbox.faults.compact();
    env.sandbox.faults.latencyMs = 0;
    await env.settle(s);
    expect(hosts()).toEqual([]);
    expect(s.stats.tombstones).toBeGreaterThan(0);
  });

  test('updates that do not change routes send nothing', async () => {
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com')] }));
    const s = env.start();
    await env.settle(s);
    const a = env.sandbox.get('ingresses', 'app', 'a') as { metadata: { labels: Record<string, string> } };
    env.sandbox.apply({ ...a, metadata: { ...a.metadata, labels: { ...a.metadata.labels, unrelated: 'x' } } });
    await env.settle(s);
    expect(ops()).toEqual(['sync']);
  });

  test('a Service appearing later adds its routes; a Service turning into a LoadBalancer removes them', async () => {
    env.sandbox.apply(ingress('app', 'a', { rules: [{ host: 'late.example.com', paths: [{ path: '/', service: 'late', port: 'http' }] }] }));
    const s = env.start();
    await env.settle(s);
    expect(hosts()).toEqual([]);
    env.sandbox.apply(service('app', 'late', { type: 'ClusterIP', ports: [{ name: 'http', port: 3000 }] }));
    await env.settle(s);
    expect(hosts()).toEqual(['late.example.com']);
    expect(s.info().hints).toEqual([{ host: 'late.example.com', namespace: 'app', service: 'late', port: 3000 }]);
    env.sandbox.apply(service('app', 'late', { type: 'LoadBalancer', ports: [{ name: 'http', port: 3000 }] }));
    await env.settle(s);
    expect(hosts()).toEqual([]);
  });
});

describe('resync', () => {
  test('reconnect sends one bulk sync', async () => {
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com')] }));
    const s = env.start();
    await env.settle(s);
    s.reconnected();
    await env.settle(s);
    expect(ops()).toEqual(['sync', 'sync']);
  });

  test('periodic refresh sends bulk syncs on the configured interval', async () => {
    const s = env.start({ refreshIntervalMs: 30 });
    await env.settle(s);
    await env.registry.next((c) => c.op === 'sync');
    await env.registry.next((c) => c.op === 'sync');
    expect(ops().every((o) => o === 'sync')).toBe(true);
  });

  test('a failed register is repaired by a bulk sync', async () => {
    const s = env.start();
    await env.settle(s);
    env.registry.failNext(3);
    env.sandbox.apply(ingress('app', 'a', { rules: [web('a.example.com')] }));
    await env.settle(s);
    expect(ops()).toEqual(['sync', 'register', 'register', 'register', 'sync']);
    expect(hosts()).toEqual(['a.example.com']);
  });

  test('a non-200 success status (201) counts as failure and is retried', async () => {
    env.registry.okStatus = 201;
    const s = env.start({ repair: { baseMs: 60_000, maxMs: 60_000 } });
    await waitFor(() => s.engine.counters.failures === 1, { what: 'the sync to fail' });
    // Three attempts, all answered 201, and then nothing until the repair timer (60 s).
    expect(ops()).toEqual(['sync', 'sync', 'sync']);
    expect(s.engine.idle).toBe(false);
  });
});
