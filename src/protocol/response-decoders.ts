// Decodes the agent's answers to a proxy_request (protocol.md §3.5, §3.6) into what the hub writes to its client,
// and sanitises response headers for the client. Pure (gunzip is synchronous and in-memory).
import { gunzipSync } from 'node:zlib';
import { decodeResponseFrame, isGzip } from './binary-frame.ts';
import { parseHeaderMap } from './proxy-messages.ts';
import { shouldCompress } from './compression.ts';
import { type HeaderMap, headerValue, sanitizeResponseHeaders } from './http-headers.ts';

export interface DecodedResponse {
  status: number;
  headers: HeaderMap;
  body: Uint8Array;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** `proxy_response`: `body` is base64 (`encoding: "base64"`) or base64(gzip) (`encoding: "gzip"`), absent when empty. */
export function decodeBufferedResponse(payload: Record<string, unknown>): Decoded<DecodedResponse> {
  const status = statusOf(payload.status);
  if (status === null) return { ok: false, error: 'proxy_response status is not an HTTP status code' };
  const errors: string[] = [];
  const headers = parseHeaderMap(payload.headers, errors);
  if (errors.length) return { ok: false, error: `proxy_response ${errors.join('; ')}` };
  const raw = payload.body;
  let body: Uint8Array = new Uint8Array(0);
  if (raw !== undefined && raw !== null && raw !== '') {
    if (typeof raw !== 'string') return { ok: false, error: 'proxy_response body is not a string' };
    const encoding = typeof payload.encoding === 'string' ? payload.encoding.toLowerCase() : '';
    if (encoding === 'base64' || encoding === 'gzip') {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw) || raw.length % 4 === 1) return { ok: false, error: 'proxy_response body is not valid base64' };
      body = Buffer.from(raw, 'base64');
      if (encoding === 'gzip') {
        try {
          body = gunzipSync(body);
        } catch (e) {
          return { ok: false, error: `proxy_response gzip body undecodable: ${(e as Error).message}` };
        }
      }
    } else body = Buffer.from(raw, 'utf8'); // no/unknown encoding: the string itself (lenient, like §3.2)
  }
  return { ok: true, value: { status, headers, body } };
}

/**
 * Binary response frame. It has no encoding flag (P6): a body starting with 1f 8b whose Content-Type the
 * agent's heuristic (§3.7) would compress was gzipped by the agent and is gunzipped here; a gzip-looking body of
 * a media or octet-stream type is left alone (the agent never compresses those). If the backend's own Content-Encoding was gzip, one layer is still gzip afterwards
 * (upstream gzips again) — or not (our agent does not): `clientHeaders` reconciles the header with the bytes.
 */
export function decodeFrameResponse(frame: Uint8Array<ArrayBuffer>, knownId?: string): Decoded<DecodedResponse & { requestId: string }> {
  const f = decodeResponseFrame(frame, knownId);
  if (!f.ok) return f;
  const { requestId, status, headers, body } = f.value;
  if (status < 100 || status > 999) return { ok: false, error: `response frame status ${status} is not an HTTP status code` };
  // The common answer (headers, a body that is not gzip): the frame's own result, without a second pair of objects.
  if (headers !== null && !isGzip(body)) return f as Decoded<DecodedResponse & { requestId: string }>;
  let out: Uint8Array = body;
  if (isGzip(body) && agentMayCompress(headers)) {
    try {
      out = gunzipSync(body);
    } catch (e) {
      return { ok: false, error: `response frame gzip body undecodable: ${(e as Error).message}` };
    }
  }
  return { ok: true, value: { requestId, status, headers: headers ?? {}, body: out } };
}

/** `proxy_response_header`: `{status, headers}`. */
export function decodeStreamHeader(payload: Record<string, unknown>): Decoded<{ status: number; headers: HeaderMap }> {
  const status = statusOf(payload.status);
  if (status === null) return { ok: false, error: 'proxy_response_header status is not an HTTP status code' };
  const errors: string[] = [];
  const headers = parseHeaderMap(payload.headers, errors);
  if (errors.length) return { ok: false, error: `proxy_response_header ${errors.join('; ')}` };
  return { ok: true, value: { status, headers } };
}

/** `proxy_response_chunk`: `{data: base64}` (`chunk` accepted as an alias). */
export function decodeStreamChunk(payload: Record<string, unknown>): Decoded<Uint8Array> {
  const d = payload.data ?? payload.chunk;
  if (typeof d !== 'string') return { ok: false, error: 'proxy_response_chunk without base64 data' };
  return { ok: true, value: Buffer.from(d, 'base64') };
}

/**
 * Headers for the client: hop-by-hop dropped (P7), Content-Length dropped (the body was decoded; the caller
 * sets the real length, or streams chunked), and a gzip Content-Encoding removed when the bytes are no longer gzip.
 */
export function clientHeaders(status: number, headers: HeaderMap, body?: Uint8Array): HeaderMap {
  const out: HeaderMap = {};
  const clean = sanitizeResponseHeaders(status, headers);
  for (const k in clean) {
    const vs = clean[k]!;
    const l = k.toLowerCase();
    if (l === 'content-length') continue;
    if (l === 'content-encoding' && body && vs.some((v) => v.toLowerCase().includes('gzip')) && !isGzip(body)) continue;
    out[k] = vs;
  }
  return out;
}

function agentMayCompress(headers: HeaderMap | null): boolean {
  const ct = headers ? headerValue(headers, 'content-type') : undefined;
  return shouldCompress(ct, undefined, Number.MAX_SAFE_INTEGER);
}

function statusOf(v: unknown): number | null {
  if (v === undefined || v === null || v === 0) return 200; // upstream: status 0 ⇒ 200
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 100 || v > 999) return null;
  return v;
}
