// Reads an exec/attach request's query the way the apiserver's PodExecOptions/PodAttachOptions do, and
// decides which container it targets. Pure: returns the options or the 400 message to answer with.
import type { ExecOptions } from './exec-session.ts';

function flag(query: URLSearchParams, name: string): boolean {
  const v = query.get(name);
  return v === 'true' || v === '1';
}

export function containerNames(pod: Record<string, unknown>): string[] {
  const spec = pod.spec as { containers?: { name?: unknown }[] } | undefined;
  return (spec?.containers ?? []).map((c) => c.name).filter((n): n is string => typeof n === 'string');
}

export function parseExecOptions(
  kind: 'exec' | 'attach',
  query: URLSearchParams,
  namespace: string,
  podName: string,
  pod: Record<string, unknown>,
): ExecOptions | { error: string } {
  const names = containerNames(pod);
  const container = query.get('container') ?? names[0] ?? '';
  if (names.length > 0 && !names.includes(container)) {
    return { error: `container ${container} is not valid for pod ${podName}` };
  }
  const opts: ExecOptions = {
    namespace,
    pod: podName,
    container,
    command: kind === 'exec' ? query.getAll('command') : [],
    tty: flag(query, 'tty'),
    stdin: flag(query, 'stdin'),
    stdout: flag(query, 'stdout'),
    stderr: flag(query, 'stderr'),
  };
  if (kind === 'exec' && opts.command.length === 0) return { error: 'you must specify at least one command for the container' };
  if (!opts.stdin && !opts.stdout && !opts.stderr) return { error: 'you must specify at least 1 of stdin, stdout, stderr' };
  return opts;
}
