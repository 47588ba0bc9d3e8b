// Calls one exported async function of a module in a child Bun process that can find no program by name, and
// returns its JSON-serialised result: proves the function runs no program (openssl or any other).
// PATH is an empty directory, not the empty string: Bun falls back to a default search path (/usr/bin, /bin)
// when PATH is empty or unset, so `PATH=` would still find /usr/bin/openssl.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An environment in which no executable can be found by name. */
export function noProgramsEnv(): { PATH: string } {
  return { PATH: mkdtempSync(join(tmpdir(), 'pipeops-empty-path-')) };
}

export async function withoutPath<T>(modulePath: string, fn: string, ...args: unknown[]): Promise<T> {
  const code = `const m = await import(${JSON.stringify(modulePath)}); process.stdout.write(JSON.stringify(await m[${JSON.stringify(fn)}](...${JSON.stringify(args)})));`;
  const p = Bun.spawn([process.execPath, '-e', code], { env: noProgramsEnv(), stdout: 'pipe', stderr: 'pipe' });
  const [exit, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  if (exit !== 0) throw new Error(`${fn} with no programs on PATH exited ${exit}: ${err.trim()}`);
  return JSON.parse(out) as T;
}
