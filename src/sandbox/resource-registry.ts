// The set of kinds the sandbox serves, with the lookups discovery, routing and the store need.
import type { KubeObject } from './kube-object.ts';
import type { TablePrinter } from './table-printers.ts';

export type SubresourceName = 'status' | 'log' | 'exec' | 'attach' | 'portforward' | 'proxy' | 'scale';

export interface ResourceKind {
  group: string;
  version: string;
  /** Plural, lower-case: the URL segment. */
  resource: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  categories?: string[];
  subresources?: SubresourceName[];
  /** Defaults to the full CRUD + watch set; virtual review kinds are create-only. */
  verbs?: string[];
  /** Not stored: the server answers the POST itself (SelfSubjectAccessReview). */
  virtual?: boolean;
  /** Field selector labels beyond metadata.name / metadata.namespace, as `path` or `label=path`. */
  fieldLabels?: string[];
  printer?: TablePrinter;
  /** What API-server defaulting/admission fills in on create (cluster IPs, pod phase, …). */
  defaults?: (obj: KubeObject) => void;
}

export const FULL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** Response kind and verbs of each subresource, as the real discovery documents list them. */
export const SUBRESOURCE_INFO: Record<SubresourceName, { kind?: string; verbs: string[] }> = {
  status: { verbs: ['get', 'patch', 'update'] },
  log: { verbs: ['get'] },
  exec: { kind: 'PodExecOptions', verbs: ['create', 'get'] },
  attach: { kind: 'PodAttachOptions', verbs: ['create', 'get'] },
  portforward: { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
  proxy: { kind: 'ServiceProxyOptions', verbs: ['create', 'delete', 'get', 'patch', 'update'] },
  scale: { kind: 'Scale', verbs: ['get', 'patch', 'update'] },
};

export function apiVersionOf(k: ResourceKind): string {
  return k.group ? `${k.group}/${k.version}` : k.version;
}

export function singularOf(k: ResourceKind): string {
  return k.kind.toLowerCase();
}

export function verbsOf(k: ResourceKind): string[] {
  return k.verbs ?? FULL_VERBS;
}

/** `deployments.apps`, or just `pods` for the core group: the name RBAC and kubectl use. */
export function groupResourceName(k: ResourceKind): string {
  return k.group ? `${k.resource}.${k.group}` : k.resource;
}

export interface GroupVersions {
  group: string;
  /** Preferred first. */
  versions: { version: string; kinds: ResourceKind[] }[];
}

export class ResourceRegistry {
  readonly kinds: readonly ResourceKind[];

  constructor(kinds: ResourceKind[]) {
    this.kinds = kinds;
  }

  find(group: string, version: string, resource: string): ResourceKind | undefined {
    return this.kinds.find((k) => k.group === group && k.version === version && k.resource === resource);
  }

  byGroupResource(group: string, resource: string): ResourceKind | undefined {
    return this.kinds.find((k) => k.group === group && k.resource === resource);
  }

  byApiVersionKind(apiVersion: string, kind: string): ResourceKind | undefined {
    const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
    return (
      this.kinds.find((k) => k.group === group && k.version === version && k.kind === kind) ??
      // Another version of the same group (e.g. networking.istio.io/v1 vs v1beta1): same storage.
      this.kinds.find((k) => k.group === group && k.kind === kind)
    );
  }

  /** Resolves what a person types: `pods`, `po`, `pod`, `Pod`, `deployments.apps`, `deploy`. */
  resolve(name: string): ResourceKind | undefined {
    const dot = name.indexOf('.');
    const head = (dot >= 0 ? name.slice(0, dot) : name).toLowerCase();
    const group = dot >= 0 ? name.slice(dot + 1) : undefined;
    return this.kinds.find(
      (k) =>
        !k.virtual &&
        (group === undefined || k.group === group) &&
        (k.resource === head || singularOf(k) === head || (k.shortNames ?? []).includes(head)),
    );
  }

  groups(): GroupVersions[] {
    const out: GroupVersions[] = [];
    for (const k of this.kinds) {
      let g = out.find((x) => x.group === k.group);
      if (!g) {
        g = { group: k.group, versions: [] };
        out.push(g);
      }
      let v = g.versions.find((x) => x.version === k.version);
      if (!v) {
        v = { version: k.version, kinds: [] };
        g.versions.push(v);
      }
      v.kinds.push(k);
    }
    for (const g of out) g.versions.sort((a, b) => versionPriority(b.version) - versionPriority(a.version));
    return out;
  }
}

/** Kubernetes version ordering: GA > beta > alpha, then by number. */
export function versionPriority(v: string): number {
  const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
  if (!m) return 0;
  const major = Number(m[1]);
  const stage = m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2;
  return stage * 1_000_000 + major * 1000 + Number(m[3] ?? 0);
}
