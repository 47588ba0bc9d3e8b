// Issue 13 (transport): TCP and UDP services of a private cluster reached through the hub's L4 listeners, over
// yamux streams on the agent's gateway socket, with real clients (redis-cli, redis-benchmark, node sockets) and
// real backends (Debian's redis-server, a socat UDP echo, a TCP echo).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import type { RunningAgent } from '../../src/agent/run.ts';
import type { Hub } from '../../src/hub/server.ts';
import { encodeStreamHeader } from '../../src/protocol/l4-stream-header.ts';
import { ADMIN_TOKEN, tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { type Backend, echoRoundTrip, freePort, redisServer, sha256, tcpEcho, udpEcho } from '../support/l4-backends.ts';
import { waitFor } from '../support/wait.ts';

let hub: Hub;
let agent: RunningAgent;
let echo: Awaited<ReturnType<typeof tcpEcho>>;
let redis: Backend;
let udp: Backend;
let closedPort: number;
let afterFin: net.Server;
let clusterId: string;
const stops: (() => Promise<unknown>)[] = [];

const exposure = (name: string, protocol: 'tcp' | 'udp', service: string, port: number) => ({ name, protocol, listen_port: 0, cluster: 'l4-cluster', namespace: 'demo', service, port });

beforeAll(async () => {
  echo = await tcpEcho();
  redis = await redisServer();
  udp = await udpEcho();
  closedPort = await freePort();
  // Answers only after the client's FIN arrived.
  afterFin = net.createServer({ allowHalfOpen: true }, (s) => {
    let n = 0;
    s.on('data', (d) => (n += d.length));
    s.on('end', () => s.end(`got ${n} bytes, then your FIN`));
  });
  await new Promise<void>((r) => afterFin.listen(0, '127.0.0.1', r));
  stops.push(() => echo.stop(), () => redis.stop(), () => udp.stop(), () => new Promise((r) => afterFin.close(r)));
  hub = await testHub({
    l4_udp_session_timeout: '1s',
    l4_exposures: [
      exposure('echo', 'tcp', 'echo', 7),
      exposure('redis', 'tcp', 'redis', 6379),
      exposure('udp-echo', 'udp', 'udp-echo', 7),
      exposure('nowhere', 'tcp', 'nowhere', 9),
      exposure('after-fin', 'tcp', 'after-fin', 7),
    ],
  });
  stops.push(() => hub.stop());
  agent = await testAgent(hub.url, tempDir(), {
    agent: { cluster_name: 'l4-cluster' },
    tunnels: { enabled: true, tcp: { idle_timeout: '3s' } },
    kubernetes: {
      service_proxy: 'map',
      service_map: {
        'demo/echo:7': `tcp://127.0.0.1:${echo.port}`,
        'demo/redis:6379': `tcp://127.0.0.1:${redis.port}`,
        'demo/udp-echo:7': `udp://127.0.0.1:${udp.port}`,
        'demo/nowhere:9': `tcp://127.0.0.1:${closedPort}`,
        'demo/after-fin:7': `tcp://127.0.0.1:${(afterFin.address() as net.AddressInfo).port}`,
      },
    },
  });
  stops.push(() => agent.stop());
  clusterId = await waitFor(() => hub.yamux.active()[0], { what: 'a yamux session with the agent', timeoutMs: 20_000 });
}, 60_000);

afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => {});
});

const port = (name: string) => hub.l4.port(name)!;
const agentMetric = async (re: RegExp) => Number(re.exec(await agent.metrics.registry.metrics())?.[1] ?? 0);

async function run(cmd: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(cmd, { stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out, err };
}

describe('L4 tunnels through the hub (yamux)', () => {
  test('32 parallel 4 MiB uploads: more than the hub may queue on its WebSocket (Bun drops above 16 MiB), every byte intact', async () => {
    // 32 streams × a 4 MiB window let the hub queue far more than Bun's backpressure limit toward the agent; a
    // dropped message cut the yamux byte stream (29–32 of 32 echoes came back corrupted before sendOrdered).
    const before = echo.received.length;
    const payloads = Array.from({ length: 32 }, () => randomBytes(4 * 1024 * 1024));
    const results = await Promise.all(payloads.map((p) => echoRoundTrip(port('echo'), p)));
    const bad = payloads.filter((p, i) => results[i]!.bytes !== p.length || results[i]!.sha256 !== sha256(p)).length;
    expect(bad).toBe(0);
    await waitFor(() => echo.received.length - before === 32, { what: 'all 32 echo connections finished at the Service' });
    expect(echo.received.slice(before).sort()).toEqual(payloads.map((p) => sha256(p)).sort());
  }, 120_000);
  test('redis-cli PING and SET/GET through the hub reach Debian redis-server', async () => {
    const p = String(port('redis'));
    expect((await run(['redis-cli', '-h', '127.0.0.1', '-p', p, 'PING'])).out.trim()).toBe('PONG');
    expect((await run(['redis-cli', '-h', '127.0.0.1', '-p', p, 'SET', 'greeting', 'through the tunnel'])).out.trim()).toBe('OK');
    expect((await run(['redis-cli', '-h', '127.0.0.1', '-p', p, 'GET', 'greeting'])).out.trim()).toBe('through the tunnel');
  });

  test('redis-benchmark through the hub: 20 clients, every request answered', async () => {
    const r = await run(['redis-benchmark', '-h', '127.0.0.1', '-p', String(port('redis')), '-n', '2000', '-c', '20', '-t', 'ping,set,get', '-q']);
    expect(r.code).toBe(0);
    // One line per test with its rate; an unanswered request would hang (test timeout) or print an error.
    expect(r.out).toMatch(/PING_INLINE: [\d.]+ requests per second/);
    expect(r.out).toMatch(/SET: [\d.]+ requests per second/);
    expect(r.out).toMatch(/GET: [\d.]+ requests per second/);
    expect(r.err).not.toMatch(/error/i);
  }, 60_000);

  test('100 parallel connections, 256 KiB each, sha256-checked both ways', async () => {
    const before = echo.received.length;
    const payloads = Array.from({ length: 100 }, () => randomBytes(256 * 1024));
    const results = await Promise.all(payloads.map((p) => echoRoundTrip(port('echo'), p)));
    for (let i = 0; i < payloads.length; i++) {
      expect(results[i]!.bytes).toBe(payloads[i]!.length);
      expect(results[i]!.sha256).toBe(sha256(payloads[i]!));
    }
    // What the Service received, per connection, is exactly what the clients sent.
    await waitFor(() => echo.received.length - before === 100, { what: 'all 100 echo connections finished at the Service' });
    expect(echo.received.slice(before).sort()).toEqual(payloads.map((p) => sha256(p)).sort());
  }, 60_000);

  test('half-close: the client ends its side and still reads the answer the Service sends after that FIN', async () => {
    // The after-fin Service answers only once the client's FIN reached it, so the answer proves the FIN went through
    // the hub, the stream and the agent (as a socket half-close), while the way back stayed open.
    const r = await new Promise<string>((resolve, reject) => {
      let text = '';
      const s = net.connect({ host: '127.0.0.1', port: port('after-fin'), allowHalfOpen: true }, () => s.end('twelve bytes'));
      s.on('data', (d) => (text += d.toString()));
      s.on('end', () => {
        s.end();
        resolve(text);
      });
      s.on('error', reject);
    });
    expect(r).toBe('got 12 bytes, then your FIN');
  });

  test('idle timeout: a silent connection is closed by the agent (tunnels.tcp.idle_timeout)', async () => {
    const s = net.connect({ host: '127.0.0.1', port: port('echo') });
    const closed = new Promise<boolean>((r) => s.on('close', () => r(true)));
    s.on('error', () => {});
    // Nothing is sent; the agent's 3 s idle timer resets the stream and the hub closes the client.
    expect(await Promise.race([closed, Bun.sleep(20_000).then(() => false)])).toBe(true);
    expect(hub.l4.list().find((t) => t.name === 'echo')!.failures.stream_reset ?? 0).toBeGreaterThan(0);
  }, 30_000);

  test('a bad stream header is refused and counted; other streams are unaffected', async () => {
    const open = echoRoundTrip(port('echo'), randomBytes(64 * 1024));
    const before = await agentMetric(/pipeops_agent_yamux_stream_errors_total\{type="header_error"\} (\d+)/);
    const o = hub.yamux.open(clusterId);
    if (!o.ok) throw new Error(o.detail);
    const reset = new Promise<string | null>((r) => (o.stream.on.close = r));
    o.stream.write(encodeStreamHeader({ protocol: 'tcp', serviceName: 'Bad_Name', serviceNamespace: 'demo', servicePort: 7, tunnelId: 'x' }));
    expect(await reset).toContain('reset by peer');
    await waitFor(async () => (await agentMetric(/pipeops_agent_yamux_stream_errors_total\{type="header_error"\} (\d+)/)) > before, { what: 'header_error counted' });
    const p = randomBytes(64 * 1024);
    expect((await echoRoundTrip(port('echo'), p)).sha256).toBe(sha256(p));
    expect((await open).bytes).toBe(64 * 1024);
  });

  test('dial failure: the client is closed, the hub and the agent count it, other streams work', async () => {
    const before = await agentMetric(/pipeops_agent_yamux_stream_errors_total\{type="dial_error"\} (\d+)/);
    const s = net.connect({ host: '127.0.0.1', port: port('nowhere') });
    s.on('error', () => {});
    await new Promise((r) => s.on('close', r));
    await waitFor(async () => (await agentMetric(/pipeops_agent_yamux_stream_errors_total\{type="dial_error"\} (\d+)/)) > before, { what: 'dial_error counted' });
    await waitFor(() => (hub.l4.list().find((t) => t.name === 'nowhere')!.failures.stream_reset ?? 0) > 0, { what: 'hub failure counted' });
    const p = randomBytes(1000);
    expect((await echoRoundTrip(port('echo'), p)).sha256).toBe(sha256(p));
  });

  test('UDP: length-prefixed datagrams (negotiated) keep their boundaries through the hub', async () => {
    const c = dgram.createSocket('udp4');
    await new Promise<void>((r) => c.bind(0, '127.0.0.1', r));
    const sizes = [1, 7, 100, 512, 1400, 3000, 9000, 20_000];
    const sent = sizes.map((n, i) => Buffer.alloc(n, 65 + i));
    const got: Buffer[] = [];
    const all = new Promise<void>((r) =>
      c.on('message', (m) => {
        got.push(m);
        if (got.length === sent.length) r();
      }),
    );
    for (const d of sent) c.send(d, port('udp-echo'), '127.0.0.1');
    await Promise.race([all, Bun.sleep(15_000)]);
    c.close();
    expect(got.map((g) => g.length).sort((a, b) => a - b)).toEqual([...sizes].sort((a, b) => a - b));
    for (const g of got) expect(new Set(g).size).toBe(1);
  }, 30_000);

  test('UDP: a client address without datagrams for l4_udp_session_timeout is forgotten (its stream ends)', async () => {
    const c = dgram.createSocket('udp4');
    await new Promise<void>((r) => c.bind(0, '127.0.0.1', r));
    const reply = new Promise<Buffer>((r) => c.once('message', r));
    c.send(Buffer.from('are you there'), port('udp-echo'), '127.0.0.1');
    expect((await reply).toString()).toBe('are you there');
    const udpView = () => hub.l4.list().find((t) => t.name === 'udp-echo')!;
    expect(udpView().connections_active).toBeGreaterThan(0);
    await waitFor(() => udpView().connections_active === 0, { what: 'the UDP client expired', timeoutMs: 10_000 });
    c.close();
  });

  test('admin API lists the L4 listeners with their counters; metrics count them', async () => {
    const r = await fetch(`${hub.url}/api/v1/l4/tunnels`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const body = (await r.json()) as { tunnels: { name: string; protocol: string; hub_address: string; connections_total: number }[] };
    const byName = new Map(body.tunnels.map((t) => [t.name, t]));
    expect(byName.get('redis')!.hub_address).toBe(`127.0.0.1:${port('redis')}`);
    expect(byName.get('udp-echo')!.protocol).toBe('udp');
    expect(byName.get('echo')!.connections_total).toBeGreaterThanOrEqual(100);
    // Every finished connection was accounted for (close propagated through both sockets and the stream).
    await waitFor(() => hub.l4.list().find((t) => t.name === 'echo')!.connections_active === 0, { what: 'no echo connection left open' });
    expect((await fetch(`${hub.url}/api/v1/l4/tunnels`)).status).toBe(401);
    const m = await hub.metrics.text();
    expect(m).toMatch(/pipeops_hub_l4_connections_total\{tunnel="echo",protocol="tcp"\} \d+/);
    expect(m).toMatch(/pipeops_hub_l4_bytes_total\{tunnel="echo",direction="to_service"\} \d+/);
    expect(m).toMatch(/pipeops_hub_l4_failures_total\{tunnel="nowhere",reason="stream_reset"\} \d+/);
  });
});
