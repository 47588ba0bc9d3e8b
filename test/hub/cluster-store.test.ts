import { describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { tokenMatches } from '../../src/hub/auth.ts';
import { ClusterStore } from '../../src/hub/cluster-store.ts';
import { tempDir } from '../support/hub-agent.ts';

const reg = (s: ClusterStore, agentId: string, name: string, requestedId?: string) =>
  s.register({ agentId, name, requestedId, k8sVersion: 'v1', agentVersion: '1', serviceToken: 'secret-sa', metadata: {}, registration: {} });

describe('cluster store', () => {
  test('cluster id is stable per (agent id, name) and survives a restart', () => {
    const path = join(tempDir(), 'hub.db');
    const s1 = new ClusterStore(path);
    const a = reg(s1, 'agent-1', 'prod');
    expect(reg(s1, 'agent-1', 'prod').cluster_id).toBe(a.cluster_id);
    expect(reg(s1, 'agent-1', 'staging').cluster_id).not.toBe(a.cluster_id);
    s1.close();
    const s2 = new ClusterStore(path);
    expect(reg(s2, 'agent-1', 'prod').cluster_id).toBe(a.cluster_id);
    expect(s2.get(a.cluster_id)?.k8s_service_token).toBe('secret-sa');
    s2.close();
  });
  test('an unknown requested id is adopted; a taken one is not', () => {
    const s = new ClusterStore(':memory:');
    expect(reg(s, 'agent-1', 'prod', 'persisted-id').cluster_id).toBe('persisted-id');
    expect(reg(s, 'agent-2', 'other', 'persisted-id').cluster_id).not.toBe('persisted-id');
  });
  test('heartbeats update only known clusters', () => {
    const s = new ClusterStore(':memory:');
    const a = reg(s, 'agent-1', 'prod');
    expect(s.recordHeartbeat(a.cluster_id, { status: 'healthy' })).toBe(true);
    expect(s.recordHeartbeat('nope', {})).toBe(false);
    expect(s.get(a.cluster_id)?.last_heartbeat_payload).toEqual({ status: 'healthy' });
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
