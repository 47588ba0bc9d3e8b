// The agent's local HTTP API: one Hono app assembled from the route modules in routes/, served by the runtime's server.
// No Kubernetes pass-through on this port (S2). Probes and /metrics are open; the dashboard, /ws, the SSE
// streams and /api/* only for loopback clients or holders of agent.api_token (local-access.ts).
import { Hono } from 'hono';
import { routePath } from 'hono/route';
import { dashboardRoutes } from '../../routes/dashboard.ts';
import { healthRoutes } from '../../routes/health.ts';
import { metricsRoutes } from '../../routes/metrics.ts';
import { realtimeRoutes } from '../../routes/realtime.ts';
import { statusRoutes } from '../../routes/status.ts';
import type { AgentApiDeps } from './http-types.ts';
import { localAccess } from './local-access.ts';
import { runtime } from '#runtime';

export type { AgentApiDeps, CheckResult, ConnectivityChecks } from './http-types.ts';

/** Label for requests no route matched: raw paths would let any client create unbounded label values. */
export const UNMATCHED_ROUTE = 'unmatched';
/** Label for requests refused by the access check (local-access.ts), whatever path they asked for. */
export const REFUSED_ROUTE = 'refused';

/**
 * Idle timeout (seconds) for ordinary keep-alive connections. Long-lived SSE responses opt out per request
 * (keepRequestOpen); /ws is governed by Bun's WebSocket idle timeout, which its automatic pings satisfy.
 */
export const HTTP_IDLE_TIMEOUT_S = 120;

export function createAgentApp(deps: AgentApiDeps): Hono {
  const app = new Hono();

  const refuse = localAccess({ apiToken: deps.apiToken ?? '', logger: deps.logger });
  app.use('*', async (c, next) => {
    const own = c.req.routeIndex;
    const refused = refuse(c);
    if (refused) {
      deps.metrics.inc('pipeops_http_requests_total', { method: c.req.method, route: REFUSED_ROUTE, status: String(refused.status) });
      return refused;
    }
    await next();
    // After next(), routeIndex points at the handler that answered; still ours means nothing matched.
    const route = c.req.routeIndex === own ? UNMATCHED_ROUTE : routePath(c) || UNMATCHED_ROUTE;
    deps.metrics.inc('pipeops_http_requests_total', { method: c.req.method, route, status: String(c.res.status) });
  });

  app.route('/', healthRoutes(deps));
  app.route('/', metricsRoutes(deps));
  app.route('/', statusRoutes(deps));
  app.route('/', realtimeRoutes(deps));
  app.route('/', dashboardRoutes(deps));

  // S2: upstream proxied the Kubernetes API here without authentication; we answer 404 on purpose.
  const noPassThrough = (path: string) => ({
    error: 'not found',
    path,
    detail: 'the agent does not proxy the Kubernetes API on its local port',
  });
  app.all('/api/v1/*', (c) => c.json(noPassThrough(c.req.path), 404));
  app.all('/apis/*', (c) => c.json(noPassThrough(c.req.path), 404));

  app.notFound((c) => c.json({ error: 'not found', path: c.req.path }, 404));
  app.onError((err, c) => {
    deps.logger.error({ err, method: c.req.method, path: c.req.path }, 'local API handler failed');
    return c.json({ error: 'internal error', message: err.message, path: c.req.path }, 500);
  });
  return app;
}

export interface AgentServer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

export function startAgentServer(opts: AgentApiDeps & { port: number; host: string; idleTimeoutS?: number }): AgentServer {
  const app = createAgentApp(opts);
  const server = runtime.serve({
    port: opts.port,
    hostname: opts.host,
    fetch: app.fetch,
    idleTimeoutS: opts.idleTimeoutS ?? HTTP_IDLE_TIMEOUT_S,
  });
  const port = server.port;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const url = `http://${hostForUrl}:${port}`;
  opts.logger.info({ url }, 'local API listening');
  return {
    port,
    url,
    async stop() {
      // Force-close: SSE streams and /ws never end on their own.
      await server.stop();
    },
  };
}
