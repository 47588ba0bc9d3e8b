// The agent's own Kubernetes API client: Bun fetch with `tls` (client-node's transport ignores TLS on Bun,
// bun-notes §5). Errors are KubeError values with messages an operator can act on; the token never appears in them.
import type { ForwardHeaders } from '../protocol/http-headers.ts';
import type { ClientTls, FetchInit } from '../runtime/types.ts';
import { Http1Pool, type Http1Options, Http1Response } from './http1.ts';
import type { KubeTarget } from './target.ts';
import { runtime } from '#runtime';

export type KubeStatus = {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; group?: string; kind?: string; causes?: { message?: string }[] };
};

export type ObjectMeta = {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [k: string]: unknown;
};

export type KubeObject = { apiVersion?: string; kind?: string; metadata?: ObjectMeta; [k: string]: unknown };

export type KubeList<T> = {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
};

/** A failed Kubernetes call. `status` is the HTTP status (0: never reached the server); `reason`/`code` come from the Status object. */
export class KubeError extends Error {
  override name = 'KubeError';
  readonly status: number;
  readonly reason: string;
  readonly code: number;
  constructor(status: number, reason: string, message: string, code = status) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.code = code;
  }
}

export function isKubeError(e: unknown, status?: number): e is KubeError {
  return e instanceof KubeError && (status === undefined || e.status === status);
}

export type RequestInit2 = Omit<RequestInit, 'signal'> & {
  signal?: AbortSignal;
  timeoutMs?: number;
  /** false: never add the agent's own token (the tunnel's HTTP proxy forwards only the caller's credentials, §3.4). */
  injectToken?: boolean;
};
export type ListOptions = { labelSelector?: string; fieldSelector?: string; limit?: number; continue?: string; resourceVersion?: string };
/** `apply`: server-side apply (the path carries `fieldManager`, and `force` when taken over). */
export type PatchType = 'merge' | 'strategic' | 'json' | 'apply';
export type AccessAttributes = {
  verb: string;
  resource: string;
  group?: string;
  version?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
};

const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** What the request was about, parsed from its path, for error messages. */
export function describeRequest(method: string, path: string): { verb: string; resource: string; namespace?: string; name?: string } {
  const [p = '', q = ''] = path.split('?');
  const seg = p.split('/').filter((s) => s !== '');
  // /api/v1/... or /apis/<group>/<version>/...
  let rest = seg[0] === 'api' ? seg.slice(2) : seg[0] === 'apis' ? seg.slice(3) : seg;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const resource = rest[0] ?? (p || '/');
  const name = rest[1];
  const sub = rest[2];
  const watch = /(^|&)watch=(true|1)(&|$)/.test(q);
  const m = method.toUpperCase();
  const verb =
    m === 'GET'
      ? watch
        ? 'watch'
        : name
          ? 'get'
          : 'list'
      : m === 'POST'
        ? 'create'
        : m === 'PUT'
          ? 'update'
          : m === 'PATCH'
            ? 'patch'
            : m === 'DELETE'
              ? name
                ? 'delete'
                : 'deletecollection'
              : m.toLowerCase();
  return { verb, resource: sub ? `${resource}/${sub}` : resource, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
}

export class KubeClient {
  readonly target: KubeTarget;
  readonly #defaultTimeoutMs: number;
  readonly #userAgent: string;

  /** Bun's fetch `tls` option, built once (it was rebuilt for every proxied request). */
  readonly #tls: ClientTls;
  /** `forward`'s own HTTP/1.1 client (made at its first call), or null where fetch carries it (see the constructor). */
  #pool: Http1Pool | null | undefined;
  readonly #poolOptions: Http1Options | null;
  /** The server URL's path (a proxy in front of the API server may serve it under one), without a trailing slash. */
  readonly #prefix: string;

  /**
   * `relayPool`: `forward` (the HTTP relay's calls) goes through the agent's own HTTP/1.1 client with these options
   * instead of fetch (issue 14: less than half fetch's CPU per request). Not when an HTTP(S)_PROXY variable applies to
   * the server (fetch honours those, the client does not) or the server is not http(s).
   */
  constructor(target: KubeTarget, opts: { defaultTimeoutMs?: number; userAgent?: string; relayPool?: Http1Options } = {}) {
    this.target = target;
    let prefix = '';
    let poolable = false;
    try {
      const u = new URL(target.server);
      prefix = u.pathname.replace(/\/+$/, '');
      poolable = (u.protocol === 'http:' || u.protocol === 'https:') && !proxiedByEnv(u);
    } catch {
      // An invalid server URL: fetch reports it at the first call, as before.
    }
    this.#prefix = prefix;
    this.#poolOptions = opts.relayPool && poolable ? opts.relayPool : null;
    this.#tls = {
      ...(target.ca ? { ca: target.ca } : {}),
      ...(target.cert ? { cert: target.cert } : {}),
      ...(target.key ? { key: target.key } : {}),
      rejectUnauthorized: target.insecureSkipVerify !== true,
    };
    this.#defaultTimeoutMs = opts.defaultTimeoutMs ?? 30_000;
    this.#userAgent = opts.userAgent ?? 'pipeops-agent';
  }

  /** Who we are to the API server, for error messages. */
  get #who(): string {
    return this.target.source === 'in-cluster' ? 'agent ServiceAccount' : this.target.source === 'kubeconfig' ? 'kubeconfig user' : 'agent credentials';
  }

  /**
   * Raw call: returns the Response unbuffered (streams, watches, proxying). Non-2xx responses are returned, not thrown;
   * only transport failures throw (KubeError status 0). `timeoutMs` is a total deadline including the body.
   * An `Authorization` header in `init.headers` replaces the agent's token.
   */
  async request(path: string, init: RequestInit2 = {}): Promise<Response> {
    const { timeoutMs, signal, headers: h, injectToken = true, ...rest } = init;
    const headers = new Headers(h);
    if (injectToken && !headers.has('authorization')) {
      const tok = this.target.token?.();
      if (tok) headers.set('authorization', `Bearer ${tok}`);
    }
    if (!headers.has('user-agent')) headers.set('user-agent', this.#userAgent);
    const timeout = timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined;
    const sig = signal && timeout ? AbortSignal.any([signal, timeout]) : (signal ?? timeout);
    const url = this.target.server + (path.startsWith('/') ? path : `/${path}`);
    try {
      const init2: FetchInit = { ...rest, headers, tls: this.#tls };
      if (sig) init2.signal = sig;
      return await runtime.fetch(url, init2);
    } catch (e) {
      throw this.#transportError(e, init.method ?? 'GET', path);
    }
  }

  /**
   * The HTTP relay's call (protocol.md §3.4): the caller's headers as given (never the agent's token), redirects handed
   * back instead of followed, the body relayed as the server encoded it. `request` with those options, without its
   * option spreading, token lookup and second init object per call (issue 14). Not async (no promise of its own around
   * fetch's, issue 14): a transport failure rejects as fetch's does, and the caller turns it into the error
   * `request` would have thrown with `forwardError`.
   */
  forward(path: string, method: string, headers: ForwardHeaders, body: BodyInit | undefined, signal: AbortSignal, whole = false): Promise<Response | Http1Response> {
    // The headers go to fetch as they are (a `Headers` built here was a second one per request: fetch builds its own,
    // issue 14). `headers` is the caller's fresh record or array; the default User-Agent is added when none is given.
    let ua = false;
    if (Array.isArray(headers)) {
      for (const p of headers) if (p[0].length === 10 && p[0].toLowerCase() === 'user-agent') ua = true;
      if (!ua) headers.push(['user-agent', this.#userAgent]);
    } else {
      for (const k in headers) if (k.length === 10 && k.toLowerCase() === 'user-agent') ua = true;
      if (!ua) headers['user-agent'] = this.#userAgent;
    }
    // The relay's own client takes whole bodies (not a stream, which fetch reads as it goes). `whole`: the caller reads
    // the whole answer anyway, so the call may resolve once it is in.
    if (this.#poolOptions && (body === undefined || typeof body === 'string' || body instanceof Uint8Array)) {
      this.#pool ??= new Http1Pool(this.target.server, this.#tls, this.#poolOptions);
      return this.#pool.request(method, this.#prefix + (path.startsWith('/') ? path : `/${path}`), headers, body, signal, whole);
    }
    const init: FetchInit = { headers, signal, tls: this.#tls, redirect: 'manual', decompress: false };
    // GET is fetch's default: naming it cost Bun's fetch ≈ 0.5 µs of the caller's thread per call (issue 14).
    if (method !== 'GET') init.method = method;
    if (body !== undefined) init.body = body;
    return runtime.fetch(this.target.server + (path.startsWith('/') ? path : `/${path}`), init);
  }

  /** What a failed `forward(path, method, …)` means: a transport failure named as `request` names it; an abort as it is. */
  forwardError(e: unknown, method: string, path: string): KubeError | Error {
    return this.#transportError(e, method, path);
  }

  #transportError(e: unknown, method: string, path: string): KubeError | Error {
    const err = e as Error & { code?: string; name?: string };
    if (err?.name === 'AbortError' || err?.name === 'TimeoutError') return err;
    const code = err?.code ?? '';
    const { verb, resource } = describeRequest(method, path);
    const tlsHint =
      /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME|ALTNAME|TLS|SSL/i.test(code) || /certificate/i.test(err?.message ?? '')
        ? '; the API server certificate is not trusted: check the CA (ServiceAccount ca.crt or kubeconfig certificate-authority)'
        : '';
    return new KubeError(
      0,
      'TransportError',
      `cannot ${verb} ${resource}: Kubernetes API at ${this.target.server} unreachable (${code ? `${code}: ` : ''}${this.#scrub(err?.message ?? String(e))})${tlsHint}`,
      0,
    );
  }

  #scrub(s: string): string {
    const tok = this.target.token?.();
    return tok ? s.split(tok).join('[REDACTED]') : s;
  }

  /** Why the API server is not ready (`/readyz` not 200, or unreachable), or null when it is. */
  async #notReady(): Promise<string | null> {
    try {
      const res = await this.request('/readyz', { timeoutMs: 3_000 });
      await res.body?.cancel();
      return res.status === 200 ? null : `/readyz answered ${res.status}`;
    } catch (e) {
      return `/readyz unreachable: ${this.#scrub((e as Error).message)}`;
    }
  }

  /** Builds the KubeError for a non-2xx response (consumes its body). */
  async errorFrom(res: Response, method: string, path: string): Promise<KubeError> {
    let st: KubeStatus = {};
    const text = await res.text().catch(() => '');
    try {
      const j = JSON.parse(text) as KubeStatus;
      if (j && typeof j === 'object') st = j;
    } catch {
      st = { message: text.slice(0, 300) };
    }
    const d = describeRequest(method, path);
    const where = d.namespace ? ` in namespace ${d.namespace}` : ' at cluster scope';
    const obj = d.name ? ` ${d.name}` : '';
    const serverMsg = st.message ? this.#scrub(st.message) : '';
    const reason = st.reason ?? res.statusText ?? '';
    let msg: string;
    switch (res.status) {
      case 401:
        msg = `unauthorized: the Kubernetes API at ${this.target.server} rejected the ${this.#who}'s credentials (token missing, expired or revoked${this.target.tokenFile ? `; token file ${this.target.tokenFile}` : ''})`;
        break;
      case 403: {
        // A (re)starting apiserver answers 403 to everything until its RBAC caches are loaded (/readyz): that is
        // not a missing grant, so only a ready server gets the "grant it" advice.
        const notReady = await this.#notReady();
        msg = notReady
          ? `forbidden: ${this.#who} cannot ${d.verb} ${d.resource}${obj}${where} while the API server is not ready (${notReady}); retrying${serverMsg ? ` (${serverMsg})` : ''}`
          : `forbidden: ${this.#who} cannot ${d.verb} ${d.resource}${obj}${where}; grant it with a Role/ClusterRole binding${serverMsg ? ` (${serverMsg})` : ''}`;
        break;
      }
      case 404:
        msg = `not found: ${d.resource}${obj}${where}${serverMsg ? ` (${serverMsg})` : ''}`;
        break;
      case 409:
        msg = `conflict: cannot ${d.verb} ${d.resource}${obj}${where}${serverMsg ? ` (${serverMsg})` : ''}`;
        break;
      case 410:
        msg = `expired: ${serverMsg || 'resource version too old'}`;
        break;
      default:
        msg = `cannot ${d.verb} ${d.resource}${obj}${where}: HTTP ${res.status}${reason ? ` ${reason}` : ''}${serverMsg ? ` (${serverMsg})` : ''}`;
    }
    return new KubeError(res.status, reason || String(res.status), msg, typeof st.code === 'number' ? st.code : res.status);
  }

  async #json<T>(method: string, path: string, body?: unknown, contentType = 'application/json', accept = 'application/json'): Promise<T> {
    const res = await this.request(path, {
      method,
      headers: { accept, ...(body !== undefined ? { 'content-type': contentType } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      timeoutMs: this.#defaultTimeoutMs,
    });
    if (!res.ok) throw await this.errorFrom(res, method, path);
    return (await res.json()) as T;
  }

  get<T = KubeObject>(path: string): Promise<T> {
    return this.#json<T>('GET', path);
  }

  list<T = KubeObject>(path: string, opts: ListOptions & { accept?: string } = {}): Promise<KubeList<T>> {
    const q = new URLSearchParams();
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    if (opts.limit !== undefined) q.set('limit', String(opts.limit));
    if (opts.continue) q.set('continue', opts.continue);
    if (opts.resourceVersion !== undefined) q.set('resourceVersion', opts.resourceVersion);
    const qs = q.toString();
    return this.#json<KubeList<T>>('GET', qs ? `${path}${path.includes('?') ? '&' : '?'}${qs}` : path, undefined, undefined, opts.accept);
  }

  create<T = KubeObject>(path: string, body: unknown): Promise<T> {
    return this.#json<T>('POST', path, body);
  }

  replace<T = KubeObject>(path: string, body: unknown): Promise<T> {
    return this.#json<T>('PUT', path, body);
  }

  patch<T = KubeObject>(path: string, body: unknown, type: PatchType): Promise<T> {
    return this.#json<T>('PATCH', path, body, PATCH_CONTENT_TYPE[type]);
  }

  delete<T = KubeStatus | KubeObject>(path: string, body?: unknown): Promise<T> {
    return this.#json<T>('DELETE', path, body);
  }

  /** The API server's gitVersion, e.g. "v1.31.2". */
  async version(): Promise<string> {
    const v = await this.#json<{ gitVersion?: string }>('GET', '/version');
    if (!v.gitVersion) throw new KubeError(200, 'BadResponse', `the Kubernetes API at ${this.target.server} answered /version without gitVersion`);
    return v.gitVersion;
  }

  /**
   * Whether the caller may do `attrs`. With `tokenOverride` the review is made with that token (token validation,
   * protocol §9.6): a token the server rejects (401) is simply not valid, so that answers false.
   */
  async selfSubjectAccessReview(attrs: AccessAttributes, tokenOverride?: string): Promise<boolean> {
    const path = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
    const body = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: { resourceAttributes: { ...attrs, group: attrs.group ?? '' } },
    };
    const res = await this.request(path, {
      method: 'POST',
      headers: {
        accept: 'application/json',
        'content-type': 'application/json',
        ...(tokenOverride !== undefined ? { authorization: `Bearer ${tokenOverride}` } : {}),
      },
      body: JSON.stringify(body),
      timeoutMs: 10_000,
    });
    if (tokenOverride !== undefined && res.status === 401) {
      await res.body?.cancel();
      return false;
    }
    if (!res.ok) {
      const e = await this.errorFrom(res, 'POST', path);
      if (tokenOverride !== undefined) e.message = e.message.split(tokenOverride).join('[REDACTED]');
      throw e;
    }
    const out = (await res.json()) as { status?: { allowed?: boolean } };
    return out.status?.allowed === true;
  }
}

/** Whether fetch would go through an HTTP(S)_PROXY for `u` (NO_PROXY as Bun reads it: names, domain suffixes, `*`). */
function proxiedByEnv(u: URL): boolean {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
  const proxy = u.protocol === 'https:' ? (env.HTTPS_PROXY ?? env.https_proxy) : (env.HTTP_PROXY ?? env.http_proxy);
  if (!proxy) return false;
  const host = u.hostname.toLowerCase();
  for (const raw of (env.NO_PROXY ?? env.no_proxy ?? '').split(',')) {
    const n = raw.trim().toLowerCase().replace(/:\d+$/, '');
    if (!n) continue;
    if (n === '*' || host === n.replace(/^\./, '') || host.endsWith(n.startsWith('.') ? n : `.${n}`)) return false;
  }
  return true;
}
