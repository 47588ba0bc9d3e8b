// The L4 tunnel registry REST API (protocol.md §1.2) against a real hub: register/sync/deregister/list semantics,
// per-cluster ownership and auth (as for routes), validation with per-entry rejection in sync, upstream's
// service-less sync entries, the change notification and persistence across a restart.
import { afterEach, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { tokenDigest } from '../../src/hub/auth.ts';
import type { Hub } from '../../src/hub/server.ts';
import { Hono } from 'hono';
import { EndpointPolicy } from '../../src/hub/routes/endpoint-policy.ts';
import { TunnelStore } from '../../src/hub/tunnels/tunnel-store.ts';
import { mountTunnelsApi } from '../../src/hub/tunnels/tunnels-api.ts';
import { Database } from '../../src/runtime/sqlite.ts';
import { AGENT_TOKEN, quietLog, tempDir, testHub } from '../support/hub-agent.ts';

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

function cluster(h: Hub, name: string, token = AGENT_TOKEN) {
  return h.store.register({ agentId: `agent-${name}`, name, k8sVersion: 'v1.31.0', agentVersion: 'test', tokenDigest: tokenDigest(token), metadata: {}, registration: {} }).cluster_id;
}

const base = (h: Hub, id: string) => `${h.url}/api/v1/clusters/agent/${id}/tunnels`;
const req = (url: string, method: string, body?: unknown, token = AGENT_TOKEN) =>
  fetch(url, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

const tunnel = (clusterId: string, gw: string, port: number, extra: Record<string, unknown> = {}) => ({
  cluster_uuid: clusterId,
  protocol: 'tcp',
  tunnel_id: `tcp-${clusterId}-${gw}-${port}`,
  gateway_name: gw,
  gateway_namespace: 'apps',
  gateway_port: port,
  service_name: 'redis',
  service_namespace: 'apps',
  service_port: 6379,
  routing_mode: 'tunnel',
  ...extra,
});

const ids = async (h: Hub, clusterId?: string) => (await h.tunnels.list(clusterId)).map((t) => t.tunnel_id);

describe('tunnel registry API', () => {
  test('register: 201 when created, 200 when unchanged or updated; the answer is the registration', async () => {
    const h = await hub();
    const a = cluster(h, 'alpha');
    let changes = 0;
    h.tunnels.onChange(() => changes++);
    const r1 = await req(base(h, a), 'POST', tunnel(a, 'gw', 6379, { labels: { b: '2', a: '1' } }));
    expect(r1.status).toBe(201);
    expect(await r1.json()).toMatchObject({ cluster_uuid: a, tunnel_id: `tcp-${a}-gw-6379`, protocol: 'tcp', service_name: 'redis', routing_mode: 'tunnel', labels: { a: '1', b: '2' } });
    expect((await req(base(h, a), 'POST', tunnel(a, 'gw', 6379, { labels: { a: '1', b: '2' } }))).status).toBe(200);
    expect(changes).toBe(1);
    const r3 = await req(base(h, a), 'POST', tunnel(a, 'gw', 6379, { service_port: 6380 }));
    expect(r3.status).toBe(200);
    expect(changes).toBe(2);
    expect((await h.tunnels.get(a, `tcp-${a}-gw-6379`))?.service_port).toBe(6380);
    // Routing mode defaults to tunnel; the body's cluster_uuid may be omitted.
    const { cluster_uuid: _, routing_mode: __, ...bare } = tunnel(a, 'gw', 53, { protocol: 'udp', tunnel_id: `udp-${a}-gw-53` });
    expect((await req(base(h, a), 'POST', bare)).status).toBe(201);
    expect((await h.tunnels.get(a, `udp-${a}-gw-53`))?.routing_mode).toBe('tunnel');
  });

  test('sync replaces the cluster\'s set, rejects invalid entries one by one, and leaves other clusters alone', async () => {
    const h = await hub();
    const a = cluster(h, 'alpha');
    const b = cluster(h, 'beta');
    await req(base(h, a), 'POST', tunnel(a, 'old', 1000));
    await req(base(h, b), 'POST', tunnel(b, 'gw', 1000));
    let changes = 0;
    h.tunnels.onChange(() => changes++);
    const r = await req(`${base(h, a)}/sync`, 'POST', {
      cluster_uuid: a,
      tunnels: [tunnel(a, 'x', 1), tunnel(a, 'y', 2), tunnel(a, 'bad', 70000), tunnel(a, 'x', 1), tunnel(a, 'z', 3, { protocol: 'sctp' })],
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { accepted: { tunnel_id: string }[]; rejected: { tunnel_id: string; reason: string }[]; added: number; removed: number };
    expect(body.accepted.map((t) => t.tunnel_id)).toEqual([`tcp-${a}-x-1`, `tcp-${a}-y-2`]);
    expect(body.rejected.map((x) => x.tunnel_id)).toEqual([`tcp-${a}-bad-70000`, `tcp-${a}-x-1`, `tcp-${a}-z-3`]);
    expect(body.rejected[0]!.reason).toContain('gateway_port 70000');
    expect(body.rejected[1]!.reason).toContain('more than once');
    expect(body.rejected[2]!.reason).toContain('protocol "sctp"');
    expect(body).toMatchObject({ added: 2, removed: 1 });
    expect(changes).toBe(1);
    expect(await ids(h, a)).toEqual([`tcp-${a}-x-1`, `tcp-${a}-y-2`]);
    expect(await ids(h, b)).toEqual([`tcp-${b}-gw-1000`]);
    // The same set again changes nothing; an empty set (or null, as Go encodes an empty slice) clears.
    await req(`${base(h, a)}/sync`, 'POST', { cluster_uuid: a, tunnels: [tunnel(a, 'x', 1), tunnel(a, 'y', 2)] });
    expect(changes).toBe(1);
    expect((await req(`${base(h, a)}/sync`, 'POST', { cluster_uuid: a, tunnels: null })).status).toBe(200);
    expect(await ids(h, a)).toEqual([]);
    expect(changes).toBe(2);
  });

  test('an upstream sync entry without a service keeps the service it was registered with', async () => {
    const h = await hub();
    const a = cluster(h, 'alpha');
    await req(base(h, a), 'POST', tunnel(a, 'gw', 6379));
    const upstreamShape = { ...tunnel(a, 'gw', 6379), service_name: '', service_namespace: '', service_port: 0 };
    const r = await req(`${base(h, a)}/sync`, 'POST', { cluster_uuid: a, tunnels: [upstreamShape, { ...upstreamShape, tunnel_id: `tcp-${a}-gw-7000`, gateway_port: 7000 }] });
    expect(r.status).toBe(200);
    expect(await h.tunnels.get(a, `tcp-${a}-gw-6379`)).toMatchObject({ service_name: 'redis', service_namespace: 'apps', service_port: 6379 });
    // A listener without a route has no service at all.
    expect(await h.tunnels.get(a, `tcp-${a}-gw-7000`)).toMatchObject({ service_name: '', service_namespace: '', service_port: 0 });
  });

  test('deregister removes one tunnel of the path\'s cluster; unknown ids are fine; list is an array', async () => {
    const h = await hub();
    const a = cluster(h, 'alpha');
    const b = cluster(h, 'beta');
    await req(base(h, a), 'POST', tunnel(a, 'gw', 1));
    await req(base(h, a), 'POST', tunnel(a, 'gw', 2));
    await req(base(h, b), 'POST', tunnel(b, 'gw', 1, { tunnel_id: `tcp-${a}-gw-1` }));
    const d = await req(`${base(h, a)}/tcp-${a}-gw-1`, 'DELETE');
    expect(d.status).toBe(200);
    expect(await d.json()).toEqual({ ok: true, removed: 1 });
    expect(await ((await req(`${base(h, a)}/nope`, 'DELETE')).json())).toEqual({ ok: true, removed: 0 });
    // Beta's tunnel with the same id is its own.
    expect(await ids(h, b)).toEqual([`tcp-${a}-gw-1`]);
    const l = await req(base(h, a), 'GET');
    expect(l.status).toBe(200);
    expect(((await l.json()) as { tunnel_id: string }[]).map((t) => t.tunnel_id)).toEqual([`tcp-${a}-gw-2`]);
  });

  test('validation: each malformed field is a 400 naming it; direct needs an allowed public endpoint', async () => {
    const h = await hub();
    const a = cluster(h, 'alpha');
    const cases: [Record<string, unknown>, string][] = [
      [{ protocol: 'TCP' }, 'protocol'],
      [{ tunnel_id: '' }, 'tunnel_id'],
      [{ tunnel_id: 'a/b' }, 'tunnel_id'],
      [{ gateway_name: 'Bad_Name' }, 'gateway_name'],
      [{ gateway_namespace: '' }, 'gateway_namespace'],
      [{ gateway_port: 0 }, 'gateway_port'],
      [{ service_port: 0 }, 'service_port'],
      [{ service_namespace: 'a b' }, 'service_namespace'],
      [{ routing_mode: 'sideways' }, 'routing_mode'],
      [{ routing_mode: 'direct' }, 'public_endpoint'],
      [{ routing_mode: 'direct', public_endpoint: 'no-port' }, 'public_endpoint'],
      [{ cluster_uuid: 'someone-else' }, 'cluster_uuid'],
      [{ gateway_port: 'eighty' }, 'gateway_port'],
    ];
    for (const [over, field] of cases) {
      const r = await req(base(h, a), 'POST', tunnel(a, 'gw', 5000, over));
      expect(r.status).toBe(400);
      expect(((await r.json()) as { message: string }).message).toContain(field);
    }
    const loop = await req(base(h, a), 'POST', tunnel(a, 'gw', 5000, { routing_mode: 'direct', public_endpoint: '127.0.0.1:5000' }));
    expect(loop.status).toBe(400);
    expect(((await loop.json()) as { error: string }).error).toBe('endpoint_refused');
    expect((await req(base(h, a), 'POST', tunnel(a, 'gw', 5000, { routing_mode: 'dual', public_endpoint: '203.0.113.9:5000' }))).status).toBe(201);
    const notJson = await fetch(base(h, a), { method: 'POST', headers: { authorization: `Bearer ${AGENT_TOKEN}` }, body: '{' });
    expect(notJson.status).toBe(400);
    expect(await ids(h, a)).toEqual([`tcp-${a}-gw-5000`]);
  });

  test('auth: bad token 401, another cluster\'s token 403, unknown cluster 404 — and nothing changes', async () => {
    const h = await hub();
    const a = cluster(h, 'alpha');
    await req(base(h, a), 'POST', tunnel(a, 'gw', 1));
    expect((await req(base(h, a), 'POST', tunnel(a, 'gw', 2), 'wrong')).status).toBe(401);
    expect((await fetch(base(h, a), { method: 'POST', body: JSON.stringify(tunnel(a, 'gw', 2)) })).status).toBe(401);
    expect((await req(base(h, a), 'POST', tunnel(a, 'gw', 2), OTHER_TOKEN)).status).toBe(403);
    expect((await req(`${base(h, a)}/sync`, 'POST', { tunnels: [] }, OTHER_TOKEN)).status).toBe(403);
    expect((await req(`${base(h, a)}/tcp-${a}-gw-1`, 'DELETE', undefined, OTHER_TOKEN)).status).toBe(403);
    expect((await req(base(h, a), 'GET', undefined, OTHER_TOKEN)).status).toBe(403);
    expect((await req(base(h, 'no-such-cluster'), 'POST', tunnel('no-such-cluster', 'gw', 2))).status).toBe(404);
    expect(await ids(h)).toEqual([`tcp-${a}-gw-1`]);
  });

  test('tunnels and their assigned hub port survive a restart and a re-registration', async () => {
    const state = join(tempDir(), 'hub.db');
    const h1 = await hub(state);
    const a = cluster(h1, 'alpha');
    await req(base(h1, a), 'POST', tunnel(a, 'gw', 1));
    expect(await h1.tunnels.setTunnelPort(a, `tcp-${a}-gw-1`, 40001)).toBe(true);
    expect(await h1.tunnels.setTunnelPort(a, 'gone', 40002)).toBe(false);
    const before = await h1.tunnels.list();
    await h1.stop();
    hubs.splice(hubs.indexOf(h1), 1);
    const h2 = await hub(state);
    expect(await h2.tunnels.list()).toEqual(before);
    await req(base(h2, a), 'POST', tunnel(a, 'gw', 1, { service_port: 1234 }));
    await req(`${base(h2, a)}/sync`, 'POST', { tunnels: [tunnel(a, 'gw', 1, { service_port: 4321 })] });
    expect(await h2.tunnels.get(a, `tcp-${a}-gw-1`)).toMatchObject({ tunnel_port: 40001, service_port: 4321 });
  });
});

describe('tunnel registry limits', () => {
  test('at most maxTunnelsPerCluster per cluster: a new one beyond is 409, a bigger sync 413; updates and other clusters pass', async () => {
    const app = new Hono();
    const tunnels = new TunnelStore(new Database(':memory:'));
    const clusters = { get: (id: string) => (id === 'a' || id === 'b' ? ({ cluster_id: id, token_sha256: '' } as never) : null) };
    mountTunnelsApi(app, { tunnels, clusters, agentTokens: [AGENT_TOKEN], log: quietLog, endpointPolicy: new EndpointPolicy([], []), maxTunnelsPerCluster: 3 });
    const call = (path: string, body: unknown) =>
      app.request(`/api/v1/clusters/agent/${path}`, { method: 'POST', headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (const port of [1, 2, 3]) expect((await call('a/tunnels', tunnel('a', 'gw', port))).status).toBe(201);
    const extra = await call('a/tunnels', tunnel('a', 'gw', 4));
    expect(extra.status).toBe(409);
    expect(((await extra.json()) as { error: string }).error).toBe('too_many_tunnels');
    expect((await call('a/tunnels', tunnel('a', 'gw', 1, { service_port: 1234 }))).status).toBe(200);
    expect((await call('a/tunnels/sync', { tunnels: [1, 2, 3, 4].map((p) => tunnel('a', 'gw', p)) })).status).toBe(413);
    expect((await call('b/tunnels', tunnel('b', 'gw', 1))).status).toBe(201);
    expect((await tunnels.list('a')).map((t) => t.gateway_port)).toEqual([1, 2, 3]);
  });
});
