// Response bodies of /health, /ready and /version, shaped like upstream's (protocol.md §8) so existing
// probes and dashboards keep parsing them. Pure: the route modules pass in the snapshot and the clock.
import type { BuildInfo } from './http-types.ts';
import type { ConnectionState } from '../threads/connection-state.ts';
import type { AgentSnapshot, Readiness } from './status.ts';

/** Go's time.Duration.String() for a non-negative millisecond count: "850ms", "12.5s", "1m30s", "2h0m5s". */
export function goDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms));
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const secMs = total % 60_000;
  const sec = secMs % 1000 === 0 ? String(secMs / 1000) : (secMs / 1000).toFixed(3).replace(/0+$/, '');
  if (h > 0) return `${h}h${m}m${sec}s`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}

/** pipeops_tunnel_status / upstream pipeops_agent_connection_state encoding. */
export function connectionStateCode(state: ConnectionState): number {
  switch (state) {
    case 'disconnected':
      return 0;
    case 'connecting':
      return 1;
    case 'connected':
      return 2;
    case 'reconnecting':
      return 3;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

export function healthBody(s: AgentSnapshot, now: number) {
  return {
    status: 'healthy' as const,
    timestamp: iso(now),
    version: s.version,
    connected: s.connection.state === 'connected',
    registered: s.connection.registered,
    connection_state: s.connection.state,
  };
}

/** Heartbeat age as a Go duration, or null when no heartbeat was ever sent. */
function heartbeatAge(s: AgentSnapshot, now: number): string | null {
  return s.heartbeat.last === null ? null : goDuration(now - s.heartbeat.last);
}

/** Truthful readiness (L1): 200 only when registered, connected, heartbeat fresh and workers alive. */
export function readyResponse(s: AgentSnapshot, r: Readiness, now: number): { code: 200 | 503; body: Record<string, unknown> } {
  const common = {
    connected: s.connection.state === 'connected',
    registered: s.connection.registered,
    connection_state: s.connection.state,
    ...leaderElectionField(s),
  };
  if (r.ready) {
    return {
      code: 200,
      body: {
        status: 'ready',
        healthy: true,
        ...common,
        last_heartbeat: s.heartbeat.last === null ? null : iso(s.heartbeat.last),
        time_since_heartbeat: heartbeatAge(s, now),
        timestamp: iso(now),
      },
    };
  }
  return {
    code: 503,
    body: {
      status: 'not_ready',
      healthy: false,
      ...common,
      consecutive_failures: s.heartbeat.consecutiveFailures,
      time_since_heartbeat: heartbeatAge(s, now),
      reason: r.reasons.join('; '),
      reasons: r.reasons,
      timestamp: iso(now),
    },
  };
}

/**
 * Under leader election: this replica's role, and for a standby that it is passive by design (no control-plane
 * session until it holds the Lease) and who leads.
 */
function leaderElectionField(s: AgentSnapshot): Record<string, unknown> {
  const l = s.leadership;
  if (!l) return {};
  return {
    leader_election: {
      role: l.role,
      identity: l.identity,
      leader: l.holder,
      lease: l.lease,
      ...(l.role === 'standby' ? { note: 'standby: ready but passive; the leader holds the control-plane session, this replica takes over when the Lease expires or is released' } : {}),
    },
  };
}

/** `agent.truthful_readiness_probe: false`: upstream's backward-compatible /ready, always 200 once serving. */
export function compatReadyBody(s: AgentSnapshot, now: number): Record<string, unknown> {
  return {
    status: 'ready',
    timestamp: new Date(now).toISOString(),
    mode: 'backward_compatible',
    connected: s.connection.state === 'connected',
    registered: s.connection.registered,
    connection_state: s.connection.state,
    note: 'Set agent.truthful_readiness_probe=true (PIPEOPS_TRUTHFUL_READINESS_PROBE) for readiness that reflects the control-plane session',
  };
}

export function versionBody(v: BuildInfo, now: number) {
  return {
    version: v.version,
    git_commit: v.commit,
    build_date: v.buildDate,
    bun_version: v.bunVersion,
    full_version: `${v.version} (commit ${v.commit}, built ${v.buildDate}, bun ${v.bunVersion})`,
    timestamp: iso(now),
  };
}
