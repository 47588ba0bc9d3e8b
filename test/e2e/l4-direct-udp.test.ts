// Issue 13 item 7 for UDP: a registered UDP tunnel in direct mode (§1.2 `routing_mode: direct`, a public Gateway
// address) is forwarded by the hub's UDP listener to the public endpoint without the agent, under the same address
// policy as direct HTTP routes. The echo listens on 127.0.0.2, the only address `direct_allowed_cidrs` allows; an
// endpoint outside it (127.0.0.3) is refused at registration, and a name that later resolves outside it (DNS
// rebinding) is refused per client and counted `direct_refused`, without a datagram reaching anything.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { RunningAgent } from '../../src/agent/run.ts';
import type { Hub } from '../../src/hub/server.ts';
import { AGENT_TOKEN, tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { freePort } from '../support/l4-backends.ts';
import { waitFor } from '../support/wait.ts';
import { udpClient, udpEchoOn } from '../support/udp-echo.ts';

let hub: Hub;
let agent: RunningAgent;
let echo: Awaited<ReturnType<typeof udpEchoOn>>;
let clusterId: string;
/** What the name `lb.test` resolves to (the test rebinds it). */
let lbAddress = '127.0.0.2';
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  echo = await udpEchoOn('127.0.0.2');
  stops.push(() => echo.stop());
  const p = await freePort();
  hub = await testHub({ l4_port_range: `${p}-${p + 9}`, direct_allowed_cidrs: ['127.0.0.2/32'] }, { lookup: async (host) => (host === 'lb.test' ? [lbAddress] : []) });
  stops.push(() => hub.stop());
  agent = await testAgent(hub.url, tempDir(), { agent: { cluster_name: 'l4-direct-udp' }, kubernetes: { kubeconfig: '' } });
  stops.push(() => agent.stop());
  clusterId = await waitFor(() => [...hub.agents.sessions.keys()][0], { what: 'the agent session', timeoutMs: 20_000 });
}, 60_000);

afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => {});
});

const api = () => `${hub.url}/api/v1/clusters/agent/${clusterId}/tunnels`;
const register = (id: string, publicEndpoint: string) =>
  fetch(api(), {
    method: 'POST',
    headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      cluster_uuid: clusterId,
      protocol: 'udp',
      tunnel_id: id,
      gateway_name: 'gw',
      gateway_namespace: 'apps',
      gateway_port: 5353,
      routing_mode: 'direct',
      public_endpoint: publicEndpoint,
    }),
  });

describe('registered UDP tunnels in direct mode', () => {
  test('datagrams reach the allowed public endpoint without the agent and come back, boundaries intact', async () => {
    const id = `udp-${clusterId}-gw-5353`;
    const r = await register(id, `127.0.0.2:${echo.port}`);
    expect(r.status).toBe(201);
    const { tunnel_port } = (await r.json()) as { tunnel_port: number };
    expect(hub.l4.list().find((t) => t.tunnel_id === id)).toMatchObject({ mode: 'direct', protocol: 'udp' });
    const c = await udpClient();
    try {
      const sizes = [1, 100, 1400, 9000, 0, 60_000];
      const sent = sizes.map((n, i) => Buffer.alloc(n, 0x41 + i));
      for (const d of sent) c.send(d, tunnel_port);
      const got = await c.next(sizes.length);
      // One datagram back per datagram sent, same lengths and bytes (UDP on loopback keeps the order).
      expect(got.map((d) => d.length)).toEqual(sizes);
      expect(got.map((d, i) => Buffer.compare(d, sent[i]!))).toEqual(sizes.map(() => 0));
    } finally {
      c.close();
    }
    // The echo saw the hub's socket, not the client: the agent was not on the path (it has no tunnels at all).
    expect(echo.received()).toBe(6);
    const view = hub.l4.list().find((t) => t.tunnel_id === id)!;
    expect(view.connections_total).toBe(1);
    expect(view.failures).toEqual({});
  });

  test('an endpoint outside direct_allowed_cidrs is refused at registration and counted: no listener', async () => {
    const id = `udp-${clusterId}-gw-5354`;
    const rejected = async () => Number((await hub.metrics.text()).match(/pipeops_hub_tunnel_registrations_rejected_total\{reason="endpoint_refused"\} (\d+)/)?.[1] ?? 0);
    const n0 = await rejected();
    const r = await register(id, `127.0.0.3:${echo.port}`);
    expect(r.status).toBe(400);
    const body = (await r.json()) as { error: string; message: string };
    expect(body.error).toBe('endpoint_refused');
    expect(body.message).toContain('not in direct_allowed_cidrs');
    expect(hub.l4.list().some((t) => t.tunnel_id === id)).toBe(false);
    expect(await rejected()).toBe(n0 + 1);
  });

  test('a name that resolves outside direct_allowed_cidrs when a client comes is refused per client and counted', async () => {
    const id = `udp-${clusterId}-gw-5355`;
    lbAddress = '127.0.0.2';
    const r = await register(id, `lb.test:${echo.port}`);
    expect(r.status).toBe(201);
    const { tunnel_port } = (await r.json()) as { tunnel_port: number };
    const name = `${clusterId}/${id}`;
    const refusals = async () => Number((await hub.metrics.text()).match(new RegExp(`pipeops_hub_l4_failures_total\\{tunnel="${name}",reason="direct_refused"\\} (\\d+)`))?.[1] ?? 0);
    // Allowed while the name points at 127.0.0.2.
    const ok = await udpClient();
    try {
      ok.send(Buffer.from('before rebinding'), tunnel_port);
      expect((await ok.next(1))[0]!.toString()).toBe('before rebinding');
    } finally {
      ok.close();
    }
    // Rebound to 127.0.0.3: a new client address is checked again and refused; nothing reaches any echo.
    lbAddress = '127.0.0.3';
    const before = echo.received();
    const n0 = await refusals();
    const bad = await udpClient();
    try {
      bad.send(Buffer.from('after rebinding'), tunnel_port);
      await waitFor(async () => (await refusals()) === n0 + 1, { what: 'the refusal counted' });
      bad.send(Buffer.from('and again'), tunnel_port);
      await waitFor(async () => (await refusals()) === n0 + 2, { what: 'the second refusal counted' });
      expect(bad.received()).toBe(0);
    } finally {
      bad.close();
    }
    expect(echo.received()).toBe(before);
    expect(hub.l4.list().find((t) => t.tunnel_id === id)!.failures.direct_refused).toBe(2);
  });
});
