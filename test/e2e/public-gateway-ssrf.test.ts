// Direct routes as an attacker with an agent token would use them (issue 11 §1, §2): endpoints aimed at
// loopback, metadata, private ranges or the hub's own listeners are refused at registration (400) and again at
// connect time (a route stored by other means, a name rebound after registration), and paths are matched and
// forwarded in one normalised form. Canary listeners on 127.0.0.2 must receive nothing.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Server } from 'bun';
import { tokenDigest } from '../../src/hub/auth.ts';
import { HubConfigSchema } from '../../src/hub/config/schema.ts';
import { type Hub, startHub } from '../../src/hub/server.ts';
import { AGENT_TOKEN, quietLog } from '../support/hub-agent.ts';
import { rawRequest } from '../support/raw-http.ts';

/** A listener that records every request it receives (it must receive none). */
function listener(hostname: string, seen: string[]) {
  return Bun.serve({
    hostname,
    port: 0,
    fetch(req, srv) {
      const u = new URL(req.url);
      seen.push(`${req.method} ${u.pathname} auth=${req.headers.get('authorization') ?? ''}`);
      if (req.headers.get('upgrade') && srv.upgrade(req)) return;
      return Response.json({ path: u.pathname });
    },
    websocket: { message() {} },
  });
}

const canarySeen: string[] = [];
const backendSeen: string[] = [];
let canary: Server<unknown>;
let backend: Server<unknown>;
let hub: Hub;
let clusterId: string;
/** Answers of the injected resolver by name; `rebind.example.com` changes its answer after the first lookup. */
let rebindLookups = 0;

beforeAll(async () => {
  canary = listener('127.0.0.2', canarySeen);
  backend = listener('127.0.0.1', backendSeen);
  hub = await startHub(
    HubConfigSchema.parse({ port: 0, kube_port: 0, gateway_port: 0, agent_tokens: [AGENT_TOKEN], state: ':memory:', direct_allowed_cidrs: ['127.0.0.1/32'] }),
    quietLog,
    {
      lookup: async (name) => {
        if (name === 'rebind.example.com') return rebindLookups++ === 0 ? ['93.184.216.34'] : ['127.0.0.2'];
        if (name === 'localhost') return ['127.0.0.1', '::1'];
        if (name === 'metadata.example.com') return ['93.184.216.34', '169.254.169.254'];
        throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      },
    },
  );
  clusterId = (await hub.store.register({ agentId: 'attacker', name: 'attacker', k8sVersion: 'v1.31.0', agentVersion: 'test', tokenDigest: tokenDigest(AGENT_TOKEN), metadata: {}, registration: {} })).cluster_id;
});

afterAll(async () => {
  await hub?.stop();
  canary?.stop(true);
  backend?.stop(true);
});

const register = (hostname: string, endpoint: string, path = '/') =>
  fetch(`${hub.url}/api/v1/gateway/routes/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ hostname, cluster_uuid: clusterId, namespace: 'pipeops-system', service_name: 'traefik', service_port: 80, ingress_name: 'x', path, path_type: 'Prefix', tls: false, routing_mode: 'direct', public_endpoint: endpoint }),
  });

const viaGateway = (host: string, target: string, headers: Record<string, string> = {}) =>
  rawRequest(hub.gatewayUrl, target, { host, headers: { authorization: 'Bearer client-secret', cookie: 'session=client', ...headers } });

describe('direct endpoints (SSRF)', () => {
  test('registration refuses loopback, link-local, unspecified, multicast, private ranges and the hub itself, with the reason', async () => {
    const port = (u: string) => new URL(u).port;
    const cases: [string, RegExp][] = [
      [`127.0.0.2:${canary.port}`, /127\.0\.0\.2 is a loopback address, not in direct_allowed_cidrs/],
      ['169.254.169.254:80', /link-local/],
      [`localhost:${hub.port}`, /one of the hub's own listeners|::1 is a loopback/],
      [`127.0.0.1:${hub.port}`, /one of the hub's own listeners/],
      [`127.0.0.1:${port(hub.kubeUrl)}`, /one of the hub's own listeners/],
      [`127.0.0.1:${port(hub.gatewayUrl)}`, /one of the hub's own listeners/],
      ['0.0.0.0:80', /unspecified/],
      ['[::]:80', /unspecified/],
      ['[::1]:80', /loopback/],
      [`[::ffff:127.0.0.2]:${canary.port}`, /127\.0\.0\.2 is a loopback address/],
      ['224.0.0.1:80', /multicast/],
      ['10.1.2.3:80', /10\.1\.2\.3 is a private address/],
      ['192.168.1.1:80', /private/],
      ['[fd00::1]:80', /unique-local/],
      ['metadata.example.com:80', /metadata\.example\.com resolves to 169\.254\.169\.254 is a link-local address/],
      ['nowhere.example.com:80', /does not resolve \(ENOTFOUND\)/],
    ];
    for (const [endpoint, reason] of cases) {
      const r = await register('evil.example.com', endpoint);
      const body = (await r.json()) as { error: string; message: string };
      expect({ endpoint, status: r.status, error: body.error }).toEqual({ endpoint, status: 400, error: 'endpoint_refused' });
      expect(body.message).toMatch(reason);
    }
    // The same rule for a bulk sync.
    const sync = await fetch(`${hub.url}/api/v1/gateway/routes/sync`, {
      method: 'POST',
      headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        cluster_uuid: clusterId,
        routing_mode: 'direct',
        public_endpoint: '169.254.169.254:80',
        ingresses: [{ namespace: 'x', ingress_name: 'x', rules: [{ host: 'evil.example.com', tls: false, paths: [{ path: '/', path_type: 'Prefix', service_name: 's', service_port: 80 }] }] }],
      }),
    });
    expect(sync.status).toBe(400);
    expect((await hub.routes.list()).filter((r) => r.hostname === 'evil.example.com')).toEqual([]);
    expect((await viaGateway('evil.example.com', '/latest/meta-data/')).status).toBe(404);
    expect(canarySeen).toEqual([]);
  });

  test('an allowed endpoint registers and is served (the policy is not a blanket refusal)', async () => {
    expect((await register('ok.example.com', `127.0.0.1:${backend.port}`)).status).toBe(200);
    const r = await viaGateway('ok.example.com', '/hello');
    expect(r.status).toBe(200);
    expect(backendSeen).toContain('GET /hello auth=Bearer client-secret');
  });

  test('connect time: a route stored without the registration check is refused before any connection', async () => {
    // As if registered by an older hub, or before the operator narrowed direct_allowed_cidrs.
    await hub.routes.register({ cluster_id: clusterId, hostname: 'stale.example.com', path: '/', path_type: 'Prefix', namespace: 'x', service_name: 'x', service_port: 80, ingress_namespace: '', ingress_name: '', tls: false, annotations: {}, public_endpoint: `127.0.0.2:${canary.port}`, routing_mode: 'direct', deployment_id: '', deployment_name: '' });
    const r = await viaGateway('stale.example.com', '/latest/meta-data/');
    expect(r.status).toBe(502);
    expect(r.body).toContain("refused by the hub's address policy");
    const up = await viaGateway('stale.example.com', '/ws', { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' });
    expect(up.status).toBe(502);
    expect(canarySeen).toEqual([]);
  });

  test('DNS rebinding: a name that resolved to a public address at registration and to loopback afterwards is refused', async () => {
    expect((await register('rebind.example.com', `rebind.example.com:${canary.port}`)).status).toBe(200);
    const r = await viaGateway('rebind.example.com', '/latest/meta-data/');
    expect(r.status).toBe(502);
    expect(rebindLookups).toBeGreaterThanOrEqual(2);
    expect(canarySeen).toEqual([]);
  });
});

describe('request paths (one normalised form, matched and forwarded)', () => {
  beforeAll(async () => {
    expect((await register('paths.example.com', `127.0.0.1:${backend.port}`, '/admin')).status).toBe(200);
  });

  test('dot segments, encoded dots and duplicate slashes are resolved before matching; the backend gets what matched', async () => {
    backendSeen.length = 0;
    const cases: [string, number, string | null][] = [
      ['/admin/../x', 404, null],
      ['/admin/%2e%2e/x', 404, null],
      ['/admin/.%2E/x', 404, null],
      ['//admin//a/./b', 200, '/admin/a/b'],
      ['/admin/sub/../y', 200, '/admin/y'],
      ['/x/../admin/z', 200, '/admin/z'],
    ];
    for (const [target, status, forwarded] of cases) {
      const before = backendSeen.length;
      const r = await viaGateway('paths.example.com', target);
      expect({ target, status: r.status }).toEqual({ target, status });
      const got = backendSeen.slice(before).map((l) => l.split(' ')[1]);
      expect({ target, got }).toEqual({ target, got: forwarded ? [forwarded] : [] });
    }
  });

  test('paths whose meaning would change downstream are refused with 400 and reach no backend', async () => {
    backendSeen.length = 0;
    for (const target of ['/admin/..%2fx', '/admin/..%2F..%2Fx', '/admin/..;/x', '/admin/..%5cx', '/admin\\..\\x', '/..', '/admin/%zz']) {
      const r = await viaGateway('paths.example.com', target);
      expect({ target, status: r.status }).toEqual({ target, status: 400 });
    }
    expect(backendSeen).toEqual([]);
  });
});
