// `services/{name}[:{port}]/proxy/…`: relays HTTP (streaming both ways) and upgrades (raw socket pipe) to a
// backend bound with bindService(), the sandbox's stand-in for a Service's endpoints.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { type ApiError, notFound, serviceUnavailable } from './api-status.ts';
import { sendError } from './http-reply.ts';
import { asArray, asRecord, type KubeObject } from './kube-object.ts';

export interface BackendTarget {
  host: string;
  port: number;
}

export interface ProxyTarget extends BackendTarget {
  scheme: 'http' | 'https';
}

/** Parses `name`, `name:port`, `http:name:port`, `https:name:` into its parts. */
export function parseProxyName(spec: string): { scheme: 'http' | 'https'; name: string; port: string } {
  const parts = spec.split(':');
  if (parts.length === 3 && (parts[0] === 'http' || parts[0] === 'https')) {
    return { scheme: parts[0], name: parts[1] ?? '', port: parts[2] ?? '' };
  }
  return { scheme: 'http', name: parts[0] ?? '', port: parts[1] ?? '' };
}

// The apiserver authenticates with these and drops them; hop-by-hop ones belong to one connection only.
const DROPPED_HEADERS = new Set(['authorization', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer']);

function forwardHeaders(req: IncomingMessage, target: BackendTarget, keepUpgrade: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || DROPPED_HEADERS.has(k) || (k === 'upgrade' && !keepUpgrade)) continue;
    out[k] = v;
  }
  out.host = `${target.host}:${target.port}`;
  if (keepUpgrade) out.connection = 'Upgrade';
  return out;
}

export class ServiceProxy {
  readonly #bindings = new Map<string, { port: number; target: BackendTarget }[]>();

  bind(ns: string, name: string, port: number, target: BackendTarget): void {
    const key = `${ns}/${name}`;
    const list = (this.#bindings.get(key) ?? []).filter((b) => b.port !== port);
    list.push({ port, target });
    this.#bindings.set(key, list);
  }

  /** Resolves the backend for a proxy request; `svc` is the Service object when it exists. */
  resolve(ns: string, nameSpec: string, svc: KubeObject | undefined): ProxyTarget | ApiError {
    const { scheme, name, port } = parseProxyName(nameSpec);
    const bindings = this.#bindings.get(`${ns}/${name}`) ?? [];
    if (!svc && bindings.length === 0) return notFound('services', '', name);
    if (bindings.length === 0) return serviceUnavailable(`no endpoints available for service "${name}"`);
    let wanted: number | undefined;
    if (port !== '') {
      const byName = asArray(asRecord(svc?.spec).ports).find((p) => asRecord(p).name === port);
      wanted = byName ? Number(asRecord(byName).port) : Number(port);
    }
    const b = wanted === undefined ? bindings[0] : bindings.find((x) => x.port === wanted);
    if (!b) return serviceUnavailable(`no endpoints available for service "${nameSpec}"`);
    return { scheme, ...b.target };
  }

  relayHttp(req: IncomingMessage, res: ServerResponse, target: ProxyTarget, pathAndQuery: string): void {
    const mod = target.scheme === 'https' ? https : http;
    const upstream = mod.request(
      {
        host: target.host,
        port: target.port,
        method: req.method,
        path: pathAndQuery,
        headers: forwardHeaders(req, target, false),
        ...(target.scheme === 'https' ? { rejectUnauthorized: false } : {}),
      },
      (up) => {
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !DROPPED_HEADERS.has(k)) headers[k] = v;
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
        up.on('error', () => res.destroy());
      },
    );
    upstream.on('error', (e) => {
      if (res.headersSent) res.destroy();
      else sendError(res, serviceUnavailable(`error trying to reach service: ${e.message}`));
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  /** Writes the rewritten request head to the backend and pipes raw bytes both ways. */
  relayUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    target: ProxyTarget,
    pathAndQuery: string,
    track: (s: Duplex) => void,
  ): void {
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    upstream.on('connect', () => {
      let text = `${req.method} ${pathAndQuery} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(forwardHeaders(req, target, true))) {
        for (const one of Array.isArray(v) ? v : [v]) text += `${k}: ${one}\r\n`;
      }
      upstream.write(`${text}\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', (e) => {
      if (!socket.destroyed) {
        const body = JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `error trying to reach service: ${e.message}`,
          reason: 'ServiceUnavailable',
          code: 503,
        });
        socket.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      }
    });
    socket.on('error', () => upstream.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
  }
}
