// The sandbox's ingress controller stand-in (what Traefik is in a real cluster): a local HTTP server, bound as
// the controller Service (`pipeops-system/traefik:80`), that routes by Host and path according to the sandbox's
// Ingress objects to the backends bound with `bind()`. HTTP bodies and upgrades (WebSocket) are relayed as-is.
//
// Host: the API server's services/proxy rewrites Host to the endpoint address (as a real API server does), so
// the stand-in routes by X-Forwarded-Host when present (the hub's public gateway sets it), else by Host.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type MatchCandidate, normaliseRequestHost, selectRoute } from '../ingress/route-match.ts';
import type { Sandbox } from './index.ts';
import { asArray, asRecord, type KubeObject } from './kube-object.ts';
import type { BackendTarget } from './service-proxy.ts';

export interface IngressControllerStandIn {
  url: string;
  port: number;
  /** Make a Service's port reachable: for Ingress backends here, and for services/proxy in the sandbox. */
  bind(namespace: string, service: string, port: number, target: BackendTarget): void;
  stop(): Promise<void>;
}

/** Marks responses and requests that went through the stand-in (the demo app reports it). */
export const VIA = '1.1 sandbox-ingress';

interface Rule extends MatchCandidate {
  namespace: string;
  service: string;
  port: number | string;
}

/** The Ingress rules of the sandbox, as match candidates. */
export function ingressRules(ingresses: readonly KubeObject[]): Rule[] {
  const out: Rule[] = [];
  for (const ing of ingresses) {
    const ns = String(asRecord(ing.metadata).namespace ?? 'default');
    for (const rule of asArray(asRecord(ing.spec).rules)) {
      const r = asRecord(rule);
      for (const p of asArray(asRecord(r.http).paths)) {
        const path = asRecord(p);
        const svc = asRecord(asRecord(path.backend).service);
        const port = asRecord(svc.port);
        const pathType = path.pathType === 'Exact' ? 'Exact' : path.pathType === 'ImplementationSpecific' ? 'ImplementationSpecific' : 'Prefix';
        if (typeof svc.name !== 'string') continue;
        out.push({
          host: typeof r.host === 'string' ? r.host : '',
          path: typeof path.path === 'string' && path.path ? path.path : '/',
          pathType,
          source: 'registry',
          namespace: ns,
          service: svc.name,
          port: typeof port.number === 'number' ? port.number : String(port.name ?? ''),
        });
      }
    }
  }
  return out;
}

/** The controller Service of the demo data (`pipeops-system/traefik`, port `web` 80). */
export const CONTROLLER_SERVICE = { namespace: 'pipeops-system', name: 'traefik', port: 80 } as const;

/** Starts the stand-in and binds it as `service` (default the demo data's Traefik) in the sandbox. */
export async function startIngressController(
  sandbox: Sandbox,
  o: { host?: string; port?: number; service?: { namespace: string; name: string; port: number } } = {},
): Promise<IngressControllerStandIn> {
  const backends = new Map<string, BackendTarget>();
  const sockets = new Set<Duplex>();
  const ingressKind = sandbox.registry.resolve('ingresses');
  const serviceKind = sandbox.registry.resolve('services');
  if (!ingressKind || !serviceKind) throw new Error('sandbox: ingresses/services kinds are not registered');

  const backendFor = (req: IncomingMessage): { target: BackendTarget; host: string } | { status: number; message: string } => {
    const hostHeader = (req.headers['x-forwarded-host'] as string | undefined)?.split(',')[0]?.trim() || req.headers.host;
    const host = normaliseRequestHost(hostHeader);
    const path = (req.url ?? '/').split('?')[0] || '/';
    const rule = selectRoute(ingressRules(sandbox.store.list(ingressKind)), host, path);
    if (!rule) return { status: 404, message: '404 page not found\n' };
    let port = rule.port;
    if (typeof port === 'string') {
      const svc = sandbox.store.get(serviceKind, rule.namespace, rule.service);
      const named = asArray(asRecord(svc?.spec).ports).map(asRecord).find((p) => p.name === port);
      port = named ? Number(named.port) : Number.NaN;
    }
    const target = backends.get(`${rule.namespace}/${rule.service}:${port}`);
    if (!target) return { status: 503, message: `no available server for ${rule.namespace}/${rule.service}:${rule.port}\n` };
    return { target, host: hostHeader ?? host };
  };

  const forwardHeaders = (req: IncomingMessage, host: string): Record<string, string | string[]> => {
    const h: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding') h[k] = v;
    h.host = host;
    h.via = h.via ? `${h.via}, ${VIA}` : VIA;
    return h;
  };

  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const b = backendFor(req);
    if ('status' in b) {
      req.resume();
      res.writeHead(b.status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(b.message) });
      res.end(b.message);
      return;
    }
    const up = http.request({ host: b.target.host, port: b.target.port, method: req.method, path: req.url, headers: forwardHeaders(req, b.host) }, (r) => {
      res.writeHead(r.statusCode ?? 502, { ...r.headers, via: VIA });
      r.pipe(res);
      r.on('error', () => res.destroy());
    });
    up.on('error', (e) => {
      if (res.headersSent) res.destroy();
      else {
        const m = `bad gateway: ${e.message}\n`;
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(m) });
        res.end(m);
      }
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const b = backendFor(req);
    if ('status' in b) {
      socket.end(`HTTP/1.1 ${b.status} ${http.STATUS_CODES[b.status]}\r\nContent-Length: ${Buffer.byteLength(b.message)}\r\nConnection: close\r\n\r\n${b.message}`);
      return;
    }
    const up = net.connect(b.target.port, b.target.host, () => {
      let head0 = `${req.method} ${req.url} HTTP/1.1\r\n`;
      const h = forwardHeaders(req, b.host);
      h.connection = 'Upgrade';
      for (const [k, v] of Object.entries(h)) for (const one of Array.isArray(v) ? v : [v]) head0 += `${k}: ${one}\r\n`;
      up.write(`${head0}\r\n`);
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    sockets.add(up);
    up.once('close', () => {
      sockets.delete(up);
      socket.destroy();
    });
    up.on('error', () => socket.destroy());
    socket.on('close', () => up.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const svc = o.service ?? CONTROLLER_SERVICE;
  sandbox.bindService(svc.namespace, svc.name, svc.port, { host: o.host ?? '127.0.0.1', port });
  return {
    url: `http://${o.host ?? '127.0.0.1'}:${port}`,
    port,
    bind(namespace, service, svcPort, target) {
      backends.set(`${namespace}/${service}:${svcPort}`, target);
      sandbox.bindService(namespace, service, svcPort, target);
    },
    async stop() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of [...sockets]) s.destroy();
      await closed;
    },
  };
}
