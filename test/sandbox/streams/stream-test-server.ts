// A stand-in API server for the stream engine's tests: just enough discovery and a pod GET for kubectl to
// reach the exec/attach/portforward upgrade, which goes straight to handlePodStreamUpgrade. HTTPS with the
// fixture CA and a bearer token, because kubectl only sends tokens over TLS.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { handlePodStreamUpgrade } from '../../../src/sandbox/streams/index.ts';
import type { PodStreamUpgrade, StreamHooks } from '../../../src/sandbox/streams/types.ts';

const TLS_DIR = join(import.meta.dir, '../../fixtures/tls');
export const TOKEN = 'stream-test-token-0123456789';

export interface UpgradeRecord {
  kind: string;
  method: string;
  headers: IncomingMessage['headers'];
  query: string;
}

export interface StreamTestServer {
  url: string;
  caPem: string;
  hooks: StreamHooks;
  upgrades: UpgradeRecord[];
  /** A kubeconfig file plus the per-run dirs kubectl needs (KUBECONFIG, KUBECACHEDIR, HOME). */
  kubectlEnv(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>;
  close(): Promise<void>;
}

export function testPod(name: string): Record<string, unknown> {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '1', creationTimestamp: new Date().toISOString() },
    spec: { containers: [{ name: 'web', image: 'nginx', stdin: true, tty: true, ports: [{ containerPort: 80 }, { containerPort: 8080 }] }] },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'web', ready: true, state: { running: { startedAt: new Date().toISOString() } } }],
    },
  };
}

const API_VERSIONS = { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] };
const API_GROUPS = { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };
const CORE_RESOURCES = {
  kind: 'APIResourceList',
  groupVersion: 'v1',
  resources: [
    { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
    { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
    { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  ],
};

function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

const POD_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)(?:\/(exec|attach|portforward))?$/;

export async function startStreamTestServer(): Promise<StreamTestServer> {
  const [cert, key, caPem] = await Promise.all(
    ['server.crt', 'server.key', 'ca.crt'].map((f) => readFile(join(TLS_DIR, f), 'utf8')),
  );
  const hooks: StreamHooks = { rejectWebSockets: false };
  const upgrades: UpgradeRecord[] = [];
  const sockets = new Set<Duplex>();
  const authorized = (req: IncomingMessage) => req.headers.authorization === `Bearer ${TOKEN}`;

  const server = createServer({ cert, key }, (req, res) => {
    if (!authorized(req)) return json(res, 401, { kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    const url = new URL(req.url ?? '/', 'https://x');
    if (url.pathname === '/api') return json(res, 200, API_VERSIONS);
    if (url.pathname === '/apis') return json(res, 200, API_GROUPS);
    if (url.pathname === '/api/v1') return json(res, 200, CORE_RESOURCES);
    const m = POD_PATH.exec(url.pathname);
    if (m && !m[3] && req.method === 'GET') return json(res, 200, testPod(m[2] as string));
    json(res, 404, { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: `${url.pathname} not found` });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const url = new URL(req.url ?? '/', 'https://x');
    const m = POD_PATH.exec(url.pathname);
    if (!authorized(req) || !m || !m[3]) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const kind = m[3] as PodStreamUpgrade['kind'];
    upgrades.push({ kind, method: req.method ?? '', headers: req.headers, query: url.search });
    handlePodStreamUpgrade({
      kind,
      req,
      socket,
      head,
      namespace: m[1] as string,
      podName: m[2] as string,
      pod: testPod(m[2] as string),
      query: url.searchParams,
      hooks,
      onClosed: () => sockets.delete(socket),
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    caPem,
    hooks,
    upgrades,
    async kubectlEnv() {
      const dir = await mkdtemp(join(tmpdir(), 'streams-kubectl-'));
      const kubeconfig = [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: sandbox',
        '  cluster:',
        `    server: ${url}`,
        `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
        'users:',
        '- name: tester',
        '  user:',
        `    token: ${TOKEN}`,
        'contexts:',
        '- name: sandbox',
        '  context: {cluster: sandbox, user: tester, namespace: default}',
        'current-context: sandbox',
        '',
      ].join('\n');
      await writeFile(join(dir, 'kubeconfig'), kubeconfig, { mode: 0o600 });
      return {
        env: { KUBECONFIG: join(dir, 'kubeconfig'), KUBECACHEDIR: join(dir, 'cache'), HOME: dir },
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
