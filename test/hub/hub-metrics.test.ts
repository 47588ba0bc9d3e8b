// The hub's /metrics after real traffic (WebSockets, HTTPS to the kube gateway, HTTP to the public gateway and the
// route registry): every counter moved by exactly what was done, gauges follow live state; /healthz and /readyz.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { HUB_METRICS } from '../../src/hub/hub-metrics.ts';
import type { Hub } from '../../src/hub/server.ts';
import { encodeEnvelope } from '../../src/protocol/envelope.ts';
import { CONTROLLER_WS_PATH } from '../../src/protocol/session-urls.ts';
import { parsePromText, type PromSample } from '../routes/prom-text.ts';
import { AGENT_TOKEN, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { connectFakeAgent, type FakeAgent } from './fake-agent.ts';

let hub: Hub;
let agent: FakeAgent;
/** Message bytes the fake agent sent and received on its gateway socket, counted on its side. */
const wire = { sent: 0, received: 0 };

beforeAll(async () => {
  hub = await testHub({ path_routes: [{ path_prefix: '/hook', cluster: 'metrics', namespace: 'default', service: 'web', port: 80, strip_prefix: false }] });
  agent = await connectFakeAgent(hub, 'metrics', 'sa-token-metrics-123456');
  const ws = agent.ws;
  const send = ws.send.bind(ws);
  ws.send = (data: string | ArrayBufferLike | ArrayBufferView | Blob) => {
    wire.sent += typeof data === 'string' ? Buffer.byteLength(data) : (data as ArrayBufferView).byteLength;
    send(data as string);
  };
  ws.addEventListener('message', (e) => {
    wire.received += typeof e.data === 'string' ? Buffer.byteLength(e.data) : (e.data as ArrayBuffer).byteLength;
  });
  agent.handler = (r, a) => {
    const id = r.message.requestId!;
    const p = r.message.payload;
    if (p.raw_upgrade) return a.send('proxy_response', { status: 101, headers: { Upgrade: ['websocket'], Connection: ['Upgrade'] } }, id);
    if (p.path === '/api/v1/fail') return a.send('proxy_error', { error: 'dial tcp: connection refused' }, id);
    if (p.supports_response_streaming && String(p.query ?? '').includes('watch=true')) {
      a.header(id, 200, { 'Content-Type': ['application/json'] });
      a.chunk(id, '{"type":"ADDED"}\n');
      a.send('proxy_response_end', {}, id);
      return;
    }
    if (p.service_name) {
      a.header(id, 200, { 'Content-Type': ['text/plain'] });
      a.chunk(id, 'hook ok');
      a.send('proxy_response_end', {}, id);
      return;
    }
    a.respondJson(id, p.method === 'POST' ? 201 : 200, { 'Content-Type': ['application/json'] }, new TextEncoder().encode('{"kind":"PodList","items":[]}'), 'base64');
  };
});
afterAll(async () => {
  if (hub.agents.isConnected(agent.clusterId)) await agent.close();
  await hub.stop();
});

async function scrape(): Promise<PromSample[]> {
  const r = await fetch(`${hub.url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toContain('text/plain');
  return parsePromText(await r.text()).samples;
}
function value(samples: PromSample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return hits.reduce((sum, s) => sum + s.value, 0);
}
const kube = (path: string, init: RequestInit & { token?: string } = {}) =>
  fetch(`${hub.kubeUrl}/clusters/metrics/k8s${path}`, { ...init, headers: { authorization: `Bearer ${init.token ?? USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);

test('every declared metric is exposed, in valid exposition format', async () => {
  const r = await fetch(`${hub.url}/metrics`);
  const { types } = parsePromText(await r.text());
  for (const m of HUB_METRICS) expect(types.get(m.name)).toBe(m.type);
  expect(types.has('process_cpu_seconds_total')).toBe(true);
});

test('kube gateway: requests by cluster, verb and code; latency for all but watches', async () => {
  const before = await scrape();
  for (let i = 0; i < 3; i++) expect((await kube('/api/v1/pods')).status).toBe(200);
  expect((await kube('/api/v1/namespaces/default/pods', { method: 'POST', body: '{}' })).status).toBe(201);
  const w = await kube('/api/v1/pods?watch=true');
  expect(w.status).toBe(200);
  await w.text();
  expect((await kube('/api/v1/fail')).status).toBe(502);
  expect((await kube('/api/v1/namespaces/a%2fb/pods')).status).toBe(400);
  expect((await kube('/api/v1/pods', { token: 'wrong-token-1234567' })).status).toBe(401);
  const id = agent.clusterId;
  const after = await waitFor(async () => {
    const s = await scrape();
    return value(s, 'pipeops_hub_kube_requests_total') - value(before, 'pipeops_hub_kube_requests_total') === 8 ? s : null;
  }, { what: 'eight kube requests counted' });
  const delta = (labels: Record<string, string>) => value(after, 'pipeops_hub_kube_requests_total', labels) - value(before, 'pipeops_hub_kube_requests_total', labels);
  expect(delta({ cluster: id, verb: 'GET', code: '200' })).toBe(3);
  expect(delta({ cluster: id, verb: 'POST', code: '201' })).toBe(1);
  expect(delta({ cluster: id, verb: 'WATCH', code: '200' })).toBe(1);
  expect(delta({ cluster: id, verb: 'GET', code: '502' })).toBe(1);
  expect(delta({ cluster: id, verb: 'GET', code: '400' })).toBe(1);
  // Unauthenticated: the cluster it named is not trusted as a label.
  expect(delta({ cluster: '', verb: 'GET', code: '401' })).toBe(1);
  const count = (s: PromSample[], verb: string) => value(s, 'pipeops_hub_kube_request_duration_seconds_count', { cluster: id, verb });
  expect(count(after, 'GET') - count(before, 'GET')).toBe(5);
  expect(count(after, 'POST') - count(before, 'POST')).toBe(1);
  expect(count(after, 'WATCH')).toBe(0);
  expect(value(after, 'pipeops_hub_kube_request_duration_seconds_sum', { cluster: id, verb: 'GET' })).toBeGreaterThan(0);
});

test('public gateway: requests by route, mode and code, with latency', async () => {
  const before = await scrape();
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${hub.gatewayUrl}/hook/x`, { headers: { host: 'anything.example' } });
    expect(await r.text()).toBe('hook ok');
  }
  expect((await fetch(`${hub.gatewayUrl}/nothing-here`)).status).toBe(404);
  const after = await waitFor(async () => {
    const s = await scrape();
    return value(s, 'pipeops_hub_public_requests_total') - value(before, 'pipeops_hub_public_requests_total') === 3 ? s : null;
  }, { what: 'three public requests counted' });
  const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
  expect(delta('pipeops_hub_public_requests_total', { route: '*/hook', mode: 'tunnel', code: '200' })).toBe(2);
  expect(delta('pipeops_hub_public_requests_total', { route: '', mode: 'none', code: '404' })).toBe(1);
  expect(delta('pipeops_hub_public_request_duration_seconds_count', { route: '*/hook' })).toBe(2);
  expect(value(after, 'pipeops_hub_routes', { source: 'config' })).toBe(1);
});

test('agents, sockets, heartbeats, registrations and their rejections', async () => {
  const before = await scrape();
  expect(value(before, 'pipeops_hub_agents_connected')).toBe(1);
  expect(value(before, 'pipeops_hub_clusters', { state: 'connected' })).toBe(1);
  expect(value(before, 'pipeops_hub_agent_sockets', { kind: 'gateway', state: 'bound' })).toBe(1);
  expect(value(before, 'pipeops_hub_registrations_total', { result: 'accepted' })).toBe(1);
  for (let i = 0; i < 2; i++) agent.send('heartbeat', { cluster_id: agent.clusterId, status: 'healthy' }, `hb-${i}`);
  // A bad token, a gateway session for an unknown cluster, an invalid register.
  expect((await fetch(`${hub.url}${CONTROLLER_WS_PATH}`, { headers: { authorization: 'Bearer not-the-agent-token' } })).status).toBe(401);
  const unknown = new WebSocket(`${hub.wsUrl}/gateway/ws?cluster_uuid=nope`, { headers: { Authorization: `Bearer ${AGENT_TOKEN}` } } as unknown as string[]);
  await new Promise((r) => unknown.addEventListener('close', r));
  const ctl = new WebSocket(`${hub.wsUrl}${CONTROLLER_WS_PATH}`, { headers: { Authorization: `Bearer ${AGENT_TOKEN}` } } as unknown as string[]);
  await new Promise((r) => ctl.addEventListener('open', r));
  const refused = new Promise((r) => ctl.addEventListener('message', r, { once: true }));
  ctl.send(encodeEnvelope('register', { name: 42 }, 'bad-register'));
  await refused;
  ctl.close();
  const after = await waitFor(async () => {
    const s = await scrape();
    return value(s, 'pipeops_hub_heartbeats_total', { result: 'ok' }) - value(before, 'pipeops_hub_heartbeats_total', { result: 'ok' }) === 2 ? s : null;
  }, { what: 'two heartbeats counted' });
  const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
  expect(delta('pipeops_hub_registrations_rejected_total', { reason: 'bad_token' })).toBe(1);
  expect(delta('pipeops_hub_registrations_rejected_total', { reason: 'unknown_cluster' })).toBe(1);
  expect(delta('pipeops_hub_registrations_rejected_total', { reason: 'invalid_payload' })).toBe(1);
  expect(delta('pipeops_hub_registrations_total', { result: 'rejected' })).toBe(1);
  expect(delta('pipeops_hub_registrations_total', { result: 'accepted' })).toBe(0);
});

test('route registry: size and rejected calls by reason', async () => {
  const before = await scrape();
  const post = (token: string, body: string) =>
    fetch(`${hub.url}/api/v1/gateway/routes/register`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
  const route = { hostname: 'app.metrics.test', cluster_uuid: agent.clusterId, namespace: 'ingress', service_name: 'traefik', service_port: 80, ingress_name: 'app', path: '/', path_type: 'Prefix', tls: false };
  expect((await post(AGENT_TOKEN, JSON.stringify(route))).status).toBe(200);
  expect((await post('wrong-agent-token-123', JSON.stringify(route))).status).toBe(401);
  expect((await post(AGENT_TOKEN, '{not json')).status).toBe(400);
  expect((await post(AGENT_TOKEN, JSON.stringify({ ...route, cluster_uuid: 'no-such-cluster' }))).status).toBe(404);
  const after = await scrape();
  const delta = (reason: string) => value(after, 'pipeops_hub_route_registrations_rejected_total', { reason }) - value(before, 'pipeops_hub_route_registrations_rejected_total', { reason });
  expect([delta('unauthorized'), delta('invalid_json'), delta('cluster_not_found')]).toEqual([1, 1, 1]);
  expect(value(after, 'pipeops_hub_routes', { source: 'registry' }) - value(before, 'pipeops_hub_routes', { source: 'registry' })).toBe(1);
});

test('upgrades active while relayed, counted once', async () => {
  const before = await scrape();
  const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port: hub.kubeGateway.port, ca: hub.kubeCaPem, servername: 'localhost' });
  await new Promise((r) => socket.once('secureConnect', r));
  let head = '';
  const switched = new Promise<void>((resolve) =>
    socket.on('data', (d) => {
      head += d.toString();
      if (head.includes('\r\n\r\n')) resolve();
    }),
  );
  socket.write(
    `GET /clusters/metrics/k8s/api/v1/namespaces/default/pods/web-0/exec?command=sh HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USER_TOKEN}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await switched;
  expect(head).toStartWith('HTTP/1.1 101');
  const during = await scrape();
  // One connection, taken by node:http for its upgrade (the front's reader serves plain GETs only).
  expect(value(during, 'pipeops_hub_kube_connections_total') - value(before, 'pipeops_hub_kube_connections_total')).toBe(1);
  expect(value(during, 'pipeops_hub_kube_connections_to_node_total') - value(before, 'pipeops_hub_kube_connections_to_node_total')).toBe(1);
  expect(value(during, 'pipeops_hub_upgrades_active', { gateway: 'kube' })).toBe(1);
  expect(value(during, 'pipeops_hub_upgrades_total', { gateway: 'kube' }) - value(before, 'pipeops_hub_upgrades_total', { gateway: 'kube' })).toBe(1);
  socket.destroy();
  await waitFor(async () => value(await scrape(), 'pipeops_hub_upgrades_active', { gateway: 'kube' }) === 0, { what: 'upgrade gone' });
});

test('tunnel bytes equal what the agent sent and received on its session', async () => {
  const base = await scrape();
  const start = { ...wire };
  for (let i = 0; i < 5; i++) await (await kube('/api/v1/pods')).text();
  // Plain GETs for a connected cluster are the front's own: no connection went to node:http for them.
  expect(value(await scrape(), 'pipeops_hub_kube_connections_to_node_total') - value(base, 'pipeops_hub_kube_connections_to_node_total')).toBe(0);
  await waitFor(async () => {
    const s = await scrape();
    const toAgent = value(s, 'pipeops_hub_tunnel_bytes_total', { direction: 'to_agent' }) - value(base, 'pipeops_hub_tunnel_bytes_total', { direction: 'to_agent' });
    const fromAgent = value(s, 'pipeops_hub_tunnel_bytes_total', { direction: 'from_agent' }) - value(base, 'pipeops_hub_tunnel_bytes_total', { direction: 'from_agent' });
    return toAgent === wire.received - start.received && fromAgent === wire.sent - start.sent && toAgent > 0 && fromAgent > 0;
  }, { what: 'hub byte counters equal the agent side' });
});

test('/healthz and /readyz; the agent going away moves the gauges', async () => {
  expect(await (await fetch(`${hub.url}/healthz`)).text()).toBe('ok');
  const ready = await fetch(`${hub.url}/readyz`);
  expect([ready.status, await ready.text()]).toEqual([200, 'ok']);
  await agent.close();
  await waitFor(async () => {
    const s = await scrape();
    return value(s, 'pipeops_hub_agents_connected') === 0 && value(s, 'pipeops_hub_clusters', { state: 'disconnected' }) === 1 && value(s, 'pipeops_hub_agent_sockets', { kind: 'gateway', state: 'bound' }) === 0;
  }, { what: 'gauges after disconnect' });
});

test('a quiet second after the traffic the hub collects its garbage once; the JS heap is exported as of then', async () => {
  // The tests above kept the hub busy (agent messages, gateway requests); scrapes are not activity.
  const after = await waitFor(async () => {
    const s = await scrape();
    return value(s, 'pipeops_hub_quiet_collections_total') >= 1 ? s : null;
  }, { timeoutMs: 30_000, what: 'a quiet collection' });
  expect(value(after, 'pipeops_hub_quiet_collection_seconds_total')).toBeGreaterThan(0);
  expect(value(after, 'pipeops_hub_js_heap_bytes', { kind: 'size' })).toBeGreaterThan(1 << 20);
  expect(value(after, 'pipeops_hub_js_heap_bytes', { kind: 'capacity' })).toBeGreaterThanOrEqual(value(after, 'pipeops_hub_js_heap_bytes', { kind: 'size' }));
});
