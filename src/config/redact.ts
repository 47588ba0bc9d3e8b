// What `agent --print-config` prints: the effective config as YAML, secrets replaced by <redacted>, durations
// as Go-style strings, and a `# from env PIPEOPS_TOKEN` comment on every value that is not a default.
import { Document, isNode, isScalar } from 'yaml';
import { formatDuration } from './duration.ts';
import { configLeaves, type Leaf } from './leaves.ts';
import { type ConfigSource, describeSource } from './load.ts';
import type { AgentConfig } from './schema.ts';

export const REDACTED = '<redacted>';

function getPath(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const p of path) cur = (cur as Record<string, unknown> | undefined)?.[p];
  return cur;
}

function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = obj;
  for (const p of path.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  cur[path[path.length - 1]!] = value;
}

/**
 * A deep copy with every non-empty secret replaced by `<redacted>` (empty ones stay empty: "not set" is useful;
 * a list of secrets keeps its length). `leaves`: the schema's leaves (default: the agent's).
 */
export function redactConfig<C = AgentConfig>(config: C, leaves: readonly Leaf[] = configLeaves()): C {
  const copy = structuredClone(config);
  for (const leaf of leaves) {
    if (!leaf.meta.secret) continue;
    const v = getPath(copy, leaf.path);
    if (typeof v === 'string' && v !== '') setPath(copy as unknown as Record<string, unknown>, leaf.path, REDACTED);
    else if (Array.isArray(v)) setPath(copy as unknown as Record<string, unknown>, leaf.path, v.map(() => REDACTED));
  }
  return copy;
}

/** YAML of the effective config with each value's source as a comment. Re-loadable except for secrets. */
export function formatEffectiveConfig<C = AgentConfig>(
  config: C,
  sources: Record<string, ConfigSource>,
  opts: { leaves?: readonly Leaf[]; program?: string } = {},
): string {
  const leaves = opts.leaves ?? configLeaves();
  const plain = redactConfig(config, leaves) as unknown as Record<string, unknown>;
  for (const leaf of leaves) {
    if (leaf.meta.kind !== 'duration') continue;
    const v = getPath(plain, leaf.path);
    if (typeof v === 'number') setPath(plain, leaf.path, formatDuration(v));
  }
  const doc = new Document(plain);
  for (const [key, source] of Object.entries(sources)) {
    if (source.kind === 'default') continue;
    const node = doc.getIn(key.split('.'), true);
    if (!isNode(node)) continue;
    const note = ` ${describeSource(source)}`;
    if (isScalar(node)) node.comment = note;
    else node.commentBefore = note;
  }
  doc.commentBefore = ` Effective configuration of ${opts.program ?? 'pipeops-agent'} (secrets redacted). Values without a comment are defaults.`;
  return doc.toString({ lineWidth: 0 });
}
