// What the public gateway sends for one app request: the forwarded headers (original Host kept, hop-by-hop
// dropped, X-Forwarded-For/Proto/Host set by us) and the `proxy_request` payload that names the Service the
// agent must reach (protocol.md §3.1, §3.3, §3.4). Pure.
import { forwardRequestHeaders, type HeaderMap, headerValue } from '../../protocol/http-headers.ts';
import { rawHeadersToMap } from '../kube-gateway/outbound-request.ts';

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
export function appHeaders(rawHeaders: readonly string[], client: ClientFacts, opts: { upgrade?: boolean } = {}): HeaderMap {
  const all = rawHeadersToMap(rawHeaders);
  const host = headerValue(all, 'host') ?? '';
  const prior = headerValue(all, 'x-forwarded-for');
  const drop = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'expect'];
  if (!opts.upgrade) drop.push('content-length');
  const out = forwardRequestHeaders(all, { drop, keepUpgrade: opts.upgrade });
  out['X-Forwarded-For'] = [prior ? `${prior}, ${client.ip}` : client.ip];
  out['X-Forwarded-Proto'] = [client.proto];
  if (host) out['X-Forwarded-Host'] = [host];
  return out;
}

export interface ServiceTarget {
  namespace: string;
  name: string;
  port: number;
}

export type AppBody = { kind: 'none' } | { kind: 'inline'; bytes: Uint8Array } | { kind: 'stream' };

/**
 * The `proxy_request` payload. Responses are always streamed (apps may answer with SSE or long polls) in
 * binary chunk frames with credit (`binary_chunks`, src/protocol/proxy-messages.ts); request bodies travel
 * inline when small and known, else as `proxy_request_chunk`s (`use_streaming`).
 */
export function appProxyRequest(r: {
  method: string;
  path: string;
  query: string;
  headers: HeaderMap;
  service: ServiceTarget;
  body: AppBody;
  /** The session's agent advertised `binary_chunks` (src/protocol/extensions.ts). */
  binaryChunks: boolean;
}): Record<string, unknown> {
  const payload: Record<string, unknown> = {
    method: r.method.toUpperCase(),
    path: r.path,
    query: r.query,
    headers: r.headers,
    service_name: r.service.name,
    namespace: r.service.namespace,
    service_port: r.service.port,
    supports_response_streaming: true,
  };
  if (r.binaryChunks) payload.binary_chunks = true;
  if (r.body.kind === 'inline' && r.body.bytes.length > 0) {
    payload.body = Buffer.from(r.body.bytes.buffer, r.body.bytes.byteOffset, r.body.bytes.byteLength).toString('base64');
    payload.body_encoding = 'base64';
  } else if (r.body.kind === 'stream') payload.use_streaming = true;
  return payload;
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
