// Status views: /api/health/detailed, /api/status/features, /api/status/connectivity (real checks, S3).
import { Hono } from 'hono';
import { runConnectivity } from '../src/agent/connectivity-report.ts';
import { detailedHealthBody, featuresBody } from '../src/agent/detailed-health.ts';
import { type AgentApiDeps, apiTiming } from '../src/agent/http-types.ts';
import { readRuntime } from '../src/agent/runtime-readings.ts';

export function statusRoutes(deps: AgentApiDeps): Hono {
  const timing = apiTiming(deps);
  return new Hono()
    .get('/api/health/detailed', async (c) => {
      const rt = await readRuntime(deps.version.bunVersion);
      const now = Date.now();
      return c.json(detailedHealthBody(deps.status.snapshot(), deps.status.readiness(now), rt, now));
    })
    .get('/api/status/features', (c) => c.json(featuresBody(deps.status.snapshot(), Date.now())))
    .get('/api/status/connectivity', async (c) => {
      const body = await runConnectivity(deps.checks, timing.checkTimeoutMs);
      if (body.overall_status !== 'healthy') deps.logger.warn({ connectivity: body.tests }, 'connectivity check not healthy');
      return c.json(body);
    });
}
