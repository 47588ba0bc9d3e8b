// Probes: /health (liveness), /ready (truthful readiness, L1), /version.
import { Hono } from 'hono';
import type { AgentApiDeps } from '../src/agent/http-types.ts';
import { compatReadyBody, healthBody, readyResponse, versionBody } from '../src/agent/probe-bodies.ts';

export function healthRoutes(deps: AgentApiDeps): Hono {
  return new Hono()
    .get('/health', (c) => c.json(healthBody(deps.status.snapshot(), Date.now())))
    .get('/ready', (c) => {
      const now = Date.now();
      if (deps.truthfulReadiness === false) return c.json(compatReadyBody(deps.status.snapshot(), now), 200);
      const { code, body } = readyResponse(deps.status.snapshot(), deps.status.readiness(now), now);
      return c.json(body, code);
    })
    .get('/version', (c) => c.json(versionBody(deps.version, Date.now())));
}
