// startSandbox(): the in-process Kubernetes API server the demo and every end-to-end test run against.
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { AuditEntry, TokenPolicy } from './access-policy.ts';
import { isApiError } from './api-status.ts';
import { demoSeed, minimalSeed } from './demo-data.ts';
import { Faults } from './faults.ts';
import { type KubeObject, metaOf } from './kube-object.ts';
import { type KubeconfigOptions, renderKubeconfig } from './kubeconfig.ts';
import { ObjectStore } from './object-store.ts';
import { OpenApiDocs } from './openapi.ts';
import { LogBook } from './pod-logs.ts';
import { RESOURCE_KINDS } from './resource-kinds.ts';
import { type ResourceKind, ResourceRegistry } from './resource-registry.ts';
import { type RecordedRequest, type RouterContext, routeRequest, routeUpgrade } from './request-router.ts';
import { type BackendTarget, ServiceProxy } from './service-proxy.ts';
import type { StreamHooks } from './streams/types.ts';
import { generateTls, type TlsMaterial } from './tls.ts';

export type { AuditEntry, PolicyRule, TokenPolicy } from './access-policy.ts';
export type { KubeObject } from './kube-object.ts';
export type { RecordedRequest } from './request-router.ts';
export type { TlsMaterial } from './tls.ts';

export interface SandboxOptions {
  port?: number;
  host?: string;
  /** Certificate material, 'generate' (mint a CA and a server certificate), or false/omitted for plain HTTP. */
  tls?: TlsMaterial | 'generate' | false;
  /** Bearer token → policy. No tokens: anonymous requests are allowed everything. */
  tokens?: Record<string, TokenPolicy>;
  aggregatedDiscovery?: boolean;
  /**
   * With tokens: a request without credentials is `system:anonymous` — `/version` answers, everything else is 403 —
   * as on a real apiserver with `--anonymous-auth=true` (its default). Default false: 401, as with
   * `--anonymous-auth=false`.
   */
  anonymousAuth?: boolean;
  bookmarkIntervalMs?: number;
  historyLimit?: number;
  gitVersion?: string;
  seed?: 'demo' | 'minimal' | false;
}

export interface Sandbox {
  url: string;
  port: number;
  caPem?: string;
  store: ObjectStore;
  registry: ResourceRegistry;
  /** Create or replace an object (any registered kind), as a controller would. */
  apply(obj: KubeObject): KubeObject;
  remove(resource: string, namespace: string, name: string): KubeObject | undefined;
  get(resource: string, namespace: string, name: string): KubeObject | undefined;
  appendLog(namespace: string, pod: string, container: string, line: string): void;
  endLogs(namespace: string, pod: string, container?: string): void;
  kubeconfig(opts?: KubeconfigOptions): string;
  writeKubeconfig(path: string, opts?: KubeconfigOptions): Promise<void>;
  requests: RecordedRequest[];
  audit: AuditEntry[];
  faults: Faults;
  hooks: StreamHooks;
  bindService(namespace: string, name: string, port: number, target: BackendTarget): void;
  /** Open watch and log-follow streams: drops to the expected count once a client (or a proxy) lets go. */
  openStreams(): { watches: number; logFollowers: number };
  close(): Promise<void>;
}

function resolveKind(registry: ResourceRegistry, resource: string): ResourceKind {
  const k = registry.resolve(resource);
  if (!k) throw new Error(`sandbox: unknown resource "${resource}"; known: ${registry.kinds.map((x) => x.resource).join(', ')}`);
  return k;
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const registry = new ResourceRegistry(RESOURCE_KINDS);
  const store = new ObjectStore({ historyLimit: opts.historyLimit ?? 1000 });
  const logs = new LogBook();
  const proxy = new ServiceProxy();
  const hooks: StreamHooks = { rejectWebSockets: false };
  const sockets = new Set<Duplex>();
  const upgraded = new Set<Duplex>();
  const watches = new Set<{ end(): void }>();
  const requests: RecordedRequest[] = [];
  const audit: AuditEntry[] = [];

  let tls: TlsMaterial | undefined;
  if (opts.tls === 'generate') {
    const t = await generateTls();
    if ('error' in t) throw new Error(t.error);
    tls = t;
  } else if (opts.tls) tls = opts.tls;

  const track = (s: Duplex) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  const cutConnections = () => {
    for (const w of [...watches]) w.end();
    for (const s of [...sockets, ...upgraded]) s.destroy();
  };
  const faults = new Faults(
    {
      dropWatches: () => {
        for (const w of [...watches]) w.end();
      },
      compact: () => store.compact(),
      cutConnections,
    },
    hooks,
  );

  // Pod deletion ends its log followers, like a container going away.
  const podKind = resolveKind(registry, 'pods');
  store.subscribe((e) => {
    if (e.type === 'DELETED') logs.forget(e.namespace, metaOf(e.object).name ?? '');
  }, podKind);

  const host = opts.host ?? '127.0.0.1';
  let port = 0;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const ctx: RouterContext = {
    resources: { registry, store, watch: { store, bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 10_000, open: watches } },
    logs,
    proxy,
    openapi: new OpenApiDocs(registry, opts.gitVersion ?? 'v1.32.0'),
    ...(opts.tokens ? { tokens: opts.tokens } : {}),
    ...(opts.anonymousAuth ? { anonymousAuth: true } : {}),
    aggregatedDiscovery: opts.aggregatedDiscovery ?? true,
    gitVersion: opts.gitVersion ?? 'v1.32.0',
    requests,
    audit,
    faults,
    hooks,
    serverAddress: () => `${hostPart}:${port}`,
    track,
    upgraded,
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    routeRequest(ctx, req, res).catch((e: unknown) => {
      if (!res.headersSent) {
        const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `sandbox internal error: ${(e as Error).message}`, reason: 'InternalError', code: 500 });
        res.writeHead(500, { 'Content-Type': 'application/json' }).end(body);
      } else res.destroy();
    });
  };
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, onRequest) : http.createServer(onRequest);
  server.on('connection', track);
  server.on('secureConnection', track);
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    track(socket);
    routeUpgrade(ctx, req, socket, head).catch(() => socket.destroy());
  });
  // Long watches and follows are normal here; never let node's timeouts end them.
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const url = `${tls ? 'https' : 'http'}://${hostPart}:${port}`;

  const apply = (obj: KubeObject): KubeObject => {
    const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
    const kindName = typeof obj.kind === 'string' ? obj.kind : '';
    const k = registry.byApiVersionKind(apiVersion, kindName);
    if (!k || k.virtual) throw new Error(`sandbox.apply: no registered kind for apiVersion "${apiVersion}" kind "${kindName}"`);
    const r = store.upsert(k, obj);
    if (isApiError(r)) throw new Error(`sandbox.apply ${kindName} "${metaOf(obj).name ?? ''}": ${r.message}`);
    return r;
  };

  const seed = opts.seed === undefined ? 'minimal' : opts.seed;
  if (seed) {
    const s = seed === 'demo' ? demoSeed() : minimalSeed();
    for (const o of s.objects) apply(o);
    for (const l of s.logs) for (const line of l.lines) logs.append(l.namespace, l.pod, l.container, line);
  }

  const sandbox: Sandbox = {
    url,
    port,
    ...(tls ? { caPem: tls.ca } : {}),
    store,
    registry,
    apply,
    remove: (resource, namespace, name) => {
      const r = store.delete(resolveKind(registry, resource), namespace, name);
      return isApiError(r) ? undefined : r;
    },
    get: (resource, namespace, name) => store.get(resolveKind(registry, resource), namespace, name),
    appendLog: (ns, pod, container, line) => logs.append(ns, pod, container, line),
    openStreams: () => ({ watches: watches.size, logFollowers: logs.followerCount() }),
    endLogs: (ns, pod, container) => logs.end(ns, pod, container),
    kubeconfig: (o) => renderKubeconfig(url, tls?.ca, o),
    writeKubeconfig: (path, o) => writeFile(path, renderKubeconfig(url, tls?.ca, o), { mode: 0o600 }),
    requests,
    audit,
    faults,
    hooks,
    bindService: (ns, name, p, target) => proxy.bind(ns, name, p, target),
    close: async () => {
      cutConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return sandbox;
}
