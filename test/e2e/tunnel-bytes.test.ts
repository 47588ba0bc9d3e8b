// Byte-exactness through the whole chain (client → hub → tunnel → agent → sandbox services/proxy → backend)
// for the sizes where encodings change: inline JSON, binary frame threshold, gzip, and the chunked switch.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { kubeconfigFor } from '../../src/hub/kube-gateway/kubeconfig.ts';
import { type Stack, startStack } from '../support/stack.ts';
import { USER_TOKEN } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';

let s: Stack;
let backend: ReturnType<typeof Bun.serve>;
const bodies = new Map<string, Uint8Array>();
const SIZES = [0, 1024, 10 * 1024 - 1, 10 * 1024, 5 * 1024 * 1024];

beforeAll(async () => {
  for (const n of SIZES) {
    const text = new Uint8Array(n);
    for (let i = 0; i < n; i++) text[i] = 97 + ((i * 7) % 26); // compressible text
    const bin = crypto.getRandomValues(new Uint8Array(Math.min(n, 65536)));
    const random = new Uint8Array(n);
    for (let i = 0; i < n; i += bin.length) random.set(bin.subarray(0, Math.min(bin.length, n - i)), i);
    bodies.set(`text-${n}`, text);
    bodies.set(`bin-${n}`, random);
  }
  backend = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req) {
      const key = new URL(req.url).pathname.split('/').pop() ?? '';
      const b = bodies.get(key);
      if (!b) return new Response('no such body', { status: 404 });
      return new Response(b as Uint8Array<ArrayBuffer>, { headers: { 'Content-Type': key.startsWith('text') ? 'application/json' : 'application/octet-stream' } });
    },
  });
  s = await startStack();
  s.sandbox.bindService('demo', 'bytes', 80, { host: '127.0.0.1', port: backend.port ?? 0 });
});
afterAll(async () => {
  await s?.stop();
  backend?.stop(true);
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('through the hub: bodies arrive byte-exact', () => {
  for (const kind of ['text', 'bin'])
    for (const n of SIZES)
      test(`${kind} ${n} bytes`, async () => {
        const url = `${s.hub.kubeUrl}/clusters/${s.clusterId}/k8s/api/v1/namespaces/demo/services/bytes:80/proxy/${kind}-${n}`;
        const r = await fetch(url, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: s.hub.kubeCaPem } } as RequestInit);
        const got = new Uint8Array(await r.arrayBuffer());
        expect(r.status).toBe(200);
        expect(got.length).toBe(n);
        expect(sha(got)).toBe(sha(bodies.get(`${kind}-${n}`)!));
      });
});

test('a client that disconnects from the hub makes the sandbox see its watch close', async () => {
  const baseline = s.sandbox.openStreams().watches;
  const ac = new AbortController();
  const url = `${s.hub.kubeUrl}/clusters/${s.clusterId}/k8s/api/v1/namespaces/default/configmaps?watch=true`;
  const res = await fetch(url, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: s.hub.kubeCaPem }, signal: ac.signal } as RequestInit);
  expect(res.status).toBe(200);
  await waitFor(() => s.sandbox.openStreams().watches === baseline + 1, { what: 'watch open at the sandbox' });
  ac.abort();
  await waitFor(() => s.sandbox.openStreams().watches === baseline, { what: 'watch closed at the sandbox' });
});

test('the hub kubeconfig works for client-node through the tunnel', async () => {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromString(await kubeconfigFor(s.hub, s.clusterId, USER_TOKEN));
  const pods = await kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: 'demo' });
  expect(pods.items.map((p) => p.metadata?.name)).toContain('hello-6d9f7c8b5-abcde');
});

test('watch events through the hub arrive as they happen (no coalescing into larger chunks)', async () => {
  const ac = new AbortController();
  const url = `${s.hub.kubeUrl}/clusters/${s.clusterId}/k8s/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0`;
  const res = await fetch(url, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: s.hub.kubeCaPem }, signal: ac.signal } as RequestInit);
  const reader = res.body!.getReader();
  let text = '';
  const readUntil = async (needle: string) => {
    while (!text.includes(needle)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended before ${needle}`);
      text += new TextDecoder().decode(value);
    }
  };
  s.sandbox.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'prompt-event', namespace: 'default' }, data: {} });
  const t0 = performance.now();
  await readUntil('prompt-event');
  // Generous bound: the event is a few hundred bytes; anything waiting for 256 KiB would never arrive.
  expect(performance.now() - t0).toBeLessThan(5000);
  ac.abort();
});
