// pino JSON logging for every thread: one event per line, stable fields, secrets scrubbed before any byte leaves.
// No pino transports (they break in compiled binaries, bun-notes §4): lines go to a sink we control.
import pino from 'pino';
import { REDACT_KEYS } from './line-logger.ts';
import type { Logger, LogLevel } from './log-api.ts';

export type { Logger, LogFn, LogLevel } from './log-api.ts';

const REDACTED = '[REDACTED]';

/**
 * Known secret values (tokens, passwords) registered at startup. Every log line is scrubbed of them, so a
 * token can never leak through an error message or a stringified header map, whatever field it hides in.
 */
export class SecretScrubber {
  #secrets: string[] = [];

  add(secret: string | undefined | null): void {
    if (!secret || secret.length < 6 || this.#secrets.includes(secret)) return;
    this.#secrets.push(secret);
    this.#secrets.sort((a, b) => b.length - a.length);
  }

  scrub(text: string): string {
    let out = text;
    for (const s of this.#secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    // Bearer tokens we were never told about (e.g. a user's token relayed through the hub).
    return out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1${REDACTED}`);
  }
}

export const secrets = new SecretScrubber();

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

/** A bounded ring of recent log lines for /api/realtime/logs and the dashboard. */
export class LogRing extends EventTarget {
  readonly #lines: string[] = [];
  constructor(readonly capacity = 500) {
    super();
  }
  push(line: string): void {
    const l = line.endsWith('\n') ? line.slice(0, -1) : line;
    this.#lines.push(l);
    if (this.#lines.length > this.capacity) this.#lines.shift();
    this.dispatchEvent(new CustomEvent('line', { detail: l }));
  }
  recent(n = this.capacity): string[] {
    return this.#lines.slice(-n);
  }
}
