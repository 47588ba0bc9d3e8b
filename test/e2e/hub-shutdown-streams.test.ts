// A hub that shuts down while kubectl holds a watch and a log follow through it ends both streams as a real
// kube-apiserver does on SIGTERM (issue 19: measured against v1.37.2, which ends held watches cleanly): the chunked
// responses are terminated, so `kubectl get -w` and `kubectl logs -f` exit 0 with no "unexpected EOF".
import { afterAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import type { AgentConfigInput } from '../../src/config/schema.ts';
import { kubeconfigFor } from '../../src/hub/kube-gateway/kubeconfig.ts';
import { startSandbox } from '../../src/sandbox/index.ts';
import { kubectlBinaries, kubectlEnv, LiveKubectl } from '../sandbox/kubectl-process.ts';
import { tempDir, testAgent, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { SA_TOKEN, TLS } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

const newest = kubectlBinaries().filter((b) => b.path).at(-1);
if (!newest) console.warn('hub shutdown streams: skipped: no kubectl binary installed (kubectl.1.27 … kubectl.1.33)');

test.skipIf(!newest)('hub shutdown: held `get -w` and `logs -f` through it end cleanly (exit 0, no unexpected EOF)', async () => {
  const sandbox = await startSandbox({ tls: TLS, tokens: { [SA_TOKEN]: {} }, seed: 'demo' });
  cleanups.push(() => sandbox.close());
  sandbox.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'held' } });
  sandbox.apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app-0', namespace: 'held' },
    spec: { containers: [{ name: 'web', image: 'nginx' }] },
    status: { phase: 'Running', containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: { running: {} } }] },
  });
  sandbox.appendLog('held', 'app-0', 'web', 'first line');
  const hub = await testHub();
  let hubStopped = false;
  cleanups.push(() => (hubStopped ? Promise.resolve() : hub.stop()));
  const dir = tempDir();
  const kubeconfig = join(dir, 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig, { token: SA_TOKEN });
  const agent = await testAgent(hub.url, dir, { kubernetes: { kubeconfig, service_token: SA_TOKEN } } as AgentConfigInput);
  cleanups.push(() => agent.stop());
  await waitFor(async () => (await fetch(`${agent.url}/ready`)).status === 200, { what: 'agent ready', timeoutMs: 20_000 });
  const clusterId = agent.status.snapshot().clusterId;
  await waitFor(async () => (await hub.store.get(clusterId))?.k8s_service_token === SA_TOKEN, { what: 'SA token registered' });

  const env = await kubectlEnv(await kubeconfigFor(hub, clusterId, USER_TOKEN, { namespace: 'held' }));
  const watch = new LiveKubectl(newest!.path!, env, ['get', 'pods', '-w']);
  const logs = new LiveKubectl(newest!.path!, env, ['logs', '-f', 'app-0']);
  await watch.waitFor('app-0', 30_000);
  // kubectl lists first, then watches: an event seen through the watch proves the stream is established.
  sandbox.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app-1', namespace: 'held' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } });
  await watch.waitFor('app-1', 30_000);
  await logs.waitFor('first line', 30_000);
  hubStopped = true;
  await hub.stop();
  const [watchCode, logsCode] = await Promise.all([watch.exited, logs.exited]);
  expect({ code: logsCode, output: logs.output }).toEqual({ code: 0, output: 'first line\n' });
  expect(watchCode).toBe(0);
  expect(watch.output).not.toMatch(/error|EOF/i);
}, 90_000);
