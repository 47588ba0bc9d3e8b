// Payloads pushed on /api/realtime/events and /ws when the agent's status changes. Pure.
import type { AgentSnapshot, Readiness } from './status.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/** What a dashboard needs to redraw after a change; `kinds` lists the AgentStatus.update() kinds coalesced. */
export function stateEventData(kinds: string[], s: AgentSnapshot, r: Readiness, now: number) {
  return {
    kinds,
    ready: r.ready,
    reasons: r.reasons,
    connection_state: s.connection.state,
    registered: s.connection.registered,
    mode: s.connection.mode,
    cluster_id: s.clusterId,
    last_heartbeat: s.heartbeat.last === null ? null : iso(s.heartbeat.last),
    heartbeat_failures: s.heartbeat.consecutiveFailures,
    workers: s.workers,
    gateway: s.gateway,
    kubernetes: s.kubernetes,
    timestamp: iso(now),
  };
}

export function healthUpdateData(s: AgentSnapshot, r: Readiness, now: number) {
  return {
    status: r.ready ? 'healthy' : 'degraded',
    connected: s.connection.state === 'connected',
    registered: s.connection.registered,
    connection_state: s.connection.state,
    uptime_seconds: Math.round((now - s.startedAt) / 1000),
    last_heartbeat: s.heartbeat.last === null ? null : iso(s.heartbeat.last),
    timestamp: iso(now),
  };
}

/** `?tail=N` for the log stream: default 100, clamped to [0, capacity]; garbage falls back to the default. */
export function parseTail(raw: string | undefined, capacity: number, fallback = 100): number {
  if (raw === undefined || raw === '') return Math.min(fallback, capacity);
  const n = Number(raw);
  if (!Number.isFinite(n)) return Math.min(fallback, capacity);
  return Math.max(0, Math.min(capacity, Math.floor(n)));
}
