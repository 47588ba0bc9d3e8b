// A stand-in kubelet for a real kube-apiserver: registers a Node whose daemonEndpoints point at this process on
// loopback, binds unscheduled Pods to it (no kube-scheduler: one node, and a hand-made Node keeps its not-ready
// taint without the node-lifecycle controller, so a scheduler would refuse it), reports them Running, finishes
// their deletion, and serves the kubelet API the apiserver calls — exec, attach, portForward (SPDY and WebSocket,
// through the sandbox's stream engine; its "programs" are the containers) and containerLogs — over HTTPS, only to
// clients presenting a certificate from the cluster CA (the apiserver's --kubelet-client-certificate).
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { KubeClient, type KubeObject } from '../kube/client.ts';
import { listWatch } from '../kube/watch.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { LogBook } from '../sandbox/pod-logs.ts';
import { handlePodStreamUpgrade } from '../sandbox/streams/index.ts';
import type { StreamHooks } from '../sandbox/streams/types.ts';
import type { RealKube } from './cluster.ts';

export interface StandInKubelet {
  nodeName: string;
  port: number;
  /** Exec/attach/port-forward behaviour; tests replace these like the sandbox's. */
  hooks: StreamHooks;
  /** Requests served; `verified`: over TLS with a client certificate from the cluster CA (the apiserver's). */
  requests: { method: string; path: string; verified: boolean; upgrade?: string }[];
  appendLog(namespace: string, pod: string, container: string, line: string): void;
  /** Resolves when the pod runs on this node (status Running reported). */
  running(namespace: string, name: string, timeoutMs?: number): Promise<KubeObject>;
  stop(opts?: { deleteNode?: boolean }): Promise<void>;
}

type Pod = KubeObject & {
  spec?: { nodeName?: string; containers?: { name: string; image?: string }[] };
  status?: { phase?: string };
};

export interface StandInKubeletOptions {
  nodeName?: string;
  log?: Logger;
}

const key = (ns: string, name: string) => `${ns}/${name}`;

export async function startStandInKubelet(kube: RealKube, opts: StandInKubeletOptions = {}): Promise<StandInKubelet> {
  const nodeName = opts.nodeName ?? 'standin-node';
  const log = opts.log ?? createLogger({ level: 'warn', name: 'standin-kubelet' });
  const client = new KubeClient({ server: kube.url, ca: kube.caPem, token: () => kube.adminToken, source: 'explicit' }, { userAgent: 'pipeops-standin-kubelet' });
  const hooks: StreamHooks = { rejectWebSockets: false };
  const logs = new LogBook();
  const pods = new Map<string, Pod>();
  const requests: StandInKubelet['requests'] = [];
  const sockets = new Set<Duplex>();
  const started = new Set<string>();
  const deleting = new Set<string>();
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  let podSeq = 0;

  // The TLS layer refuses clients without a certificate from the cluster CA (requestCert + rejectUnauthorized);
  // `authorized` records that the request came over such a verified connection.
  const verified = (req: IncomingMessage): boolean => (req.socket as TLSSocket).authorized === true;

  // --- the kubelet API ---
  const parse = (path: string): { op: string; ns: string; pod: string; container?: string } | null => {
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const [op, ns, pod] = parts;
    if (!op || !ns || !pod) return null;
    // /exec/{ns}/{pod}/{container} and /exec/{ns}/{pod}/{uid}/{container}; /portForward/{ns}/{pod}[/{uid}]
    const container = op === 'portForward' ? undefined : parts[parts.length - 1];
    if (op !== 'portForward' && parts.length < 4) return null;
    return { op, ns, pod, ...(container ? { container } : {}) };
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, verified: verified(req) });
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const p = parse(url.pathname);
    if (!p || p.op !== 'containerLogs' || !p.container) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`404 page not found: ${url.pathname}`);
      return;
    }
    const pod = pods.get(key(p.ns, p.pod));
    if (!pod) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`pod "${p.pod}" not found on node ${nodeName}`);
      return;
    }
    const q = new URLSearchParams(url.searchParams);
    q.set('container', p.container);
    const err = logs.serve(res, pod, q);
    if (err) res.writeHead(err.code, { 'content-type': 'text/plain' }).end(err.message);
  };

  const refuse = (socket: Duplex, code: number, message: string) => {
    socket.end(`HTTP/1.1 ${code} ${code === 404 ? 'Not Found' : 'Bad Request'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`);
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'https://kubelet');
    requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, verified: verified(req), upgrade: req.headers.upgrade ?? '' });
    const p = parse(url.pathname);
    const kind = p?.op === 'exec' ? 'exec' : p?.op === 'attach' ? 'attach' : p?.op === 'portForward' ? 'portforward' : null;
    if (!p || !kind) return refuse(socket, 404, `404 page not found: ${url.pathname}`);
    const pod = pods.get(key(p.ns, p.pod));
    if (!pod) return refuse(socket, 404, `pod "${p.pod}" not found on node ${nodeName}`);
    // The kubelet's query names (remotecommand: input/output/error; portforward: port) → the apiserver's, which
    // the stream engine reads.
    const s = url.searchParams;
    const query = new URLSearchParams();
    if (p.container) query.set('container', p.container);
    for (const c of s.getAll('command')) query.append('command', c);
    const on = (v: string | null) => (v === '1' || v === 'true' ? 'true' : 'false');
    query.set('stdin', on(s.get('input')));
    query.set('stdout', on(s.get('output')));
    query.set('stderr', on(s.get('error')));
    query.set('tty', on(s.get('tty')));
    for (const port of s.getAll('port')) query.append('ports', port);
    handlePodStreamUpgrade({
      kind,
      req,
      socket,
      head,
      namespace: p.ns,
      podName: p.pod,
      pod,
      query,
      hooks,
      onClosed: () => sockets.delete(socket),
    });
  };

  const server = https.createServer(
    {
      cert: readFileSync(kube.pki.kubeletServingCert),
      key: readFileSync(kube.pki.kubeletServingKey),
      ca: kube.caPem,
      requestCert: true,
      rejectUnauthorized: true,
    },
    onRequest,
  );
  server.on('upgrade', onUpgrade);
  server.on('connection', (s: Duplex) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  // --- the Node ---
  const now = () => new Date().toISOString();
  const nodeStatus = () => {
    const t = now();
    const cond = (type: string, status: string, reason: string) => ({ type, status, reason, message: reason, lastHeartbeatTime: t, lastTransitionTime: t });
    return {
      addresses: [
        { type: 'InternalIP', address: '127.0.0.1' },
        { type: 'Hostname', address: nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: port } },
      capacity: { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '50Gi' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '50Gi' },
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID'),
        cond('Ready', 'True', 'KubeletReady'),
      ],
      nodeInfo: {
        machineID: 'standin',
        systemUUID: 'standin',
        bootID: 'standin',
        kernelVersion: 'standin',
        osImage: 'pipeops stand-in kubelet',
        containerRuntimeVersion: 'standin://1',
        kubeletVersion: 'v1.37.2',
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    };
  };
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'topology.kubernetes.io/region': 'loopback' } },
    spec: {},
    status: nodeStatus(),
  };
  const created = await client.request('/api/v1/nodes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(node) });
  if (!created.ok && created.status !== 409) throw await client.errorFrom(created, 'POST', '/api/v1/nodes');
  await created.body?.cancel();
  // Status is a subresource: set it explicitly (create may drop it, and a re-registration must refresh the port).
  await client.patch(`/api/v1/nodes/${nodeName}/status`, { status: nodeStatus() }, 'merge');

  // --- the Pods ---
  const bind = async (pod: Pod) => {
    const m = pod.metadata ?? {};
    const res = await client.request(`/api/v1/namespaces/${m.namespace}/pods/${m.name}/binding`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Binding', metadata: { name: m.name }, target: { apiVersion: 'v1', kind: 'Node', name: nodeName } }),
    });
    if (!res.ok && res.status !== 409) log.warn({ pod: `${m.namespace}/${m.name}`, status: res.status, body: (await res.text()).slice(0, 200) }, 'standin-kubelet: binding failed');
    else await res.body?.cancel();
  };

  const start = async (pod: Pod) => {
    const m = pod.metadata ?? {};
    const t = now();
    const containers = pod.spec?.containers ?? [];
    for (const c of containers) logs.append(m.namespace ?? '', m.name ?? '', c.name, `stand-in container ${c.name} (${c.image ?? ''}) started`);
    const cond = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: t });
    const ip = `10.244.0.${(podSeq++ % 250) + 2}`;
    const status = {
      phase: 'Running',
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      podIP: ip,
      podIPs: [{ ip }],
      startTime: t,
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(cond),
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        containerID: `standin://${m.uid}/${c.name}`,
        ready: true,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: t } },
      })),
    };
    try {
      await client.patch(`/api/v1/namespaces/${m.namespace}/pods/${m.name}/status`, { status }, 'merge');
    } catch (e) {
      started.delete(m.uid ?? '');
      log.warn({ pod: `${m.namespace}/${m.name}`, err: (e as Error).message }, 'standin-kubelet: status update failed');
    }
  };

  const finish = async (pod: Pod) => {
    const m = pod.metadata ?? {};
    logs.forget(m.namespace ?? '', m.name ?? '');
    const res = await client.request(`/api/v1/namespaces/${m.namespace}/pods/${m.name}`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: m.uid } }),
    });
    if (!res.ok && res.status !== 404 && res.status !== 409) log.warn({ pod: `${m.namespace}/${m.name}`, status: res.status }, 'standin-kubelet: final delete failed');
    await res.body?.cancel();
  };

  const reconcile = (pod: Pod) => {
    const m = pod.metadata ?? {};
    const uid = m.uid ?? '';
    if (!pod.spec?.nodeName) {
      if (!m.deletionTimestamp) void bind(pod);
      return;
    }
    if (pod.spec.nodeName !== nodeName) return;
    pods.set(key(m.namespace ?? '', m.name ?? ''), pod);
    if (m.deletionTimestamp) {
      if (!deleting.has(uid)) {
        deleting.add(uid);
        void finish(pod);
      }
    } else if (!started.has(uid)) {
      started.add(uid);
      void start(pod);
    }
    notify();
  };

  const stopWatching = new AbortController();
  const handlers = {
    onAdd: reconcile,
    onUpdate: reconcile,
    onDelete: (pod: Pod) => {
      const m = pod.metadata ?? {};
      if (pods.get(key(m.namespace ?? '', m.name ?? ''))?.metadata?.uid === m.uid) pods.delete(key(m.namespace ?? '', m.name ?? ''));
      logs.forget(m.namespace ?? '', m.name ?? '');
      notify();
    },
    onError: (e: Error) => log.warn({ err: e.message }, 'standin-kubelet: pod watch'),
  };
  const mine = listWatch<Pod>(client, '/api/v1/pods', handlers, { signal: stopWatching.signal, fieldSelector: `spec.nodeName=${nodeName}`, backoff: { initialMs: 200, maxMs: 2_000 } });
  // A Pod leaves this selection when it is bound (a DELETED event): that is not the Pod going away.
  const unbound = listWatch<Pod>(client, '/api/v1/pods', { ...handlers, onDelete: () => {} }, { signal: stopWatching.signal, fieldSelector: 'spec.nodeName=', backoff: { initialMs: 200, maxMs: 2_000 } });

  return {
    nodeName,
    port,
    hooks,
    requests,
    appendLog: (ns, pod, container, line) => logs.append(ns, pod, container, line),
    running: (ns, name, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const p = pods.get(key(ns, name));
          if (p?.status?.phase === 'Running' && !p.metadata?.deletionTimestamp) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(p);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`pod ${ns}/${name} not Running on ${nodeName} within ${timeoutMs} ms (known: ${pods.get(key(ns, name))?.status?.phase ?? 'absent'})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    stop: async (o = {}) => {
      stopWatching.abort();
      await Promise.all([mine.done, unbound.done]);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (o.deleteNode) {
        const res = await client.request(`/api/v1/nodes/${nodeName}`, { method: 'DELETE' }).catch(() => null);
        await res?.body?.cancel();
      }
    },
  };
}
