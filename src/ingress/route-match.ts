// Which route serves a request: host + path matching with Ingress semantics. Pure. Shared by the hub's public
// gateway and the sandbox's ingress controller, so it belongs to neither.
//
//   * Exact: the request path equals the route path.
//   * Prefix (and ImplementationSpecific, treated as Prefix): element-wise on '/' segments, a trailing '/' on
//     the route ignored — `/foo` matches `/foo`, `/foo/`, `/foo/bar`, never `/foobar`; `/` matches everything.
//   * Hosts: exact name; `*.example.com` matches exactly one more label (`a.example.com`, not `example.com`
//     nor `a.b.example.com`); a route without a host (configured path routes only) matches every host.
//
// Precedence among the routes that match (documented in the README, "Public gateway"):
//   1. the longest route path wins;
//   2. then Exact over Prefix;
//   3. then the more specific host (exact > wildcard > any);
//   4. then a configured path route over a registry route (the operator's file is authoritative).
/** The Ingress path types (networking.k8s.io/v1 HTTPIngressPath.pathType). */
export const PATH_TYPES = ['Prefix', 'Exact', 'ImplementationSpecific'] as const;
export type PathType = (typeof PATH_TYPES)[number];

export interface MatchCandidate {
  /** Exact host, `*.suffix`, or '' for any host. Lower-case. */
  host: string;
  path: string;
  pathType: PathType;
  source: 'config' | 'registry';
}

/** Host header → the name routes are keyed by: lower-case, port and trailing dot removed. */
export function normaliseRequestHost(header: string | undefined): string {
  if (!header) return '';
  let h = header.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(0, end + 1) : h;
  }
  const colon = h.lastIndexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** Route path as compared: '' is '/', a trailing '/' is dropped for Prefix routes. */
function prefixKey(path: string): string {
  if (path === '' || path === '/') return '/';
  return path.endsWith('/') ? path.replace(/\/+$/, '') || '/' : path;
}

/** Length of the match of a route path against a request path, or -1 when it does not match. */
export function pathMatchLength(routePath: string, pathType: PathType, requestPath: string): number {
  if (pathType === 'Exact') return requestPath === (routePath || '/') ? (routePath || '/').length : -1;
  const p = prefixKey(routePath);
  if (p === '/') return 1;
  if (requestPath === p || requestPath.startsWith(`${p}/`)) return p.length;
  return -1;
}

/** 3 exact, 2 wildcard, 1 any host, 0 no match. */
export function hostMatchRank(routeHost: string, requestHost: string): number {
  if (routeHost === '') return 1;
  if (routeHost === requestHost) return 3;
  if (routeHost.startsWith('*.')) {
    const suffix = routeHost.slice(1); // ".example.com"
    if (requestHost.endsWith(suffix)) {
      const label = requestHost.slice(0, -suffix.length);
      if (label.length > 0 && !label.includes('.')) return 2;
    }
  }
  return 0;
}

/** The wildcard name that would cover `host` (`a.example.com` → `*.example.com`), or null. */
export function wildcardFor(host: string): string | null {
  const dot = host.indexOf('.');
  return dot > 0 ? `*${host.slice(dot)}` : null;
}

/** Order: negative when `a` takes precedence over `b` (see the precedence list above). */
function compare(a: Scored, b: Scored): number {
  return b.len - a.len || Number(b.exact) - Number(a.exact) || b.hostRank - a.hostRank || Number(b.config) - Number(a.config);
}

interface Scored {
  len: number;
  exact: boolean;
  hostRank: number;
  config: boolean;
}

/** The route that serves `host` + `path` among `candidates`, or null. */
export function selectRoute<T extends MatchCandidate>(candidates: Iterable<T>, host: string, path: string): T | null {
  let best: T | null = null;
  let bestScore: Scored | null = null;
  for (const c of candidates) {
    const hostRank = hostMatchRank(c.host, host);
    if (!hostRank) continue;
    const len = pathMatchLength(c.path, c.pathType, path);
    if (len < 0) continue;
    const s: Scored = { len, exact: c.pathType === 'Exact', hostRank, config: c.source === 'config' };
    if (!bestScore || compare(s, bestScore) < 0) {
      best = c;
      bestScore = s;
    }
  }
  return best;
}

/**
 * Routes indexed by host, so a request looks only at its host, its wildcard and the host-less routes.
 * Build a new table when routes change (cheap; the gateway swaps it in).
 */
export class RouteTable<T extends MatchCandidate> {
  readonly #byHost = new Map<string, T[]>();
  readonly #anyHost: T[] = [];
  readonly size: number;

  constructor(routes: Iterable<T>) {
    let n = 0;
    for (const r of routes) {
      n++;
      if (r.host === '') this.#anyHost.push(r);
      else {
        const list = this.#byHost.get(r.host);
        if (list) list.push(r);
        else this.#byHost.set(r.host, [r]);
      }
    }
    this.size = n;
  }

  match(host: string, path: string): T | null {
    const exact = this.#byHost.get(host) ?? [];
    const wc = wildcardFor(host);
    const wild = wc ? (this.#byHost.get(wc) ?? []) : [];
    if (!exact.length && !wild.length && !this.#anyHost.length) return null;
    return selectRoute([...exact, ...wild, ...this.#anyHost], host, path);
  }
}
