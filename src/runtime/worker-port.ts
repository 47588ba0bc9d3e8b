// The worker side of a thread: its message port, and a logger whose lines travel to the main thread
// (which owns stdout, the log ring and secret scrubbing).
import { createLineLogger, REDACT_KEYS } from '../log/line-logger.ts';
import type { Logger, LogLevel } from '../log/logger.ts';

export interface WorkerPort<In, Out> {
  post(m: Out, transfer?: Transferable[]): void;
  onMessage(handler: (m: In) => void): void;
}

declare const self: {
  postMessage(m: unknown, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent) => void) | null;
};

export function workerPort<In, Out>(): WorkerPort<In, Out> {
  return {
    post: (m, transfer) => self.postMessage(m, transfer ?? []),
    onMessage: (handler) => {
      self.onmessage = (e) => handler(e.data as In);
    },
  };
}

const REDACT = new Set(REDACT_KEYS);

/** The lines pino would write (src/log/line-logger.ts); the main thread scrubs secrets from them before any output. */
export function workerLogger(port: WorkerPort<unknown, { kind: 'log'; line: string }>, name: string, level: string): Logger {
  return createLineLogger({ level: level as LogLevel, base: { pid: process.pid, component: name }, redactKeys: REDACT, write: (line) => port.post({ kind: 'log', line }) });
}
