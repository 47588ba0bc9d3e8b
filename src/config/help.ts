// `agent --help` and `hub --help`: the flag lists, generated from the flag tables so they cannot drift from what
// the parser accepts.
import { type FlagSpec, KEY_FLAGS, OTHER_FLAGS } from './bindings.ts';
import { formatDefault } from './docs.ts';
import { agentLeaves, type LeafIndex } from './leaves.ts';

function usage(f: FlagSpec): string {
  return f.boolean ? `--${f.name}` : `--${f.name} <${f.arg ?? 'value'}>`;
}

function line(f: FlagSpec, width: number, leaves: LeafIndex): string {
  const leaf = f.key ? leaves.byKey(f.key) : undefined;
  const def = leaf && !leaf.required && !leaf.meta.secret && !f.negate ? formatDefault(leaf) : '';
  const suffix = f.key ? ` [${f.key}${def && def !== '""' && def !== '[]' ? `, default ${def}` : ''}]` : '';
  return `  ${usage(f).padEnd(width)}  ${f.help}${suffix}`;
}

/** "General:" (action flags) and "Settings:" (key flags), aligned. */
export function flagSections(other: readonly FlagSpec[], keys: readonly FlagSpec[], leaves: LeafIndex): string[] {
  const width = Math.max(...[...other, ...keys].map((f) => usage(f).length));
  return ['General:', ...other.map((f) => line(f, width, leaves)), '', 'Settings:', ...keys.map((f) => line(f, width, leaves))];
}

export function helpText(program = 'pipeops-agent'): string {
  return [
    `Usage: ${program} agent [flags]`,
    '',
    'Runs the PipeOps Kubernetes agent. Settings come from flags > environment > config file > defaults;',
    'every key and its environment variables are listed in docs/configuration.md.',
    '',
    ...flagSections(OTHER_FLAGS, KEY_FLAGS, agentLeaves()),
    '',
    'Exit codes: 2 = invalid configuration (every problem is listed with its source).',
    '',
  ].join('\n');
}
