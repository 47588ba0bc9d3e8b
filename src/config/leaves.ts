// A config schema flattened into its leaves ("agent.port", "timeouts.websocket_ping", ...), each with its
// schema, metadata, description and default. Loaders, docs and --print-config iterate over this list.
import type { z } from 'zod';
import { type LeafMeta, leafRegistry } from './fields.ts';
import { agentConfigSchema } from './schema.ts';

export interface Leaf {
  /** Dotted key, e.g. "pipeops.tls.cert_file". */
  key: string;
  path: readonly string[];
  schema: z.ZodType;
  meta: LeafMeta;
  description: string;
  /** Output-side default (durations in ms); undefined for required keys. */
  defaultValue: unknown;
  required: boolean;
}

interface ZodDefLike {
  type: string;
  innerType?: z.ZodType;
  shape?: Record<string, z.ZodType>;
}

function def(schema: z.ZodType): ZodDefLike {
  return (schema as unknown as { _zod: { def: ZodDefLike } })._zod.def;
}

/** Unwrap default/prefault/optional wrappers down to a group object's shape, if it is one. */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | null {
  let s = schema;
  for (;;) {
    const d = def(s);
    if (d.type === 'object') return d.shape ?? null;
    if ((d.type === 'default' || d.type === 'prefault' || d.type === 'optional') && d.innerType) s = d.innerType;
    else return null;
  }
}

function walk(schema: z.ZodType, path: string[], out: Leaf[]): void {
  const meta = leafRegistry.get(schema);
  if (meta) {
    const probe = schema.safeParse(undefined);
    out.push({
      key: path.join('.'),
      path,
      schema,
      meta,
      description: schema.description ?? '',
      defaultValue: probe.success ? probe.data : undefined,
      required: !probe.success,
    });
    return;
  }
  const shape = objectShape(schema);
  if (!shape) throw new Error(`config schema: ${path.join('.')} is neither a registered leaf nor a group`);
  for (const [name, child] of Object.entries(shape)) walk(child, [...path, name], out);
}

/** The leaves of one config schema (the agent's, the hub's), indexed for the loaders. */
export class LeafIndex {
  /** Every leaf, in schema order. */
  readonly list: readonly Leaf[];
  /** Dotted paths of the groups ("agent", "agent.compatibility", ...). */
  readonly groups: ReadonlySet<string>;
  readonly #byKey: Map<string, Leaf>;

  /** The schema indexed (its leaves' schemas are parts of it). */
  readonly schema: z.ZodType;

  constructor(schema: z.ZodType) {
    this.schema = schema;
    const list: Leaf[] = [];
    walk(schema, [], list);
    const groups = new Set<string>();
    for (const l of list) for (let i = 1; i < l.path.length; i++) groups.add(l.path.slice(0, i).join('.'));
    this.list = list;
    this.groups = groups;
    this.#byKey = new Map(list.map((l) => [l.key, l]));
  }

  byKey(key: string): Leaf | undefined {
    return this.#byKey.get(key);
  }

  /** The leaf a (possibly deeper) path belongs to: ["gateway","gateway_api","listeners",0,"port"] → that list's leaf. */
  forPath(path: readonly PropertyKey[]): Leaf | undefined {
    for (let n = path.length; n > 0; n--) {
      const l = this.byKey(path.slice(0, n).map(String).join('.'));
      if (l) return l;
    }
    return undefined;
  }
}

let agentIndex: WeakRef<LeafIndex> | undefined;

/**
 * The agent's leaves: the index built last while something still holds it (the loader, while it loads), else a new
 * one. Held weakly, as the schema is (schema.ts), so that neither stays on the heap after the configuration is loaded.
 */
export function agentLeaves(): LeafIndex {
  let index = agentIndex?.deref();
  if (!index) {
    index = new LeafIndex(agentConfigSchema());
    agentIndex = new WeakRef(index);
  }
  return index;
}

/** Every leaf of the agent's schema, in schema order. */
export function configLeaves(): readonly Leaf[] {
  return agentLeaves().list;
}

export function leafByKey(key: string): Leaf | undefined {
  return agentLeaves().byKey(key);
}

/** Dotted paths of the agent's groups ("agent", "agent.compatibility", ...). */
export function configGroups(): ReadonlySet<string> {
  return agentLeaves().groups;
}

export function leafForPath(path: readonly PropertyKey[]): Leaf | undefined {
  return agentLeaves().forPath(path);
}
