// Parses a resource URL (`/api/v1/namespaces/ns/pods/web-0/log`, `/apis/apps/v1/deployments`) into what it names.
import { type ApiError, pathNotFound } from './api-status.ts';
import type { ResourceKind, ResourceRegistry } from './resource-registry.ts';

export interface ResourcePath {
  kind: ResourceKind;
  /** Set for namespaced requests (`/namespaces/{ns}/…`); undefined for all-namespaces lists and cluster scope. */
  namespace?: string;
  name?: string;
  subresource?: string;
  /** Raw (still percent-encoded) path after `…/proxy`, including its leading slash; '' when absent. */
  proxyPath: string;
}

/** undefined: not under /api/v1 or /apis/{g}/{v} with a resource (discovery and others are routed elsewhere). */
export function parseResourcePath(reg: ResourceRegistry, pathname: string): ResourcePath | ApiError | undefined {
  const raw = pathname.split('/').slice(1);
  let group: string;
  let version: string;
  let rest: string[];
  if (raw[0] === 'api' && raw.length >= 3) {
    group = '';
    version = raw[1] as string;
    rest = raw.slice(2);
  } else if (raw[0] === 'apis' && raw.length >= 4) {
    group = raw[1] as string;
    version = raw[2] as string;
    rest = raw.slice(3);
  } else return undefined;
  if (rest[rest.length - 1] === '' && !rest.includes('proxy')) rest = rest.slice(0, -1);
  if (rest.length === 0) return undefined;
  const seg = (i: number) => {
    const s = rest[i];
    return s === undefined ? undefined : decodeURIComponent(s);
  };
  const find = (resource: string) => reg.find(group, version, resource);

  let namespace: string | undefined;
  let i = 0;
  // `/namespaces/{ns}/{resource}…` is a namespaced request unless what follows is a namespace subresource.
  if (seg(0) === 'namespaces' && rest.length >= 3 && seg(2) !== 'status' && seg(2) !== 'finalize') {
    namespace = seg(1);
    i = 2;
  }
  const resource = seg(i);
  if (!resource) return pathNotFound();
  const kind = find(resource);
  if (!kind) return pathNotFound();
  if (namespace !== undefined && !kind.namespaced) return pathNotFound();
  const name = seg(i + 1);
  const subresource = seg(i + 2);
  let proxyPath = '';
  if (subresource === 'proxy') {
    const after = rest.slice(i + 3);
    proxyPath = after.length > 0 ? `/${after.join('/')}` : '';
  } else if (rest.length > i + 3) return pathNotFound();
  if (subresource !== undefined && !(kind.subresources ?? []).includes(subresource as never)) return pathNotFound();
  return { kind, namespace, name, subresource, proxyPath };
}

/** What any `/api/v1/…` or `/apis/{g}/{v}/…` resource URL names, served or not (a real apiserver authorizes first). */
export interface RequestedResource {
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}

export function requestedResource(pathname: string): RequestedResource | undefined {
  const raw = pathname.split('/').slice(1).filter((s, i, a) => s !== '' || i < a.length - 1);
  let group: string;
  let rest: string[];
  if (raw[0] === 'api' && raw.length >= 3) {
    group = '';
    rest = raw.slice(2);
  } else if (raw[0] === 'apis' && raw.length >= 4) {
    group = raw[1] as string;
    rest = raw.slice(3);
  } else return undefined;
  const seg = rest.map((s) => decodeURIComponent(s));
  let namespace: string | undefined;
  if (seg[0] === 'namespaces' && seg.length >= 3) {
    namespace = seg[1];
    seg.splice(0, 2);
  }
  const [resource, name, subresource] = seg;
  if (!resource) return undefined;
  return { group, resource, ...(namespace !== undefined ? { namespace } : {}), ...(name ? { name } : {}), ...(subresource ? { subresource } : {}) };
}
