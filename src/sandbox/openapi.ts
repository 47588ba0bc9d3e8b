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

/**
 * kubectl ≤ 1.28 asks /openapi/v2 for `…spec.v2@v1.0+protobuf` (gnostic openapi_v2.Document); the apiserver answers
 * with this spelling because Go's mime parser rejects the `@`.
 */
export const OPENAPI_V2_PROTOBUF_RESPONSE = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

function protoString(field: number, value: string): Uint8Array {
  const bytes = new TextEncoder().encode(value);
  return new Uint8Array([(field << 3) | 2, bytes.length, ...bytes]);
}

/**
 * An OpenAPI v2 document with no paths or definitions. kubectl 1.27/1.28 `apply`/`create` refuse to run without
 * /openapi/v2; an empty one makes them skip client-side schema checks and fall back to the struct-based
 * strategic merge patch, which is what they do for kinds missing from a real document.
 */
export function emptyOpenApiV2(gitVersion: string, protobuf: boolean): Uint8Array | KubeObject {
  if (!protobuf) return { swagger: '2.0', info: { title: 'Kubernetes', version: gitVersion }, paths: {}, definitions: {} };
  const info = new Uint8Array([...protoString(1, 'Kubernetes'), ...protoString(2, gitVersion)]);
  return new Uint8Array([...protoString(1, '2.0'), (2 << 3) | 2, info.length, ...info]);
}
