// Issue 13 items 6–7 with the tunnel registry (§1.2): a tunnel an agent registers gets a hub listener from
// l4_port_range (tunnel_port/tunnel_endpoint in the answer) whose connections reach the Service through the agent;
// a direct-mode tunnel is forwarded to its public endpoint without the agent; deregistering closes the listener.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { RunningAgent } from '../../src/agent/run.ts';
import type { Hub } from '../../src/hub/server.ts';
import { AGENT_TOKEN, tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { echoRoundTrip, freePort, sha256, tcpEcho } from '../support/l4-backends.ts';
import { waitFor } from '../support/wait.ts';

let hub: Hub;
let agent: RunningAgent;
let echo: Awaited<ReturnType<typeof tcpEcho>>;
let clusterId: string;
let range: { min: number; max: number };
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  echo = await tcpEcho();
  stops.push(() => echo.stop());
  const p = await freePort();
  range = { min: p, max: p + 9 };
  hub = await testHub({ l4_port_range: `${range.min}-${range.max}`, direct_allowed_cidrs: ['127.0.0.0/8'] });
  stops.push(() => hub.stop());
  agent = await testAgent(hub.url, tempDir(), {
    agent: { cluster_name: 'l4-reg' },
    tunnels: { enabled: true },
    // No Kubernetes API: the agent's Gateway discovery (which would sync the registry to the cluster's Gateways,
    // i.e. to nothing) does not run, so this test owns the registry of its cluster.
    kubernetes: { kubeconfig: '', service_proxy: 'map', service_map: { 'apps/echo:7': `tcp://127.0.0.1:${echo.port}` } },
  });
  stops.push(() => agent.stop());
  clusterId = await waitFor(() => hub.yamux.active()[0], { what: 'yamux session', timeoutMs: 20_000 });
}, 60_000);

afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => {});
});

const api = () => `${hub.url}/api/v1/clusters/agent/${clusterId}/tunnels`;
const call = (url: string, method: string, body?: unknown) =>
  fetch(url, { method, headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
const registration = (id: string, extra: Record<string, unknown> = {}) => ({
  cluster_uuid: clusterId,
  protocol: 'tcp',
  tunnel_id: id,
  gateway_name: 'gw',
  gateway_namespace: 'apps',
  gateway_port: 9000,
  service_name: 'echo',
  service_namespace: 'apps',
  service_port: 7,
  routing_mode: 'tunnel',
  ...extra,
});

describe('registered tunnels get hub listeners', () => {
  test('tunnel mode: tunnel_port from the range, bytes reach the Service through the agent; deregister closes it', async () => {
    const id = `tcp-${clusterId}-gw-9000`;
    const r = await call(api(), 'POST', registration(id));
    expect(r.status).toBe(201);
    const body = (await r.json()) as { tunnel_port: number; tunnel_endpoint: string };
    expect(body.tunnel_port).toBeGreaterThanOrEqual(range.min);
    expect(body.tunnel_port).toBeLessThanOrEqual(range.max);
    expect(body.tunnel_endpoint).toBe(`127.0.0.1:${body.tunnel_port}`);
    const payload = randomBytes(300 * 1024);
    expect((await echoRoundTrip(body.tunnel_port, payload)).sha256).toBe(sha256(payload));
    // Registering again keeps the port.
    const again = (await (await call(api(), 'POST', registration(id))).json()) as { tunnel_port: number };
    expect(again.tunnel_port).toBe(body.tunnel_port);
    expect((await call(`${api()}/${id}`, 'DELETE')).status).toBeLessThan(300);
    await waitFor(() => hub.l4.port(`${clusterId}/${id}`) === null, { what: 'listener removed' });
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: body.tunnel_port });
      s.on('connect', () => (s.destroy(), resolve(false)));
      s.on('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });

  test('direct mode: forwarded to the public endpoint without the agent (endpoint policy applies)', async () => {
    // The public endpoint is a second echo the agent does not know: only the direct path can reach it.
    const lb = await tcpEcho();
    stops.push(() => lb.stop());
    const id = `tcp-${clusterId}-gw-9001`;
    const r = await call(api(), 'POST', registration(id, { gateway_port: 9001, routing_mode: 'direct', public_endpoint: `127.0.0.1:${lb.port}` }));
    expect(r.status).toBe(201);
    const { tunnel_port } = (await r.json()) as { tunnel_port: number };
    const viaAgent = echo.connections();
    const payload = randomBytes(50_000);
    expect((await echoRoundTrip(tunnel_port, payload)).sha256).toBe(sha256(payload));
    expect(lb.connections()).toBe(1);
    expect(echo.connections()).toBe(viaAgent);
    expect(hub.l4.list().find((t) => t.tunnel_id === id)?.mode).toBe('direct');
  });

  test('direct mode to the hub itself is refused at registration: no listener is made', async () => {
    const id = `tcp-${clusterId}-gw-9002`;
    // 127.0.0.1 is allowed here, but the hub's own listeners never are (the same policy as direct HTTP routes).
    const r = await call(api(), 'POST', registration(id, { gateway_port: 9002, routing_mode: 'direct', public_endpoint: `127.0.0.1:${hub.port}` }));
    expect(r.status).toBe(400);
    expect(hub.l4.list().some((t) => t.tunnel_id === id)).toBe(false);
    // Nor at one of the hub's L4 listeners (a registered tunnel's port): that would loop through the hub.
    const t = (await (await call(api(), 'POST', registration(`tcp-${clusterId}-gw-9003`, { gateway_port: 9003 }))).json()) as { tunnel_port: number };
    const loop = await call(api(), 'POST', registration(`tcp-${clusterId}-gw-9004`, { gateway_port: 9004, routing_mode: 'direct', public_endpoint: `127.0.0.1:${t.tunnel_port}` }));
    expect(loop.status).toBe(400);
  });
});
