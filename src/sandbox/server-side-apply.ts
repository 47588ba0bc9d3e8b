// Server-side apply (`PATCH` with `application/apply-patch+yaml`) as far as clients of the sandbox use it: a
// `fieldManager` is required (422 otherwise, as kube-apiserver answers); the body must name the kind and apiVersion
// of the URL; the applied configuration is merged into the object (maps merge, lists and scalars replace, as for a
// manager that owns the whole list); fields this manager applied before and leaves out now are removed unless
// another applier owns them; each applier's fields are recorded in `metadata.managedFields` (FieldsV1, lists
// atomic). Field ownership of non-apply writers and conflict detection (409 without `force`) are not modelled.
import { type ApiError, apiError, badRequest } from './api-status.ts';
import { jsonMergePatch } from './json-merge-patch.ts';
import { cloneObject, isPlainObject, type KubeObject, metaOf } from './kube-object.ts';
import type { ResourceKind } from './resource-registry.ts';

/** Metadata the server owns or that identifies the object: never part of a manager's field set. */
const SERVER_METADATA = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'managedFields', 'selfLink']);

type Managed = { manager: string; operation: string; apiVersion?: string; time?: string; fieldsType?: string; fieldsV1?: Record<string, unknown> };

/** The 4xx for an apply request that kube-apiserver refuses before looking at the object, or null. */
export function checkApply(k: ResourceKind, q: URLSearchParams, body: unknown): ApiError | null {
  const manager = q.get('fieldManager') ?? '';
  if (manager === '')
    return apiError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch', {
      group: 'meta.k8s.io',
      kind: 'PatchOptions',
      causes: [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }],
    });
  if (!isPlainObject(body)) return badRequest('the apply configuration must be an object');
  const want = k.group ? `${k.group}/${k.version}` : k.version;
  if (typeof body.apiVersion !== 'string' || body.apiVersion === '') return badRequest('apiVersion must be set in the apply configuration');
  if (typeof body.kind !== 'string' || body.kind === '') return badRequest('kind must be set in the apply configuration');
  if (body.kind !== k.kind) return badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${k.kind})`);
  const group = body.apiVersion.includes('/') ? body.apiVersion.split('/')[0] : '';
  if (group !== k.group) return badRequest(`the apiVersion in the data (${body.apiVersion}) does not match the URL's group (${want})`);
  return null;
}

/** Leaf field paths of an applied configuration (maps recurse; lists and scalars are leaves). */
export function appliedPaths(obj: Record<string, unknown>, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const [key, v] of Object.entries(obj)) {
    if (prefix.length === 0 && (key === 'apiVersion' || key === 'kind' || key === 'status')) continue;
    if (prefix.length === 1 && prefix[0] === 'metadata' && SERVER_METADATA.has(key)) continue;
    const path = [...prefix, key];
    if (isPlainObject(v) && Object.keys(v).length > 0) out.push(...appliedPaths(v, path));
    else out.push(path);
  }
  return out;
}

function toFieldsV1(paths: string[][]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const p of paths) {
    let cur = root;
    for (const seg of p) cur = (cur[`f:${seg}`] ??= {}) as Record<string, unknown>;
  }
  return root;
}

function fromFieldsV1(f: Record<string, unknown> | undefined, prefix: string[] = []): string[][] {
  const out: string[][] = [];
  for (const [k, v] of Object.entries(f ?? {})) {
    if (!k.startsWith('f:')) continue;
    const path = [...prefix, k.slice(2)];
    if (isPlainObject(v) && Object.keys(v).length > 0) out.push(...fromFieldsV1(v, path));
    else out.push(path);
  }
  return out;
}

const key = (p: string[]) => JSON.stringify(p);

function deletePath(obj: Record<string, unknown>, path: string[]): void {
  const parents: Record<string, unknown>[] = [obj];
  let cur: unknown = obj;
  for (const seg of path.slice(0, -1)) {
    if (!isPlainObject(cur)) return;
    cur = cur[seg];
    if (!isPlainObject(cur)) return;
    parents.push(cur);
  }
  delete (parents[parents.length - 1] as Record<string, unknown>)[path[path.length - 1]!];
  // Maps emptied by the removal go too (as the apiserver prunes them).
  for (let i = parents.length - 1; i > 0; i--) {
    if (Object.keys(parents[i]!).length > 0) break;
    delete parents[i - 1]![path[i - 1]!];
  }
}

function managedOf(o: KubeObject): Managed[] {
  const mf = (metaOf(o) as { managedFields?: unknown }).managedFields;
  return Array.isArray(mf) ? (mf.filter(isPlainObject) as Managed[]) : [];
}

/**
 * The object after `manager` applied `body`: to `current`, or a new object when there is none. The caller stores it
 * (create or update) and owns resourceVersion preconditions.
 */
export function serverSideApply(current: KubeObject | undefined, body: KubeObject, manager: string, now = new Date()): KubeObject {
  const applied = cloneObject(body) as Record<string, unknown>;
  const paths = appliedPaths(applied);
  const others = current ? managedOf(current).filter((m) => !(m.manager === manager && m.operation === 'Apply')) : [];
  let next: Record<string, unknown>;
  if (!current) next = cloneObject(applied) as Record<string, unknown>;
  else {
    next = jsonMergePatch(current, stripNulls(applied)) as Record<string, unknown>;
    const mine = managedOf(current).find((m) => m.manager === manager && m.operation === 'Apply');
    const now = new Set(paths.map(key));
    const ownedByOthers = new Set(others.flatMap((m) => (m.operation === 'Apply' ? fromFieldsV1(m.fieldsV1).map(key) : [])));
    for (const p of fromFieldsV1(mine?.fieldsV1)) if (!now.has(key(p)) && !ownedByOthers.has(key(p))) deletePath(next, p);
  }
  const entry: Managed = {
    manager,
    operation: 'Apply',
    apiVersion: String(body.apiVersion),
    time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    fieldsType: 'FieldsV1',
    fieldsV1: toFieldsV1(paths),
  };
  const md = metaOf(next as KubeObject) as Record<string, unknown>;
  md.managedFields = [...others, entry];
  return next as KubeObject;
}

/** An apply configuration states values; a null there means "unset", which for this model is: leave it out. */
function stripNulls(v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null) continue;
    out[k] = isPlainObject(x) ? stripNulls(x) : x;
  }
  return out;
}
