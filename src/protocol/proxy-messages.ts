// HTTP proxy messages (protocol.md §3): `proxy_request` with every field and alias upstream reads, the
// streamed request body, cancel, and the agent's answers. Parsing is strict about types (P1: a wrong type is a
// `proxy_error` with a reason, not a silent drop) and lenient about the aliases a control plane may use.
import type { InboundMessage } from './envelope.ts';
import { HTTP_TOKEN, INVALID_HEADER_VALUE } from './http-headers.ts';
import type { AgentToHubPayloads as P } from './wire-messages.ts';

/** CP → agent `proxy_request`, normalised. */
export interface ProxyRequest {
  requestId: string;
  method: string;
  path: string;
  /** Raw query string without `?`. */
  query: string;
  /** Header name (case preserved) → values. */
  headers: Record<string, string[]>;
  /** Decoded body, when it travelled inside the message. */
  body: Uint8Array<ArrayBuffer> | null;
  /** The body follows in the next binary frame (§3.2). */
  bodyBinary: boolean;
  bodySize: number | null;
  /** The body arrives as `proxy_request_chunk` messages until `proxy_request_stream_end` (§3.3). */
  streamingBody: boolean;
  /** Answer with proxy_response_header/_chunk/_end instead of one buffered message (§3.5). */
  responseStreaming: boolean;
  scheme: string;
  serviceName: string;
  namespace: string;
  servicePort: number;
  isWebSocket: boolean;
  protocol: string;
  /** Absolute deadline (epoch ms) from `deadline` or `timeout`, if any. */
  deadlineMs: number | null;
  /**
   * Negotiated extension (ours): relay WebSocket frames byte-exact instead of upstream's channel translation.
   * Sent by our hub as `raw_frames: true`; a control plane that does not know it never sends it (W4).
   */
  rawFrames: boolean;
  /** Negotiated extension (ours): replay the upgrade verbatim and relay bytes (see stream-messages.ts). */
  rawUpgrade: boolean;
  /**
   * Negotiated extension (ours, `binary_chunks: true`): response bodies may travel as binary chunk frames —
   * the §3.2 layout `[u16 L][request id][bytes]` — after a `proxy_response_header`, ended by `proxy_response_end`.
   * A buffered request whose body grows past the agent's threshold switches to this streamed form, so one large
   * answer never occupies the tunnel as a single message (head-of-line blocking) or sits whole in memory.
   * The receiver tells chunk frames from response frames by state: chunks only follow a header.
   * Flow control: a credit window per request, returned by `proxy_window` (flow-control.ts: 1 MiB, 2 MiB before
   * issue 14). A buffered answer of any size (not empty) comes as a binary response frame (§3.6) instead of JSON.
   */
  binaryChunks: boolean;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const GO_DURATION = /^(\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const GO_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go `time.ParseDuration` subset: "30s", "1m30s", "250ms". Returns ms, or null when invalid. */
export function parseGoDuration(s: string): number | null {
  if (!GO_DURATION.test(s)) return null;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * (GO_UNIT_MS[m[2]!] ?? 0);
  return total;
}

/** Whether a header map has `lower` under any capitalisation (a name of another length is never lower-cased). */
function hasHeaderName(h: Record<string, string[]>, lower: string): boolean {
  for (const k in h) if (k.length === lower.length && k.toLowerCase() === lower) return true;
  return false;
}

/** Typed reads of a payload's fields. One key each: no rest-argument array and no tuple per read (issue 14). */
class Fields {
  readonly errors: string[] = [];
  constructor(readonly p: Record<string, unknown>) {}

  str(key: string): string {
    const v = this.p[key];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') {
      this.errors.push(`${key} must be a string`);
      return '';
    }
    return v;
  }
  bool(key: string): boolean {
    const v = this.p[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') {
      this.errors.push(`${key} must be a boolean`);
      return false;
    }
    return v;
  }
  num(key: string): number | null {
    const v = this.p[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      this.errors.push(`${key} must be a number`);
      return null;
    }
    return v;
  }
}

/** Header maps arrive as `{name: [values]}` or `{name: value}`; non-string array items are dropped (upstream). */
export function parseHeaderMap(raw: unknown, errors: string[], field = 'headers'): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    errors.push(`${field} must be an object`);
    return out;
  }
  // Every proxied request and answer passes here at both ends (issue 14): no entries array, and a value array made
  // of strings only (the usual case) is kept as it is instead of copied.
  const rec = raw as Record<string, unknown>;
  for (const k in rec) {
    if (!Object.hasOwn(rec, k)) continue;
    const v = rec[k];
    // Assigning `__proto__` would set the map's prototype instead of adding a header.
    if (k === '__proto__') {
      errors.push(`${field} has a header named __proto__`);
      continue;
    }
    // Refused here, with the header named, rather than later as a generic error from `Headers`.
    if (!HTTP_TOKEN.test(k)) {
      errors.push(`${field} has an invalid header name ${JSON.stringify(k)} (must be an RFC 9110 token)`);
      continue;
    }
    let values: string[];
    if (typeof v === 'string') values = [v];
    else if (Array.isArray(v)) values = allStrings(v) ? (v as string[]) : v.filter((x): x is string => typeof x === 'string');
    else {
      if (v !== null && v !== undefined) errors.push(`${field}.${k} must be a string or an array of strings`);
      continue;
    }
    if (anyInvalidValue(values)) {
      errors.push(`${field}.${k} has a value with CR, LF, NUL or a character above U+00FF`);
      continue;
    }
    out[k] = values;
  }
  return out;
}

// Plain loops, not `every`/`some` with a callback: they run for every header of every relayed request (issue 14).
function allStrings(v: unknown[]): boolean {
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
  return true;
}

function anyInvalidValue(values: string[]): boolean {
  for (let i = 0; i < values.length; i++) if (INVALID_HEADER_VALUE.test(values[i]!)) return true;
  return false;
}


const encoder = new TextEncoder();

/** `now`: the clock a relative `timeout` counts from (read only for such a request: issue 14, a clock read per request). */
export function parseProxyRequest(m: InboundMessage, now?: number): ParseResult<ProxyRequest> {
  if (!m.requestId) return { ok: false, error: 'proxy_request without request_id' };
  if (m.payloadAbsent) return { ok: false, error: 'invalid proxy_request: payload is missing or null' };
  const f = new Fields(m.payload);
  const errors = f.errors;
  const headers = parseHeaderMap(m.payload.headers, errors);
  const bodyEncoding = f.str('body_encoding').toLowerCase();
  let body: Uint8Array<ArrayBuffer> | null = null;
  const rawBody = m.payload.body;
  if (typeof rawBody === 'string') {
    if (bodyEncoding === 'base64') {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(rawBody) || rawBody.length % 4 === 1) errors.push('body is not valid base64');
      else body = Uint8Array.from(Buffer.from(rawBody, 'base64'));
    } else if (rawBody.length) body = encoder.encode(rawBody) as Uint8Array<ArrayBuffer>;
  } else if (rawBody !== undefined && rawBody !== null) {
    // A JSON object/array body is re-serialised compactly (upstream sorts keys via Go's json.Marshal).
    if (typeof rawBody === 'object') {
      const json = canonicalJson(rawBody);
      if (json === null) errors.push(`body is nested deeper than ${MAX_BODY_DEPTH} levels`);
      else body = encoder.encode(json) as Uint8Array<ArrayBuffer>;
    }
    else errors.push('body must be a string, an object or an array');
  }
  const protocol = f.str('protocol');
  if (protocol && !hasHeaderName(headers, 'sec-websocket-protocol')) headers['Sec-WebSocket-Protocol'] = [protocol];

  let deadlineMs: number | null = null;
  const deadline = f.str('deadline');
  if (deadline) {
    const t = Date.parse(deadline);
    if (Number.isNaN(t)) errors.push(`deadline ${JSON.stringify(deadline)} is not an RFC 3339 time`);
    else deadlineMs = t;
  }
  if (deadlineMs === null && m.payload.timeout !== undefined && m.payload.timeout !== null) {
    const t = m.payload.timeout;
    const ms = typeof t === 'number' ? t : typeof t === 'string' ? parseGoDuration(t) : null;
    // A non-finite timeout (`1e309` parses as Infinity) is no deadline a person meant: refuse it.
    if (ms === null || !(ms >= 0) || !Number.isFinite(ms)) errors.push('timeout must be a finite number of milliseconds or a Go duration string');
    else if (ms > 0) deadlineMs = (now ?? Date.now()) + ms;
  }
  const servicePort = f.num('service_port') ?? 0;
  if (servicePort && (!Number.isInteger(servicePort) || servicePort < 0 || servicePort > 65535)) errors.push('service_port must be 1–65535');
  const req: ProxyRequest = {
    requestId: m.requestId,
    method: (f.str('method') || 'GET').toUpperCase(),
    path: f.str('path'),
    query: f.str('query'),
    headers,
    body,
    bodyBinary: f.bool('body_binary'),
    bodySize: f.num('body_size'),
    streamingBody: f.bool('use_streaming') || f.bool('streaming'),
    responseStreaming: f.bool('supports_response_streaming'),
    scheme: f.str('scheme'),
    serviceName: f.str('service_name'),
    namespace: f.str('namespace'),
    servicePort,
    isWebSocket: f.bool('is_websocket') || f.bool('isWebSocket') || Boolean(protocol),
    protocol,
    deadlineMs,
    rawFrames: f.bool('raw_frames'),
    rawUpgrade: f.bool('raw_upgrade'),
    binaryChunks: f.bool('binary_chunks'),
  };
  // Parsed for compatibility, no effect (protocol.md §11.20): supports_streaming, rate_limit_bps, use_zero_copy, head_data.
  if (errors.length) return { ok: false, error: `invalid proxy_request: ${errors.join('; ')}` };
  return { ok: true, value: req };
}

/** Nesting bound of a JSON body, Go's `encoding/json` limit: a control plane in Go cannot send deeper ones. */
export const MAX_BODY_DEPTH = 10_000;

/**
 * Compact JSON with object keys sorted (upstream's json.Marshal of a decoded body), or null when the value is
 * nested deeper than `maxDepth`. Iterative: a body nested 30,000 deep must not exhaust the call stack.
 */
export function canonicalJson(root: unknown, maxDepth = MAX_BODY_DEPTH): string | null {
  type Open = { arr: unknown[]; i: number } | { obj: Record<string, unknown>; keys: string[]; i: number };
  const out: string[] = [];
  const stack: Open[] = [];
  const emit = (v: unknown): boolean => {
    if (Array.isArray(v)) {
      out.push('[');
      stack.push({ arr: v, i: 0 });
    } else if (v !== null && typeof v === 'object') {
      out.push('{');
      stack.push({ obj: v as Record<string, unknown>, keys: Object.keys(v).sort(), i: 0 });
    } else {
      out.push(JSON.stringify(v) ?? 'null');
      return true;
    }
    return stack.length <= maxDepth;
  };
  if (!emit(root)) return null;
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const n = 'arr' in top ? top.arr.length : top.keys.length;
    if (top.i >= n) {
      out.push('arr' in top ? ']' : '}');
      stack.pop();
      continue;
    }
    if (top.i > 0) out.push(',');
    let v: unknown;
    if ('arr' in top) v = top.arr[top.i];
    else {
      const k = top.keys[top.i]!;
      out.push(`${JSON.stringify(k)}:`);
      v = top.obj[k];
    }
    top.i++;
    if (!emit(v)) return null;
  }
  return out.join('');
}

/** `proxy_request_chunk`: payload `data` or `chunk`, base64. */
export function parseRequestChunk(m: InboundMessage): ParseResult<Uint8Array<ArrayBuffer>> {
  if (!m.requestId) return { ok: false, error: 'proxy_request_chunk without request_id' };
  const d = m.payload.data ?? m.payload.chunk;
  if (typeof d !== 'string') return { ok: false, error: 'proxy_request_chunk needs a base64 string in data or chunk' };
  return { ok: true, value: Uint8Array.from(Buffer.from(d, 'base64')) };
}

/** Streaming writer messages (agent → CP). All carry the request id at top level. */
export const ProxyOut = {
  header: (status: number, headers: Record<string, string[]> | null): P['proxy_response_header'] => ({ status, headers }),
  chunk: (bytes: Uint8Array): P['proxy_response_chunk'] => ({
    data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
    encoding: 'base64',
    size: bytes.byteLength,
  }),
  end: (): P['proxy_response_end'] => ({}),
  abort: (error: string): P['proxy_response_abort'] => ({ error }),
  error: (error: string, requestId?: string): P['proxy_error'] => (requestId ? { request_id: requestId, error } : { error }),
} as const;
