// Property (issue 6 acceptance): random sequences of 200 Ingress operations end with the *hub's* route registry
// exactly equal to the expected route set. Same generator and oracle as convergence.property.test.ts; here the
// engine's RouteRegistryClient talks to a real hub (src/hub/routes) through a front that can fail route calls, and
// the check reads the hub's admin listing (GET /api/v1/gateway/routes) for CLUSTER_ID.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { ROUTES_PATH } from '../../src/protocol/route-registry-messages.ts';
import { tokenDigest } from '../../src/hub/auth.ts';
import type { Hub } from '../../src/hub/server.ts';
import { ADMIN_TOKEN, AGENT_TOKEN, testHub } from '../support/hub-agent.ts';
import { expectedByHostPath, hostPathKey, liveObjects, program, runOps } from './support/convergence.ts';
import type { StoredRoute } from './support/fake-registry.ts';
import { CLUSTER_ID, makeEnv } from './support/harness.ts';

/** A loopback HTTP front for the hub: fails the next `n` route registry calls with 500, forwards everything. */
function failingFront(target: string) {
  let fail = 0;
  let failed = 0;
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method === 'POST' && url.pathname.startsWith(`${ROUTES_PATH}/`) && fail > 0) {
        fail--;
        failed++;
        return Response.json({ error: 'injected' }, { status: 500 });
      }
      const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await req.arrayBuffer();
      const r = await fetch(`${target}${url.pathname}${url.search}`, { method: req.method, headers: req.headers, body });
      return new Response(await r.arrayBuffer(), { status: r.status, headers: r.headers });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    failNext(n: number) {
      fail = n;
    },
    get failed() {
      return failed;
    },
    stop: () => server.stop(true),
  };
}

interface AdminRoute {
  cluster_id: string;
  hostname: string;
  path: string;
  path_type: string;
  routing_mode: string;
  public_endpoint: string | null;
  tls: boolean;
  service: string;
  ingress: string | null;
}

/** The hub's routes of CLUSTER_ID through the admin API, as `hostname path` → StoredRoute (the oracle's shape). */
async function hubRoutes(hub: Hub): Promise<Record<string, StoredRoute>> {
  const r = await fetch(`${hub.url}${ROUTES_PATH}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(r.status).toBe(200);
  const { routes } = (await r.json()) as { routes: AdminRoute[] };
  const out: Record<string, StoredRoute> = {};
  for (const x of routes) {
    if (x.cluster_id !== CLUSTER_ID) continue;
    const svc = /^([^/]+)\/([^:]+):(\d+)$/.exec(x.service);
    const key = hostPathKey(x.hostname, x.path);
    expect(out[key]).toBeUndefined();
    out[key] = {
      hostname: x.hostname,
      cluster_uuid: x.cluster_id,
      // The listing says `namespace/name` when the route came from a bulk sync; a register body has no Ingress namespace.
      ingress_name: x.ingress?.split('/').pop() ?? '',
      path: x.path,
      path_type: x.path_type,
      tls: x.tls,
      service_namespace: svc?.[1] ?? x.service,
      service_name: svc?.[2] ?? '',
      service_port: Number(svc?.[3] ?? 0),
      routing_mode: x.routing_mode,
      public_endpoint: x.public_endpoint ?? '',
    };
  }
  return out;
}

let hub: Hub;
let front: ReturnType<typeof failingFront>;

beforeAll(async () => {
  hub = await testHub();
  front = failingFront(hub.url);
});

afterAll(async () => {
  front.stop();
  await hub.stop();
});

async function run(ops: Parameters<typeof runOps>[1], refreshIntervalMs: number): Promise<void> {
  // A fresh cluster record per run: the previous run's routes and the record go, the agent token is bound again.
  hub.routes.sync(CLUSTER_ID, []);
  hub.store.register({ agentId: 'convergence', name: 'convergence', requestedId: CLUSTER_ID, k8sVersion: 'v1.30.0', agentVersion: 'test', tokenDigest: tokenDigest(AGENT_TOKEN), metadata: {}, registration: {} });
  expect(hub.store.get(CLUSTER_ID)?.cluster_id).toBe(CLUSTER_ID);
  front.failNext(0);
  const env = await makeEnv({ registryTarget: { url: front.url, token: AGENT_TOKEN } });
  try {
    await runOps(env, ops, refreshIntervalMs, {
      registryFails: (n) => front.failNext(n),
      async check(e) {
        expect(await hubRoutes(hub)).toEqual(expectedByHostPath(...(await liveObjects(e))));
      },
    });
    if (process.env.CONVERGENCE_DEBUG) console.log(`routes=${Object.keys(await hubRoutes(hub)).length} injected failures so far=${front.failed}`);
  } finally {
    await env.close();
  }
}

describe('route registry convergence against the hub', () => {
  test(
    'after any 200 operations the hub registry equals the managed routes',
    async () => {
      await fc.assert(
        fc.asyncProperty(program, fc.constantFrom(0, 0, 25), async (ops, refresh) => run(ops, refresh)),
        { numRuns: Number(process.env.CONVERGENCE_HUB_RUNS ?? 50), endOnFailure: false },
      );
    },
    120_000,
  );
});
