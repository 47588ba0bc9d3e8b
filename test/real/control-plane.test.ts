// The real control plane and the stand-in kubelet on their own: start (certificates, RBAC, audit log, admin
// token), a Node whose daemonEndpoints reach the stand-in, Pods bound and Running, logs and exec through the real
// apiserver with its kubelet client certificate, Pod and namespace deletion finishing, and a clean stop by pid.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { kubectlPath, runKubectl } from '../sandbox/streams/kubectl-run.ts';
import { tempDir } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { kubeJson, type RealCluster, realTierMissing, startRealCluster } from './real-support.ts';

const missing = realTierMissing();
if (missing) console.log(`test/real: SKIPPED (${missing})`);
const KUBECTL = kubectlPath('1.33') ?? kubectlPath('1.32') ?? 'kubectl';

let c: RealCluster;
let env: Record<string, string>;
let startMs = 0;

const pod = (name: string, ns = 'default') => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: name } },
  spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80 }] }] },
});

describe.skipIf(missing !== null)('real control plane and stand-in kubelet', () => {
  beforeAll(async () => {
    const t0 = Date.now();
    c = await startRealCluster();
    startMs = Date.now() - t0;
    const dir = tempDir('pipeops-real-kubectl-');
    c.kube.writeKubeconfig(join(dir, 'kubeconfig'));
    env = { KUBECONFIG: join(dir, 'kubeconfig'), KUBECACHEDIR: join(dir, 'cache'), HOME: dir };
    console.log(`real control plane + stand-in kubelet started in ${startMs} ms`);
  }, 120_000);

  afterAll(async () => {
    await c?.stop();
  });

  test('ready: /readyz, the real version, kubectl with the printed kubeconfig, anonymous /version allowed but resources 403', async () => {
    expect((await c.kube.request('GET', '/readyz')).status).toBe(200);
    const v = await kubeJson<{ gitVersion: string }>(c.kube, 'GET', '/version');
    expect(v.gitVersion).toBe('v1.37.2');
    const r = await runKubectl(KUBECTL, ['get', 'namespaces', '-o', 'name'], env);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString()).toContain('namespace/kube-system');
    const anon = await fetch(`${c.kube.url}/api/v1/namespaces`, { tls: { ca: c.kube.caPem } } as RequestInit);
    expect(anon.status).toBe(403);
  });

  test('the audit log records each request with the RBAC decision', async () => {
    await kubeJson(c.kube, 'GET', '/api/v1/namespaces/default');
    const ev = await waitFor(() => c.kube.audit().find((e) => e.requestURI === '/api/v1/namespaces/default' && e.user.username === 'admin'), { what: 'audit event' });
    expect(ev.annotations?.['authorization.k8s.io/decision']).toBe('allow');
    expect(ev.responseStatus?.code).toBe(200);
  });

  test('the Node is registered, Ready, and its kubelet endpoint is the stand-in', async () => {
    const node = await kubeJson<{ status: { daemonEndpoints: { kubeletEndpoint: { Port: number } }; addresses: { type: string; address: string }[]; conditions: { type: string; status: string }[] } }>(
      c.kube,
      'GET',
      `/api/v1/nodes/${c.kubelet.nodeName}`,
    );
    expect(node.status.daemonEndpoints.kubeletEndpoint.Port).toBe(c.kubelet.port);
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: '127.0.0.1' });
    expect(node.status.conditions.find((x) => x.type === 'Ready')?.status).toBe('True');
  });

  test('a Pod is bound to the node and reported Running with its container statuses', async () => {
    await kubeJson(c.kube, 'POST', '/api/v1/namespaces/default/pods', pod('web-1'));
    await c.kubelet.running('default', 'web-1');
    const p = await waitFor(async () => {
      const x = await kubeJson<{ spec: { nodeName?: string }; status: { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: { name: string; ready: boolean; state: Record<string, unknown> }[] } }>(
        c.kube,
        'GET',
        '/api/v1/namespaces/default/pods/web-1',
      );
      return x.status.phase === 'Running' ? x : null;
    }, { what: 'pod Running', timeoutMs: 20_000 });
    expect(p.spec.nodeName).toBe(c.kubelet.nodeName);
    expect(p.status.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
    expect(p.status.containerStatuses?.[0]).toMatchObject({ name: 'web', ready: true });
    expect(p.status.containerStatuses?.[0]?.state.running).toBeDefined();
    const r = await runKubectl(KUBECTL, ['get', 'pod', 'web-1', '--no-headers'], env);
    expect(r.stdout.toString()).toMatch(/^web-1\s+1\/1\s+Running\s+0\s/);
  }, 30_000);

  test('logs and exec go apiserver → stand-in kubelet with the apiserver kubelet client certificate', async () => {
    await c.kubelet.running('default', 'web-1');
    c.kubelet.appendLog('default', 'web-1', 'web', 'hello from the stand-in');
    const logs = await runKubectl(KUBECTL, ['logs', 'web-1'], env);
    expect(logs.stdout.toString()).toContain('hello from the stand-in');
    const ex = await runKubectl(KUBECTL, ['exec', 'web-1', '--', 'sh', '-c', 'echo out; exit 4'], env);
    expect(ex.stdout.toString()).toBe('out\n');
    expect(ex.code).toBe(4);
    const served = c.kubelet.requests.filter((q) => q.path.startsWith('/containerLogs/default/web-1/web') || q.path.startsWith('/exec/default/web-1/web'));
    expect(served.length).toBeGreaterThanOrEqual(2);
    expect(served.every((q) => q.verified)).toBe(true);
  }, 30_000);

  test('the kubelet API refuses a client without a certificate from the cluster CA', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: c.kubelet.port, ca: c.kube.caPem, servername: 'localhost' }, () => {
        s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('error', (e: Error) => resolve(`error: ${e.message}`));
      s.on('close', () => resolve(got ? `answered: ${got.split('\r\n')[0]}` : 'closed'));
    });
    expect(outcome).not.toContain('200');
  });

  test('Pod deletion and namespace deletion finish (the stand-in ends the graceful deletion)', async () => {
    await kubeJson(c.kube, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    await waitFor(async () => (await c.kube.request('GET', '/api/v1/namespaces/doomed/serviceaccounts/default')).status === 200, { what: 'default SA in doomed', timeoutMs: 20_000 });
    await kubeJson(c.kube, 'POST', '/api/v1/namespaces/doomed/pods', pod('victim', 'doomed'));
    await c.kubelet.running('doomed', 'victim');
    await kubeJson(c.kube, 'DELETE', '/api/v1/namespaces/doomed');
    await waitFor(async () => (await c.kube.request('GET', '/api/v1/namespaces/doomed')).status === 404, { what: 'namespace gone', timeoutMs: 40_000 });
  }, 60_000);

  test('stop() ends every process by pid', async () => {
    const pids = Object.values(c.kube.pids()).filter((p): p is number => typeof p === 'number' && p > 0);
    expect(pids.length).toBe(3);
    await c.stop();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 30_000);
});
