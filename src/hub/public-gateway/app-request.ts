// What the public gateway forwards for one app request: the headers (original Host kept, hop-by-hop dropped,
// X-Forwarded-For/Proto/Host, X-Real-IP and Forwarded set by us), the split target and the body length to expect.
// The `proxy_request` itself is built in src/protocol/proxy-request-builders.ts. Pure.
import { forwardRequestHeaders, type HeaderMap, HTTP_TOKEN, headerValue, rawHeadersToMap } from '../../protocol/http-headers.ts';

export interface ClientFacts {
  /** The client's address as the gateway saw it (or, for a verified forward, as the forwarding replica saw it). */
  ip: string;
  /** Scheme of the gateway listener the request arrived on. */
  proto: 'http' | 'https';
}

/**
 * Headers for the backend. The client's X-Forwarded-Proto/-Host and X-Real-IP are replaced (the gateway is the
 * edge and knows them); X-Forwarded-For and Forwarded (RFC 7239) are appended to, so their last entry is the one the
 * gateway vouches for. `drop`: more headers the client may not pass on (the replica link's). Content-Length/Expect
 * are dropped: the agent's HTTP client frames the body itself (streamed bodies go chunked).
 */
const DROP_UPGRADE = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'forwarded', 'expect'];
const DROP = [...DROP_UPGRADE, 'content-length'];

export function appHeaders(rawHeaders: readonly string[], client: ClientFacts, opts: { upgrade?: boolean; drop?: readonly string[] } = {}): HeaderMap {
  const all = rawHeadersToMap(rawHeaders);
  const host = headerValue(all, 'host') ?? '';
  const prior = headerValue(all, 'x-forwarded-for');
  const priorForwarded = headerValue(all, 'forwarded');
  const base = opts.upgrade ? DROP_UPGRADE : DROP;
  const drop = opts.drop?.length ? withExtra(base, opts.drop) : base;
  const out = forwardRequestHeaders(all, { drop, keepUpgrade: opts.upgrade });
  out['X-Forwarded-For'] = [prior ? `${prior}, ${client.ip}` : client.ip];
  out['X-Forwarded-Proto'] = [client.proto];
  if (host) out['X-Forwarded-Host'] = [host];
  out['X-Real-IP'] = [client.ip];
  const element = forwardedElement(client, host);
  out.Forwarded = [priorForwarded ? `${priorForwarded}, ${element}` : element];
  return out;
}

/** The drop list plus a caller's extra names, built once per (list, extra) pair: callers pass module constants. */
const combined = new WeakMap<readonly string[], WeakMap<readonly string[], readonly string[]>>();
function withExtra(base: readonly string[], extra: readonly string[]): readonly string[] {
  let byExtra = combined.get(base);
  if (!byExtra) combined.set(base, (byExtra = new WeakMap()));
  let list = byExtra.get(extra);
  if (!list) byExtra.set(extra, (list = [...base, ...extra]));
  return list;
}

/** One RFC 7239 element for this hop: `for` (IPv6 bracketed and quoted), `host` and `proto`. */
export function forwardedElement(client: ClientFacts, host: string): string {
  const ip = client.ip;
  const parts = [`for=${ip.includes(':') ? `"[${ip}]"` : ip || 'unknown'}`];
  if (host) parts.push(`host=${HTTP_TOKEN.test(host) ? host : `"${host.replace(/["\\]/g, '\\$&')}"`}`);
  parts.push(`proto=${client.proto}`);
  return parts.join(';');
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
