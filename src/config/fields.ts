// Constructors for the leaves of the config schema. Each one registers what the loaders and the docs need to
// know about a leaf (its kind, the unit of a bare duration, whether it is secret) in `leafRegistry`.
import { z } from 'zod';
import { type DurationUnit, formatDuration, tryParseDuration } from './duration.ts';

export type LeafKind =
  | 'string'
  | 'bool'
  | 'int'
  | 'duration'
  | 'enum'
  | 'string-list'
  | 'string-map'
  | 'object-list'
  | 'object'
  | 'auto-bool';

export interface LeafMeta {
  kind: LeafKind;
  /** Never shown: replaced by `<redacted>` in output and `<redacted, N chars>` in errors. */
  secret?: boolean;
  /** Unit a bare number is read in (durations only). */
  unit?: DurationUnit;
  /** Accepted values (enums). */
  values?: readonly string[];
  /** Human-readable type for the docs, e.g. "port (0–65535)". */
  type?: string;
  /** Default shown in the docs when it cannot be derived (e.g. required keys). */
  docDefault?: string;
}

/** Every leaf of `AgentConfigSchema` is registered here; anything else in the tree is a group (`z.object`). */
export const leafRegistry = z.registry<LeafMeta>();

export function leaf<T extends z.ZodType>(schema: T, description: string, meta: LeafMeta): T {
  return (schema.describe(description) as z.ZodType).register(leafRegistry, meta) as unknown as T;
}

export function str(def: string, description: string) {
  return leaf(z.string().default(def), description, { kind: 'string' });
}

/** A required, non-empty string. `secret` ones are never echoed back. */
export function requiredStr(description: string, opts: { secret?: boolean } = {}) {
  const s = z.string({ error: 'required, but not set' }).min(1, { error: 'required, must not be empty' });
  return leaf(s, description, { kind: 'string', secret: opts.secret, docDefault: '(required)' });
}

export function secretStr(description: string) {
  return leaf(z.string().default(''), description, { kind: 'string', secret: true });
}

export function bool(def: boolean, description: string) {
  return leaf(z.boolean({ error: 'expected true or false' }).default(def), description, { kind: 'bool' });
}

export function int(def: number, description: string, range: { min: number; max?: number; what?: string }) {
  const what = range.what ?? (range.max === undefined ? `an integer ≥ ${range.min}` : `an integer ${range.min}–${range.max}`);
  let s = z.number({ error: `expected ${what}` }).int({ error: `expected ${what}` }).min(range.min, { error: `expected ${what}` });
  if (range.max !== undefined) s = s.max(range.max, { error: `expected ${what}` });
  return leaf(s.default(def), description, { kind: 'int', type: range.what ? range.what.replace(/^an? /, '') : undefined });
}

export function port(def: number, description: string) {
  return int(def, description, { min: 0, max: 65535, what: 'a port 0–65535' });
}

export function bytes(def: number, description: string) {
  return int(def, description, { min: 1, what: 'a byte count ≥ 1' });
}

/**
 * A duration: Go-style string or a number in `unit`; the output is whole milliseconds.
 * `zeroMeansDefault` mirrors upstream keys where 0 meant "use the default".
 */
/** The longest delay a runtime timer honours (2^31-1 ms, about 24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

export function duration(
  def: string,
  description: string,
  opts: { unit?: DurationUnit; min?: number; zeroMeansDefault?: boolean } = {},
) {
  const unit = opts.unit ?? 'ms';
  const min = opts.min ?? 0;
  const defMs = tryParseDuration(def);
  if (!defMs.ok) throw new Error(`bad default duration ${def}`);
  const s = z
    .union([z.string(), z.number()], { error: 'expected a duration such as "30s"' })
    .transform((v, ctx) => {
      const r = tryParseDuration(v, unit);
      if (!r.ok) {
        ctx.addIssue({ code: 'custom', message: r.message });
        return z.NEVER;
      }
      const ms = r.ms === 0 && opts.zeroMeansDefault ? defMs.ms : r.ms;
      if (ms < min) {
        ctx.addIssue({ code: 'custom', message: min === 0 ? 'must not be negative' : `must be at least ${formatDuration(min)}` });
        return z.NEVER;
      }
      // Every duration ends up in a timer, and setTimeout turns a delay above 2^31-1 ms into 1 ms.
      if (ms > MAX_DURATION_MS) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${formatDuration(MAX_DURATION_MS)} (timers cannot wait longer)` });
        return z.NEVER;
      }
      return ms;
    })
    .prefault(def);
  const unitName = { ms: 'milliseconds', s: 'seconds', m: 'minutes', h: 'hours' }[unit];
  const type = `duration${unit === 'ms' ? '' : ` (bare number = ${unitName})`}${min > 0 ? `, ≥ ${formatDuration(min)}` : ''}`;
  return leaf(s, description, { kind: 'duration', unit, type });
}

export function oneOf<const V extends readonly [string, ...string[]]>(values: V, def: V[number], description: string) {
  return leaf(z.enum(values, { error: `expected one of ${values.join(', ')}` }).default(def as never), description, {
    kind: 'enum',
    values,
    type: values.join(' \\| '),
  });
}

export function stringList(description: string) {
  return leaf(z.array(z.string()).default([]), description, { kind: 'string-list', type: 'list of strings' });
}

export function stringMap(description: string, keySchema: z.ZodString = z.string()) {
  return leaf(z.record(keySchema, z.string()).default({}), description, { kind: 'string-map', type: 'map string → string' });
}

export function objectList<T extends z.ZodType>(item: T, description: string) {
  return leaf(z.array(item).default([]), description, { kind: 'object-list', type: 'list of objects (JSON in env/flags)' });
}

/** Free-form block accepted for compatibility with upstream config files. */
export function looseBlock(description: string) {
  return leaf(z.record(z.string(), z.unknown()).default({}), description, { kind: 'object', type: 'object' });
}

/** `auto` | true | false. */
export function autoBool(description: string) {
  return leaf(z.union([z.literal('auto'), z.boolean()], { error: 'expected auto, true or false' }).default('auto'), description, {
    kind: 'auto-bool',
    type: 'auto \\| true \\| false',
  });
}
