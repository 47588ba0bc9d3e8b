// Strategic merge patch (`application/strategic-merge-patch+json`) for the built-in kinds: lists with a merge key
// merge item by item (containers by name, ports by port, …); `$patch`, `$setElementOrder`, `$retainKeys` and
// `$deleteFromPrimitiveList` directives are honoured. The key table stands in for the Go struct tags.
import { cloneObject, isPlainObject } from './kube-object.ts';

/** Field name → merge key. `ports` is decided per list: containers use containerPort, services use port. */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  conditions: 'type',
  addresses: 'type',
  hostAliases: 'ip',
  ownerReferences: 'uid',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
  secrets: 'name',
  taints: 'key',
  readinessGates: 'conditionType',
  containerStatuses: 'name',
  initContainerStatuses: 'name',
};

/** Primitive lists whose strategy is "merge" (set union) rather than replace. */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

const ORDER = '$setElementOrder/';
const DELETE_PRIMITIVE = '$deleteFromPrimitiveList/';

function mergeKeyFor(field: string, items: unknown[]): string | undefined {
  if (field === 'ports') {
    const objs = items.filter(isPlainObject);
    return objs.some((p) => 'containerPort' in p) ? 'containerPort' : 'port';
  }
  return MERGE_KEYS[field];
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

export function strategicMergePatch(original: unknown, patch: unknown): unknown {
  return mergeMap(original, patch);
}

function mergeMap(original: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return cloneObject(patch);
  if (patch.$patch === 'replace') return stripDirectives(patch);
  if (patch.$patch === 'delete') return undefined;
  const out: Record<string, unknown> = isPlainObject(original) ? cloneObject(original) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$')) continue;
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = mergeList(out[k], v, k);
    else if (isPlainObject(v)) {
      const merged = mergeMap(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith(DELETE_PRIMITIVE) && Array.isArray(v)) {
      const field = k.slice(DELETE_PRIMITIVE.length);
      if (Array.isArray(out[field])) out[field] = (out[field] as unknown[]).filter((x) => !v.includes(x));
    } else if (k.startsWith(ORDER) && Array.isArray(v)) {
      const field = k.slice(ORDER.length);
      if (Array.isArray(out[field])) out[field] = reorder(out[field] as unknown[], v, field);
    } else if (k === '$retainKeys' && Array.isArray(v)) {
      for (const key of Object.keys(out)) if (!v.includes(key)) delete out[key];
    }
  }
  return out;
}

function keyOf(item: unknown, mergeKey: string): string | undefined {
  return isPlainObject(item) && item[mergeKey] !== undefined ? JSON.stringify(item[mergeKey]) : undefined;
}

function mergeList(original: unknown, patch: unknown[], field: string): unknown[] {
  const orig = Array.isArray(original) ? original : [];
  const primitives = patch.every((x) => !isPlainObject(x));
  if (primitives) {
    if (!MERGED_PRIMITIVE_LISTS.has(field)) return cloneObject(patch);
    return [...orig, ...patch.filter((x) => !orig.includes(x))];
  }
  const mergeKey = mergeKeyFor(field, [...orig, ...patch]);
  if (!mergeKey) return stripDirectives(patch) as unknown[];
  if (patch.some((x) => isPlainObject(x) && x.$patch === 'replace')) {
    return stripDirectives(patch.filter((x) => !(isPlainObject(x) && x.$patch === 'replace'))) as unknown[];
  }
  const out = cloneObject(orig);
  for (const item of patch) {
    const key = keyOf(item, mergeKey);
    const idx = key === undefined ? -1 : out.findIndex((o) => keyOf(o, mergeKey) === key);
    if (isPlainObject(item) && item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = mergeMap(out[idx], item);
    else out.push(stripDirectives(item));
  }
  return out;
}

/** `$setElementOrder`: listed items first in the given order, the rest keep their relative order after them. */
function reorder(items: unknown[], order: unknown[], field: string): unknown[] {
  const primitive = order.every((x) => !isPlainObject(x));
  const keyFn = primitive
    ? (x: unknown) => JSON.stringify(x)
    : (x: unknown) => {
        const mk = mergeKeyFor(field, items);
        return mk ? keyOf(x, mk) : undefined;
      };
  const wanted = order.map(keyFn);
  const ranked = items.map((x, i) => {
    const r = wanted.indexOf(keyFn(x));
    return { x, rank: r < 0 ? wanted.length + i : r };
  });
  return ranked.sort((a, b) => a.rank - b.rank).map((r) => r.x);
}
