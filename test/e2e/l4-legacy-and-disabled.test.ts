// Issue 13 items 1–2 (agent): the legacy JSON L4 messages (§5.4) when tunnels are enabled, T1 when they are not,
// `supports_yamux` only when enabled, and the HTTP proxy's binary frames still working beside tagged yamux.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { RunningAgent } from '../../src/agent/run.ts';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import { tempDir, testAgent, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { type Backend, tcpEcho, udpEcho } from '../support/l4-backends.ts';
import { waitFor } from '../support/wait.ts';

const stops: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => {});
});

let echo: Awaited<ReturnType<typeof tcpEcho>>;
let udp: Backend;
beforeAll(async () => {
  echo = await tcpEcho();
  udp = await udpEcho();
  stops.push(() => echo.stop(), () => udp.stop());
});

async function stack(enabled: boolean, name: string, tcp: Record<string, unknown> = {}) {
  const hub = await testHub({ l4_exposures: [{ name: 'echo', protocol: 'tcp', listen_port: 0, cluster: name, namespace: 'demo', service: 'echo', port: 7 }] });
  stops.push(() => hub.stop());
  const agent: RunningAgent = await testAgent(hub.url, tempDir(), {
    agent: { cluster_name: name },
    tunnels: { enabled, tcp },
    kubernetes: { service_proxy: 'map', service_map: { 'demo/echo:7': `tcp://127.0.0.1:${echo.port}`, 'demo/udp-echo:7': `udp://127.0.0.1:${udp.port}` } },
  });
  stops.push(() => agent.stop());
  const clusterId = await waitFor(() => [...hub.agents.sessions.keys()][0], { what: 'agent session', timeoutMs: 20_000 });
  const inbox: InboundMessage[] = [];
  hub.agents.onMessage((_id, m) => inbox.push(m));
  const session = hub.agents.sessions.get(clusterId)!;
  return { hub, agent, clusterId, inbox, session };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: unknown) => Buffer.from(String(s), 'base64').toString();

describe('tunnels disabled (T1)', () => {
  test('no supports_yamux, no gateway_hello taken, tcp_tunnel_start answered tunnels_disabled, hub L4 connection refused and counted', async () => {
    const s = await stack(false, 'l4-off');
    expect(s.session.yamux).toBe(false);
    s.session.send({ type: 'tcp_tunnel_start', payload: { tunnel_id: 't', service_name: 'echo', service_namespace: 'demo', service_port: 7, gateway_port: 7 }, requestId: 'conn-1' });
    const close = await waitFor(() => s.inbox.find((m) => m.type === 'tcp_tunnel_close' && m.requestId === 'conn-1'), { what: 'tcp_tunnel_close' });
    expect(close.payload.reason).toBe('tunnels_disabled');
    // A gateway_hello anyway: no ack, the JSON protocol continues (heartbeats keep flowing).
    s.session.send({ type: 'gateway_hello', payload: { use_yamux: true } });
    const net = await import('node:net');
    const c = net.connect({ host: '127.0.0.1', port: s.hub.l4.port('echo')! });
    c.on('error', () => {});
    await new Promise((r) => c.on('close', r));
    expect(s.hub.l4.list()[0]!.failures.no_yamux).toBe(1);
    expect(s.inbox.some((m) => m.type === 'gateway_hello_ack')).toBe(false);
  }, 30_000);
});

describe('tunnels enabled: legacy JSON messages (§5.4)', () => {
  let s: Awaited<ReturnType<typeof stack>>;
  beforeAll(async () => {
    s = await stack(true, 'l4-legacy');
    await waitFor(() => s.hub.yamux.active().length === 1, { what: 'yamux negotiated' });
  }, 30_000);

  test('tcp_tunnel_start / tcp_tunnel_data both ways / tcp_tunnel_close with byte counts', async () => {
    s.session.send({ type: 'tcp_tunnel_start', payload: { tunnel_id: 't1', service_name: 'echo', service_namespace: 'demo', service_port: 7, gateway_port: 7, client_addr: '203.0.113.9:5000' }, requestId: 'c1' });
    s.session.send({ type: 'tcp_tunnel_data', payload: { data: b64('hello over json') }, requestId: 'c1' });
    const back = await waitFor(() => s.inbox.find((m) => m.type === 'tcp_tunnel_data' && m.requestId === 'c1'), { what: 'echoed tcp_tunnel_data' });
    expect(unb64(back.payload.data)).toBe('hello over json');
    expect(back.payload.direction).toBe('agent_to_gateway');
    s.session.send({ type: 'tcp_tunnel_close', payload: { reason: 'client_closed' }, requestId: 'c1' });
    const closed = await waitFor(() => s.inbox.find((m) => m.type === 'tcp_tunnel_close' && m.requestId === 'c1'), { what: 'tcp_tunnel_close echo' });
    expect(closed.payload.reason).toBe('service_closed');
    expect(closed.payload.bytes_received).toBe(15);
  });

  test('backend reads travel in tcp_tunnel_data pieces of at most tunnels.tcp.buffer_size (32 KiB) bytes', async () => {
    s.session.send({ type: 'tcp_tunnel_start', payload: { tunnel_id: 't4', service_name: 'echo', service_namespace: 'demo', service_port: 7 }, requestId: 'c4' });
    const big = Buffer.alloc(100_000, 'z');
    s.session.send({ type: 'tcp_tunnel_data', payload: { data: big.toString('base64') }, requestId: 'c4' });
    const pieces = () => s.inbox.filter((m) => m.type === 'tcp_tunnel_data' && m.requestId === 'c4').map((m) => Buffer.from(String(m.payload.data), 'base64').length);
    await waitFor(() => pieces().reduce((a, b) => a + b, 0) === big.length, { what: 'the echo of 100,000 bytes' });
    expect(Math.max(...pieces())).toBeLessThanOrEqual(32768);
    s.session.send({ type: 'tcp_tunnel_close', payload: { reason: 'done' }, requestId: 'c4' });
  });

  test('connection_failed for an invalid or unknown target (T3: names validated, no localhost:<gateway_port>)', async () => {
    s.session.send({ type: 'tcp_tunnel_start', payload: { tunnel_id: 't2', service_name: 'Not_A_Name', service_namespace: 'demo', service_port: 7, gateway_port: 8080 }, requestId: 'c2' });
    const c2 = await waitFor(() => s.inbox.find((m) => m.type === 'tcp_tunnel_close' && m.requestId === 'c2'), { what: 'close c2' });
    expect(c2.payload.reason).toBe('connection_failed');
    expect(String(c2.payload.error)).toContain('invalid service name');
    s.session.send({ type: 'tcp_tunnel_start', payload: { tunnel_id: 't3', service_name: 'absent', service_namespace: 'demo', service_port: 7 }, requestId: 'c3' });
    const c3 = await waitFor(() => s.inbox.find((m) => m.type === 'tcp_tunnel_close' && m.requestId === 'c3'), { what: 'close c3' });
    expect(c3.payload.reason).toBe('connection_failed');
  });

  test('udp_tunnel_data: a datagram to the Service, its answer to the session as udp_tunnel_data', async () => {
    s.session.send({ type: 'udp_tunnel_data', payload: { tunnel_id: 'u1', data: b64('ping over udp'), client_addr: '198.51.100.7', client_port: 4000, service_name: 'udp-echo', service_namespace: 'demo', service_port: 7 } });
    const back = await waitFor(() => s.inbox.find((m) => m.type === 'udp_tunnel_data' && m.payload.tunnel_id === 'u1'), { what: 'udp answer' });
    expect(unb64(back.payload.data)).toBe('ping over udp');
    expect(back.payload.client_addr).toBe('198.51.100.7');
    expect(back.payload.client_port).toBe(4000);
  });

  test('HTTP through the same agent still uses binary frames beside tagged yamux (Kubernetes API through the hub)', async () => {
    let binaryFrames = 0;
    s.hub.agents.onBinary(() => binaryFrames++);
    const api = `${s.hub.kubeUrl}/clusters/${s.clusterId}/k8s/api/v1/namespaces`;
    const base = `${api}/l4-http/configmaps`;
    const init = (o: RequestInit) => ({ ...o, headers: { authorization: `Bearer ${USER_TOKEN}`, 'content-type': 'application/json' }, tls: { rejectUnauthorized: false } }) as RequestInit;
    await fetch(api, init({ method: 'POST', body: JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'l4-http' } }) }));
    const big = 'x'.repeat(64 * 1024);
    const created = await fetch(base, init({ method: 'POST', body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'l4-big' }, data: { big } }) }));
    expect([200, 201]).toContain(created.status);
    const r = await fetch(`${base}/l4-big`, init({}));
    expect(r.status).toBe(200);
    expect(((await r.json()) as { data: { big: string } }).data.big.length).toBe(big.length);
    // The 64 KiB answers came as HTTP binary frames (untagged), not claimed by the yamux session.
    expect(binaryFrames).toBeGreaterThan(0);
  });
});

describe('limits', () => {
  test('tunnels.tcp.max_connections: a stream over the limit is refused and counted; the open one keeps working', async () => {
    const s = await stack(true, 'l4-limit', { max_connections: 1 });
    await waitFor(() => s.hub.yamux.active().length === 1, { what: 'yamux negotiated' });
    const net = await import('node:net');
    const port = s.hub.l4.port('echo')!;
    const first = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((r) => first.once('connect', () => first.write('one', () => r())));
    await new Promise((r) => first.once('data', r));
    const second = net.connect({ host: '127.0.0.1', port });
    second.on('error', () => {});
    await new Promise((r) => second.on('close', r));
    await waitFor(async () => /pipeops_agent_yamux_stream_errors_total\{type="limit"\} 1/.test(await s.agent.metrics.registry.metrics()), { what: 'limit counted' });
    const again = new Promise<Buffer>((r) => first.once('data', r));
    first.write('still here');
    expect((await again).toString()).toBe('still here');
    first.destroy();
  }, 30_000);
});
