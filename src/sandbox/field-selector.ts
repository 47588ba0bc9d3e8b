// Field selectors (`metadata.name=x,status.phase!=Running`) with the apiserver's escaping and per-kind field labels.
import { type ApiError, badRequest } from './api-status.ts';
import { type KubeObject, readPath } from './kube-object.ts';

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Splits on `sep` where it is not escaped with a backslash. */
function splitUnescaped(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length) {
      cur += c + (s[i + 1] as string);
      i++;
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function unescapeSelector(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

/** A parsed field selector with the field paths its labels resolve to (`resolveFieldLabels`). */
export interface FieldFilter {
  reqs: FieldRequirement[];
  paths: Map<string, string>;
}

export function parseFieldSelector(input: string): FieldRequirement[] | ApiError {
  if (input.trim() === '') return [];
  const reqs: FieldRequirement[] = [];
  for (const term of splitUnescaped(input, ',')) {
    const m = /^((?:[^\\=!]|\\.)*)(!=|==|=)(.*)$/.exec(term);
    if (!m) return badRequest(`invalid selector: '${input}'; can't understand '${term}'`);
    reqs.push({ field: unescapeSelector(m[1] as string).trim(), op: m[2] === '!=' ? '!=' : '=', value: unescapeSelector(m[3] as string) });
  }
  return reqs;
}

/**
 * Maps each requested field label to the object path it reads; unsupported labels are a 400 like the real server's
 * `field label not supported`. `extra` entries are `path` or `label=path`.
 */
export function resolveFieldLabels(
  reqs: FieldRequirement[],
  kind: string,
  extra: string[],
): Map<string, string> | ApiError {
  const table = new Map<string, string>([
    ['metadata.name', 'metadata.name'],
    ['metadata.namespace', 'metadata.namespace'],
  ]);
  for (const e of extra) {
    const [label, path] = e.includes('=') ? (e.split('=') as [string, string]) : [e, e];
    table.set(label, path);
  }
  for (const r of reqs) {
    if (!table.has(r.field)) return badRequest(`"${r.field}" is not a known field selector: only "${[...table.keys()].join('", "')}" (${kind})`);
  }
  return table;
}

export function matchesFields(reqs: FieldRequirement[], paths: Map<string, string>, obj: KubeObject): boolean {
  return reqs.every((r) => {
    const raw = readPath(obj, paths.get(r.field) ?? r.field);
    const actual = raw === undefined || raw === null ? '' : String(raw);
    return r.op === '=' ? actual === r.value : actual !== r.value;
  });
}
