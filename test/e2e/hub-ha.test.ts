// The HA shape end to end (`demo --ha`): PostgreSQL, two hub processes behind HAProxy, the agent as a process
// dialling HAProxy, kubectl pointed at HAProxy. The replica holding the agent's session is killed (SIGKILL) while
// a loop of requests runs: every request either succeeds or fails explicitly (an HTTP error or a refused
// connection, within its own timeout), the agent is back on the survivor within its reconnect bound, and
// kubectl works again. Two agent replicas with leader election: SIGKILL of the leading one → the standby registers
// through HAProxy within 15 s, kubectl works again, and no sample of either hub replica ever shows two bound agent
// sessions (controller sockets) at once. Skipped without PostgreSQL or HAProxy unless PIPEOPS_POSTGRES=required.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { type RunningHaDemo, startHaDemo } from '../../src/devstack/demo-ha.ts';
import { kubectlPath, runKubectl, VERSIONS } from '../sandbox/streams/kubectl-run.ts';
import { tempDir } from '../support/hub-agent.ts';
import { POSTGRES_REQUIRED, postgresUnavailable } from '../support/postgres.ts';
import { waitFor } from '../support/wait.ts';

const haproxy = ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy'].find(existsSync) ?? null;
const skip = POSTGRES_REQUIRED ? null : (postgresUnavailable() ?? (haproxy ? null : 'haproxy not installed (apt-get install haproxy)'));
if (skip) console.log(`SKIPPED: hub HA through HAProxy: ${skip}`);
const bin = [...VERSIONS].reverse().map(kubectlPath).find((p) => p !== null) ?? null;

type Outcome = { ok: true } | { ok: false; how: string };

describe.skipIf(skip !== null)('hub replicas behind HAProxy', () => {
  let demo: RunningHaDemo;
  const admin = () => ({ authorization: `Bearer ${demo.adminToken}` });
  const holder = async () => {
    const r = await fetch(`${demo.endpoints.hub_url}/api/v1/clusters/${demo.endpoints.cluster_id}`, { headers: admin(), signal: AbortSignal.timeout(3000) });
    const v = (await r.json()) as { connected: boolean; session_replica: string | null };
    return v.connected ? v.session_replica : null;
  };
  /** One Kubernetes API request through HAProxy, bounded: success, or an explicit failure (never a hang). */
  const request = async (): Promise<Outcome> => {
    try {
      const r = await fetch(`${demo.endpoints.kube_url}/clusters/${demo.endpoints.cluster_id}/k8s/api/v1/namespaces/demo/pods`, {
        headers: { authorization: `Bearer ${demo.userToken}` },
        tls: { rejectUnauthorized: false },
        signal: AbortSignal.timeout(10_000),
      } as RequestInit);
      const body = await r.text();
      if (r.status === 200 && body.includes('hello-6d9f7c8b5-abcde')) return { ok: true };
      return { ok: false, how: `HTTP ${r.status}: ${body.slice(0, 120)}` };
    } catch (e) {
      const how = (e as Error).name === 'TimeoutError' ? 'TIMEOUT' : `connection: ${(e as Error).message}`;
      return { ok: false, how };
    }
  };

  type Role = { role: string; leader: string | null };
  const agentReady = async (url: string) => {
    const r = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(3000) });
    const b = (await r.json()) as { registered: boolean; leader_election?: Role };
    return { status: r.status, registered: b.registered, election: b.leader_election };
  };
  /** Agent sockets bound to a cluster session on one hub replica, by endpoint kind, from its own /metrics (not
   * through HAProxy). The agent's session runs on the controller endpoint or, resumed, on the gateway endpoint. */
  const boundSockets = async (url: string) => {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
    const bound = (kind: string) => Number(text.split('\n').find((l) => l.startsWith(`pipeops_hub_agent_sockets{kind="${kind}",state="bound"}`))?.split(' ').at(-1));
    return { controller: bound('controller'), gateway: bound('gateway') };
  };
  /** Bound sockets summed over both hub replicas: two of one kind would be two sessions for the one cluster. */
  const boundSessions = async () => {
    const each = await Promise.all(demo.endpoints.hub_replicas.map((r) => boundSockets(r.url).catch(() => ({ controller: 0, gateway: 0 }))));
    return { controller: each.reduce((x, y) => x + y.controller, 0), gateway: each.reduce((x, y) => x + y.gateway, 0) };
  };

  beforeAll(async () => {
    demo = await startHaDemo({ dir: tempDir('pipeops-ha-') });
  }, 90_000);
  afterAll(async () => {
    await demo?.stop();
  });

  test('two agent replicas are listed; exactly one leads and holds the session, the other is a ready standby', async () => {
    const agents = demo.endpoints.agent_replicas;
    expect(agents.length).toBe(2);
    expect(new Set(agents.map((a) => a.identity)).size).toBe(2);
    expect(new Set(agents.map((a) => a.url)).size).toBe(2);
    expect(new Set(agents.map((a) => a.pid)).size).toBe(2);
    for (const a of agents) expect(a.pid).toBeGreaterThan(0);
    const states = await Promise.all(agents.map((a) => agentReady(a.url)));
    const leader = demo.endpoints.agent_leader;
    expect(agents.map((a) => a.identity)).toContain(leader);
    expect(states.map((s, i) => ({ status: s.status, registered: s.registered, role: s.election?.role, leader: s.election?.leader, me: agents[i]!.identity }))).toEqual(
      agents.map((a) => ({ status: 200, registered: a.identity === leader, role: a.identity === leader ? 'leader' : 'standby', leader, me: a.identity })),
    );
    const b = await boundSessions();
    expect(b.controller + b.gateway).toBe(1);
  }, 30_000);

  test("an app through HAProxy (PROXY v2) sees the client's own address, whichever replica HAProxy picks", async () => {
    // From 127.0.0.7: HAProxy connects from 127.0.0.1, so an address that leaks from any hop shows. Round robin
    // sends some requests to the replica without the session, which forwards them over the replica link.
    const forwarded = async () => {
      const texts = await Promise.all(demo.endpoints.hub_replicas.map(async (r) => (await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(3000) })).text()));
      return texts.reduce((n, t) => n + Number(/pipeops_hub_forwarded_total\{gateway="public",kind="request"\} (\d+)/.exec(t)?.[1] ?? 0), 0);
    };
    const before = await forwarded();
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const body = await new Promise<string>((resolve, reject) => {
        const u = new URL(demo.endpoints.gateway_url);
        const req = http.get({ host: u.hostname, port: Number(u.port), path: '/', localAddress: '127.0.0.7', headers: { host: 'hello.demo.local' }, agent: false, timeout: 10_000 }, (res) => {
          let b = '';
          res.on('data', (d) => (b += d));
          res.on('end', () => resolve(`${res.statusCode}\n${b}`));
        });
        req.on('error', reject);
      });
      seen.push(/^x-forwarded-for: (.*)$/m.exec(body)?.[1] ?? body.slice(0, 200));
    }
    expect(seen).toEqual(['127.0.0.7', '127.0.0.7', '127.0.0.7', '127.0.0.7']);
    expect(await forwarded()).toBeGreaterThan(before);
  }, 60_000);

  test.skipIf(!bin)('kubectl through HAProxy reaches the agent, whichever replica HAProxy picks', async () => {
    const env = { KUBECONFIG: demo.endpoints.kubeconfig, KUBECACHEDIR: `${tempDir()}/cache`, HOME: tempDir() };
    // Round robin: several requests land on both replicas, one of which does not hold the session.
    for (let i = 0; i < 4; i++) {
      const r = await runKubectl(bin!, ['get', 'pods', '-n', 'demo'], env, undefined, 30_000);
      expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: '' });
      expect(r.stdout.toString()).toMatch(/hello-6d9f7c8b5-abcde\s+1\/1\s+Running/);
    }
  }, 60_000);

  test('SIGKILL of the replica holding the session: every request succeeds or fails explicitly; the agent is back on the survivor within its bound', async () => {
    const victim = await waitFor(holder, { what: 'the session holder' });
    const target = demo.endpoints.hub_replicas.find((r) => r.id === victim)!;
    const survivor = demo.endpoints.hub_replicas.find((r) => r.id !== victim)!;
    expect((await request()).ok).toBe(true);

    const outcomes: Outcome[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) outcomes.push(await request());
    })();
    const killedAt = Date.now();
    process.kill(target.pid, 'SIGKILL');
    // Back: the survivor holds the session (the agent redialled through HAProxy and registered there).
    await waitFor(async () => (await holder().catch(() => null)) === survivor.id, { what: `the agent on ${survivor.id}`, timeoutMs: 30_000, intervalMs: 50 });
    const backMs = Date.now() - killedAt;
    // ... and requests succeed again through HAProxy.
    await waitFor(async () => (await request()).ok, { what: 'requests succeeding again', timeoutMs: 15_000 });
    stop = true;
    await loop;
    const failures = outcomes.filter((o): o is { ok: false; how: string } => !o.ok);
    console.log(`failover: agent back on ${survivor.id} ${backMs} ms after SIGKILL of ${victim}; ${outcomes.length} requests, ${failures.length} failed: ${[...new Set(failures.map((f) => f.how.slice(0, 60)))].join(' | ')}`);
    // Explicit failures only: none of the requests hung until its own timeout.
    expect(failures.filter((f) => f.how === 'TIMEOUT')).toEqual([]);
    // The bound: HAProxy notices the dead replica (2 failed checks, 1 s apart) or redispatches at once; the agent
    // redials within its reconnect cap; a few seconds for registration and the hand-off on a loaded machine.
    expect(backMs).toBeLessThan(2_000 + demo.endpoints.agent_reconnect_max_ms + 8_000);
    expect((await request()).ok).toBe(true);

    // The killed replica comes back and serves again (through HAProxy, forwarding to the survivor).
    await demo.restartReplica(victim!);
    const direct = await fetch(`${target.kube_url}/clusters/${demo.endpoints.cluster_id}/k8s/api/v1/namespaces/demo/pods`, {
      headers: { authorization: `Bearer ${demo.userToken}` },
      tls: { rejectUnauthorized: false },
    } as RequestInit);
    expect(direct.status).toBe(200);
  }, 120_000);

  test('SIGKILL of the leading agent: the standby registers through HAProxy within 15 s, kubectl works again, never two sessions', async () => {
    const agents = demo.endpoints.agent_replicas;
    const roles = await Promise.all(agents.map(async (a) => ({ a, s: await agentReady(a.url) })));
    const leader = roles.find((r) => r.s.election?.role === 'leader')!.a;
    const standby = roles.find((r) => r.s.election?.role === 'standby')!.a;
    await waitFor(async () => (await holder()) !== null, { what: 'the cluster connected before the kill', timeoutMs: 30_000 });
    expect((await request()).ok).toBe(true);

    // Sample both hub replicas' bound sessions throughout: the sum must never exceed one.
    const samples: { controller: number; gateway: number }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) samples.push(await boundSessions());
    })();
    const killedAt = Date.now();
    process.kill(leader.pid, 'SIGKILL');
    // The standby takes the Lease over and registers (its api_url is HAProxy), and the hub shows the cluster connected.
    await waitFor(
      async () => {
        const s = await agentReady(standby.url).catch(() => null);
        return s?.election?.role === 'leader' && s.election.leader === standby.identity && s.registered && (await holder()) !== null;
      },
      { what: `${standby.identity} leading and connected`, timeoutMs: 20_000, intervalMs: 50 },
    );
    const takeoverMs = Date.now() - killedAt;
    await waitFor(async () => (await request()).ok, { what: 'requests succeeding again', timeoutMs: 15_000 });
    if (bin) {
      const env = { KUBECONFIG: demo.endpoints.kubeconfig, KUBECACHEDIR: `${tempDir()}/cache`, HOME: tempDir() };
      const r = await runKubectl(bin, ['get', 'pods', '-n', 'demo'], env, undefined, 30_000);
      expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: '' });
      expect(r.stdout.toString()).toMatch(/hello-6d9f7c8b5-abcde\s+1\/1\s+Running/);
    }
    sampling = false;
    await sampler;
    const max = { controller: Math.max(...samples.map((x) => x.controller)), gateway: Math.max(...samples.map((x) => x.gateway)) };
    console.log(`agent failover: ${standby.identity} registered ${takeoverMs} ms after SIGKILL of ${leader.identity}; ${samples.length} session samples, max bound ${JSON.stringify(max)}`);
    expect(takeoverMs).toBeLessThan(15_000);
    expect(samples.length).toBeGreaterThan(0);
    expect(max.controller).toBeLessThanOrEqual(1);
    expect(max.gateway).toBeLessThanOrEqual(1);
    const last = samples.at(-1)!;
    expect(last.controller + last.gateway).toBeGreaterThanOrEqual(1);
    // Still one cluster named demo, the same id: the standby continued the shared state's identity.
    const list = (await (await fetch(`${demo.endpoints.hub_url}/api/v1/clusters`, { headers: admin() })).json()) as { clusters: { cluster_id: string; name: string }[] };
    expect(list.clusters.filter((c) => c.name === 'demo').map((c) => c.cluster_id)).toEqual([demo.endpoints.cluster_id]);
  }, 90_000);
});
