// Builds AgentApiDeps for the local-API tests: real AgentStatus/AgentMetrics/LogRing, scripted checks.
import { AgentMetrics } from '../../src/agent/metrics.ts';
import { AgentStatus } from '../../src/agent/status.ts';
import type { AgentApiDeps, CheckResult } from '../../src/agent/http-types.ts';
import { LogRing, createLogger } from '../../src/log/logger.ts';

export function makeDeps(over: Partial<AgentApiDeps> = {}): AgentApiDeps & { logs: LogRing; status: AgentStatus } {
  const status = new AgentStatus({ version: '1.2.3', agentId: 'agent-test', clusterName: 'demo', heartbeatIntervalMs: 30_000, ingressSync: false, kubernetesConfigured: true });
  const logs = new LogRing(50);
  const logger = createLogger({ level: 'info', name: 'api-test', sink: (l) => logs.push(l) });
  const ok = async (): Promise<CheckResult> => ({ ok: true, latencyMs: 1, detail: 'ok' });
  return {
    status,
    metrics: new AgentMetrics(undefined, { defaultMetrics: false }),
    logs,
    logger,
    version: { version: '1.2.3', commit: 'abc1234', buildDate: '2026-01-01T00:00:00Z', bunVersion: Bun.version },
    allowedOrigins: [],
    checks: { controlPlane: ok, kubernetes: ok },
    ...over,
  } as AgentApiDeps & { logs: LogRing; status: AgentStatus };
}

/** Moves the status to everything /ready requires. */
export function makeReady(status: AgentStatus, now = Date.now()): void {
  status.update('connection', (s) => {
    s.connection.state = 'connected';
    s.connection.registered = true;
    s.clusterId = 'cluster-42';
    s.heartbeat.last = now;
    s.workers.tunnel = { alive: true, restarts: 0, startedAt: now };
  });
}
