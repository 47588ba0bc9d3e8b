// Prometheus exposition (/metrics) and the JSON runtime view (/api/metrics/runtime).
import { Hono } from 'hono';
import type { AgentApiDeps } from '../src/agent/http-types.ts';
import { connectionStateCode } from '../src/agent/probe-bodies.ts';
import { readRuntime } from '../src/agent/runtime-readings.ts';
import { runtimeStats } from '../src/agent/runtime-stats.ts';
import { runtime } from '#runtime';

/** Gauges derived from state are set at scrape time, so they can never lag behind the snapshot. */
export function refreshScrapeGauges(deps: AgentApiDeps, now = Date.now()): void {
  const s = deps.status.snapshot();
  deps.metrics.set('pipeops_agent_status', deps.status.readiness(now).ready ? 1 : 0);
  deps.metrics.set('pipeops_tunnel_status', connectionStateCode(s.connection.state));
  deps.metrics.set('pipeops_agent_connection_state', connectionStateCode(s.connection.state));
  deps.metrics.set('pipeops_agent_unhealthy_duration_seconds', s.connection.state === 'connected' ? 0 : Math.max(0, now - s.connection.since) / 1000);
  const heap = runtime.heapStats();
  deps.metrics.set('pipeops_bun_heap_bytes', heap.heapSize);
  if (heap.objectCount !== null) deps.metrics.set('pipeops_bun_heap_objects', heap.objectCount);
}

export function metricsRoutes(deps: AgentApiDeps): Hono {
  return new Hono()
    .get('/metrics', async (c) => {
      refreshScrapeGauges(deps);
      const text = await deps.metrics.text();
      return c.body(text, 200, { 'Content-Type': deps.metrics.contentType });
    })
    .get('/api/metrics/runtime', async (c) => {
      const readings = await readRuntime(deps.version.bunVersion);
      return c.json(runtimeStats(deps.status.snapshot(), readings, Date.now()));
    });
}
