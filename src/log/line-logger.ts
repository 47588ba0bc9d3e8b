// The agent's logger (main thread and workers): the lines pino writes (same fields, order, levels, redaction and
// error shape as createLogger, which the hub keeps), without pino. The agent formats a few lines a minute, and pino
// with its stream and redaction machinery costs every thread's heap about 0.8 MiB (docs/benchmarks.md, Memory).
import type { Logger, LogLevel } from './log-api.ts';
import { REDACTED as CENSOR } from './secrets.ts';

const LEVELS: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/** Field names whose values are never logged, at the top level or one level down (both loggers redact them). */
export const REDACT_KEYS = ['token', 'authorization', 'Authorization', 'k8s_service_token', 'cluster_token', 'password'];

/** pino's standard error serializer (pino-std-serializers `err`): type, message, stack, then own enumerable fields. */
function serializeError(e: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { type: e.constructor?.name ?? 'Error', message: e.message, stack: e.stack };
  for (const [k, v] of Object.entries(e)) if (!(k in out)) out[k] = v instanceof Error ? serializeError(v) : v;
  return out;
}

/** pino's `redact` for paths `key` and `*.key`: the value of a secret key at the top level or one level down. */
function redact(fields: Record<string, unknown>, keys: ReadonlySet<string>): Record<string, unknown> {
  for (const [k, v] of Object.entries(fields)) {
    if (keys.has(k)) fields[k] = CENSOR;
    else if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).some((n) => keys.has(n))) {
      fields[k] = Object.fromEntries(Object.entries(v).map(([n, x]) => [n, keys.has(n) ? CENSOR : x]));
    }
  }
  return fields;
}

export interface LineLoggerOptions {
  level: LogLevel;
  /** Base fields after level and time (pino's `base`: pid, component). */
  base: Record<string, unknown>;
  /** Keys whose values are replaced by [REDACTED] at the top level and one level down. */
  redactKeys: ReadonlySet<string>;
  write(line: string): void;
}

export function createLineLogger(o: LineLoggerOptions, bindings: Record<string, unknown> = {}): Logger {
  const min = LEVELS[o.level] ?? LEVELS.info;
  const log = (level: LogLevel) => {
    if (LEVELS[level] < min) return () => {};
    return (objOrMsg?: unknown, msg?: string) => {
      let fields: Record<string, unknown> = {};
      let message = msg;
      if (typeof objOrMsg === 'string') message = objOrMsg;
      else if (objOrMsg instanceof Error) {
        fields = { err: serializeError(objOrMsg) };
        message ??= objOrMsg.message;
      } else if (objOrMsg && typeof objOrMsg === 'object') {
        fields = { ...(objOrMsg as Record<string, unknown>) };
        if (fields.err instanceof Error) fields.err = serializeError(fields.err);
      }
      const line = redact({ level, time: new Date().toISOString(), ...o.base, ...bindings, ...fields, ...(message === undefined ? {} : { msg: message }) }, o.redactKeys);
      o.write(`${JSON.stringify(line)}\n`);
    };
  };
  return {
    trace: log('trace'),
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    fatal: log('fatal'),
    child: (more: Record<string, unknown>) => createLineLogger(o, { ...bindings, ...more }),
    isLevelEnabled: (level: LogLevel) => (LEVELS[level] ?? Number.POSITIVE_INFINITY) >= min,
  };
}
