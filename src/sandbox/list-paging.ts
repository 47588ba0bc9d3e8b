// `limit` and `continue` on lists, as a real apiserver pages: items in key order (namespace/name), a continue token
// naming the last key returned, `remainingItemCount` only when no selector filters the list. Pure.
import { type ApiError, badRequest } from './api-status.ts';
import { type KubeObject, metaOf } from './kube-object.ts';

export interface Page {
  items: KubeObject[];
  continue?: string;
  remainingItemCount?: number;
}

export const keyOf = (o: KubeObject) => `${metaOf(o).namespace ?? ''}/${metaOf(o).name ?? ''}`;

/** The token: base64 JSON like the real one (`{"v":"meta.k8s.io/v1","rv":…,"start":"…"}`); opaque to clients. */
function encodeContinue(rv: string, lastKey: string): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: Number(rv), start: `${lastKey}\u0000` })).toString('base64');
}

function decodeContinue(token: string): string | ApiError {
  const invalid = badRequest(`continue key is not valid: ${token.length > 40 ? `${token.slice(0, 40)}…` : token}`);
  if (!/^[A-Za-z0-9+/_-]+=*$/.test(token)) return invalid;
  try {
    const c = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { v?: unknown; start?: unknown };
    if (c.v !== 'meta.k8s.io/v1' || typeof c.start !== 'string') return invalid;
    return c.start;
  } catch {
    return invalid;
  }
}

/**
 * One page of `items` (already filtered). `rawKeys` are the keys before filtering: like etcd, a full page gets a
 * continue token while any key lies beyond its last item, even when no further item would match the selector.
 */
export function pageList(items: KubeObject[], q: URLSearchParams, rv: string, filtered: boolean, rawKeys: string[] = items.map(keyOf)): Page | ApiError {
  const sorted = [...items].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  const token = q.get('continue');
  let from = sorted;
  if (token) {
    const start = decodeContinue(token);
    if (typeof start !== 'string') return start;
    from = sorted.filter((o) => keyOf(o) >= start);
  }
  const limit = Number(q.get('limit') ?? '');
  if (!Number.isInteger(limit) || limit <= 0) return { items: from };
  const page = from.slice(0, limit);
  const last = page.length === limit ? keyOf(page[page.length - 1] as KubeObject) : undefined;
  if (last === undefined || !rawKeys.some((k) => k > last)) return { items: page };
  return {
    items: page,
    continue: encodeContinue(rv, keyOf(page[page.length - 1] as KubeObject)),
    ...(filtered ? {} : { remainingItemCount: from.length - limit }),
  };
}
