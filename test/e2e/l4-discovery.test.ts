// Issue 13 end to end, the product's way: a labelled Gateway API Gateway with a TCP listener and a TCPRoute in the
// cluster → the agent's discovery registers the tunnel with the hub (§5.5, §1.2) → the hub opens a listener → a
// client's bytes reach the route's Service over yamux through the agent; deleting the Gateway closes the listener.
import { afterAll, expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startSandbox } from '../../src/sandbox/index.ts';
import { tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { echoRoundTrip, sha256, tcpEcho } from '../support/l4-backends.ts';
import { waitFor } from '../support/wait.ts';

const stops: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s().catch(() => {});
});

test('Gateway + TCPRoute in the cluster → registered tunnel → hub listener → Service through yamux; Gateway deleted → listener gone', async () => {
  const echo = await tcpEcho();
  stops.push(() => echo.stop());
  const sandbox = await startSandbox({ host: '127.0.0.1', seed: 'minimal' });
  stops.push(() => sandbox.close());
  sandbox.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
  sandbox.apply({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { namespace: 'apps', name: 'edge', labels: { 'pipeops.io/managed': 'true' } },
    spec: { gatewayClassName: 'istio', listeners: [{ name: 'redis', port: 6380, protocol: 'TCP' }] },
  });
  sandbox.apply({
    apiVersion: 'gateway.networking.k8s.io/v1alpha2',
    kind: 'TCPRoute',
    metadata: { namespace: 'apps', name: 'redis' },
    spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: 'echo', port: 7 }] }] },
  });
  const dir = tempDir();
  const kubeconfig = join(dir, 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig);
  const hub = await testHub();
  stops.push(() => hub.stop());
  const agent = await testAgent(hub.url, dir, {
    agent: { cluster_name: 'l4-discovery' },
    tunnels: { enabled: true },
    kubernetes: { kubeconfig, service_proxy: 'map', service_map: { 'apps/echo:7': `tcp://127.0.0.1:${echo.port}` } },
  });
  stops.push(() => agent.stop());
  const listener = await waitFor(() => hub.l4.list().find((t) => t.source === 'registry' && t.tunnel_id.endsWith('-edge-6380')), { what: 'a hub listener for the discovered tunnel', timeoutMs: 30_000 });
  expect(listener.target).toBe('apps/echo:7');
  expect(listener.mode).toBe('tunnel');
  const port = Number(listener.hub_address.split(':').pop());
  await waitFor(() => hub.yamux.active().length === 1, { what: 'yamux session' });
  const payload = randomBytes(200_000);
  expect((await echoRoundTrip(port, payload)).sha256).toBe(sha256(payload));
  sandbox.remove('gateways.gateway.networking.k8s.io', 'apps', 'edge');
  await waitFor(() => !hub.l4.list().some((t) => t.name === listener.name), { what: 'the listener closed after the Gateway was deleted', timeoutMs: 30_000 });
}, 60_000);
