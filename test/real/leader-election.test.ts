// Agent leader election against a real kube-apiserver: the chart installed with `replicas: 2` and leader election
// (real validation of the Deployment and the Lease Role), two agents in in-cluster mode with TokenRequest tokens for
// the chart's ServiceAccount, one hub. One leads and registers, the other stands by; every Lease call is authorized
// by the chart's Role (no 403 in the audit log); the real apiserver accepts our Lease writes (MicroTime, the
// resourceVersion precondition); stopping the leader releases the Lease and the standby takes over.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningAgent, runAgent } from '../../src/agent/run.ts';
import type { Hub } from '../../src/hub/server.ts';
import { agentConfig, tempDir, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { AGENT_USER, controlPlaneToken, forbidden, helmInstall, kubeJson, NS, type RealCluster, realTierMissing, startRealCluster, tokenRequest } from './real-support.ts';

const missing = realTierMissing();
if (missing) console.log(`test/real: SKIPPED (${missing})`);

const LEASE = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/pipeops-agent-leader`;
let c: RealCluster;
let hub: Hub;
const agents: RunningAgent[] = [];

async function replica(identity: string): Promise<RunningAgent> {
  const dir = tempDir('pipeops-real-ha-');
  const sa = join(dir, 'serviceaccount');
  mkdirSync(sa);
  writeFileSync(join(sa, 'token'), await tokenRequest(c.kube, NS, 'pipeops-agent'), { mode: 0o600 });
  writeFileSync(join(sa, 'ca.crt'), c.kube.caPem);
  writeFileSync(join(sa, 'namespace'), NS);
  const cfg = agentConfig(hub.url, dir, {
    agent: { leader_election: { enabled: true, identity, lease_duration: '8s', renew_deadline: '5s', retry_period: '500ms' } },
    kubernetes: { in_cluster: true, kubeconfig: '', service_account_dir: sa, service_token: await controlPlaneToken(c.kube) },
  } as never);
  const a = await runAgent(cfg, { env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(c.kube.port) }, logSink: (l) => process.env.TEST_LOG_LEVEL && process.stderr.write(l) });
  agents.push(a);
  return a;
}

describe.skipIf(missing !== null)('agent leader election against a real kube-apiserver', () => {
  beforeAll(async () => {
    c = await startRealCluster();
    await helmInstall(c.kube, { token: 'pipeops-agent-token-placeholder', replicas: '2', 'config.agent.leader_election.enabled': 'true' });
    hub = await testHub();
  }, 180_000);

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await hub?.stop();
    await c?.stop();
  });

  test('one leader registers, the standby waits; no 403; stop() releases and the standby takes over', async () => {
    const dep = await kubeJson<{ spec: { replicas: number; strategy: { type: string } } }>(c.kube, 'GET', `/apis/apps/v1/namespaces/${NS}/deployments/pipeops-agent`);
    expect(dep.spec).toMatchObject({ replicas: 2, strategy: { type: 'RollingUpdate' } });
    const auditFrom = c.kube.audit().length;

    const a = await replica('real-a');
    const clusterId = await waitFor(() => {
      const id = a.status.snapshot().clusterId;
      return id && hub.agents.isConnected(id) ? id : null;
    }, { what: 'real-a registered', timeoutMs: 30_000 });
    const b = await replica('real-b');
    await waitFor(() => b.status.snapshot().leadership?.holder === 'real-a', { what: 'real-b sees real-a lead', timeoutMs: 20_000 });
    const lease0 = await kubeJson<{ spec: Record<string, unknown>; metadata: { resourceVersion: string } }>(c.kube, 'GET', LEASE);
    expect(lease0.spec).toMatchObject({ holderIdentity: 'real-a', leaseDurationSeconds: 8, leaseTransitions: 0 });
    expect(String(lease0.spec.renewTime)).toMatch(/\.\d{6}Z$/);
    // Renewals go on while the standby watches; the standby never dials the hub.
    await waitFor(async () => Number((await kubeJson<{ metadata: { resourceVersion: string } }>(c.kube, 'GET', LEASE)).metadata.resourceVersion) > Number(lease0.metadata.resourceVersion) + 2, { what: 'renewals', timeoutMs: 20_000 });
    expect(b.status.snapshot()).toMatchObject({ leadership: { role: 'standby' }, connection: { registered: false } });
    expect(b.status.readiness().ready).toBe(true);

    // The leader stops (SIGTERM path): session closed, Lease released, the standby leads before the 8 s would expire.
    const stoppedAt = Date.now();
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
    await waitFor(() => hub.agents.isConnected(clusterId) && b.status.snapshot().leadership?.role === 'leader', { what: 'real-b leads with the session', timeoutMs: 20_000 });
    console.log(`real tier: leader stopped → standby session after ${Date.now() - stoppedAt} ms`);
    expect(Date.now() - stoppedAt).toBeLessThan(8_000);
    const lease1 = await kubeJson<{ spec: Record<string, unknown> }>(c.kube, 'GET', LEASE);
    expect(lease1.spec).toMatchObject({ holderIdentity: 'real-b', leaseTransitions: 1 });

    // Every request of the agents' identity, Lease calls included, was authorized by the chart's RBAC.
    const leaseCalls = c.kube.audit().slice(auditFrom).filter((e) => e.user.username === AGENT_USER && e.objectRef?.resource === 'leases');
    expect(new Set(leaseCalls.map((e) => e.verb))).toEqual(new Set(['get', 'create', 'update']));
    expect(forbidden(c.kube, AGENT_USER, auditFrom)).toEqual([]);
  }, 120_000);
});
