// Benchmark backend: fixed payloads served as fast as Bun can (the "direct" baseline and the agent's
// stand-in API server). A 1 KiB JSON object, a 64 MiB binary body, and a ~1 MiB pod list.
const small = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', message: 'x'.repeat(900) });
const big = new Uint8Array(64 << 20);
for (let i = 0; i < big.length; i += 4096) big[i] = i & 255;
crypto.getRandomValues(big.subarray(0, 65536));

function podList(): string {
  const items: unknown[] = [];
  let i = 0;
  let size = 0;
  while (size < 1 << 20) {
    const pod = {
      metadata: {
        name: `web-${i}-7d4b9c8f6-${(i * 7919).toString(36).padStart(5, 'x')}`,
        namespace: `team-${i % 7}`,
        uid: crypto.randomUUID(),
        resourceVersion: String(100000 + i),
        creationTimestamp: '2026-11-20T10:00:00Z',
        labels: { app: `web-${i % 13}`, 'pod-template-hash': '7d4b9c8f6', tier: i % 2 ? 'frontend' : 'backend' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `web-${i % 13}-7d4b9c8f6`, uid: crypto.randomUUID(), controller: true }],
      },
      spec: {
        nodeName: `node-${i % 5}`,
        containers: [{ name: 'web', image: `registry.example/web:${i % 4}.2.1`, ports: [{ containerPort: 8080, protocol: 'TCP' }], resources: { requests: { cpu: '100m', memory: '128Mi' } } }],
        restartPolicy: 'Always',
        serviceAccountName: 'default',
      },
      status: {
        phase: 'Running',
        podIP: `10.244.${i % 250}.${(i * 3) % 250}`,
        startTime: '2026-11-20T10:00:05Z',
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-11-20T10:00:09Z' }],
        containerStatuses: [{ name: 'web', ready: true, restartCount: i % 3, image: `registry.example/web:${i % 4}.2.1`, containerID: `containerd://${crypto.randomUUID().replaceAll('-', '')}` }],
      },
    };
    const s = JSON.stringify(pod);
    size += s.length + 1;
    items.push(pod);
    i++;
  }
  return JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '200000' }, items });
}
const pods = podList();

// `--tls`: serve HTTPS with the test fixtures' certificate, as a real kube-apiserver always does.
const useTls = process.argv.includes('--tls');
const fixtures = new URL('../../test/fixtures/tls/', import.meta.url);
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  idleTimeout: 0,
  ...(useTls ? { tls: { cert: Bun.file(new URL('server.crt', fixtures)), key: Bun.file(new URL('server.key', fixtures)) } } : {}),
  fetch(req) {
    const u = new URL(req.url);
    const path = u.pathname;
    if (path === '/bench/small') return new Response(small, { headers: { 'Content-Type': 'application/json' } });
    if (path === '/bench/big') {
      // ?mib=N: the first N MiB only (the smoke run's shorter transfers).
      const mib = Number(u.searchParams.get('mib') ?? 64);
      const body = mib > 0 && mib < 64 ? big.subarray(0, mib << 20) : big;
      return new Response(body, { headers: { 'Content-Type': 'application/octet-stream' } });
    }
    if (path === '/api/v1/pods') return new Response(pods, { headers: { 'Content-Type': 'application/json' } });
    if (path === '/version') return Response.json({ major: '1', minor: '32', gitVersion: 'v1.32.0' });
    return new Response('not found', { status: 404 });
  },
});
console.log(JSON.stringify({ event: 'backend_ready', url: `${useTls ? 'https' : 'http'}://127.0.0.1:${server.port}` }));
