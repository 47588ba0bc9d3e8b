// What the public gateway forwards for one app request: the headers (original Host kept, hop-by-hop dropped,
// X-Forwarded-For/Proto/Host set by us), the split target and the body length to expect. The `proxy_request`
// itself is built in src/protocol/proxy-request-builders.ts. Pure.
import { forwardRequestHeaders, type HeaderMap, headerValue, rawHeadersToMap } from '../../protocol/http-headers.ts';

export interface ClientFacts {
  /** The client's address as the gateway saw it. */
  ip: string;
  /** Scheme of the gateway listener the request arrived on. */
  proto: 'http' | 'https';
}

/**
 * Headers for the backend. The client's X-Forwarded-Proto/-Host are replaced (the gateway is the edge and
 * knows both); X-Forwarded-For is appended to. Content-Length/Expect are dropped: the agent's HTTP client frames
 * the body itself (streamed bodies go chunked).
 */
const DROP_UPGRADE = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'expect'];
const DROP = [...DROP_UPGRADE, 'content-length'];

export function appHeaders(rawHeaders: readonly string[], client: ClientFacts, opts: { upgrade?: boolean } = {}): HeaderMap {
  const all = rawHeadersToMap(rawHeaders);
  const host = headerValue(all, 'host') ?? '';
  const prior = headerValue(all, 'x-forwarded-for');
  const out = forwardRequestHeaders(all, { drop: opts.upgrade ? DROP_UPGRADE : DROP, keepUpgrade: opts.upgrade });
  out['X-Forwarded-For'] = [prior ? `${prior}, ${client.ip}` : client.ip];
  out['X-Forwarded-Proto'] = [client.proto];
  if (host) out['X-Forwarded-Host'] = [host];
  return out;
}

/** Split a request target into path and raw query. */
export function splitTarget(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q >= 0 ? { path: url.slice(0, q) || '/', query: url.slice(q + 1) } : { path: url || '/', query: '' };
}

/** Path after a path route's prefix is removed (`/pac/hook` with `/pac` → `/hook`; the bare prefix → `/`). */
export function stripPrefix(path: string, prefix: string): string {
  const p = prefix.replace(/\/+$/, '');
  if (!p) return path;
  if (path === p) return '/';
  return path.startsWith(`${p}/`) ? path.slice(p.length) : path;
}

/** How much of a request body to expect: null when it will not be known up front (chunked). */
export function declaredBodyLength(rawHeaders: readonly string[]): number | null {
  const h = rawHeadersToMap(rawHeaders);
  const te = headerValue(h, 'transfer-encoding');
  if (te) return null;
  const cl = headerValue(h, 'content-length');
  if (cl !== undefined) {
    const n = Number(cl);
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  }
  // No framing header: no body (RFC 9112 §6.3), whatever the method.
  return 0;
}
