// RFC 6902 JSON patch (`application/json-patch+json`); a failed op is a value, not an exception.
import { cloneObject, isPlainObject } from './kube-object.ts';

export interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

export type JsonPatchResult = { ok: true; value: unknown } | { ok: false; message: string };

function parsePointer(p: string): string[] | undefined {
  if (p === '') return [];
  if (!p.startsWith('/')) return undefined;
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

/** The parent container of the pointer's last token, or an error text. */
function walk(doc: unknown, tokens: string[]): { parent: Container; key: string } | string {
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(t)];
    else if (isPlainObject(cur)) cur = cur[t];
    else return `path segment "${t}" not found`;
  }
  if (!Array.isArray(cur) && !isPlainObject(cur)) return 'parent of the target is not an object or array';
  return { parent: cur, key: tokens[tokens.length - 1] as string };
}

function get(doc: unknown, tokens: string[]): { found: boolean; value?: unknown } {
  let cur: unknown = doc;
  for (const t of tokens) {
    if (Array.isArray(cur) && /^\d+$/.test(t) && Number(t) < cur.length) cur = cur[Number(t)];
    else if (isPlainObject(cur) && Object.hasOwn(cur, t)) cur = cur[t];
    else return { found: false };
  }
  return { found: true, value: cur };
}

function add(doc: unknown, tokens: string[], value: unknown): unknown | string {
  if (tokens.length === 0) return value;
  const w = walk(doc, tokens);
  if (typeof w === 'string') return w;
  if (Array.isArray(w.parent)) {
    const idx = w.key === '-' ? w.parent.length : Number(w.key);
    if (!Number.isInteger(idx) || idx < 0 || idx > w.parent.length) return `index ${w.key} out of bounds`;
    w.parent.splice(idx, 0, value);
  } else w.parent[w.key] = value;
  return doc;
}

function remove(doc: unknown, tokens: string[]): unknown | string {
  const w = walk(doc, tokens);
  if (typeof w === 'string') return w;
  if (Array.isArray(w.parent)) {
    const idx = Number(w.key);
    if (!Number.isInteger(idx) || idx < 0 || idx >= w.parent.length) return `index ${w.key} out of bounds`;
    w.parent.splice(idx, 1);
  } else {
    if (!Object.hasOwn(w.parent, w.key)) return `unable to remove nonexistent key: ${w.key}`;
    delete w.parent[w.key];
  }
  return doc;
}

export function applyJsonPatch(target: unknown, ops: unknown): JsonPatchResult {
  if (!Array.isArray(ops)) return { ok: false, message: 'a JSON patch must be an array of operations' };
  let doc = cloneObject(target);
  for (const raw of ops) {
    if (!isPlainObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') {
      return { ok: false, message: 'each JSON patch operation needs "op" and "path"' };
    }
    const op = raw as unknown as JsonPatchOp;
    const tokens = parsePointer(op.path);
    if (!tokens) return { ok: false, message: `invalid JSON pointer "${op.path}"` };
    let next: unknown | string;
    switch (op.op) {
      case 'add':
        next = add(doc, tokens, cloneObject(op.value));
        break;
      case 'remove':
        next = remove(doc, tokens);
        break;
      case 'replace': {
        if (!get(doc, tokens).found) {
          // Like the apiserver's JSON patch library, replacing a missing member of an object adds it; a missing
          // array index or parent is still an error.
          const at = walk(doc, tokens);
          if (typeof at !== 'string' && isPlainObject(at.parent)) {
            next = add(doc, tokens, cloneObject(op.value));
            break;
          }
          return { ok: false, message: `replace operation does not apply: doc is missing key: ${op.path}` };
        }
        const r = tokens.length === 0 ? doc : remove(doc, tokens);
        next = typeof r === 'string' ? r : add(r, tokens, cloneObject(op.value));
        break;
      }
      case 'move':
      case 'copy': {
        const from = parsePointer(op.from ?? '');
        const src = from ? get(doc, from) : { found: false };
        if (!from || !src.found) return { ok: false, message: `${op.op} operation does not apply: doc is missing from path: ${op.from}` };
        const r = op.op === 'move' ? remove(doc, from) : doc;
        next = typeof r === 'string' ? r : add(r, tokens, cloneObject(src.value));
        break;
      }
      case 'test': {
        const cur = get(doc, tokens);
        if (!cur.found || JSON.stringify(cur.value) !== JSON.stringify(op.value)) {
          return { ok: false, message: `testing value ${op.path} failed` };
        }
        next = doc;
        break;
      }
      default:
        return { ok: false, message: `unexpected kind: ${op.op}` };
    }
    if (typeof next === 'string' && op.op !== 'test') return { ok: false, message: `${op.op} ${op.path}: ${next}` };
    doc = next;
  }
  return { ok: true, value: doc };
}
