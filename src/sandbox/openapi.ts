// OpenAPI v3 skeleton: enough for `kubectl create/apply -f` (it checks PATCH ops for the fieldValidation parameter
// and then relies on server-side validation), not for `kubectl explain`.
import { createHash } from 'node:crypto';
import type { KubeObject } from './kube-object.ts';
import type { ResourceKind, ResourceRegistry } from './resource-registry.ts';

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

function gvDoc(kinds: ResourceKind[], gitVersion: string): KubeObject {
  const paths: Record<string, unknown> = {};
  for (const k of kinds) {
    const gvk = { group: k.group, version: k.version, kind: k.kind };
    const base = `/${gvPath(k.group, k.version)}${k.namespaced ? '/namespaces/{namespace}' : ''}/${k.resource}`;
    const params = [
      { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
      { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
    ];
    const op = (action: string) => ({
      operationId: `${action}${k.kind}`,
      'x-kubernetes-action': action,
      'x-kubernetes-group-version-kind': gvk,
      parameters: params,
      responses: { '200': { description: 'OK' } },
    });
    paths[base] = { get: op('list'), post: op('post') };
    paths[`${base}/{name}`] = { get: op('get'), put: op('put'), patch: op('patch'), delete: op('delete') };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: gitVersion },
    paths,
    components: { schemas: {} },
  };
}

export class OpenApiDocs {
  readonly #docs = new Map<string, KubeObject>();
  readonly root: KubeObject;

  constructor(reg: ResourceRegistry, gitVersion: string) {
    const rootPaths: Record<string, unknown> = {};
    for (const g of reg.groups()) {
      for (const v of g.versions) {
        const path = gvPath(g.group, v.version);
        const doc = gvDoc(v.kinds, gitVersion);
        this.#docs.set(path, doc);
        const hash = createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 128).toUpperCase();
        rootPaths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
      }
    }
    this.root = { paths: rootPaths };
  }

  /** `path` is what follows `/openapi/v3/`, e.g. `api/v1` or `apis/apps/v1`. */
  doc(path: string): KubeObject | undefined {
    return this.#docs.get(path);
  }
}
