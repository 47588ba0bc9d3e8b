// RFC 7386 JSON merge patch (`application/merge-patch+json`): objects merge, null deletes, everything else replaces.
import { cloneObject, isPlainObject } from './kube-object.ts';

export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return cloneObject(patch);
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = jsonMergePatch(out[k], v);
  }
  return out;
}
