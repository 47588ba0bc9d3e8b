// Contract between the sandbox API server (routing, auth, pod lookup) and the pod-stream engine
// (exec/attach/port-forward over WebSocket and SPDY). The server calls handlePodStreamUpgrade(r).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** One exec/attach session as a container process would see it. */
export interface ExecSession {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  writeStdout(data: Uint8Array | string): void;
  writeStderr(data: Uint8Array | string): void;
  onStdin(cb: (data: Uint8Array) => void): void;
  onStdinEnd(cb: () => void): void;
  onResize(cb: (size: { width: number; height: number }) => void): void;
  exit(code: number, message?: string): void;
  onClose(cb: () => void): void;
}
export type ExecHandler = (s: ExecSession) => void | Promise<void>;

/** One forwarded connection to a pod port. */
export interface PortForwardConnection {
  namespace: string;
  pod: string;
  port: number;
  write(data: Uint8Array): void;
  onData(cb: (d: Uint8Array) => void): void;
  onEnd(cb: () => void): void;
  end(): void;
  error(message: string): void;
}
export type PortForwardHandler = (c: PortForwardConnection) => void | Promise<void>;

/** What the "kubelet" does; tests replace these. */
export interface StreamHooks {
  exec?: ExecHandler;
  attach?: ExecHandler;
  portForward?: PortForwardHandler;
  rejectWebSockets: boolean;
}

/** Handed over after auth and pod lookup succeeded; the handler owns the socket from here on. */
export interface PodStreamUpgrade {
  kind: 'exec' | 'attach' | 'portforward';
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  namespace: string;
  podName: string;
  pod: Record<string, unknown>;
  query: URLSearchParams;
  hooks: StreamHooks;
  /** Call once when the upgraded connection is finished, so the server stops tracking it. */
  onClosed(): void;
}
