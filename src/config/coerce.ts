// Turns a raw value (an env/flag string, or a loosely typed YAML value) into the input shape a leaf expects.
// Pure: the loader attaches the source to any error message.
import type { LeafMeta } from './fields.ts';

export type Coerced = { ok: true; value: unknown } | { ok: false; message: string };

const TRUE = new Set(['true', '1', 'yes']);
const FALSE = new Set(['false', '0', 'no']);

/** true/false/1/0/yes/no, case-insensitive; anything else is an error. */
export function parseBool(text: string): boolean | null {
  const t = text.trim().toLowerCase();
  if (TRUE.has(t)) return true;
  if (FALSE.has(t)) return false;
  return null;
}

function parseJson(text: string, what: string): Coerced {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, message: `invalid JSON (expected ${what}): ${(e as Error).message}` };
  }
}

/** `k=v,k2=v2` or a JSON object. */
function parseMap(text: string): Coerced {
  const t = text.trim();
  if (t.startsWith('{')) return parseJson(t, 'an object');
  const out: Record<string, string> = {};
  if (t === '') return { ok: true, value: out };
  for (const part of t.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return { ok: false, message: `expected k=v,k2=v2 or a JSON object, got ${JSON.stringify(part.trim())}` };
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return { ok: true, value: out };
}

/** Coerce a string from env, a flag or --set. */
export function coerceString(text: string, meta: LeafMeta): Coerced {
  switch (meta.kind) {
    case 'string':
    case 'duration':
      return { ok: true, value: text };
    case 'enum':
      return { ok: true, value: matchEnum(text.trim(), meta) };
    case 'bool': {
      const b = parseBool(text);
      return b === null ? { ok: false, message: `expected a boolean (true/false/1/0/yes/no), got ${JSON.stringify(text)}` } : { ok: true, value: b };
    }
    case 'auto-bool': {
      if (text.trim().toLowerCase() === 'auto') return { ok: true, value: 'auto' };
      const b = parseBool(text);
      return b === null ? { ok: false, message: `expected auto or a boolean (true/false/1/0/yes/no), got ${JSON.stringify(text)}` } : { ok: true, value: b };
    }
    case 'int': {
      const t = text.trim();
      // Number('') is 0 and Number('0x10') is 16: accept only plain decimal integers.
      return /^[+-]?\d+$/.test(t) ? { ok: true, value: Number(t) } : { ok: true, value: text };
    }
    case 'string-list': {
      const t = text.trim();
      if (t.startsWith('[')) return parseJson(t, 'an array of strings');
      return { ok: true, value: t === '' ? [] : t.split(',').map((s) => s.trim()).filter((s) => s !== '') };
    }
    case 'string-map':
      return parseMap(text);
    case 'object-list':
      return parseJson(text, 'a JSON array');
    case 'object':
      return parseJson(text, 'a JSON object');
  }
}

function matchEnum(text: string, meta: LeafMeta): string {
  const lower = text.toLowerCase();
  return meta.values?.includes(lower) ? lower : text;
}

/** Coerce a value read from YAML: lenient like viper for scalars written as strings, strict otherwise. */
export function coerceFileValue(value: unknown, meta: LeafMeta): Coerced {
  if (typeof value === 'string' && meta.kind !== 'string' && meta.kind !== 'duration') {
    if (meta.kind === 'string-list' || meta.kind === 'string-map' || meta.kind === 'object-list' || meta.kind === 'object') {
      return { ok: true, value }; // a string where a structure belongs: let the schema name the mismatch
    }
    return coerceString(value, meta);
  }
  if (meta.kind === 'string' && (typeof value === 'number' || typeof value === 'boolean')) return { ok: true, value: String(value) };
  if (meta.kind === 'string-map' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    // YAML `labels: {tier: 1}` — map values are strings upstream.
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = typeof v === 'number' || typeof v === 'boolean' ? String(v) : v;
    return { ok: true, value: out };
  }
  return { ok: true, value };
}
