// The logging interface the code is written against: pino's logger (main thread, hub) and the line logger
// (workers) both implement it.
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** A log call: fields then message, or a message alone (an Error as the fields is logged as `err`). */
export interface LogFn {
  (fields: object, msg?: string): void;
  (msg: string): void;
}

/** What the code logs through: pino's logger in the main thread and the hub, the line logger in the workers. */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
  child(bindings: Record<string, unknown>): Logger;
  /** Whether a line at `level` would be written (to skip building the fields of a line that would not). */
  isLevelEnabled(level: LogLevel): boolean;
}
