// Two agent processes for one cluster with leader election on (issue 15, item 5), against the sandbox API server
// (the Lease) and one hub: exactly one registers and holds the session while the other is ready but passive;
// SIGKILL of the leader → the standby holds the session within 15 s; SIGTERM of the leader → it closes its session,
// releases the Lease, and the standby takes over at its next attempt, long before the Lease would expire. The hub never holds two sessions at once:
// its session events for the cluster strictly alternate (a replaced session would show two `connected` in a row).
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { type Hub } from '../../src/hub/server.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { AGENT_TOKEN, tempDir, testHub } from '../support/hub-agent.ts';
import { lineWatcher, waitFor } from '../support/wait.ts';

const BUN = process.execPath;
const CLI = join(import.meta.dir, '../../src/cli.ts');
const NS = 'pipeops-system';

let hub: Hub;
let sandbox: Sandbox;
let dir: string;
let kubeconfig: string;
const procs: ReturnType<typeof Bun.spawn>[] = [];
/** Every hub session event (one cluster here), in order. */
const sessions: { connected: boolean; at: number }[] = [];
/** `register` messages the hub received, by the replica that sent them (a label each replica sets). */
const registrations: string[] = [];

beforeAll(async () => {
  [hub, sandbox] = await Promise.all([testHub(), startSandbox({ seed: false, host: '127.0.0.1' })]);
  sandbox.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  dir = tempDir('pipeops-ha-');
  kubeconfig = join(dir, 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig);
  hub.agents.onSession((_id, connected) => sessions.push({ connected, at: Date.now() }));
  hub.agents.tap((_id, m) => {
    if (m.type === 'register') registrations.push(String(((m.payload as { labels?: Record<string, string> }).labels ?? {}).replica));
  });
});
afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await hub?.stop();
  await sandbox?.close();
});

interface Replica {
  name: string;
  proc: ReturnType<typeof Bun.spawn>;
  url: string;
  out: ReturnType<typeof lineWatcher>;
}

async function startReplica(name: string): Promise<Replica> {
  const proc = Bun.spawn([BUN, CLI, 'agent', '--kubeconfig', kubeconfig, '--leader-elect', '--leader-elect-resource-namespace', NS], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      PIPEOPS_API_URL: hub.url,
      PIPEOPS_TOKEN: AGENT_TOKEN,
      PIPEOPS_CLUSTER_NAME: 'ha-cluster',
      PIPEOPS_PORT: '0',
      AGENT_HOST: '127.0.0.1',
      // One cluster, one state: both replicas share it (in a cluster: the state ConfigMap and Secret).
      PIPEOPS_STATE_FILE: join(dir, 'state.yaml'),
      PIPEOPS_LEADER_ELECTION_IDENTITY: name,
      AGENT_LABELS: `replica=${name}`,
      AGENT_HEARTBEAT_INTERVAL: '1s',
      TIMEOUTS_WEBSOCKET_RECONNECT: '100ms',
      TIMEOUTS_WEBSOCKET_RECONNECT_MAX: '1s',
    },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  procs.push(proc);
  const out = lineWatcher(proc.stdout as ReadableStream<Uint8Array>);
  const { url } = JSON.parse(await out.next(/"msg":"local API listening"/, 30_000)) as { url: string };
  return { name, proc, url, out };
}

async function ready(r: Replica): Promise<{ status: number; body: { leader_election?: { role: string; leader: string | null; note?: string }; registered: boolean } }> {
  const res = await fetch(`${r.url}/ready`);
  return { status: res.status, body: (await res.json()) as never };
}

const leaseHolder = () => ((sandbox.get('leases', NS, 'pipeops-agent-leader')?.spec ?? {}) as { holderIdentity?: string }).holderIdentity;
const lastSession = () => sessions.at(-1);

/** No two `connected` without a close between them: the hub never held two sessions for the cluster. */
function expectAlternatingSessions(): void {
  sessions.forEach((s, i) => expect({ i, connected: s.connected }).toEqual({ i, connected: i % 2 === 0 }));
}

test('two replicas: one leader registers, the standby is ready and passive; SIGKILL → standby holds the session within 15 s; SIGTERM → fast hand-over', async () => {
  const a = await startReplica('replica-a');
  await waitFor(() => leaseHolder() === 'replica-a' && lastSession()?.connected, { what: 'replica-a leads and holds the session', timeoutMs: 30_000 });
  const b = await startReplica('replica-b');
  await waitFor(async () => (await ready(b)).body.leader_election?.leader === 'replica-a', { what: 'replica-b sees replica-a lead', timeoutMs: 30_000 });

  // The standby: /ready 200, passive by design, no session; several Lease renewals later still only one registration.
  const rv0 = Number((sandbox.get('leases', NS, 'pipeops-agent-leader')?.metadata as { resourceVersion: string }).resourceVersion);
  await waitFor(() => Number((sandbox.get('leases', NS, 'pipeops-agent-leader')?.metadata as { resourceVersion: string }).resourceVersion) >= rv0 + 3, { what: 'three renewals', timeoutMs: 20_000 });
  const standby = await ready(b);
  expect(standby.status).toBe(200);
  expect(standby.body.registered).toBe(false);
  expect(standby.body.leader_election).toMatchObject({ role: 'standby', leader: 'replica-a' });
  expect(standby.body.leader_election?.note).toContain('passive');
  expect((await ready(a)).body.leader_election).toMatchObject({ role: 'leader', leader: 'replica-a' });
  expect(registrations).toEqual(['replica-a']);
  expect(sessions.map((s) => s.connected)).toEqual([true]);
  const leaderGauge = async (r: Replica) => /pipeops_agent_leader_election_leader\{lease="pipeops-system\/pipeops-agent-leader"\} (\d)/.exec(await (await fetch(`${r.url}/metrics`)).text())?.[1];
  expect([await leaderGauge(a), await leaderGauge(b)]).toEqual(['1', '0']);

  // SIGKILL the leader: no release; the standby takes over once the Lease expires.
  const killedAt = Date.now();
  a.proc.kill('SIGKILL');
  await a.proc.exited;
  await waitFor(() => sessions.length === 3 && lastSession()?.connected, { what: 'replica-b takes the session over', timeoutMs: 20_000 });
  const takeoverMs = (lastSession()?.at ?? 0) - killedAt;
  console.log(`HA: SIGKILL of the leader → standby session after ${takeoverMs} ms`);
  expect(takeoverMs).toBeLessThan(15_000);
  // The new leader continues the persisted cluster identity: a register, or a session resumed on the hand-off
  // endpoint with the stored cluster id (what it does depends on the state the first leader left).
  await waitFor(async () => (await ready(b)).status === 200, { what: 'replica-b ready as the leader', timeoutMs: 10_000 });
  expect(await ready(b)).toMatchObject({ status: 200, body: { registered: true, leader_election: { role: 'leader', leader: 'replica-b' } } });
  expect(leaseHolder()).toBe('replica-b');
  expectAlternatingSessions();
  // The shared state carried the cluster identity: one cluster at the hub, not two.
  const clusters = (await (await fetch(`${hub.url}/api/v1/clusters`, { headers: { authorization: 'Bearer admin-token-for-tests' } })).json()) as { clusters: unknown[] };
  expect(clusters.clusters.length).toBe(1);

  // A new standby, then SIGTERM of the leader: session closed first, Lease released, standby registers well before
  // the lease duration (8 s) would have run out.
  const c = await startReplica('replica-c');
  await waitFor(async () => (await ready(c)).body.leader_election?.leader === 'replica-b', { what: 'replica-c sees replica-b lead', timeoutMs: 30_000 });
  const holders: string[] = [];
  const sub = sandbox.store.subscribe((e) => holders.push(String((e.object.spec as { holderIdentity?: string }).holderIdentity)), sandbox.registry.resolve('leases'));
  const termAt = Date.now();
  b.proc.kill('SIGTERM');
  expect(await b.proc.exited).toBe(0);
  await waitFor(() => sessions.length === 5 && lastSession()?.connected, { what: 'replica-c takes the session over', timeoutMs: 20_000 });
  sub.cancel();
  const handoverMs = (lastSession()?.at ?? 0) - termAt;
  console.log(`HA: SIGTERM of the leader → standby session after ${handoverMs} ms`);
  expect(handoverMs).toBeLessThan(8_000);
  expect(holders).toContain('');
  expect(holders.indexOf('')).toBeLessThan(holders.indexOf('replica-c'));
  await waitFor(async () => (await ready(c)).status === 200, { what: 'replica-c ready as the leader', timeoutMs: 10_000 });
  expect(await ready(c)).toMatchObject({ status: 200, body: { registered: true, leader_election: { role: 'leader', leader: 'replica-c' } } });
  // Only ever the first leader sent `register`; the others resumed the cluster it registered.
  expect(registrations.filter((r) => r !== 'replica-a')).toEqual([]);
  expectAlternatingSessions();
  c.proc.kill('SIGTERM');
  expect(await c.proc.exited).toBe(0);
}, 120_000);
