// The Lease-based leader elector (client-go semantics) against the sandbox API server: one leader among racing
// candidates (the resourceVersion conflict decides), takeover only after the holder stops renewing, release on
// stop clears the holder so a standby takes over at its next attempt, and a leader that cannot renew steps down.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { LeaderElector, type LeaderElectionSettings, microTime } from '../../src/agent/leader-election.ts';
import { parseAgentConfig } from '../../src/config/schema.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { quietLog } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

let sb: Sandbox;
const NS = 'pipeops-system';
const electors: LeaderElector[] = [];

beforeAll(async () => {
  sb = await startSandbox({ seed: false, host: '127.0.0.1' });
  sb.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
});
afterAll(() => sb?.close());
afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
});

const kube = () => new KubeClient({ server: sb.url, source: 'kubeconfig' } as never);
const lease = (name: string) => sb.get('leases', NS, name) as { spec: Record<string, unknown>; metadata: { resourceVersion: string } } | undefined;

interface Candidate {
  elector: LeaderElector;
  events: string[];
}

function candidate(identity: string, name: string, over: Partial<LeaderElectionSettings> = {}, client = kube()): Candidate {
  const events: string[] = [];
  const elector = new LeaderElector(
    client,
    { namespace: NS, name, identity, leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200, releaseOnCancel: true, ...over },
    { onStartedLeading: () => void events.push('started'), onStoppedLeading: () => void events.push('stopped') },
    quietLog,
  );
  electors.push(elector);
  return { elector, events };
}

describe('leader election on a Lease', () => {
  test('MicroTime has six fractional digits', () => {
    expect(microTime(Date.UTC(2026, 11, 2, 19, 0, 0, 123))).toBe('2026-12-02T19:00:00.123000Z');
  });

  test('three racing candidates: exactly one leads; the Lease names it with client-go fields', async () => {
    const cs = ['a', 'b', 'c'].map((id) => candidate(id, 'race'));
    for (const c of cs) c.elector.start();
    await waitFor(() => cs.some((c) => c.elector.isLeader), { what: 'a leader' });
    // Everyone has seen the holder: the others are standing by, not leading.
    await waitFor(() => cs.every((c) => c.elector.holder !== ''), { what: 'the holder observed by all' });
    const leaders = cs.filter((c) => c.elector.isLeader);
    expect(leaders.length).toBe(1);
    const spec = lease('race')?.spec ?? {};
    expect(spec).toMatchObject({ holderIdentity: leaders[0]?.elector.identity, leaseDurationSeconds: 2, leaseTransitions: 0 });
    expect(String(spec.renewTime)).toMatch(/\.\d{6}Z$/);
    for (const c of cs) expect(c.elector.holder).toBe(leaders[0]?.elector.identity as string);
  });

  test('the leader renews; a standby takes over only once renewals stop, as transition 1', async () => {
    // No release on stop: a stands for a killed leader.
    const a = candidate('a', 'takeover', { releaseOnCancel: false });
    a.elector.start();
    await waitFor(() => a.elector.isLeader, { what: 'a leads' });
    const b = candidate('b', 'takeover');
    b.elector.start();
    const rv0 = Number(lease('takeover')?.metadata.resourceVersion);
    // Several renewals by a while b watches: b must not take over a live Lease.
    await waitFor(() => Number(lease('takeover')?.metadata.resourceVersion) >= rv0 + 5, { what: 'five renewals' });
    expect(b.elector.isLeader).toBe(false);
    expect(b.elector.holder).toBe('a');
    // a stops renewing without releasing: b takes over after the lease duration.
    electors.splice(electors.indexOf(a.elector), 1);
    await a.elector.stop();
    expect(lease('takeover')?.spec.holderIdentity).toBe('a');
    await waitFor(() => b.elector.isLeader, { what: 'b takes over', timeoutMs: 10_000 });
    expect(lease('takeover')?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    expect(b.events).toEqual(['started']);
  });

  test('stop() releases: holder cleared, leaseDurationSeconds 1, and the standby leads at its next attempt', async () => {
    const a = candidate('a', 'release', { leaseDurationMs: 30_000, renewDeadlineMs: 1000 });
    a.elector.start();
    await waitFor(() => a.elector.isLeader, { what: 'a leads' });
    const b = candidate('b', 'release', { leaseDurationMs: 30_000, renewDeadlineMs: 1000 });
    b.elector.start();
    await waitFor(() => b.elector.holder === 'a', { what: 'b sees a' });
    const seen: Record<string, unknown>[] = [];
    const sub = sb.store.subscribe((e) => seen.push({ ...(e.object.spec as Record<string, unknown>) }), sb.registry.resolve('leases'));
    electors.splice(electors.indexOf(a.elector), 1);
    await a.elector.stop();
    expect(a.events).toEqual(['started', 'stopped']);
    // Far sooner than the 30 s lease duration: the release, not expiry, hands over.
    await waitFor(() => b.elector.isLeader, { what: 'b leads after the release', timeoutMs: 5000 });
    sub.cancel();
    const released = seen.findIndex((s) => s.holderIdentity === '');
    expect(released).toBeGreaterThanOrEqual(0);
    expect(seen[released]).toMatchObject({ leaseDurationSeconds: 1, leaseTransitions: 0 });
    expect(seen.slice(released + 1).map((s) => s.holderIdentity)).not.toContain('a');
    expect(seen.at(-1)).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
  });

  test('a leader that cannot renew for renew_deadline steps down and stops its work', async () => {
    let cut = false;
    const client = kube();
    const real = client.request.bind(client);
    client.request = (path, init) => (cut ? Promise.reject(new Error('apiserver unreachable')) : real(path, init));
    const a = candidate('a', 'stepdown', {}, client);
    a.elector.start();
    await waitFor(() => a.elector.isLeader, { what: 'a leads' });
    cut = true;
    await waitFor(() => !a.elector.isLeader && a.events.includes('stopped'), { what: 'a steps down', timeoutMs: 5000 });
    expect(a.events).toEqual(['started', 'stopped']);
    // Back online, it campaigns again and (its own Lease) leads a new term.
    cut = false;
    await waitFor(() => a.elector.isLeader, { what: 'a leads again' });
    await waitFor(() => a.events.length === 3, { what: 'the second term started' });
    expect(a.events).toEqual(['started', 'stopped', 'started']);
  });
});

describe('leader election settings', () => {
  const base = { agent: { cluster_name: 'c' }, pipeops: { api_url: 'http://h', token: 't' } };
  test('client-go defaults, and its ordering rules enforced', () => {
    const cfg = parseAgentConfig(base);
    expect(cfg.agent.leader_election).toMatchObject({ enabled: false, lease_name: 'pipeops-agent-leader', lease_duration: 8000, renew_deadline: 5000, retry_period: 1000, release_on_cancel: true });
    expect(() => parseAgentConfig({ ...base, agent: { cluster_name: 'c', leader_election: { lease_duration: '5s', renew_deadline: '5s' } } })).toThrow(/greater than agent.leader_election.renew_deadline/);
    expect(() => parseAgentConfig({ ...base, agent: { cluster_name: 'c', leader_election: { renew_deadline: '2s', retry_period: '2s' } } })).toThrow(/greater than 1.2/);
  });
});
