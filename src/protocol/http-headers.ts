// Header rules of the proxy paths (protocol.md §3.4–3.5, deviation P7): the RFC 9110 hop-by-hop set,
// applied on every path, plus every header named in `Connection`. Pure.

/** RFC 9110 §7.6.1 connection-specific fields, plus the de-facto ones proxies also drop. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

export type HeaderMap = Record<string, string[]>;

/** RFC 9110 §5.6.2 token: a header name (what `Headers` accepts), a method, a Forwarded parameter value. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What `Headers` refuses in a header value: CR, LF, NUL or a character above U+00FF (what would split a raw head). */
export const INVALID_HEADER_VALUE = /[\r\n\0\u0100-\uffff]/;

/** 1 at the index of every length a HOP_BY_HOP name has (none is longer than 31). */
const HOP_BY_HOP_LENGTHS = new Uint8Array(32);
for (const n of HOP_BY_HOP) HOP_BY_HOP_LENGTHS[n.length] = 1;

// These run on every relayed request at both ends (issue 14): loops over the keys, no entries arrays, and a name is
// lower-cased only when it can matter.

/** `listed` with the names one Connection value lists added (lower-cased); still null while none was listed. */
export function addConnectionTokens(listed: Set<string> | null, value: string): Set<string> | null {
  for (const t of value.split(',')) {
    const n = t.trim();
    if (n) (listed ??= new Set()).add(n.toLowerCase());
  }
  return listed;
}

/** Names listed in `Connection` (lower-cased), or null when there is no Connection header (the common case). */
export function connectionListed(h: HeaderMap): Set<string> | null {
  let listed: Set<string> | null = null;
  for (const k in h) if (k.length === 10 && k.toLowerCase() === 'connection') for (const v of h[k]!) listed = addConnectionTokens(listed, v);
  return listed;
}

/** `drop` lists, lower-cased once per distinct list (callers pass module constants). */
const dropSets = new WeakMap<readonly string[], ReadonlySet<string>>();
function dropSet(drop: readonly string[]): ReadonlySet<string> {
  let s = dropSets.get(drop);
  if (!s) dropSets.set(drop, (s = new Set(drop.map((d) => d.toLowerCase()))));
  return s;
}

/**
 * Headers to forward to a backend: hop-by-hop removed. With `keepUpgrade`, Connection/Upgrade survive
 * (WebSocket upgrades through a raw relay need them).
 */
export function forwardRequestHeaders(h: HeaderMap, opts: { keepUpgrade?: boolean; drop?: readonly string[] } = {}): HeaderMap {
  const listed = connectionListed(h);
  const drop = opts.drop?.length ? dropSet(opts.drop) : null;
  const out: HeaderMap = {};
  for (const k in h) {
    const vs = h[k]!;
    const l = k.toLowerCase();
    if (drop?.has(l)) continue;
    if (opts.keepUpgrade && (l === 'connection' || l === 'upgrade')) {
      out[k] = vs;
      continue;
    }
    if (HOP_BY_HOP.has(l) || listed?.has(l)) continue;
    out[k] = vs;
  }
  return out;
}

/** Request headers as `fetch` takes them: a record, or `[name, value]` pairs when a name has several values. */
export type ForwardHeaders = Record<string, string> | [string, string][];

/**
 * `forwardRequestHeaders(h)` as `fetch` takes it, in one pass (the HTTP relay's request to the API server: no
 * intermediate map, issue 14). A record when every name has at most one value, which is nearly every request (a
 * record costs Bun's fetch ≈ 0.6 µs less per call than pairs); pairs otherwise, so that several values of a name reach
 * fetch as several. The record has no prototype: a header named `__proto__` stays a header.
 */
export function forwardRequestInit(h: HeaderMap): ForwardHeaders {
  const listed = connectionListed(h);
  const out = Object.create(null) as Record<string, string>;
  for (const k in h) {
    if (dropForwarded(k, listed)) continue;
    const vs = h[k]!;
    if (vs.length === 1) out[k] = vs[0]!;
    else if (vs.length) return forwardRequestPairs(h, listed);
  }
  return out;
}

/** forwardRequestInit's pairs: every value of every forwarded name. */
function forwardRequestPairs(h: HeaderMap, listed: Set<string> | null): [string, string][] {
  const out: [string, string][] = [];
  for (const k in h) if (!dropForwarded(k, listed)) for (const v of h[k]!) out.push([k, v]);
  return out;
}

/** A hop-by-hop name or one the Connection header lists. */
function dropForwarded(k: string, listed: Set<string> | null): boolean {
  // Without a Connection list only a name of a hop-by-hop length can be dropped: the others are not lower-cased.
  if (listed === null && !(k.length < 32 && HOP_BY_HOP_LENGTHS[k.length] === 1)) return false;
  const l = k.toLowerCase();
  return HOP_BY_HOP.has(l) || listed?.has(l) === true;
}

/**
 * `sanitizeResponseHeaders(status, headersToMap(h))` in one pass over a fetch `Headers` (the HTTP relay's answer from
 * a backend: no intermediate map, issue 14). Names are Go-canonical; Set-Cookie values stay apart.
 */
export function responseHeaderMap(status: number, h: Headers): HeaderMap | null {
  const conn = h.get('connection');
  const listed = conn === null ? null : addConnectionTokens(null, conn);
  const out: HeaderMap = {};
  let any = false;
  let cookie = false;
  h.forEach((value, key) => {
    // Fetch hands names lower-cased; Set-Cookie values one by one (taken below, only when there are any).
    if (key === 'set-cookie') {
      cookie = true;
      return;
    }
    if (!(status === 101 && (key === 'connection' || key === 'upgrade')) && (HOP_BY_HOP.has(key) || listed?.has(key))) return;
    (out[canonicalHeaderName(key)] ??= []).push(value);
    any = true;
  });
  if (cookie && !listed?.has('set-cookie')) {
    const cookies = h.getSetCookie?.() ?? [];
    if (cookies.length) {
      out['Set-Cookie'] = cookies;
      any = true;
    }
  }
  return any ? out : null;
}

/**
 * `responseHeaderMap` for an answer read by the agent's own HTTP/1.1 client (src/kube/http1.ts): names and values as
 * the server sent them, flat (`[name, value, …]`). Names are Go-canonical, and several values of one name stay apart
 * as Go's `http.Header` keeps them (fetch's `Headers` joined them with ", "); Set-Cookie values likewise. Never a
 * 101 (that client refuses one), so Connection and Upgrade always go.
 */
export function responseHeaderPairs(raw: readonly string[]): HeaderMap | null {
  let listed: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') listed = addConnectionTokens(listed, raw[i + 1]!);
  const out: HeaderMap = {};
  let any = false;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (dropForwarded(k, listed)) continue;
    (out[canonicalHeaderName(k)] ??= []).push(raw[i + 1]!);
    any = true;
  }
  return any ? out : null;
}

/** Response headers for the control plane: hop-by-hop dropped, Connection/Upgrade kept only for 101. */
export function sanitizeResponseHeaders(status: number, h: HeaderMap): HeaderMap | null {
  const listed = connectionListed(h);
  const out: HeaderMap = {};
  let any = false;
  for (const k in h) {
    const vs = h[k]!;
    const l = k.toLowerCase();
    if (status === 101 && (l === 'connection' || l === 'upgrade')) {
      out[k] = vs;
      any = true;
      continue;
    }
    if (HOP_BY_HOP.has(l) || listed?.has(l)) continue;
    out[k] = vs;
    any = true;
  }
  return any ? out : null;
}

/** Fetch `Headers` → map with canonical (Go-style) names, so control planes see `Content-Type`, not `content-type`. */
export function headersToMap(h: Headers): HeaderMap {
  const out: HeaderMap = {};
  h.forEach((value, key) => {
    const name = canonicalHeaderName(key);
    if (key === 'set-cookie') return;
    (out[name] ??= []).push(value);
  });
  const cookies = h.getSetCookie?.() ?? [];
  if (cookies.length) out['Set-Cookie'] = cookies;
  return out;
}

/** node's `req.rawHeaders` ([name, value, name, value, …]) → map with Go-canonical names, values in arrival order. */
export function rawHeadersToMap(raw: readonly string[]): HeaderMap {
  const out: HeaderMap = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = canonicalHeaderName(raw[i]!);
    const list = out[name] ?? [];
    list.push(raw[i + 1]!);
    out[name] = list;
  }
  return out;
}

/**
 * `forwardRequestHeaders(rawHeadersToMap(raw), { drop })` in one pass over node's rawHeaders, without the
 * intermediate map (every kube gateway request): the same names, values, order and drops.
 */
export function forwardRawRequestHeaders(raw: readonly string[], drop: readonly string[]): HeaderMap {
  let listed: Set<string> | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length === 10 && k.toLowerCase() === 'connection') listed = addConnectionTokens(listed, raw[i + 1]!);
  }
  const dropped = dropSet(drop);
  // Without a prototype: a client's `__proto__` header is a name like any other (on `{}` it read Object.prototype).
  const out: HeaderMap = Object.create(null) as HeaderMap;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = canonicalHeaderName(raw[i]!);
    const l = name.toLowerCase();
    if (dropped.has(l) || HOP_BY_HOP.has(l) || listed?.has(l)) continue;
    const list = out[name];
    if (list) list.push(raw[i + 1]!);
    else out[name] = [raw[i + 1]!];
  }
  return out;
}

/** Names seen so far and their canonical form: a request carries the same dozen names every time. Bounded. */
const canonicalNames = new Map<string, string>();
const CANONICAL_CACHE_MAX = 1024;

export function canonicalHeaderName(k: string): string {
  const hit = canonicalNames.get(k);
  if (hit !== undefined) return hit;
  const c = k
    .split('-')
    .map((p) => (p ? p[0]!.toUpperCase() + p.slice(1).toLowerCase() : p))
    .join('-');
  if (canonicalNames.size < CANONICAL_CACHE_MAX) canonicalNames.set(k, c);
  return c;
}

/** Case-insensitive first value of a header in a map. */
export function headerValue(h: HeaderMap, name: string): string | undefined {
  const n = name.toLowerCase();
  // No entries array per call, and a name of another length is never lower-cased: the relay asks several names of
  // every request (issue 14: 6.5 % of the tunnel worker's CPU at 64 concurrent small requests).
  for (const k in h) {
    if (k.length !== n.length || k.toLowerCase() !== n) continue;
    const vs = h[k]!;
    if (vs.length) return vs[0];
  }
  return undefined;
}

/** One value per name, comma-joined (for clients that take a plain record, like Bun's WebSocket). */
export function flattenHeaders(h: HeaderMap): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, vs]) => [k, vs.join(', ')]));
}

/** Header map → name/value pairs in order: a `HeadersInit` for a callee that builds its own `Headers` anyway. */
export function mapToPairs(h: HeaderMap): [string, string][] {
  const out: [string, string][] = [];
  for (const k in h) for (const v of h[k]!) out.push([k, v]);
  return out;
}

export function mapToHeaders(h: HeaderMap): Headers {
  const out = new Headers();
  for (const [k, vs] of Object.entries(h)) for (const v of vs) out.append(k, v);
  return out;
}
