// What `agent --print-config` prints: the effective config as YAML, secrets replaced by <redacted>, durations
// as Go-style strings, and a `# from env PIPEOPS_TOKEN` comment on every value that is not a default.
import { Document, isNode, isScalar } from 'yaml';
import { formatDuration } from './duration.ts';
import { configLeaves } from './leaves.ts';
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

/** A deep copy with every non-empty secret replaced by `<redacted>` (empty ones stay empty: "not set" is useful). */
export function redactConfig(config: AgentConfig): AgentConfig {
  const copy = structuredClone(config);
  for (const leaf of configLeaves()) {
    if (!leaf.meta.secret) continue;
    const v = getPath(copy, leaf.path);
    if (typeof v === 'string' && v !== '') setPath(copy as unknown as Record<string, unknown>, leaf.path, REDACTED);
  }
  return copy;
}

/** YAML of the effective config with each value's source as a comment. Re-loadable except for secrets. */
export function formatEffectiveConfig(config: AgentConfig, sources: Record<string, ConfigSource>): string {
  const plain = redactConfig(config) as unknown as Record<string, unknown>;
  for (const leaf of configLeaves()) {
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
  doc.commentBefore = ' Effective configuration of pipeops-agent (secrets redacted). Values without a comment are defaults.';
  return doc.toString({ lineWidth: 0 });
}
