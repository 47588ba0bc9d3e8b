// L4 between hub replicas (issue 15 item 3): two replicas on one PostgreSQL database, the agent's session on
// replica A, the same `l4_exposures` on both. A TCP connection on B's listener is carried to A over the replica
// link (a signed upgrade of /internal/l4 on A's Kubernetes API gateway) and from A through the agent to a real
// TCP backend: bytes come back sha256-intact, half-close is kept. A UDP client address on B gets a link of its own
// (protocol=udp, length-prefixed datagrams): echoes come back with their boundaries, two clients do not mix, the
// forward is counted on B, and idle expiry closes the link on both replicas. An unsigned or forged forward is
// refused (403) and counted. Skipped without PostgreSQL unless PIPEOPS_POSTGRES=required.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { RunningAgent } from '../../src/agent/run.ts';
import { newKeyText } from '../../src/hub/credential-cipher.ts';
import { FORWARD_SIGNATURE, FORWARD_TIME, FORWARDED_BY, l4Target, ReplicaLink } from '../../src/hub/replica-link.ts';
import type { Hub } from '../../src/hub/server.ts';
import { echoRoundTrip, freePort, sha256, tcpEcho } from '../support/l4-backends.ts';
import { quietLog, tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { POSTGRES_REQUIRED, postgresUnavailable, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { udpClient, type UdpEcho, udpEchoOn } from '../support/udp-echo.ts';
import { waitFor } from '../support/wait.ts';

const skip = POSTGRES_REQUIRED ? null : postgresUnavailable();
if (skip) console.log(`SKIPPED: L4 between hub replicas on PostgreSQL: ${skip}`);

const SECRET = 'replica-secret-for-l4-tests-0123456789';
const exposure = (name: string, protocol: 'tcp' | 'udp', service: string, port: number) => ({ name, protocol, listen_port: 0, cluster: 'l4-replicas', namespace: 'demo', service, port });

describe.skipIf(skip !== null)('L4 between hub replicas on PostgreSQL', () => {
  let pg: TestPostgres;
  let a: Hub;
  let b: Hub;
  let agent: RunningAgent;
  let echo: Awaited<ReturnType<typeof tcpEcho>>;
  let exact: UdpEcho;
  let afterFin: net.Server;
  let clusterId: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
    cleanups.push(() => pg.stop());
    const database = await pg.newDatabase();
    echo = await tcpEcho();
    exact = await udpEchoOn();
    // Answers only after the client's FIN arrived.
    afterFin = net.createServer({ allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on('data', (d) => (n += d.length));
      s.on('end', () => s.end(`got ${n} bytes, then your FIN`));
    });
    await new Promise<void>((r) => afterFin.listen(0, '127.0.0.1', r));
    cleanups.push(() => echo.stop(), () => exact.stop(), () => new Promise((r) => afterFin.close(r)));
    const closedPort = await freePort();
    const dir = tempDir();
    const common = {
      database,
      state: `${dir}/hub.db`,
      credentials: { key: newKeyText() },
      l4_exposures: [
        exposure('echo', 'tcp', 'echo', 7),
        exposure('after-fin', 'tcp', 'after-fin', 7),
        exposure('udp-exact', 'udp', 'udp-exact', 7),
        { ...exposure('udp-elsewhere', 'udp', 'udp-exact', 7), cluster: 'l4-gone' },
        exposure('nowhere', 'tcp', 'nowhere', 9),
      ],
      // Short, so that the expiry test does not wait a minute; long enough for a link to open on a busy machine.
      l4_udp_session_timeout: '3s',
    };
    a = await testHub({ ...common, replica: { secret: SECRET, lease: '3s', id: 'replica-a' } });
    cleanups.push(() => a.stop());
    b = await testHub({ ...common, replica: { secret: SECRET, lease: '3s', id: 'replica-b' } });
    cleanups.push(() => b.stop());
    agent = await testAgent(a.url, dir, {
      agent: { cluster_name: 'l4-replicas' },
      tunnels: { enabled: true },
      kubernetes: {
        service_proxy: 'map',
        service_map: {
          'demo/echo:7': `tcp://127.0.0.1:${echo.port}`,
          'demo/after-fin:7': `tcp://127.0.0.1:${(afterFin.address() as net.AddressInfo).port}`,
          'demo/udp-exact:7': `udp://127.0.0.1:${exact.port}`,
          'demo/nowhere:9': `tcp://127.0.0.1:${closedPort}`,
        },
      },
    });
    cleanups.push(() => agent.stop());
    clusterId = await waitFor(() => a.yamux.active()[0], { what: 'a yamux session between the agent and replica A', timeoutMs: 20_000 });
    await waitFor(async () => (await b.directory.locate(clusterId)).kind === 'remote', { what: "B sees A's session" });
    expect(b.agents.sessions.has(clusterId)).toBe(false);
    // B has never seen the cluster's name (the agent registered with A): the very first connection waits for B to
    // read the cluster list instead of failing with cluster_not_found.
    const probe = randomBytes(16);
    expect((await echoRoundTrip(b.l4.port('echo')!, probe)).sha256).toBe(sha256(probe));
  }, 60_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  test("4 MiB through B's listener reach the backend through A and come back sha256-intact", async () => {
    const payload = randomBytes(4 * 1024 * 1024);
    const before = (await b.metrics.text()).match(/pipeops_hub_forwarded_total\{gateway="l4",kind="tcp"\} (\d+)/)?.[1] ?? '0';
    const r = await echoRoundTrip(b.l4.port('echo')!, payload);
    expect(r).toEqual({ sha256: sha256(payload), bytes: payload.length });
    expect(echo.received).toContain(sha256(payload));
    const after = (await b.metrics.text()).match(/pipeops_hub_forwarded_total\{gateway="l4",kind="tcp"\} (\d+)/)?.[1];
    expect(Number(after)).toBe(Number(before) + 1);
    // B counted the connection and its bytes on its own listener.
    const view = b.l4.list().find((t) => t.name === 'echo')!;
    expect(view.bytes_in).toBeGreaterThanOrEqual(payload.length);
    expect(view.bytes_out).toBeGreaterThanOrEqual(payload.length);
  }, 60_000);

  test('8 connections at once through B, each intact', async () => {
    const payloads = Array.from({ length: 8 }, (_, i) => randomBytes(256 * 1024 + i));
    const got = await Promise.all(payloads.map((p) => echoRoundTrip(b.l4.port('echo')!, p)));
    expect(got.map((g) => g.sha256)).toEqual(payloads.map(sha256));
  }, 60_000);

  test("half-close is kept across the link: the service answers after the client's FIN", async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = net.connect({ host: '127.0.0.1', port: b.l4.port('after-fin')!, allowHalfOpen: true }, () => s.end(Buffer.alloc(100_000, 7)));
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => (s.end(), resolve(Buffer.concat(chunks).toString())));
      s.on('error', reject);
    });
    expect(answer).toBe('got 100000 bytes, then your FIN');
  }, 30_000);

  test('a stream the agent refuses (nothing listens behind the service): the client is closed, A counts it', async () => {
    const onA = async () => Number((await a.metrics.text()).match(/pipeops_hub_l4_failures_total\{tunnel="nowhere",reason="forwarded_connection_error"\} (\d+)/)?.[1] ?? 0);
    const n0 = await onA();
    const how = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: b.l4.port('nowhere')!, allowHalfOpen: true }, () => s.write('hello?'));
      s.on('data', () => resolve('data'));
      s.on('error', (e) => resolve(`error: ${e.message}`));
      s.on('end', () => (s.destroy(), resolve('ended')));
    });
    expect(how).toMatch(/ended|error/);
    await waitFor(async () => (await onA()) > n0, { what: 'the refused stream counted on A' });
  }, 30_000);

  /** A raw upgrade request to A's Kubernetes API gateway; resolves with the status line and the body. */
  const rawUpgrade = (target: string, headers: Record<string, string>) =>
    new Promise<string>((resolve, reject) => {
      const u = new URL(a.kubeUrl);
      const s = tls.connect({ host: u.hostname, port: Number(u.port), ca: a.kubeCaPem, checkServerIdentity: () => undefined }, () => {
        const lines = [`GET ${target} HTTP/1.1`, `Host: ${u.host}`, 'Connection: Upgrade', 'Upgrade: pipeops-l4', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
        s.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('end', () => resolve(text));
      s.on('close', () => resolve(text));
      s.on('error', reject);
    });

  test('an unsigned or forged /internal/l4 request is refused with 403 and counted; a signed one is served', async () => {
    const target = l4Target({ protocol: 'tcp', cluster: clusterId, tunnel: 'echo', namespace: 'demo', service: 'echo', port: 7, tunnelId: 'echo' });
    const refused = async () => Number((await a.metrics.text()).match(/pipeops_hub_l4_failures_total\{tunnel="internal",reason="forward_refused"\} (\d+)/)?.[1] ?? 0);
    const n0 = await refused();
    const unsigned = await rawUpgrade(target, {});
    expect(unsigned).toStartWith('HTTP/1.1 403');
    expect(unsigned).toContain('unsigned request');
    const forged = await rawUpgrade(target, { [FORWARDED_BY]: 'replica-b', [FORWARD_TIME]: String(Date.now()), [FORWARD_SIGNATURE]: 'AAAA' });
    expect(forged).toStartWith('HTTP/1.1 403');
    expect(forged).toContain('bad signature');
    // Signed with another secret: refused too.
    const other = new ReplicaLink({ replicaId: 'replica-b', secret: 'not-the-replicas-secret-0123456789', log: quietLog });
    const wrongKey = await rawUpgrade(target, other.sign('GET', target));
    expect(wrongKey).toStartWith('HTTP/1.1 403');
    // A signature over another target (a different service) does not carry over.
    const right = new ReplicaLink({ replicaId: 'replica-b', secret: SECRET, kubeCaPem: a.kubeCaPem, log: quietLog });
    const moved = await rawUpgrade(target.replace('service=echo', 'service=other'), right.sign('GET', target));
    expect(moved).toStartWith('HTTP/1.1 403');
    // Nor a TCP signature for a UDP forward, nor an unsigned UDP forward.
    expect(await rawUpgrade(target.replace('protocol=tcp', 'protocol=udp'), right.sign('GET', target))).toStartWith('HTTP/1.1 403');
    const udpTarget = l4Target({ protocol: 'udp', cluster: clusterId, tunnel: 'udp-exact', namespace: 'demo', service: 'udp-exact', port: 7, tunnelId: 'udp-exact' });
    expect(await rawUpgrade(udpTarget, {})).toStartWith('HTTP/1.1 403');
    expect(await refused()).toBe(n0 + 6);
    // The same request signed with the replicas' secret is served: 101, then the echo.
    const { socket, rest } = await right.openL4(a.kubeUrl, { protocol: 'tcp', cluster: clusterId, tunnel: 'echo', namespace: 'demo', service: 'echo', port: 7, tunnelId: 'echo' });
    expect(rest.length).toBe(0);
    const back = await new Promise<string>((resolve, reject) => {
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('end', () => (socket.end(), resolve(text)));
      socket.on('error', reject);
      socket.resume();
      socket.end('hello through the link');
    });
    expect(back).toBe('hello through the link');
  }, 30_000);

  const forwardedUdp = async (h: Hub) => Number((await h.metrics.text()).match(/pipeops_hub_forwarded_total\{gateway="l4",kind="udp"\} (\d+)/)?.[1] ?? 0);
  const linksOnA = async () => Number((await a.metrics.text()).match(/pipeops_hub_l4_forwarded_active\{protocol="udp"\} (\d+)/)?.[1] ?? -1);
  const udpView = (h: Hub) => h.l4.list().find((t) => t.name === 'udp-exact')!;

  test("UDP through B reaches the service through A and comes back, datagram boundaries intact; the forward is counted on B", async () => {
    const n0 = await forwardedUdp(b);
    const c = await udpClient();
    try {
      // The agent negotiated length-prefixed datagrams (T2) with A; the link B–A always carries them so.
      const sizes = [1, 0, 512, 1400, 9000, 33, 60_000, 2];
      const sent = sizes.map((n, i) => randomBytes(n).fill(i, 0, Math.min(n, 1)));
      for (const d of sent) c.send(d, b.l4.port('udp-exact')!);
      const got = await c.next(sizes.length);
      expect(got.map((d) => d.length)).toEqual(sizes);
      expect(got.map((d, i) => sha256(d) === sha256(sent[i]!))).toEqual(sizes.map(() => true));
    } finally {
      c.close();
    }
    expect(await forwardedUdp(b)).toBe(n0 + 1);
    // Nothing for this client went through a stream of B's own (B holds no session).
    expect(b.agents.sessions.has(clusterId)).toBe(false);
    expect(udpView(b).failures).toEqual({});
    expect(a.l4.forwardedActive().udp).toBeGreaterThanOrEqual(1);
  }, 30_000);

  test('two client addresses at once through B: each gets only its own datagrams, over a link of its own', async () => {
    const n0 = await forwardedUdp(b);
    const sources0 = exact.sources().length;
    const [x, y] = await Promise.all([udpClient(), udpClient()]);
    try {
      const port = b.l4.port('udp-exact')!;
      const msgs = (who: string) => Array.from({ length: 20 }, (_, i) => Buffer.from(`${who}-${i}-${'.'.repeat(i * 37)}`));
      const mx = msgs('x');
      const my = msgs('y');
      for (let i = 0; i < 20; i++) {
        x.send(mx[i]!, port);
        y.send(my[i]!, port);
      }
      const [gx, gy] = await Promise.all([x.next(20), y.next(20)]);
      expect(gx.map(String)).toEqual(mx.map(String));
      expect(gy.map(String)).toEqual(my.map(String));
      expect(x.received()).toBe(20);
      expect(y.received()).toBe(20);
    } finally {
      x.close();
      y.close();
    }
    expect(await forwardedUdp(b)).toBe(n0 + 2);
    // One agent UDP socket per client address: the service saw two new sources.
    expect(exact.sources().length).toBe(sources0 + 2);
  }, 30_000);

  test("idle expiry (l4_udp_session_timeout) closes B's client session and the link; the next datagram opens a new one", async () => {
    const c = await udpClient();
    try {
      const port = b.l4.port('udp-exact')!;
      c.send(Buffer.from('first'), port);
      expect(String((await c.next(1))[0])).toBe('first');
      expect(udpView(b).connections_active).toBeGreaterThanOrEqual(1);
      expect(await linksOnA()).toBeGreaterThanOrEqual(1);
      // Every client of the earlier tests and this one go idle: B forgets them all and closes their links, and A
      // (which sees each link end) relays none any more.
      await waitFor(() => udpView(b).connections_active === 0, { what: "B's UDP client sessions expired", timeoutMs: 20_000 });
      await waitFor(async () => (await linksOnA()) === 0, { what: 'the links closed on A', timeoutMs: 10_000 });
      const n0 = await forwardedUdp(b);
      c.send(Buffer.from('again'), port);
      expect(String((await c.next(1))[0])).toBe('again');
      expect(await forwardedUdp(b)).toBe(n0 + 1);
    } finally {
      c.close();
    }
  }, 40_000);

  test('a UDP client for a cluster no replica holds is refused as agent_offline (no link is tried)', async () => {
    // A cluster both replicas know whose agent has gone: registered through A, then stopped.
    const gone = await testAgent(a.url, tempDir(), { agent: { cluster_name: 'l4-gone' } });
    const goneId = await waitFor(() => [...a.agents.sessions.keys()].find((id) => id !== clusterId), { what: 'the second agent on A', timeoutMs: 20_000 });
    await gone.stop();
    await waitFor(async () => (await b.directory.locate(goneId)).kind !== 'remote', { what: "B sees that no replica holds the second cluster's session", timeoutMs: 20_000 });
    const n0 = await forwardedUdp(b);
    const counted = () => b.l4.list().find((t) => t.name === 'udp-elsewhere')!.failures.agent_offline ?? 0;
    const c = await udpClient();
    try {
      c.send(Buffer.from('anyone?'), b.l4.port('udp-elsewhere')!);
      await waitFor(() => counted() === 1, { what: 'agent_offline counted on B' });
    } finally {
      c.close();
    }
    expect(await forwardedUdp(b)).toBe(n0);
    expect(await b.metrics.text()).toMatch(/pipeops_hub_l4_failures_total\{tunnel="udp-elsewhere",reason="agent_offline"\} 1/);
  }, 30_000);
});
