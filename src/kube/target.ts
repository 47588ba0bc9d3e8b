// Where the agent's own Kubernetes API calls go and with which credentials: in-cluster ServiceAccount or a kubeconfig.
// Parsing only; the transport is src/kube/client.ts (Bun fetch with `tls`), never client-node (bun-notes §5).
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { tokenFileReader } from './token-file.ts';

export { tokenFileReader };

export type KubeTarget = {
  /** Base URL of the API server, without a trailing slash (may carry a path prefix, e.g. Rancher proxies). */
  server: string;
  /** PEM bundle of the CAs that sign the API server certificate; the system store is used when absent. */
  ca?: string;
  /** PEM client certificate and key (mTLS), from a kubeconfig. */
  cert?: string;
  key?: string;
  /** Only ever true when a kubeconfig says `insecure-skip-tls-verify: true`. */
  insecureSkipVerify?: boolean;
  /** The current bearer token (re-read from `tokenFile` when that is set; bound SA tokens rotate). */
  token?: () => string | undefined;
  tokenFile?: string;
  /** Namespace from the ServiceAccount mount (in-cluster) or the kubeconfig context. */
  namespace?: string;
  source: 'in-cluster' | 'kubeconfig' | 'explicit';
};

export type ResolveKubeTargetOptions = {
  /** Explicit kubeconfig path (config `kubernetes.kubeconfig`); wins over in-cluster detection in 'auto'. */
  kubeconfig?: string;
  /** 'auto' (default): in-cluster when the service env and token exist; true: in-cluster required; false: kubeconfig only. */
  inCluster?: 'auto' | boolean;
  /** Usually /var/run/secrets/kubernetes.io/serviceaccount. */
  serviceAccountDir: string;
  env: Record<string, string | undefined>;
  /** kubeconfig context to use instead of current-context. */
  context?: string;
  /** How often the token file is re-read, ms (default 60 s). */
  tokenRefreshMs?: number;
};

/** A configuration problem an operator must fix; the message names the file or setting. */
export class KubeTargetError extends Error {
  readonly code = 'kube_target_invalid';
  override name = 'KubeTargetError';
}

function fileExists(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Server URL from KUBERNETES_SERVICE_HOST/PORT; IPv6 literals get brackets. */
export function inClusterServer(host: string, port: string | undefined): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `https://${h}:${port && port !== '' ? port : '443'}`;
}

function resolveInCluster(opts: ResolveKubeTargetOptions, required: boolean): KubeTarget | null {
  const host = opts.env.KUBERNETES_SERVICE_HOST;
  const tokenPath = join(opts.serviceAccountDir, 'token');
  if (!host || !fileExists(tokenPath)) {
    if (!required) return null;
    throw new KubeTargetError(
      `in-cluster Kubernetes access was requested but ${!host ? 'KUBERNETES_SERVICE_HOST is not set' : `${tokenPath} does not exist`}; ` +
        'run the agent in a Pod with a ServiceAccount token mounted, or set kubernetes.in_cluster=false and a kubeconfig',
    );
  }
  const caPath = join(opts.serviceAccountDir, 'ca.crt');
  const nsPath = join(opts.serviceAccountDir, 'namespace');
  const namespace = fileExists(nsPath) ? readFileSync(nsPath, 'utf8').trim() || undefined : undefined;
  return {
    server: inClusterServer(host, opts.env.KUBERNETES_SERVICE_PORT),
    ...(fileExists(caPath) ? { ca: readFileSync(caPath, 'utf8') } : {}),
    token: tokenFileReader(tokenPath, opts.tokenRefreshMs),
    tokenFile: tokenPath,
    ...(namespace ? { namespace } : {}),
    source: 'in-cluster',
  };
}

type Named<T> = { name?: unknown; cluster?: T; user?: T; context?: T };
type KcCluster = {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean;
};
type KcUser = {
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  token?: string;
  tokenFile?: string;
  exec?: unknown;
  'auth-provider'?: unknown;
};
type KcContext = { cluster?: string; user?: string; namespace?: string };
type ParsedKubeconfig = {
  file: string;
  currentContext?: string;
  clusters: Map<string, { file: string; v: KcCluster }>;
  users: Map<string, { file: string; v: KcUser }>;
  contexts: Map<string, KcContext>;
};

/** kubeconfig paths in the order kubectl merges them: option ▸ KUBECONFIG (`:`-separated) ▸ ~/.kube/config. */
export function kubeconfigPaths(opts: Pick<ResolveKubeTargetOptions, 'kubeconfig' | 'env'>): string[] {
  if (opts.kubeconfig) return [opts.kubeconfig];
  const list = opts.env.KUBECONFIG;
  if (list) return list.split(':').filter((p) => p !== '');
  const home = opts.env.HOME ?? homedir();
  return [join(home, '.kube', 'config')];
}

function readKubeconfigs(paths: string[], explicit: boolean): ParsedKubeconfig | null {
  const merged: ParsedKubeconfig = { file: '', clusters: new Map(), users: new Map(), contexts: new Map() };
  let found = false;
  for (const p of paths) {
    const file = resolve(p);
    if (!fileExists(file)) {
      if (explicit) throw new KubeTargetError(`kubeconfig ${file} does not exist`);
      continue;
    }
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new KubeTargetError(`kubeconfig ${file} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
    }
    if (doc == null) continue;
    if (typeof doc !== 'object') throw new KubeTargetError(`kubeconfig ${file} is not a kubeconfig (not a mapping)`);
    const d = doc as Record<string, unknown>;
    if (!found) merged.file = file;
    found = true;
    // kubectl merge rule: the first file to define a name (or current-context) wins.
    if (merged.currentContext === undefined && typeof d['current-context'] === 'string' && d['current-context'] !== '') {
      merged.currentContext = d['current-context'];
    }
    const each = <T>(key: string, field: 'cluster' | 'user' | 'context', put: (name: string, v: T) => void) => {
      const arr = d[key];
      if (!Array.isArray(arr)) return;
      for (const e of arr as Named<T>[]) {
        if (e && typeof e.name === 'string' && e[field] && typeof e[field] === 'object') put(e.name, e[field] as T);
      }
    };
    each<KcCluster>('clusters', 'cluster', (n, v) => {
      if (!merged.clusters.has(n)) merged.clusters.set(n, { file, v });
    });
    each<KcUser>('users', 'user', (n, v) => {
      if (!merged.users.has(n)) merged.users.set(n, { file, v });
    });
    each<KcContext>('contexts', 'context', (n, v) => {
      if (!merged.contexts.has(n)) merged.contexts.set(n, v);
    });
  }
  return found ? merged : null;
}

function readRef(kcFile: string, p: string, what: string): string {
  const full = isAbsolute(p) ? p : join(dirname(kcFile), p);
  try {
    return readFileSync(full, 'utf8');
  } catch (e) {
    throw new KubeTargetError(`kubeconfig ${kcFile}: cannot read ${what} ${full}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function b64(kcFile: string, data: string, what: string): string {
  const out = Buffer.from(data, 'base64').toString('utf8');
  if (!out.includes('-----BEGIN')) throw new KubeTargetError(`kubeconfig ${kcFile}: ${what} is not base64 of a PEM block`);
  return out;
}

function targetFromKubeconfig(kc: ParsedKubeconfig, contextName: string | undefined, tokenRefreshMs?: number): KubeTarget {
  const ctxName = contextName ?? kc.currentContext;
  if (!ctxName) throw new KubeTargetError(`kubeconfig ${kc.file} has no current-context; set one or configure a context`);
  const ctx = kc.contexts.get(ctxName);
  if (!ctx) throw new KubeTargetError(`kubeconfig ${kc.file}: context "${ctxName}" not found`);
  const cl = ctx.cluster ? kc.clusters.get(ctx.cluster) : undefined;
  if (!cl?.v.server) throw new KubeTargetError(`kubeconfig ${kc.file}: context "${ctxName}" has no cluster with a server URL`);
  const c = cl.v;
  const t: KubeTarget = { server: c.server!.replace(/\/+$/, ''), source: 'kubeconfig' };
  if (c['certificate-authority-data']) t.ca = b64(cl.file, c['certificate-authority-data'], 'certificate-authority-data');
  else if (c['certificate-authority']) t.ca = readRef(cl.file, c['certificate-authority'], 'certificate-authority');
  if (c['insecure-skip-tls-verify'] === true) t.insecureSkipVerify = true;
  if (ctx.namespace) t.namespace = ctx.namespace;
  const u = ctx.user ? kc.users.get(ctx.user) : undefined;
  if (u) {
    const v = u.v;
    if (v['client-certificate-data']) t.cert = b64(u.file, v['client-certificate-data'], 'client-certificate-data');
    else if (v['client-certificate']) t.cert = readRef(u.file, v['client-certificate'], 'client-certificate');
    if (v['client-key-data']) t.key = b64(u.file, v['client-key-data'], 'client-key-data');
    else if (v['client-key']) t.key = readRef(u.file, v['client-key'], 'client-key');
    if ((t.cert === undefined) !== (t.key === undefined)) {
      throw new KubeTargetError(`kubeconfig ${u.file}: user "${ctx.user}" has a client certificate without a key, or a key without a certificate`);
    }
    if (v.token) {
      const tok = v.token;
      t.token = () => tok;
    } else if (v.tokenFile) {
      const p = isAbsolute(v.tokenFile) ? v.tokenFile : join(dirname(u.file), v.tokenFile);
      t.tokenFile = p;
      t.token = tokenFileReader(p, tokenRefreshMs);
    } else if (v.exec || v['auth-provider']) {
      throw new KubeTargetError(
        `kubeconfig ${u.file}: user "${ctx.user}" uses an exec/auth-provider plugin, which the agent does not run; use a token, tokenFile or client certificate`,
      );
    }
  }
  return t;
}

/**
 * Decides where the agent's Kubernetes calls go. Returns null when nothing is configured (no in-cluster mount and
 * no kubeconfig found); throws KubeTargetError for a configuration that exists but is broken.
 */
export function resolveKubeTarget(opts: ResolveKubeTargetOptions): KubeTarget | null {
  const mode = opts.inCluster ?? 'auto';
  if (mode === true) return resolveInCluster(opts, true);
  if (mode === 'auto' && !opts.kubeconfig) {
    const t = resolveInCluster(opts, false);
    if (t) return t;
  }
  const kc = readKubeconfigs(kubeconfigPaths(opts), Boolean(opts.kubeconfig));
  if (!kc) return null;
  return targetFromKubeconfig(kc, opts.context, opts.tokenRefreshMs);
}
