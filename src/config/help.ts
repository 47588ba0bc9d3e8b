// `agent --help`: the flag list, generated from the flag tables so it cannot drift from what the parser accepts.
import { type FlagSpec, KEY_FLAGS, OTHER_FLAGS } from './bindings.ts';
import { formatDefault } from './docs.ts';
import { leafByKey } from './leaves.ts';

function usage(f: FlagSpec): string {
  return f.boolean ? `--${f.name}` : `--${f.name} <${f.arg ?? 'value'}>`;
}

function line(f: FlagSpec, width: number): string {
  const leaf = f.key ? leafByKey(f.key) : undefined;
  const def = leaf && !leaf.required && !leaf.meta.secret ? formatDefault(leaf) : '';
  const suffix = f.key ? ` [${f.key}${def && def !== '""' && def !== '[]' ? `, default ${def}` : ''}]` : '';
  return `  ${usage(f).padEnd(width)}  ${f.help}${suffix}`;
}

export function helpText(program = 'pipeops-agent'): string {
  const all = [...OTHER_FLAGS, ...KEY_FLAGS];
  const width = Math.max(...all.map((f) => usage(f).length));
  return [
    `Usage: ${program} agent [flags]`,
    '',
    'Runs the PipeOps Kubernetes agent. Settings come from flags > environment > config file > defaults;',
    'every key and its environment variables are listed in docs/configuration.md.',
    '',
    'General:',
    ...OTHER_FLAGS.map((f) => line(f, width)),
    '',
    'Settings:',
    ...KEY_FLAGS.map((f) => line(f, width)),
    '',
    'Exit codes: 2 = invalid configuration (every problem is listed with its source).',
    '',
  ].join('\n');
}
