import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { tokenMatches } from '../../src/hub/auth.ts';
import { ClusterStore } from '../../src/hub/cluster-store.ts';
import { CredentialCipher, newKeyText, parseKey } from '../../src/hub/credential-cipher.ts';
import { tempDir } from '../support/hub-agent.ts';

const KEY = newKeyText();
const open = async (path: string) => (await ClusterStore.open(path, await CredentialCipher.create(parseKey(KEY)!))).store;

const reg = (s: ClusterStore, agentId: string, name: string, requestedId?: string) =>
  s.register({ agentId, name, requestedId, k8sVersion: 'v1', agentVersion: '1', serviceToken: 'secret-sa', metadata: {}, registration: {} });

describe('cluster store', () => {
  test('cluster id is stable per (agent id, name) and survives a restart, credentials too', async () => {
    const path = join(tempDir(), 'hub.db');
    const s1 = await open(path);
    const a = reg(s1, 'agent-1', 'prod');
    expect(reg(s1, 'agent-1', 'prod').cluster_id).toBe(a.cluster_id);
    expect(reg(s1, 'agent-1', 'staging').cluster_id).not.toBe(a.cluster_id);
    await s1.flush();
    s1.close();
    const s2 = await open(path);
    expect(reg(s2, 'agent-1', 'prod').cluster_id).toBe(a.cluster_id);
    expect(s2.get(a.cluster_id)?.k8s_service_token).toBe('secret-sa');
    s2.close();
  });
  test('an unknown requested id is adopted; a taken one is not', async () => {
    const s = await open(':memory:');
    expect(reg(s, 'agent-1', 'prod', 'persisted-id').cluster_id).toBe('persisted-id');
    expect(reg(s, 'agent-2', 'other', 'persisted-id').cluster_id).not.toBe('persisted-id');
  });
  test('heartbeats update only known clusters', async () => {
    const s = await open(':memory:');
    const a = reg(s, 'agent-1', 'prod');
    expect(s.recordHeartbeat(a.cluster_id, { status: 'healthy' })).toBe(true);
    expect(s.recordHeartbeat('nope', {})).toBe(false);
    expect(s.get(a.cluster_id)?.last_heartbeat_payload).toEqual({ status: 'healthy' });
  });
});

describe('credential cipher', () => {
  test('round trip; bound to its row; other keys refuse; keys as base64 or hex', async () => {
    const c = await CredentialCipher.create(parseKey(KEY)!);
    const ct = await c.encrypt('sa-token', 'cluster-1');
    expect(ct).toStartWith('v1:');
    expect(ct).not.toContain('sa-token');
    expect(await c.decrypt(ct, 'cluster-1')).toBe('sa-token');
    await expect(c.decrypt(ct, 'cluster-2')).rejects.toThrow(/moved from another row/);
    const other = await CredentialCipher.create(parseKey(newKeyText())!);
    await expect(other.decrypt(ct, 'cluster-1')).rejects.toThrow(/neither credentials\.key nor/);
    expect(parseKey('ab'.repeat(32))?.length).toBe(32);
    expect(parseKey('too-short')).toBeNull();
  });
  test('a store without a cipher refuses to hold credentials', () => {
    const s = new ClusterStore(':memory:');
    expect(() => reg(s, 'agent-1', 'prod')).toThrow(/holds no credentials/);
  });
});

describe('token comparison', () => {
  test('matches only exact tokens', () => {
    expect(tokenMatches('abc-123-xyz', ['other', 'abc-123-xyz'])).toBe(true);
    expect(tokenMatches('abc-123-xy', ['abc-123-xyz'])).toBe(false);
    expect(tokenMatches(undefined, ['abc'])).toBe(false);
    expect(tokenMatches('', [''])).toBe(false);
  });
});
