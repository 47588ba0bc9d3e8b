// Where a proxied request goes (protocol.md §3.4): the Kubernetes API, a validated in-cluster Service, the
// ingress controller (explicitly or by Host fallback), or — for upgrades — a kubectl stream or an
// application WebSocket. Pure: the relay does the I/O.
import type { RouteHint } from '../threads/messages.ts';
import { headerValue, type HeaderMap } from '../protocol/http-headers.ts';

export interface ServiceRef {
  namespace: string;
  name: string;
  port: number;
}

export type RouteDecision =
  | { kind: 'kubernetes'; path: string }
  | { kind: 'service'; service: ServiceRef; path: string; https: boolean; via: 'explicit' | 'ingress' | 'host' }
  | { kind: 'kube-stream'; path: string }
  | { kind: 'app-websocket'; service: ServiceRef; path: string; https: boolean }
  | { kind: 'error'; error: string };

export interface RoutingRequest {
  path: string;
  headers: HeaderMap;
  serviceName: string;
  namespace: string;
  servicePort: number;
  scheme: string;
  isWebSocket: boolean;
}

export interface RoutingContext {
  /** host → route, from the ingress worker (exact host; `host:port` falls back to host). */
  routes: ReadonlyMap<string, RouteHint>;
  ingressController: ServiceRef | null;
}

const K8S_PREFIXES = ['/api/', '/apis/', '/healthz', '/readyz', '/livez', '/version', '/openapi'];

export function isKubernetesPath(path: string): boolean {
  if (path === '/api' || path === '/apis') return true;
  for (const p of K8S_PREFIXES) if (path.startsWith(p)) return true;
  return false;
}

const DNS_LABELISH = /^[a-z0-9]([a-z0-9-]{0,251}[a-z0-9])?$/;

/** Service names and namespaces: 1–253 of [a-z0-9-], not starting or ending with '-'. */
export function validName(s: string): boolean {
  return s.length >= 1 && s.length <= 253 && DNS_LABELISH.test(s);
}

/** A proxied path: empty or absolute, no dot-dot segments, no scheme, no control characters or backslashes. */
export function validatePath(path: string): string | null {
  if (path === '') return null;
  if (!path.startsWith('/')) return 'path must start with /';
  if (/[\r\n\0\\]/.test(path)) return 'path contains a control character or backslash';
  if (path.includes('://')) return 'path must not contain a scheme';
  // Every relayed request passes here: decoding and splitting only when there is something to find (issue 14).
  let decoded = path;
  if (path.includes('%'))
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return 'path has invalid percent-encoding';
    }
  if (decoded.includes('..') && decoded.split('/').some((seg) => seg === '..')) return 'path must not contain .. segments';
  return null;
}

/**
 * An `Upgrade: websocket`, or a non-blank `Sec-WebSocket-Key`/`-Version`/`-Protocol`, each name's first value under
 * its first spelling with values (as `headerValue` reads it). One pass over the headers instead of four lookups, and
 * only names of those lengths are lower-cased (every relayed request passes here, issue 14).
 */
function isUpgrade(r: RoutingRequest): boolean {
  if (r.isWebSocket) return true;
  const h = r.headers;
  let decided = 0;
  for (const k in h) {
    const n = k.length;
    if (n !== 7 && n !== 17 && n !== 21 && n !== 22) continue;
    const vs = h[k]!;
    if (!vs.length) continue;
    const l = k.toLowerCase();
    const bit = l === 'upgrade' ? 1 : l === 'sec-websocket-key' ? 2 : l === 'sec-websocket-version' ? 4 : l === 'sec-websocket-protocol' ? 8 : 0;
    if (!bit || decided & bit) continue;
    decided |= bit;
    if (bit === 1 ? vs[0]!.toLowerCase() === 'websocket' : vs[0]!.trim() !== '') return true;
  }
  return false;
}

function hostOf(h: HeaderMap): string | undefined {
  return headerValue(h, 'host') ?? headerValue(h, 'x-forwarded-host');
}

export function decideRoute(r: RoutingRequest, ctx: RoutingContext): RouteDecision {
  const path = r.path === '' || r.path.startsWith('/') ? r.path : `/${r.path}`;
  const bad = validatePath(path);
  if (bad) return { kind: 'error', error: `invalid path: ${bad}` };
  const https = r.scheme.toLowerCase() === 'https';
  let svc: ServiceRef | null = null;
  let via: 'explicit' | 'ingress' | 'host' = 'explicit';
  const explicit = r.serviceName !== '' && r.namespace !== '' && r.servicePort > 0;

  // 1. Host fallback: a request for an app host goes to the ingress controller (which routes by Host).
  // No route hints (an agent without app routes): nothing to look up, no Host search per request.
  if (!r.serviceName && ctx.routes.size) {
    const host = hostOf(r.headers);
    if (host) {
      const hint = ctx.routes.get(host) ?? ctx.routes.get(host.replace(/:\d+$/, ''));
      if (hint) {
        svc = ctx.ingressController ?? { namespace: hint.namespace, name: hint.service, port: hint.port };
        via = 'host';
      }
    }
  }
  // 2. Upgrades: Kubernetes API paths without full service info are kubectl streams; the rest are app sockets.
  if (isUpgrade(r)) {
    if ((path.startsWith('/api/') || path.startsWith('/apis/')) && !explicit) return { kind: 'kube-stream', path };
    const target = explicit ? { namespace: r.namespace, name: r.serviceName, port: r.servicePort } : (svc ?? ctx.ingressController);
    if (!target) return { kind: 'error', error: 'missing service routing information for WebSocket' };
    const invalid = checkService(target);
    return invalid ? { kind: 'error', error: invalid } : { kind: 'app-websocket', service: target, path, https };
  }
  // 3. Explicit in-cluster service.
  if (explicit) {
    const target = { namespace: r.namespace, name: r.serviceName, port: r.servicePort };
    const invalid = checkService(target);
    return invalid ? { kind: 'error', error: invalid } : { kind: 'service', service: target, path, https, via: 'explicit' };
  }
  if (r.serviceName || r.namespace || r.servicePort) return { kind: 'error', error: 'service_name, namespace and service_port must all be set for a service request' };
  if (svc) return { kind: 'service', service: svc, path, https, via };
  // 4. Not a Kubernetes API path and an ingress controller is known: the ingress controller.
  if (!isKubernetesPath(path) && ctx.ingressController)
    return { kind: 'service', service: ctx.ingressController, path, https, via: 'ingress' };
  // 5. The Kubernetes API.
  return { kind: 'kubernetes', path: path || '/' };
}

function checkService(s: ServiceRef): string | null {
  if (!validName(s.name)) return `invalid service name ${JSON.stringify(s.name)}`;
  if (!validName(s.namespace)) return `invalid namespace ${JSON.stringify(s.namespace)}`;
  if (!Number.isInteger(s.port) || s.port < 1 || s.port > 65535) return `invalid service port ${s.port}`;
  return null;
}
