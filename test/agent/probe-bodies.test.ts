import { describe, expect, test } from 'bun:test';
import { connectionStateCode, goDuration, healthBody, readyResponse, versionBody } from '../../src/agent/probe-bodies.ts';
import { AgentStatus } from '../../src/agent/status.ts';

const status = () => new AgentStatus({ version: '9.9.9', agentId: 'a1', clusterName: 'c', heartbeatIntervalMs: 30_000, ingressSync: false, kubernetesConfigured: true });

describe('goDuration', () => {
  test('formats like Go time.Duration.String()', () => {
    expect(goDuration(0)).toBe('0s');
    expect(goDuration(850)).toBe('850ms');
    expect(goDuration(12_500)).toBe('12.5s');
    expect(goDuration(90_000)).toBe('1m30s');
    expect(goDuration(7_205_000)).toBe('2h0m5s');
    expect(goDuration(-5)).toBe('0s');
  });
});

describe('readyResponse', () => {
  test('leader election: a standby is 200 and says it is passive; a leader without its session is 503 like any agent', () => {
    const s = status();
    s.update('leadership', (x) => {
      x.leadership = { role: 'standby', identity: 'pod-b', holder: 'pod-a', lease: 'pipeops-system/pipeops-agent-leader' };
    });
    const now = Date.now();
    const standby = readyResponse(s.snapshot(), s.readiness(now), now);
    expect(standby.code).toBe(200);
    expect(standby.body).toMatchObject({ status: 'ready', registered: false, leader_election: { role: 'standby', identity: 'pod-b', leader: 'pod-a', lease: 'pipeops-system/pipeops-agent-leader' } });
    expect(String((standby.body.leader_election as { note: string }).note)).toContain('ready but passive');
    s.update('leadership', (x) => {
      if (x.leadership) x.leadership.role = 'leader';
    });
    const leader = readyResponse(s.snapshot(), s.readiness(now), now);
    expect(leader.code).toBe(503);
    expect(leader.body).toMatchObject({ leader_election: { role: 'leader' } });
    expect(leader.body.reasons).toEqual(['not registered with the control plane', 'control-plane session connecting']);
  });

  test('without leader election the body has no leader_election field', () => {
    const s = status();
    const now = Date.now();
    expect(readyResponse(s.snapshot(), s.readiness(now), now).body.leader_election).toBeUndefined();
  });

  test('503 with every reason while not registered or connected', () => {
    const s = status();
    const now = Date.now();
    const { code, body } = readyResponse(s.snapshot(), s.readiness(now), now);
    expect(code).toBe(503);
    expect(body.status).toBe('not_ready');
    expect(body.healthy).toBe(false);
    expect(body.reasons).toEqual(['not registered with the control plane', 'control-plane session connecting']);
    expect(body.reason).toBe('not registered with the control plane; control-plane session connecting');
    expect(body.consecutive_failures).toBe(0);
  });

  test('200 with heartbeat age once ready', () => {
    const s = status();
    const now = Date.now();
    s.update('connection', (x) => {
      x.connection.state = 'connected';
      x.connection.registered = true;
      x.heartbeat.last = now - 12_500;
    });
    const { code, body } = readyResponse(s.snapshot(), s.readiness(now), now);
    expect(code).toBe(200);
    expect(body).toMatchObject({ status: 'ready', healthy: true, connected: true, registered: true, connection_state: 'connected', time_since_heartbeat: '12.5s' });
    expect(body.last_heartbeat).toBe(new Date(now - 12_500).toISOString());
  });
});

test('health and version bodies keep upstream field names', () => {
  const s = status().snapshot();
  expect(Object.keys(healthBody(s, 0)).sort()).toEqual(['connected', 'connection_state', 'registered', 'status', 'timestamp', 'version']);
  const v = versionBody({ version: '1', commit: 'c', buildDate: 'd', bunVersion: 'b' }, 0);
  expect(Object.keys(v).sort()).toEqual(['build_date', 'bun_version', 'full_version', 'git_commit', 'timestamp', 'version']);
});

test('connection state codes match pipeops_tunnel_status help text', () => {
  expect([connectionStateCode('disconnected'), connectionStateCode('connecting'), connectionStateCode('connected'), connectionStateCode('reconnecting')]).toEqual([0, 1, 2, 3]);
});
