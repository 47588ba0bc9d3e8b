import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../src/kube/client.ts';
import { inClusterServer, KubeTargetError, resolveKubeTarget, tokenFileReader } from '../../src/kube/target.ts';
import { CA_PEM, FakeKube } from './support/fake-kube.ts';

let dir: string;
let fake: FakeKube;
const TOKEN = 'fake-token-0123456789';
const b64 = (s: string) => Buffer.from(s).toString('base64');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kt-'));
  fake = new FakeKube().start();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  fake.stop();
});

function saDir(withToken = true): string {
  const d = mkdtempSync(join(dir, 'sa-'));
  if (withToken) writeFileSync(join(d, 'token'), `${TOKEN}\n`);
  writeFileSync(join(d, 'ca.crt'), CA_PEM);
  writeFileSync(join(d, 'namespace'), 'pipeops-system');
  return d;
}

describe('resolveKubeTarget', () => {
  test('in-cluster from env + SA dir, and the client works with it', async () => {
    const port = String(fake.server.port);
    const t = resolveKubeTarget({ serviceAccountDir: saDir(), env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port } });
    expect(t).toMatchObject({ server: `https://127.0.0.1:${port}`, source: 'in-cluster', namespace: 'pipeops-system', ca: CA_PEM });
    expect(t?.token?.()).toBe(TOKEN);
    expect(await new KubeClient(t!).version()).toBe('v1.31.2-fake');
  });

  test('IPv6 service host gets brackets', () => {
    expect(inClusterServer('fd00::1', '443')).toBe('https://[fd00::1]:443');
    expect(inClusterServer('10.0.0.1', undefined)).toBe('https://10.0.0.1:443');
  });

  test('in-cluster=true without a mount is an error; auto without one and without kubeconfig is null', () => {
    const env = { HOME: join(dir, 'nohome') };
    expect(() => resolveKubeTarget({ inCluster: true, serviceAccountDir: join(dir, 'none'), env })).toThrow(KubeTargetError);
    expect(resolveKubeTarget({ serviceAccountDir: join(dir, 'none'), env })).toBeNull();
    expect(resolveKubeTarget({ serviceAccountDir: saDir(false), env: { ...env, KUBERNETES_SERVICE_HOST: '10.0.0.1' } })).toBeNull();
  });

  test('token file is re-read after the refresh interval (rotation)', () => {
    const p = join(dir, 'tok');
    writeFileSync(p, 'one-token');
    let now = 0;
    const get = tokenFileReader(p, 1000, () => now);
    expect(get()).toBe('one-token');
    writeFileSync(p, 'two-token\n');
    now = 500;
    expect(get()).toBe('one-token');
    now = 1000;
    expect(get()).toBe('two-token');
    rmSync(p);
    now = 5000;
    expect(get()).toBe('two-token'); // a read racing the rotation keeps the last good token
  });

  test('kubeconfig with CA data and token, via KUBECONFIG list and current-context', async () => {
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, '');
    const kc = join(dir, 'kc1.yaml');
    writeFileSync(
      kc,
      `apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster: { server: "${fake.url}/", certificate-authority-data: ${b64(CA_PEM)} }
- name: other
  cluster: { server: "https://other:6443", insecure-skip-tls-verify: true }
users:
- name: u
  user: { token: ${TOKEN} }
contexts:
- name: fake
  context: { cluster: fake, user: u, namespace: team }
- name: other
  context: { cluster: other, user: u }
`,
    );
    const t = resolveKubeTarget({ serviceAccountDir: join(dir, 'none'), env: { KUBECONFIG: `${join(dir, 'missing')}:${empty}:${kc}` } });
    expect(t).toMatchObject({ server: fake.url, ca: CA_PEM, source: 'kubeconfig', namespace: 'team' });
    expect(t?.insecureSkipVerify).toBeUndefined();
    expect(await new KubeClient(t!).version()).toBe('v1.31.2-fake');
    const o = resolveKubeTarget({ serviceAccountDir: join(dir, 'none'), env: {}, kubeconfig: kc, context: 'other' });
    expect(o).toMatchObject({ server: 'https://other:6443', insecureSkipVerify: true });
  });

  test('kubeconfig with file references, client cert/key data and tokenFile', () => {
    writeFileSync(join(dir, 'ca.pem'), CA_PEM);
    writeFileSync(join(dir, 'kc-token'), 'file-token-123\n');
    const cert = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    const key = '-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n';
    const kc = join(dir, 'kc2.yaml');
    writeFileSync(
      kc,
      `current-context: c
clusters: [{ name: k, cluster: { server: "https://k:6443", certificate-authority: ca.pem } }]
users:
- { name: cert, user: { client-certificate-data: ${b64(cert)}, client-key-data: ${b64(key)} } }
- { name: tf, user: { tokenFile: kc-token } }
- { name: ex, user: { exec: { command: aws } } }
contexts:
- { name: c, context: { cluster: k, user: cert } }
- { name: t, context: { cluster: k, user: tf } }
- { name: e, context: { cluster: k, user: ex } }
`,
    );
    const c = resolveKubeTarget({ kubeconfig: kc, serviceAccountDir: join(dir, 'none'), env: {} });
    expect(c).toMatchObject({ server: 'https://k:6443', ca: CA_PEM, cert, key });
    expect(c?.token).toBeUndefined();
    const t = resolveKubeTarget({ kubeconfig: kc, context: 't', serviceAccountDir: join(dir, 'none'), env: {} });
    expect(t?.token?.()).toBe('file-token-123');
    expect(t?.tokenFile).toBe(join(dir, 'kc-token'));
    expect(() => resolveKubeTarget({ kubeconfig: kc, context: 'e', serviceAccountDir: join(dir, 'none'), env: {} })).toThrow(/exec\/auth-provider/);
  });

  test('explicit kubeconfig wins over in-cluster in auto; a missing explicit kubeconfig is an error', () => {
    const kc = join(dir, 'kc3.yaml');
    writeFileSync(kc, `current-context: c\nclusters: [{ name: k, cluster: { server: "https://explicit:6443" } }]\ncontexts: [{ name: c, context: { cluster: k } }]\n`);
    const env = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(resolveKubeTarget({ kubeconfig: kc, serviceAccountDir: saDir(), env })?.server).toBe('https://explicit:6443');
    expect(resolveKubeTarget({ kubeconfig: kc, inCluster: true, serviceAccountDir: saDir(), env })?.source).toBe('in-cluster');
    expect(() => resolveKubeTarget({ kubeconfig: join(dir, 'nope.yaml'), serviceAccountDir: saDir(), env: {} })).toThrow(/does not exist/);
  });

  test('nothing configured ⇒ null', () => {
    expect(resolveKubeTarget({ inCluster: false, serviceAccountDir: join(dir, 'none'), env: { HOME: join(dir, 'nohome') } })).toBeNull();
  });
});
