// Where a stream connects (protocol.md §3.8, §4.2, §4.5; W2): a routing decision resolved once into the backend's URL,
// TLS settings and headers, with the agent's own credentials applied where the rules say so. The three rules differ on
// purpose (they follow upstream per path) and sit side by side here so the difference is visible:
//
// | stream                                   | backend                        | agent token                                  | Host                      |
// |------------------------------------------|--------------------------------|----------------------------------------------|---------------------------|
// | kube stream (ws_start, kube-stream)      | API server, ws(s)              | only if no `Authorization` key (exact, upstream) | the URL's             |
// | application WebSocket (app-websocket)    | Service URL, or API server proxy | via the API server proxy: always           | the client's Host / X-Forwarded-Host |
// | raw upgrade, API server (kube-stream, app via `apiserver`) | API server, TCP/TLS | if none (any case), or always for an app  | the API server's          |
// | raw upgrade, Service URL                 | Service URL, TCP/TLS           | never                                        | the client's Host, else the URL's |
//
// TLS: the API server's CA/client certificate (verification per `insecureSkipVerify`); Services: not verified
// (in-cluster Services rarely carry certificates for their DNS names, as upstream).
import type { KubeClient } from '../kube/client.ts';
import type { KubeTarget } from '../kube/target.ts';
import { forwardRequestHeaders, type HeaderMap, headerValue } from '../protocol/http-headers.ts';
import type { RouteDecision } from './routing.ts';
import { serviceEndpoint } from './service-endpoint.ts';
import type { StreamConfig } from './stream.ts';

export interface BackendTls {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
}

export interface BackendTarget {
  /** WebSocket streams: the `ws(s)://` URL to dial. Raw upgrades: the `http(s)://` server whose host and port to connect to. */
  url: string;
  tls: BackendTls;
  /** What the backend receives, the agent's credentials applied per the table above (a Host override included). */
  headers: HeaderMap;
}

/** A raw upgrade writes its own request head. */
export interface RawUpgradeTarget extends BackendTarget {
  /** The request line's target: path and query, the API server's base path included. */
  requestPath: string;
  /** The Host line. */
  host: string;
}

export type TargetResult<T> = { ok: true; target: T } | { ok: false; error: string };

export type StreamDecision = Extract<RouteDecision, { kind: 'kube-stream' | 'app-websocket' }>;

export type TargetConfig = Pick<StreamConfig, 'serviceProxy' | 'clusterDomain' | 'serviceMap'>;

const NO_KUBE = 'kubernetes client not initialized';
/** Handshake headers the WebSocket client writes itself. */
const HOP_WS = ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'host', 'sec-websocket-protocol'];

/** The backend of a stream relayed as WebSocket messages (kube stream or application WebSocket). */
export function webSocketTarget(d: StreamDecision, query: string, headers: HeaderMap, kube: KubeClient | null, cfg: TargetConfig): TargetResult<BackendTarget> {
  return d.kind === 'kube-stream' ? kubeStreamTarget(d.path, query, headers, kube) : appWebSocketTarget(d, query, headers, kube, cfg);
}

function kubeTls(t: KubeTarget): BackendTls {
  return { ca: t.ca, cert: t.cert, key: t.key, rejectUnauthorized: t.insecureSkipVerify !== true };
}

function bearer(t: KubeTarget): string[] | null {
  const tok = t.token?.();
  return tok ? [`Bearer ${tok}`] : null;
}

function kubeStreamTarget(path: string, query: string, headers: HeaderMap, kube: KubeClient | null): TargetResult<BackendTarget> {
  if (!kube) return { ok: false, error: NO_KUBE };
  const t = kube.target;
  const fwd = forwardRequestHeaders(headers, { drop: HOP_WS });
  // Upstream: the agent's own token only when the control plane sent no `Authorization` (exact key).
  if (!('Authorization' in fwd)) {
    const b = bearer(t);
    if (b) fwd.Authorization = b;
  }
  const url = `${t.server.replace(/^http/, 'ws')}${path}${query ? `?${query}` : ''}`;
  return { ok: true, target: { url, tls: kubeTls(t), headers: fwd } };
}

function appWebSocketTarget(d: Extract<RouteDecision, { kind: 'app-websocket' }>, query: string, headers: HeaderMap, kube: KubeClient | null, cfg: TargetConfig): TargetResult<BackendTarget> {
  const ep = serviceEndpoint(d.service, d.path, query, { mode: cfg.serviceProxy, https: d.https, clusterDomain: cfg.clusterDomain, serviceMap: cfg.serviceMap });
  if (ep.kind === 'error') return { ok: false, error: ep.error };
  if (ep.kind === 'kube' && !kube) return { ok: false, error: NO_KUBE };
  const url = ep.kind === 'url' ? ep.url.replace(/^http/, 'ws') : `${kube!.target.server.replace(/^http/, 'ws')}${ep.path}`;
  const fwd = forwardRequestHeaders(headers, { drop: HOP_WS });
  const host = headerValue(headers, 'host') ?? headerValue(headers, 'x-forwarded-host');
  if (host) fwd.Host = [host];
  if (ep.kind === 'kube') {
    const b = bearer(kube!.target);
    if (b) fwd.Authorization = b;
  }
  const tls = ep.kind === 'kube' ? kubeTls(kube!.target) : { rejectUnauthorized: false };
  return { ok: true, target: { url, tls, headers: fwd } };
}

/** The backend of a raw upgrade (negotiated `raw_upgrade`): the request head is replayed over TCP/TLS. */
export function rawUpgradeTarget(d: StreamDecision, query: string, reqHeaders: HeaderMap, kube: KubeClient | null, cfg: TargetConfig): TargetResult<RawUpgradeTarget> {
  const headers = forwardRequestHeaders(reqHeaders, { keepUpgrade: true, drop: ['host'] });
  if (d.kind === 'app-websocket' && cfg.serviceProxy !== 'apiserver') {
    const ep = serviceEndpoint(d.service, d.path, query, { mode: cfg.serviceProxy, https: d.https, clusterDomain: cfg.clusterDomain, serviceMap: cfg.serviceMap });
    if (ep.kind !== 'url') return { ok: false, error: ep.kind === 'error' ? ep.error : 'unsupported service endpoint' };
    const u = new URL(ep.url);
    return { ok: true, target: { url: ep.url, requestPath: `${u.pathname}${u.search}`, host: headerValue(reqHeaders, 'host') ?? u.host, tls: { rejectUnauthorized: false }, headers } };
  }
  if (!kube) return { ok: false, error: NO_KUBE };
  const t = kube.target;
  const base = new URL(t.server);
  const prefix = base.pathname.replace(/\/$/, '');
  let requestPath: string;
  if (d.kind === 'kube-stream') requestPath = `${prefix}${d.path}${query ? `?${query}` : ''}`;
  else {
    const ep = serviceEndpoint(d.service, d.path, query, { mode: 'apiserver', https: d.https, clusterDomain: cfg.clusterDomain, serviceMap: cfg.serviceMap });
    requestPath = `${prefix}${ep.kind === 'kube' ? ep.path : '/'}`;
  }
  const hasAuth = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
  // An application behind the API server's proxy never sees the caller's credentials: the agent's go to the API server.
  if (!hasAuth || d.kind === 'app-websocket') {
    for (const k of Object.keys(headers)) if (k.toLowerCase() === 'authorization') delete headers[k];
    const b = bearer(t);
    if (b) headers.Authorization = b;
  }
  return { ok: true, target: { url: t.server, requestPath, host: base.host, tls: kubeTls(t), headers } };
}
