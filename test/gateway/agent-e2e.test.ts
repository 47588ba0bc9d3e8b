// The real agent (main thread + ingress worker) with agent.enable_ingress_sync against the sandbox, a hub for the
// session, and the fake route registry on the same api_url (split by a loopback TCP front, support/split-proxy.ts).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { type RunningAgent, runAgent } from '../../src/agent/run.ts';
import type { Hub } from '../../src/hub/server.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { AGENT_TOKEN, agentConfig, tempDir, testHub } from '../support/hub-agent.ts';
import { SA_TOKEN, TLS } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';
import { FakeRegistry } from './support/fake-registry.ts';
import { controllerSvc, ingress, ns, service } from './support/harness.ts';
import { splitProxy } from './support/split-proxy.ts';

let sandbox: Sandbox;
let hub: Hub;
let registry: FakeRegistry;
let front: ReturnType<typeof splitProxy>;
let agent: RunningAgent;
let logs = '';

const web = (host: string) => ({ rules: [{ host, paths: [{ path: '/', service: 'web', port: 8080 }] }] });

beforeAll(async () => {
  sandbox = await startSandbox({ tls: TLS, tokens: { [SA_TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'minimal' });
  for (const n of ['app', 'pipeops-system']) sandbox.apply(ns(n));
  sandbox.apply(controllerSvc());
  sandbox.apply(service('app', 'web', { type: 'ClusterIP', ports: [{ name: 'http', port: 8080 }] }));
  sandbox.apply(ingress('app', 'a', web('a.example.com')));
  sandbox.apply(ingress('app', 'other', { managed: 'none', ...web('other.example.com') }));
  hub = await testHub();
  registry = new FakeRegistry(AGENT_TOKEN).start();
  front = splitProxy({ hubPort: hub.port, registryPort: Number(new URL(registry.url).port) });
  const dir = tempDir();
  const kubeconfig = join(dir, 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig, { token: SA_TOKEN });
  const cfg = agentConfig(`http://127.0.0.1:${front.port}`, dir, { kubernetes: { kubeconfig }, agent: { enable_ingress_sync: true }, logging: { level: 'debug' } } as never);
  agent = await runAgent(cfg, { env: {}, logSink: (l) => {
      logs += l;
    } });
}, 30_000);

afterAll(async () => {
  await agent?.stop();
  front?.stop();
  await registry?.stop();
  await hub?.stop();
  await sandbox?.close();
});

describe('agent with ingress sync', () => {
  test('after registration: one bulk sync with the cluster id, managed routes only', async () => {
    const call = await waitFor(() => registry.calls.find((c) => c.op === 'sync'), { what: 'bulk sync', timeoutMs: 15_000 });
    const clusterId = agent.status.snapshot().clusterId;
    expect(clusterId).not.toBe('');
    expect(call.body).toMatchObject({ cluster_uuid: clusterId, routing_mode: 'tunnel', ingress_controller: { namespace: 'pipeops-system', name: 'traefik', port: 80 } });
    expect(Object.keys(registry.snapshot())).toEqual(['a.example.com']);
    expect(registry.calls.filter((c) => c.op !== 'sync')).toEqual([]);
  });

  test('gateway info reaches the status (heartbeat metadata): private, tunnel, managed route count', async () => {
    await waitFor(() => agent.status.snapshot().gateway.routes === 1, { what: 'gateway routes in status' });
    expect(agent.status.snapshot().gateway).toMatchObject({ isPrivate: true, routingMode: 'tunnel', routes: 1 });
  });

  test('changes are registered and unregistered individually', async () => {
    sandbox.apply(ingress('app', 'b', web('b.example.com')));
    await waitFor(() => registry.routes.has('b.example.com'), { what: 'b registered' });
    sandbox.remove('ingresses', 'app', 'a');
    await waitFor(() => !registry.routes.has('a.example.com'), { what: 'a unregistered' });
    expect(registry.calls.map((c) => c.op)).toEqual(['sync', 'register', 'unregister']);
    expect(JSON.stringify(registry.calls)).not.toContain('other.example.com');
  });

  test('a session reconnect triggers one bulk sync', async () => {
    const before = registry.calls.filter((c) => c.op === 'sync').length;
    expect(front.cutHub()).toBeGreaterThan(0);
    await waitFor(() => registry.calls.filter((c) => c.op === 'sync').length === before + 1, { what: 'resync after reconnect', timeoutMs: 15_000 });
    expect(Object.keys(registry.snapshot())).toEqual(['b.example.com']);
    expect(logs).toContain('route registry synced');
    expect(logs).not.toContain(AGENT_TOKEN);
  });
});
