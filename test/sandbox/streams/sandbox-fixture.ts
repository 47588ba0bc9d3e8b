// Starts the real sandbox API server (HTTPS with the fixture CA, one bearer token) with a running pod
// `web-0`, and gives each kubectl run its own KUBECONFIG, KUBECACHEDIR and HOME.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Sandbox, startSandbox } from '../../../src/sandbox/index.ts';

const TLS_DIR = join(import.meta.dir, '../../fixtures/tls');
export const TOKEN = 'stream-test-token-0123456789';

export function testPod(name: string): Record<string, unknown> {
  const now = new Date().toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: 'web' } },
    spec: {
      containers: [
        { name: 'web', image: 'nginx', stdin: true, tty: true, ports: [{ containerPort: 80 }, { containerPort: 8080 }] },
      ],
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'web', ready: true, restartCount: 0, state: { running: { startedAt: now } } }],
    },
  };
}

export async function startStreamSandbox(): Promise<Sandbox> {
  const [cert, key, ca] = await Promise.all(['server.crt', 'server.key', 'ca.crt'].map((f) => readFile(join(TLS_DIR, f), 'utf8')));
  const sandbox = await startSandbox({
    host: '127.0.0.1',
    tls: { cert: cert as string, key: key as string, ca: ca as string },
    tokens: { [TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } },
  });
  sandbox.apply(testPod('web-0'));
  return sandbox;
}

/** Isolated kubectl environment for one run against `sandbox`. */
export async function kubectlEnv(sandbox: Sandbox): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'streams-kubectl-'));
  await sandbox.writeKubeconfig(join(dir, 'kubeconfig'), { token: TOKEN });
  return {
    env: { KUBECONFIG: join(dir, 'kubeconfig'), KUBECACHEDIR: join(dir, 'cache'), HOME: dir },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
