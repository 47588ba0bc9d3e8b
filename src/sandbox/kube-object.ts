// The sandbox stores Kubernetes objects as plain JSON; these types name the few fields the server reads.

export type KubeObject = Record<string, unknown>;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** The object's metadata, created in place when missing so callers can write to it. */
export function metaOf(obj: KubeObject): ObjectMeta {
  const m = obj.metadata;
  if (m && typeof m === 'object' && !Array.isArray(m)) return m as ObjectMeta;
  const fresh: ObjectMeta = {};
  obj.metadata = fresh;
  return fresh;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function cloneObject<T>(v: T): T {
  return structuredClone(v);
}

/** Reads a dotted path ("spec.nodeName") from an object; undefined when any step is missing. */
export function readPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

export function asRecord(v: unknown): Record<string, unknown> {
  return isPlainObject(v) ? v : {};
}

export function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function asString(v: unknown, fallback = ''): string {
  return typeof v === 'string' ? v : fallback;
}
