// The session directory: sessions held here are local; with a shared store, another replica's sessions are
// remote while its lease runs and nowhere once it ran out; claims follow sessions as they come and go. Real
// AgentEndpoints with socket doubles on one SQLite store (what PostgreSQL shares between processes), and a clock
// the test moves.
import { afterAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { type AgentSocket, type AgentSocketData, AgentEndpoint } from '../../src/hub/agent-endpoint.ts';
import { CredentialCipher, newKeyText, parseKey } from '../../src/hub/credential-cipher.ts';
import { SessionDirectory } from '../../src/hub/session-directory.ts';
import { openHubStore } from '../../src/hub/store/open-store.ts';
import type { HubStore } from '../../src/hub/store/types.ts';
import { encodeEnvelope } from '../../src/protocol/envelope.ts';
import { quietLog, tempDir } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

const stores: HubStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
});

const register = (requestId: string) =>
  encodeEnvelope(
    'register',
    {
      agent_id: 'agent-1',
      name: 'prod',
      k8s_version: 'v1.31.0',
      hostname: 'h',
      agent_version: 'test',
      server_ip: '127.0.0.1',
      region: '',
      cloud_provider: '',
      tunnel_port_config: { kubernetes_api: 0, kubelet: 0, agent_http: 0 },
      labels: {},
      server_specs: {},
      features: {},
      k8s_service_token: 'sa-token-for-tests',
    },
    requestId,
  );

class SocketDouble implements AgentSocket {
  readonly sent: string[] = [];
  closed: { code?: number; reason?: string } | null = null;
  constructor(readonly data: AgentSocketData) {}
  send(d: string | Uint8Array<ArrayBuffer>) {
    if (typeof d === 'string') this.sent.push(d);
  }
  close(code?: number, reason?: string) {
    this.closed = { code, reason };
  }
}

test('local, remote while the holder renews, nowhere once its lease ran out; claims follow sessions', async () => {
  const { store } = await openHubStore({ database: join(tempDir(), 'hub.db'), cipher: await CredentialCipher.create(parseKey(newKeyText())!) });
  stores.push(store);
  let now = 1_000_000;
  const clock = () => now;
  const endpointA = new AgentEndpoint(store.clusters, quietLog, { handoff: false, publicUrl: '' });
  const endpointB = new AgentEndpoint(store.clusters, quietLog, { handoff: false, publicUrl: '' });
  const a = new SessionDirectory(endpointA, { leases: store.leases, replica: { id: 'A', kube_url: 'https://a.internal:6443', public_url: 'http://a.internal' }, leaseMs: 3000, renewMs: 3_600_000, now: clock });
  const b = new SessionDirectory(endpointB, { leases: store.leases, replica: { id: 'B', kube_url: 'https://b.internal:6443', public_url: 'http://b.internal' }, leaseMs: 3000, renewMs: 3_600_000, now: clock });
  await a.start();
  await b.start();

  // An agent registers on A (no hand-off: the controller socket is the session).
  const ws = new SocketDouble({ kind: 'controller', clusterId: null, origin: 'ws://a', remote: '127.0.0.1', tokenDigest: 'd' });
  endpointA.open(ws);
  endpointA.message(ws, register('r1'));
  await waitFor(() => ws.data.clusterId, { what: 'registered' });
  const id = ws.data.clusterId!;
  expect((await a.locate(id)).kind).toBe('local');
  await waitFor(async () => (await b.locate(id)).kind === 'remote', { what: 'the claim recorded' });
  const there = await b.locate(id);
  expect(there.kind === 'remote' && there.replica).toMatchObject({ replica_id: 'A', kube_url: 'https://a.internal:6443' });

  // A dies (no renewal, no clean leave): within the lease B still sees it, after the lease nowhere.
  await a.stop(false);
  now += 2999;
  expect((await b.locate(id)).kind).toBe('remote');
  now += 1;
  expect((await b.locate(id)).kind).toBe('none');
  expect(await b.isConnected(id)).toBe(false);

  // The agent reconnects to B: B holds it, and A's stale entry cannot shadow it.
  const ws2 = new SocketDouble({ kind: 'controller', clusterId: null, origin: 'ws://b', remote: '127.0.0.1', tokenDigest: 'd' });
  endpointB.open(ws2);
  endpointB.message(ws2, register('r2'));
  await waitFor(() => ws2.data.clusterId, { what: 'registered on B' });
  expect(ws2.data.clusterId).toBe(id);
  expect((await b.locate(id)).kind).toBe('local');
  await waitFor(async () => (await store.leases.held('B')).includes(id), { what: "B's claim" });

  // The session ends on B: released at once.
  endpointB.close(ws2, 1000);
  await waitFor(async () => !(await store.leases.held('B')).includes(id), { what: 'the release' });
  await b.stop();
});

test('messages of one socket are handled in order even when the store answers later than the next message arrives', async () => {
  const { store } = await openHubStore({ database: ':memory:', cipher: await CredentialCipher.create(parseKey(newKeyText())!) });
  stores.push(store);
  const endpoint = new AgentEndpoint(store.clusters, quietLog, { handoff: false, publicUrl: '' });
  const ws = new SocketDouble({ kind: 'controller', clusterId: null, origin: 'ws://a', remote: '127.0.0.1', tokenDigest: 'd' });
  endpoint.open(ws);
  // register, then at once a heartbeat and a ping: the heartbeat needs the registration, the ping answers last.
  endpoint.message(ws, register('r1'));
  endpoint.message(ws, encodeEnvelope('heartbeat', { status: 'healthy' }, 'h1'));
  endpoint.message(ws, encodeEnvelope('ping', {}, 'p1'));
  await waitFor(() => ws.sent.length === 3, { what: 'three answers' });
  expect(ws.sent.map((s) => JSON.parse(s).type)).toEqual(['register_success', 'heartbeat_ack', 'pong']);
});

test('a store that does not answer: register and heartbeat get a clear error, nothing crashes', async () => {
  const { store } = await openHubStore({ database: ':memory:', cipher: await CredentialCipher.create(parseKey(newKeyText())!) });
  const endpoint = new AgentEndpoint(store.clusters, quietLog, { handoff: false, publicUrl: '' });
  await store.close();
  const ws = new SocketDouble({ kind: 'controller', clusterId: null, origin: 'ws://a', remote: '127.0.0.1', tokenDigest: 'd' });
  endpoint.open(ws);
  endpoint.message(ws, register('r1'));
  endpoint.message(ws, encodeEnvelope('heartbeat', { cluster_id: 'x' }, 'h1'));
  await waitFor(() => ws.sent.length === 2, { what: 'two answers' });
  const answers = ws.sent.map((s) => JSON.parse(s) as { type: string; payload: { error: string } });
  expect(answers.map((m) => m.type)).toEqual(['error', 'error']);
  expect(answers[0]!.payload.error).toContain('cannot reach its state database');
  expect(answers[1]!.payload.error).toContain('cannot reach its state database');
});

test('a session another replica claimed later is closed here at the next renewal; one whose claim was lost is claimed again', async () => {
  const { store } = await openHubStore({ database: join(tempDir(), 'hub.db'), cipher: await CredentialCipher.create(parseKey(newKeyText())!) });
  stores.push(store);
  const endpoint = new AgentEndpoint(store.clusters, quietLog, { handoff: false, publicUrl: '' });
  const a = new SessionDirectory(endpoint, { leases: store.leases, replica: { id: 'A', kube_url: '', public_url: '' }, leaseMs: 60_000, renewMs: 3_600_000 });
  await a.start();
  const ws = new SocketDouble({ kind: 'controller', clusterId: null, origin: 'ws://a', remote: '127.0.0.1', tokenDigest: 'd' });
  endpoint.open(ws);
  endpoint.message(ws, register('r1'));
  await waitFor(() => ws.data.clusterId, { what: 'registered' });
  const id = ws.data.clusterId!;
  await waitFor(async () => (await store.leases.held('A')).includes(id), { what: "A's claim" });

  // The claim vanishes (the replica's entries expired while it was paused): the next renewal claims again.
  await store.leases.release(id, 'A');
  await a.renew();
  expect(await store.leases.held('A')).toEqual([id]);
  expect(ws.closed).toBeNull();

  // The agent registered on B since (A's socket is a leftover): A closes its session instead of claiming back.
  await store.leases.heartbeatReplica({ replica_id: 'B', kube_url: '', public_url: '', expires_at: Date.now() + 60_000 });
  await store.leases.claim(id, 'B');
  await a.renew();
  expect(ws.closed).toEqual({ code: 1000, reason: 'session replaced on another hub replica' });
  expect((await store.leases.holder(id, Date.now()))?.replica_id).toBe('B');
  await a.stop();
});

test('a burst of sessions is recorded in a few statements, each cluster in its latest state', async () => {
  const { store } = await openHubStore({ database: join(tempDir(), 'hub.db'), cipher: await CredentialCipher.create(parseKey(newKeyText())!) });
  stores.push(store);
  // The endpoint's session events, fired by the test; the store's lease writes, counted.
  const listeners: ((clusterId: string, connected: boolean) => void)[] = [];
  const endpoint = { sessions: new Map(), onSession: (l: (typeof listeners)[number]) => (listeners.push(l), () => {}) };
  const calls: string[] = [];
  const leases = new Proxy(store.leases, {
    get: (target, key) => {
      const v = Reflect.get(target, key) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (key === 'claimMany' || key === 'releaseMany' || key === 'claim' || key === 'release') calls.push(`${String(key)}:${Array.isArray(args[0]) ? args[0].length : 1}`);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const dir = new SessionDirectory(endpoint as never, { leases, replica: { id: 'A', kube_url: '', public_url: '' }, leaseMs: 60_000, renewMs: 3_600_000 });
  await dir.start();
  const fire = (id: string, up: boolean) => listeners.forEach((l) => l(id, up));
  const ids = Array.from({ length: 300 }, (_, i) => `c-${i}`);
  for (const id of ids) fire(id, true);
  // c-0 goes and comes back, c-1 goes, within the same burst.
  fire('c-0', false);
  fire('c-0', true);
  fire('c-1', false);
  await dir.stop(false);
  expect((await store.leases.held('A')).sort()).toEqual(ids.filter((id) => id !== 'c-1').sort());
  // The first event is written at once; everything that arrived meanwhile goes in one batch.
  expect(calls).toEqual(['claimMany:1', 'releaseMany:1', 'claimMany:299']);
});
