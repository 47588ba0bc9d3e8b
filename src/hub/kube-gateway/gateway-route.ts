// URL layout of the Kubernetes API gateway and the per-request decisions taken from it. Pure.
//   /clusters/<cluster id or name>/k8s/<Kubernetes path>?<query>
// e.g. /clusters/prod/k8s/api/v1/namespaces?limit=500 → cluster "prod", path /api/v1/namespaces, query limit=500.

export interface GatewayTarget {
  /** Cluster id or name, URL-decoded. */
  cluster: string;
  /** Kubernetes API path, always starting with `/` (`/` for the bare prefix). */
  path: string;
  /** Raw query without `?`, passed through unchanged. */
  query: string;
}

const PREFIX = '/clusters/';
/** What `.` in a regular expression does not match: a path holding one was refused by the former pattern. */
const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;

/**
 * Parse a request target (`req.url`, path + query). Null when it is not under /clusters/<c>/k8s. By hand rather than
 * with `^/clusters/([^/]+)/k8s(/.*)?$` and a decodeURIComponent of every cluster (issue 14: both showed in the hub's
 * profile); the property test in test/hub/gateway-target.test.ts holds it to that pattern.
 */
export function parseGatewayTarget(url: string): GatewayTarget | null {
  const q = url.indexOf('?');
  const end = q >= 0 ? q : url.length;
  if (!url.startsWith(PREFIX)) return null;
  const slash = url.indexOf('/', PREFIX.length);
  if (slash <= PREFIX.length || slash >= end || !url.startsWith('k8s', slash + 1)) return null;
  const after = slash + 4;
  if (after > end || (after < end && url.charCodeAt(after) !== 0x2f)) return null;
  const path = url.slice(after, end);
  if (LINE_TERMINATOR.test(path)) return null;
  let cluster = url.slice(PREFIX.length, slash);
  if (cluster.includes('%'))
    try {
      cluster = decodeURIComponent(cluster);
    } catch {
      return null;
    }
  if (!cluster) return null;
  return { cluster, path: path || '/', query: q >= 0 ? url.slice(q + 1) : '' };
}

/** The request headers the gateway decides on (first value of each, as node's `req.headers` keeps them). */
export interface RequestHeaders {
  authorization?: string;
  contentLength?: string;
  transferEncoding?: string;
}

/**
 * The decision headers from node's `req.rawHeaders` ([name, value, …], the client's casing) in one pass: the request
 * is forwarded from rawHeaders anyway, and `req.headers` built a second object of every header per request.
 */
export function requestHeaders(raw: readonly string[]): RequestHeaders {
  const h: RequestHeaders = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!;
    // A name is lower-cased only when its length can match.
    if (n.length === 13) {
      if (h.authorization === undefined && n.toLowerCase() === 'authorization') h.authorization = raw[i + 1]!;
    } else if (n.length === 14) {
      if (h.contentLength === undefined && n.toLowerCase() === 'content-length') h.contentLength = raw[i + 1]!;
    } else if (n.length === 17) {
      if (h.transferEncoding === undefined && n.toLowerCase() === 'transfer-encoding') h.transferEncoding = raw[i + 1]!;
    }
  }
  return h;
}

const CONTROL_OR_BACKSLASH = new RegExp('[\\u0000-\\u001f\\u007f\\\\]');

/**
 * Why a Kubernetes path is refused (400 before anything reaches the agent), or null. Kubernetes paths never need
 * dot segments, encoded slashes or backslashes; forwarding them would let `/clusters/a/k8s/api/../…` mean one
 * thing here and another behind the agent (both agents refuse `..` too, but only after a round trip).
 */
export function checkKubePath(path: string): string | null {
  // Without a percent sign decoding changes nothing: one pass over the characters, no segment array (every request).
  return path.includes('%') ? checkDecodedPath(path) : checkPlainPath(path);
}

/** checkKubePath segment by segment, each decoded first: the general form (and the fast path's reference in tests). */
export function checkDecodedPath(path: string): string | null {
  for (const raw of path.split('/').slice(1)) {
    let seg: string;
    try {
      seg = decodeURIComponent(raw);
    } catch {
      return 'invalid path: malformed percent-encoding';
    }
    if (seg === '.' || seg === '..') return 'invalid path: dot segments are not allowed';
    if (seg.includes('/')) return 'invalid path: encoded slashes are not allowed';
    if (CONTROL_OR_BACKSLASH.test(seg)) return 'invalid path: control characters and backslashes are not allowed';
  }
  return null;
}

/** checkKubePath of a path without percent-encoding: the same answers, segment by segment, in one pass. */
function checkPlainPath(path: string): string | null {
  // Segments start after each '/'; the text before the first '/' is not a segment (as split('/').slice(1)).
  let start = path.indexOf('/');
  if (start < 0) return null;
  start++;
  let bad: string | null = null;
  for (let i = start; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 0x2f;
    if (c === 0x2f) {
      const n = i - start;
      if ((n === 1 && path.charCodeAt(start) === 0x2e) || (n === 2 && path.charCodeAt(start) === 0x2e && path.charCodeAt(start + 1) === 0x2e))
        return 'invalid path: dot segments are not allowed';
      if (bad) return bad;
      start = i + 1;
    } else if (c < 0x20 || c === 0x7f || c === 0x5c) bad = 'invalid path: control characters and backslashes are not allowed';
  }
  return null;
}

/**
 * Ask the agent for a streamed response (proxy_response_header/_chunk/_end) for watches and log follows, as the
 * PipeOps controller does; everything else is buffered (one message, gzip and binary frames allowed).
 */
export function wantsStreamingResponse(query: string): boolean {
  if (!query || !(mayHaveParam(query, 'watch') || mayHaveParam(query, 'follow'))) return false;
  const p = new URLSearchParams(query);
  const watch = p.get('watch');
  const follow = p.get('follow');
  return watch === 'true' || watch === '1' || follow === 'true' || follow === '1';
}

/**
 * False when no parameter of `query` can be named `name` once decoded: its text holds neither the name nor a `%`
 * escape (`+` decodes to a space, never a letter). Saves a URLSearchParams per request for most queries (`limit=500`).
 */
export function mayHaveParam(query: string, name: string): boolean {
  return query.includes(name) || query.includes('%');
}

/** The server URL a kubeconfig uses for one cluster: gateway base + /clusters/<id>/k8s. */
export function clusterServerUrl(gatewayUrl: string, clusterId: string): string {
  return `${gatewayUrl.replace(/\/$/, '')}/clusters/${encodeURIComponent(clusterId)}/k8s`;
}
