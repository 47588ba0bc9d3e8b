// The hub's state on disk (issue 11 §3): a 0700 directory, 0600 database, WAL, shared memory and key files, and
// a cluster's ServiceAccount token that appears nowhere in the raw database bytes (db + WAL), from a real agent
// registering and heartbeating, from a database an older hub left in plaintext, and across a key rotation.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningAgent } from '../../src/agent/run.ts';
import { newKeyText } from '../../src/hub/credential-cipher.ts';
import { HubConfigSchema } from '../../src/hub/config/schema.ts';
import { type Hub, startHub } from '../../src/hub/server.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { AGENT_TOKEN, quietLog, tempDir, testAgent } from '../support/hub-agent.ts';
import { TLS } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const SA_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.sa-token-that-must-not-be-on-disk.c2lnbmF0dXJl';
const running: { stop(): Promise<void> }[] = [];
let sandbox: Sandbox;
let kubeconfig: string;
beforeAll(async () => {
  // The agent validates its token against a Kubernetes API before handing it over.
  sandbox = await startSandbox({ tls: TLS, tokens: { [SA_TOKEN]: {} }, seed: 'minimal' });
  kubeconfig = join(tempDir(), 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig, { token: SA_TOKEN });
});
afterAll(async () => {
  await sandbox?.close();
});
afterEach(async () => {
  for (const r of running.splice(0).reverse()) await r.stop();
});

async function hub(state: string, credentials: { key?: string; previous_keys?: string[] } = {}): Promise<Hub> {
  const h = await startHub(HubConfigSchema.parse({ port: 0, kube_port: 0, gateway_port: 0, agent_tokens: [AGENT_TOKEN], state, credentials }), quietLog);
  running.push(h);
  return h;
}

const mode = (p: string) => statSync(p).mode & 0o777;
/** The raw bytes of the database and its WAL, as an attacker who copied the files would have them. */
const rawBytes = (state: string) => Buffer.concat([state, `${state}-wal`].filter(existsSync).map((f) => readFileSync(f)));

async function registeredAgent(h: Hub, dir: string): Promise<{ agent: RunningAgent; clusterId: string }> {
  const agent = await testAgent(h.url, dir, { kubernetes: { kubeconfig, service_token: SA_TOKEN } } as never);
  running.push(agent);
  const clusterId = await waitFor(() => agent.status.snapshot().clusterId, { what: 'registration', timeoutMs: 15_000 });
  await waitFor(async () => (await h.store.get(clusterId))?.k8s_service_token === SA_TOKEN, { what: 'token stored' });
  return { agent, clusterId };
}

describe('hub state at rest', () => {
  test('0700 directory, 0600 files, and the ServiceAccount token nowhere in the database or WAL bytes', async () => {
    const dir = tempDir();
    const state = join(dir, 'state', 'hub.db');
    const h = await hub(state);
    const { clusterId } = await registeredAgent(h, dir);
    // Heartbeats rewrite the cluster's row (each one a WAL page): wait for several.
    const first = (await h.store.get(clusterId))!.last_heartbeat;
    await waitFor(async () => (await h.store.get(clusterId))!.last_heartbeat !== first, { what: 'heartbeats', timeoutMs: 10_000 });
    expect(mode(join(dir, 'state'))).toBe(0o700);
    for (const f of [state, `${state}-wal`, `${state}-shm`, `${state}.key`]) expect({ f, mode: mode(f) }).toEqual({ f, mode: 0o600 });
    const bytes = rawBytes(state);
    expect(bytes.includes(Buffer.from(SA_TOKEN))).toBe(false);
    expect(bytes.includes(Buffer.from('sa-token-that-must-not-be-on-disk'))).toBe(false);
    expect(bytes.includes(Buffer.from('v1:'))).toBe(true); // the ciphertext is there
    // A restarted hub decrypts it (the kube gateway presents it to the agent).
    await h.stop();
    running.splice(running.indexOf(h), 1);
    const h2 = await hub(state);
    expect((await h2.store.get(clusterId))?.k8s_service_token).toBe(SA_TOKEN);
  }, 60_000);

  test('a database an older hub wrote in plaintext (0644) is re-encrypted and tightened at start-up', async () => {
    const dir = tempDir();
    const state = join(dir, 'hub.db');
    const { Database } = await import('bun:sqlite');
    // An older hub's database (before schema_migrations): its schema, the token in clear, world-readable files.
    const id = 'legacy-cluster-id';
    const db = new Database(state);
    db.exec(`CREATE TABLE clusters (cluster_id TEXT PRIMARY KEY, name TEXT NOT NULL, agent_id TEXT NOT NULL, k8s_version TEXT NOT NULL DEFAULT '',
      agent_version TEXT NOT NULL DEFAULT '', k8s_service_token TEXT NOT NULL DEFAULT '', metadata TEXT NOT NULL DEFAULT '{}',
      registration TEXT NOT NULL DEFAULT '{}', registered_at TEXT NOT NULL, last_heartbeat TEXT, last_heartbeat_payload TEXT);
      CREATE UNIQUE INDEX clusters_agent_name ON clusters(agent_id, name);`);
    db.query("INSERT INTO clusters (cluster_id, name, agent_id, k8s_service_token, registered_at) VALUES (?, 'legacy', 'a', ?, '2026-01-01T00:00:00Z')").run(id, SA_TOKEN);
    db.close();
    Bun.spawnSync(['chmod', '0644', state]);
    expect(rawBytes(state).includes(Buffer.from(SA_TOKEN))).toBe(true);

    const h = await hub(state);
    expect((await h.store.get(id))?.k8s_service_token).toBe(SA_TOKEN);
    expect(mode(state)).toBe(0o600);
    expect(rawBytes(state).includes(Buffer.from(SA_TOKEN))).toBe(false);
  });

  test('key rotation: the new key with the old one as previous re-encrypts everything; the old key alone then fails clearly', async () => {
    const dir = tempDir();
    const state = join(dir, 'hub.db');
    const keyA = newKeyText();
    const keyB = newKeyText();
    const h = await hub(state, { key: keyA });
    const { clusterId, agent } = await registeredAgent(h, dir);
    await agent.stop();
    await h.stop();
    running.length = 0;
    const h2 = await hub(state, { key: keyB, previous_keys: [keyA] });
    expect((await h2.store.get(clusterId))?.k8s_service_token).toBe(SA_TOKEN);
    await h2.stop();
    running.length = 0;
    const h3 = await hub(state, { key: keyB });
    expect((await h3.store.get(clusterId))?.k8s_service_token).toBe(SA_TOKEN);
    await h3.stop();
    running.length = 0;
    await expect(hub(state, { key: keyA })).rejects.toThrow(/cannot be read: encrypted with key [0-9a-f]{8}, which is neither credentials\.key nor one of credentials\.previous_keys/);
    expect(rawBytes(state).includes(Buffer.from(SA_TOKEN))).toBe(false);
  }, 60_000);
});
