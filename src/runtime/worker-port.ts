// The worker side of a thread: its message port, and a logger whose lines travel to the main thread
// (which owns stdout, the log ring and secret scrubbing).
import type { Logger } from 'pino';
import { createLogger, type LogLevel } from '../log/logger.ts';

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

export function workerLogger(port: WorkerPort<unknown, { kind: 'log'; line: string }>, name: string, level: string): Logger {
  return createLogger({ name, level: level as LogLevel, sink: (line) => port.post({ kind: 'log', line }) });
}
