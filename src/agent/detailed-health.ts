// Bodies of /api/health/detailed and /api/status/features (upstream shapes, protocol.md §8, with real values).
import { goDuration } from './probe-bodies.ts';
import type { RuntimeReadings } from './runtime-stats.ts';
import type { AgentSnapshot, Readiness } from './status.ts';

const iso = (ms: number) => new Date(ms).toISOString();

export function featuresBody(s: AgentSnapshot, now: number) {
  return {
    features: {
      ...s.features,
      health_monitoring: true,
      runtime_metrics: true,
      // S2: the local port never proxies the Kubernetes API.
      direct_k8s_access: false,
      feature_version: s.version,
    },
    timestamp: iso(now),
  };
}

export function detailedHealthBody(s: AgentSnapshot, r: Readiness, rt: RuntimeReadings, now: number) {
  const connected = s.connection.state === 'connected';
  const workers = Object.values(s.workers);
  return {
    status: r.ready ? 'healthy' : 'degraded',
    reasons: r.reasons,
    agent: {
      version: s.version,
      uptime: goDuration(now - s.startedAt),
      start_time: iso(s.startedAt),
      agent_id: s.agentId,
      cluster_id: s.clusterId,
      cluster_name: s.clusterName,
    },
    tunnel: {
      mode: s.connection.mode,
      endpoint: s.connection.endpoint,
      state: s.connection.state,
      since: iso(s.connection.since),
      reconnects: s.connection.reconnects,
      last_error: s.connection.lastError,
    },
    features: featuresBody(s, now).features,
    connectivity: {
      control_plane: connected ? 'connected' : s.connection.state,
      kubernetes: s.kubernetes.reachable === null ? 'unknown' : s.kubernetes.reachable ? 'reachable' : 'unreachable',
      kubernetes_version: s.kubernetes.version,
      kubernetes_error: s.kubernetes.error,
    },
    gateway: s.gateway,
    runtime: {
      memory_mb: Math.round((rt.memory.rss / 1024 / 1024) * 100) / 100,
      heap_used_mb: Math.round((rt.memory.heapUsed / 1024 / 1024) * 100) / 100,
      jsc_objects: rt.jsc.objectCount,
      event_loop_lag_ms: rt.eventLoopLagMs,
      bun_version: rt.bunVersion,
      threads: 1 + workers.filter((w) => w.alive).length,
      workers: s.workers,
    },
    connection_health: {
      healthy: r.ready,
      connected,
      registered: s.connection.registered,
      state: s.connection.state,
      last_heartbeat: s.heartbeat.last === null ? null : iso(s.heartbeat.last),
      time_since_heartbeat: s.heartbeat.last === null ? null : goDuration(now - s.heartbeat.last),
      consecutive_failures: s.heartbeat.consecutiveFailures,
      heartbeats_sent: s.heartbeat.sent,
      heartbeat_errors: s.heartbeat.errors,
      heartbeat_interval_ms: s.heartbeat.intervalMs,
      truthful_probes_enabled: true,
    },
    timestamp: iso(now),
  };
}
