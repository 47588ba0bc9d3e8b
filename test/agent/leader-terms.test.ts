// An agent with leader election across two terms in one process: it leads and holds the session; another holder
// takes the Lease (written by hand), so its renewals fail, it steps down after renew_deadline and closes its session
// (standby, /ready 200); when the Lease is free again it leads a second term with fresh workers and the session
// comes back. The hub's session events alternate throughout.
import { afterAll, expect, test } from 'bun:test';
import type { RunningAgent } from '../../src/agent/run.ts';
import type { Hub } from '../../src/hub/server.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

let hub: Hub;
let sandbox: Sandbox;
let agent: RunningAgent;
afterAll(async () => {
  await agent?.stop();
  await hub?.stop();
  await sandbox?.close();
});

test('step down when another holder has the Lease, lead again when it is free: the session follows the term', async () => {
  [hub, sandbox] = await Promise.all([testHub(), startSandbox({ seed: false, host: '127.0.0.1' })]);
  sandbox.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ha' } });
  const dir = tempDir('pipeops-terms-');
  const kubeconfig = `${dir}/kubeconfig`;
  await sandbox.writeKubeconfig(kubeconfig);
  const sessions: boolean[] = [];
  hub.agents.onSession((_id, connected) => sessions.push(connected));
  agent = await testAgent(hub.url, dir, {
    agent: { leader_election: { enabled: true, identity: 'me', lease_namespace: 'ha', lease_duration: '3s', renew_deadline: '1s', retry_period: '200ms' } },
    kubernetes: { kubeconfig },
  });
  const snap = () => agent.status.snapshot();
  await waitFor(() => snap().leadership?.role === 'leader' && snap().connection.registered, { what: 'first term with a session', timeoutMs: 15_000 });
  const firstTunnel = agent.workers.tunnel.worker;
  expect(firstTunnel).not.toBeNull();

  // Someone else holds it now (as if this replica had been partitioned and a standby took over).
  const lease = sandbox.get('leases', 'ha', 'pipeops-agent-leader') as { spec: Record<string, unknown> };
  sandbox.apply({ ...lease, spec: { ...lease.spec, holderIdentity: 'intruder', leaseTransitions: 1 } });
  await waitFor(() => snap().leadership?.role === 'standby' && !snap().connection.registered, { what: 'stepped down', timeoutMs: 10_000 });
  expect(snap().leadership?.holder).toBe('intruder');
  expect(agent.status.readiness().ready).toBe(true);
  await waitFor(() => sessions.at(-1) === false, { what: 'the hub saw the session close' });

  // The Lease is released: a second term, with a new tunnel thread, and the session is back.
  const held = sandbox.get('leases', 'ha', 'pipeops-agent-leader') as { spec: Record<string, unknown> };
  sandbox.apply({ ...held, spec: { ...held.spec, holderIdentity: '' } });
  await waitFor(() => snap().leadership?.role === 'leader' && snap().connection.registered, { what: 'second term with a session', timeoutMs: 15_000 });
  expect(agent.workers.tunnel.worker).not.toBeNull();
  expect(agent.workers.tunnel.worker).not.toBe(firstTunnel);
  expect((sandbox.get('leases', 'ha', 'pipeops-agent-leader') as { spec: Record<string, unknown> }).spec).toMatchObject({ holderIdentity: 'me', leaseTransitions: 2 });
  await waitFor(() => sessions.at(-1) === true, { what: 'the hub saw the session again' });
  expect(sessions).toEqual([true, false, true]);
}, 60_000);
