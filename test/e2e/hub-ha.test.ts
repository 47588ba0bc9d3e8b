// The HA shape end to end (`demo --ha`): PostgreSQL, two hub processes behind HAProxy, the agent as a process
// dialling HAProxy, kubectl pointed at HAProxy. The replica holding the agent's session is killed (SIGKILL) while
// a loop of requests runs: every request either succeeds or fails explicitly (an HTTP error or a refused
// connection, within its own timeout), the agent is back on the survivor within its reconnect bound, and
// kubectl works again. Skipped without PostgreSQL or HAProxy unless PIPEOPS_POSTGRES=required.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
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

  beforeAll(async () => {
    demo = await startHaDemo({ dir: tempDir('pipeops-ha-') });
  }, 90_000);
  afterAll(async () => {
    await demo?.stop();
  });

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
});
