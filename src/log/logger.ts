// pino JSON logging for every thread: one event per line, stable fields, secrets scrubbed before any byte leaves.
// No pino transports (they break in compiled binaries, bun-notes §4): lines go to a sink we control.
import pino from 'pino';
import { REDACT_KEYS } from './line-logger.ts';
import type { Logger, LogLevel } from './log-api.ts';
import { REDACTED, secrets } from './secrets.ts';

export type { Logger, LogFn, LogLevel } from './log-api.ts';

export { SecretScrubber, secrets } from './secrets.ts';
export { LogRing } from './log-ring.ts';

/** Where finished lines go: stdout in the main thread, a postMessage to the main thread in workers. */
export type LineSink = (line: string) => void;

/** pino redact paths: every secret key at the top level and one level down (`headers.authorization` too). */
const REDACT_PATHS = REDACT_KEYS.flatMap((k) => [k, `*.${k}`]);

/**
 * One key, once. pino appends child bindings and call fields after the base fields without merging, so
 * `log.child({ component: 'x' })` of a logger with a `component` wrote the key twice, and log pipelines drop such
 * lines or keep either value. Re-serialising keeps each key at its first position with its last (most specific) value.
 */
export function uniqueKeys(line: string): string {
  const nl = line.endsWith('\n') ? '\n' : '';
  try {
    return JSON.stringify(JSON.parse(line)) + nl;
  } catch {
    return line;
  }
}

export function createLogger(opts: { level?: LogLevel; name?: string; sink?: LineSink; base?: Record<string, unknown> }): Logger {
  const sink = opts.sink ?? ((line: string) => process.stdout.write(line));
  const stream = { write: (line: string) => sink(secrets.scrub(uniqueKeys(line))) };
  return pino(
    {
      level: opts.level ?? 'info',
      base: { pid: process.pid, ...(opts.name ? { component: opts.name } : {}), ...(opts.base ?? {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

