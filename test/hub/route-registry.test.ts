// The route registry REST API (protocol.md §1.1) against a real hub: semantics, conflicts, validation, auth,
// persistence across a restart.
import { afterEach, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { tokenDigest } from '../../src/hub/auth.ts';
import type { Hub } from '../../src/hub/server.ts';
import { ADMIN_TOKEN, AGENT_TOKEN, tempDir, testHub } from '../support/hub-agent.ts';

const OTHER_TOKEN = 'other-agent-token-for-tests';
const hubs: Hub[] = [];
afterEach(async () => {
  for (const h of hubs.splice(0)) await h.stop();
});

async function hub(state = ':memory:') {
  const h = await testHub({ agent_tokens: [AGENT_TOKEN, OTHER_TOKEN], state });
  hubs.push(h);
  return h;
}

async function cluster(h: Hub, name: string, token = AGENT_TOKEN) {
  return (await h.store.register({ agentId: `agent-${name}`, name, k8sVersion: 'v1.31.0', agentVersion: 'test', tokenDigest: tokenDigest(token), metadata: {}, registration: {} })).cluster_id;
}

const call = (h: Hub, op: string, body: unknown, token = AGENT_TOKEN) =>
  fetch(`${h.url}/api/v1/gateway/routes/${op}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

const route = (clusterId: string, hostname: string, path = '/', extra: Record<string, unknown> = {}) => ({
  hostname,
  cluster_uuid: clusterId,
  namespace: 'pipeops-system',
  service_name: 'traefik',
  service_port: 80,
  ingress_name: 'web',
  path,
  path_type: 'Prefix',
  tls: false,
  routing_mode: 'tunnel',
  ...extra,
});

const syncBody = (clusterId: string, hosts: Record<string, string[]>) => ({
  cluster_uuid: clusterId,
  routing_mode: 'tunnel',
  ingress_controller: { name: 'traefik', namespace: 'pipeops-system', port: 80, type: 'traefik' },
  ingresses: Object.entries(hosts).map(([host, paths], i) => ({
    namespace: 'apps',
    ingress_name: `ing-${i}`,
    rules: [{ host, tls: false, paths: paths.map((p) => ({ path: p, path_type: 'Prefix', service_name: 'traefik', service_port: 80 })) }],
  })),
});

async function listed(h: Hub): Promise<{ cluster_id: string; cluster_name: string; hostname: string; path: string; path_type: string; routing_mode: string; public_endpoint: string | null; service: string }[]> {
  const r = await fetch(`${h.url}/api/v1/gateway/routes`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(r.status).toBe(200);
  return ((await r.json()) as { routes: never[] }).routes;
}
const keys = async (h: Hub) => (await listed(h)).map((r) => `${r.cluster_name}:${r.hostname}${r.path}`).sort();

describe('route registry API', () => {
  test('register: one route per (host, path); success is exactly 200', async () => {
    const h = await hub();
    const a = await cluster(h, 'alpha');
    for (const [host, path] of [['app.example.com', '/'], ['app.example.com', '/api'], ['app.example.com', '/api']]) {
      const r = await call(h, 'register', route(a, host!, path));
      expect(r.status).toBe(200);
      expect(((await r.json()) as { ok: boolean }).ok).toBe(true);
    }
    expect(await keys(h)).toEqual(['alpha:app.example.com/', 'alpha:app.example.com/api']);
    const [first] = await listed(h);
    expect(first).toMatchObject({ cluster_id: a, routing_mode: 'tunnel', public_endpoint: null, service: 'pipeops-system/traefik:80', path_type: 'Prefix' });
  });

  test('sync replaces the cluster\'s whole set; an empty sync clears it; other clusters are untouched', async () => {
    const h = await hub();
    const a = await cluster(h, 'alpha');
    const b = await cluster(h, 'beta');
    expect((await call(h, 'register', route(a, 'old.example.com'))).status).toBe(200);
    expect((await call(h, 'register', route(b, 'beta.example.com'))).status).toBe(200);
    const r = await call(h, 'sync', syncBody(a, { 'x.example.com': ['/', '/api'], 'y.example.com': ['/'] }));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ routes: 3, added: 3, removed: 1 });
    expect(await keys(h)).toEqual(['alpha:x.example.com/', 'alpha:x.example.com/api', 'alpha:y.example.com/', 'beta:beta.example.com/']);
    // The old host is free again: another cluster may claim it.
    expect((await call(h, 'register', route(b, 'old.example.com'))).status).toBe(200);
    expect((await call(h, 'sync', syncBody(a, {}))).status).toBe(200);
    expect(await keys(h)).toEqual(['beta:beta.example.com/', 'beta:old.example.com/']);
  });

  test('unregister removes every route of the host; unknown hosts are fine', async () => {
    const h = await hub();
    const a = await cluster(h, 'alpha');
    await call(h, 'sync', syncBody(a, { 'x.example.com': ['/', '/api'], 'y.example.com': ['/'] }));
    const r = await call(h, 'unregister', { hostname: 'x.example.com' });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ removed: 2 });
    expect(await keys(h)).toEqual(['alpha:y.example.com/']);
    expect((await call(h, 'unregister', { hostname: 'never.example.com' })).status).toBe(200);
  });

  test('a hostname belongs to one cluster: another cluster\'s claim is 409 naming the owner, and changes nothing', async () => {
    const h = await hub();
    const a = await cluster(h, 'alpha');
    const b = await cluster(h, 'beta', OTHER_TOKEN);
    expect((await call(h, 'register', route(a, 'shop.example.com'))).status).toBe(200);
    expect((await call(h, 'sync', syncBody(b, { 'beta.example.com': ['/'] }), OTHER_TOKEN)).status).toBe(200);

    const reg = await call(h, 'register', route(b, 'shop.example.com', '/other'), OTHER_TOKEN);
    expect(reg.status).toBe(409);
    const body = (await reg.json()) as { message: string; owner_cluster: string };
    expect(body.message).toContain('alpha');
    expect(body.message).toContain(a);
    expect(body.owner_cluster).toBe(a);

    // A sync containing a taken host is refused whole: beta keeps its previous set.
    const sync = await call(h, 'sync', syncBody(b, { 'new.example.com': ['/'], 'shop.example.com': ['/'] }), OTHER_TOKEN);
    expect(sync.status).toBe(409);
    expect(((await sync.json()) as { message: string }).message).toContain('shop.example.com');
    // Beta cannot unregister alpha's host.
    expect((await call(h, 'unregister', { hostname: 'shop.example.com' }, OTHER_TOKEN)).status).toBe(409);
    expect(await keys(h)).toEqual(['alpha:shop.example.com/', 'beta:beta.example.com/']);
  });

  test('invalid hosts and paths are 400 with a message', async () => {
    const h = await hub();
    const a = await cluster(h, 'alpha');
    const cases: [Record<string, unknown>, string][] = [
      [route(a, 'Upper.Example.com'), 'lower-case'],
      [route(a, 'bad_host.example.com'), 'RFC 1123'],
      [route(a, `${'a'.repeat(250)}.com`), '253'],
      [route(a, 'ok.example.com', '/a/../b'), '..'],
      [route(a, 'ok.example.com', 'relative'), "start with '/'"],
      [route(a, 'ok.example.com', '/a\u0001b'), 'control character'],
      [route(a, 'ok.example.com', '/', { path_type: 'Regex' }), 'path_type'],
      [route(a, 'ok.example.com', '/', { routing_mode: 'direct' }), 'public_endpoint'],
      [route(a, 'ok.example.com', '/', { routing_mode: 'direct', public_endpoint: 'no-port' }), 'host:port'],
      [route(a, 'ok.example.com', '/', { service_port: 0 }), 'service_port'],
      [{ hostname: 'x.example.com' }, 'cluster_uuid'],
    ];
    for (const [body, why] of cases) {
      const r = await call(h, 'register', body);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { message: string }).message).toContain(why);
    }
    const bad = syncBody(a, { 'OK.example.com': ['/'] });
    const s = await call(h, 'sync', bad);
    expect(s.status).toBe(400);
    expect(((await s.json()) as { message: string }).message).toContain('ing-0');
    const u = await fetch(`${h.url}/api/v1/gateway/routes/register`, { method: 'POST', headers: { authorization: `Bearer ${AGENT_TOKEN}` }, body: '{not json' });
    expect(u.status).toBe(400);
    expect(await keys(h)).toEqual([]);
  });

  test('auth: a bad or missing token is 401; another cluster\'s token is 403; unknown cluster 404', async () => {
    const h = await hub();
    const a = await cluster(h, 'alpha');
    for (const token of ['wrong-token-xxxxxxxx', '']) {
      for (const op of ['register', 'sync', 'unregister']) {
        const r = await fetch(`${h.url}/api/v1/gateway/routes/${op}`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {}, body: JSON.stringify(route(a, 'x.example.com')) });
        expect(r.status).toBe(401);
        expect(await r.text()).not.toContain('wrong-token');
      }
    }
    expect((await call(h, 'register', route(a, 'x.example.com'), OTHER_TOKEN)).status).toBe(403);
    expect((await call(h, 'register', route('no-such-cluster', 'x.example.com'))).status).toBe(404);
    expect((await fetch(`${h.url}/api/v1/gateway/routes`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } })).status).toBe(401);
    expect(await keys(h)).toEqual([]);
  });

  test('routes survive a hub restart', async () => {
    const state = join(tempDir(), 'hub.db');
    const h1 = await hub(state);
    const a = await cluster(h1, 'alpha');
    await call(h1, 'sync', syncBody(a, { 'x.example.com': ['/', '/api'] }));
    await call(h1, 'register', route(a, 'direct.example.com', '/', { routing_mode: 'direct', public_endpoint: '203.0.113.7:443' }));
    const before = await listed(h1);
    await h1.stop();
    hubs.splice(hubs.indexOf(h1), 1);
    const h2 = await hub(state);
    expect(await listed(h2)).toEqual(before);
    expect((await listed(h2)).find((r) => r.hostname === 'direct.example.com')).toMatchObject({ routing_mode: 'direct', public_endpoint: '203.0.113.7:443' });
    // The host is still owned after the restart.
    const b = await cluster(h2, 'beta');
    expect((await call(h2, 'register', route(b, 'x.example.com'))).status).toBe(409);
  });
});
