// What real kubectl (1.27–1.33) prints for the hub's own errors: a cluster that is not connected, an agent without
// a Kubernetes API, a path the hub refuses, and an agent that cannot reach its API server. Never client-go's
// `an error on the server ("unknown")`: the hub's message where client-go shows one, else a known reason.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { kubeconfigFor } from '../../src/hub/kube-gateway/kubeconfig.ts';
import type { Hub } from '../../src/hub/server.ts';
import { kubectl, kubectlBinaries, kubectlEnv } from '../sandbox/kubectl-process.ts';
import { testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { connectFakeAgent, type FakeAgent, type ReceivedRequest } from './fake-agent.ts';

let hub: Hub;
const agents: FakeAgent[] = [];
beforeAll(async () => {
  hub = await testHub();
});
afterAll(async () => {
  for (const a of agents) if (hub.agents.isConnected(a.clusterId)) await a.close();
  await hub?.stop();
});

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const JSON_HEADERS = { 'Content-Type': ['application/json'] };

/** A cluster that answers legacy discovery for v1 pods and lists no pods: enough for `kubectl get pods`. */
function serveDiscovery(r: ReceivedRequest, a: FakeAgent): void {
  const id = r.message.requestId!;
  const path = String(r.message.payload.path);
  const answer = (body: unknown) => a.respondJson(id, 200, JSON_HEADERS, json(body), 'base64');
  if (path === '/api') return answer({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
  if (path === '/apis') return answer({ kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
  if (path === '/api/v1')
    return answer({ kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'] }] });
  if (path === '/api/v1/namespaces/default/pods') return answer({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [] });
  a.respondJson(id, 404, JSON_HEADERS, json({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'not here' }), 'base64');
}

async function agentFor(name: string, handler: (r: ReceivedRequest, a: FakeAgent) => void): Promise<FakeAgent> {
  const a = await connectFakeAgent(hub, name, `sa-token-${name}-123456`);
  a.handler = handler;
  agents.push(a);
  return a;
}

const lastLine = (s: string) => s.trim().split('\n').at(-1) ?? '';

for (const bin of kubectlBinaries()) {
  const path = bin.path;
  if (!path) {
    console.warn(`kubectl errors: kubectl.${bin.version} is missing on this machine, skipping it`);
    test.skip(`kubectl ${bin.version}: not installed`, () => {});
    continue;
  }
  const v = bin.version.replace('.', '-');
  describe.concurrent(`kubectl ${bin.version} reads the hub's errors`, () => {
    test('cluster not connected: ServiceUnavailable, with the hub message once discovery is cached', async () => {
      const a = await agentFor(`gone-${v}`, serveDiscovery);
      const env = await kubectlEnv(await kubeconfigFor(hub, a.clusterId, USER_TOKEN));
      const ok = await kubectl(path, env, ['get', 'pods']);
      expect(ok.code).toBe(0);
      await a.close();
      const want = `Error from server (ServiceUnavailable): cluster "${a.clusterId}" is not connected to the hub`;
      // Discovery cached by the first run: the list call decodes the hub's Status.
      const cached = await kubectl(path, env, ['get', 'pods']);
      expect(cached.code).toBe(1);
      expect(lastLine(cached.stderr)).toBe(want);
      const raw = await kubectl(path, env, ['get', '--raw', `/clusters/${a.clusterId}/k8s/api/v1/pods`]);
      expect(lastLine(raw.stderr)).toBe(want);
      // A fresh kubectl fails in discovery, where client-go prints its fixed sentence for a 503 (never the body).
      const fresh = await kubectl(path, await kubectlEnv(await kubeconfigFor(hub, a.clusterId, USER_TOKEN)), ['get', 'pods']);
      expect(lastLine(fresh.stderr)).toBe('Error from server (ServiceUnavailable): the server is currently unable to handle the request');
      expect(fresh.stderr).not.toContain('unknown');
    });

    test('agent without a Kubernetes API: ServiceUnavailable with the agent reason', async () => {
      const a = await agentFor(`nokube-${v}`, (r, x) => x.send('proxy_error', { error: 'kubernetes client not initialized' }, r.message.requestId!));
      const env = await kubectlEnv(await kubeconfigFor(hub, a.clusterId, USER_TOKEN));
      const raw = await kubectl(path, env, ['get', '--raw', `/clusters/${a.clusterId}/k8s/api/v1/pods`]);
      expect(lastLine(raw.stderr)).toBe(`Error from server (ServiceUnavailable): cluster "${a.clusterId}": kubernetes client not initialized`);
      const fresh = await kubectl(path, env, ['get', 'pods']);
      expect(fresh.code).toBe(1);
      expect(lastLine(fresh.stderr)).toBe('Error from server (ServiceUnavailable): the server is currently unable to handle the request');
      expect(fresh.stderr).not.toContain('unknown');
    });

    test('traversal attempts: BadRequest naming the reason, and nothing reaches the agent', async () => {
      const a = await agentFor(`paths-${v}`, serveDiscovery);
      const env = await kubectlEnv(await kubeconfigFor(hub, a.clusterId, USER_TOKEN));
      // kubectl resolves literal `..` and decodes %2F itself before sending; encoded dots reach the hub as sent
      // (raw `..` and encoded slashes: kube-gateway.test.ts).
      for (const p of ['/api/v1/namespaces/%2e%2e/secrets', '/api/v1/namespaces/default/pods/%2E./%2e%2E/x']) {
        const r = await kubectl(path, env, ['get', '--raw', `/clusters/${a.clusterId}/k8s${p}`]);
        expect(r.code).toBe(1);
        expect(lastLine(r.stderr)).toMatch(/^Error from server \(BadRequest\): invalid path: dot segments are not allowed$/);
      }
      expect(a.requests.length).toBe(0);
    });

    test('agent cannot reach its API server: the agent reason, in discovery as well', async () => {
      const reason = 'dial tcp 10.96.0.1:443: connect: connection refused';
      const a = await agentFor(`broken-${v}`, (r, x) => x.send('proxy_error', { error: reason }, r.message.requestId!));
      const env = await kubectlEnv(await kubeconfigFor(hub, a.clusterId, USER_TOKEN));
      const fresh = await kubectl(path, env, ['get', 'pods']);
      expect(fresh.code).toBe(1);
      expect(lastLine(fresh.stderr)).toBe(
        `Error from server (InternalError): an error on the server ("cluster \\"${a.clusterId}\\": ${reason}") has prevented the request from succeeding`,
      );
      expect(fresh.stderr).not.toContain('"unknown"');
    });
  });
}
