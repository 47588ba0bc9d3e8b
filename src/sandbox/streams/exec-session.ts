// The ExecSession a handler sees, independent of the wire: it turns handler calls into transport calls and
// transport events into handler callbacks, and enforces the rules every transport shares (no stderr channel
// with a TTY, nothing after exit, one exit).
import { encodeExitStatus } from './channel-protocol.ts';
import type { ExecSession } from './types.ts';

/** What a wire (WebSocket channels or SPDY streams) must provide to carry one session. */
export interface ExecWire {
  /** Protocol version: 1–5; decides the status format on the error channel. */
  version: number;
  stdout(data: Buffer): void;
  stderr(data: Buffer): void;
  /** Write the status (null: nothing to write), then close everything. */
  finish(status: Buffer | null): void;
}

/** The session's data fields, as the request named them. */
export type ExecOptions = Pick<ExecSession, 'namespace' | 'pod' | 'container' | 'command' | 'tty' | 'stdin' | 'stdout' | 'stderr'>;

function toBuffer(data: Uint8Array | string): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export class WireExecSession implements ExecSession {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly command: string[];
  readonly tty: boolean;
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  #stdinListeners: ((d: Uint8Array) => void)[] = [];
  #stdinEndListeners: (() => void)[] = [];
  #resizeListeners: ((s: { width: number; height: number }) => void)[] = [];
  #closeListeners: (() => void)[] = [];
  #pendingStdin: Buffer[] = [];
  #stdinEnded = false;
  #lastSize: { width: number; height: number } | null = null;
  #done = false;

  constructor(
    opts: ExecOptions,
    private readonly wire: ExecWire,
  ) {
    this.namespace = opts.namespace;
    this.pod = opts.pod;
    this.container = opts.container;
    this.command = opts.command;
    this.tty = opts.tty;
    this.stdin = opts.stdin;
    this.stdout = opts.stdout;
    this.stderr = opts.stderr;
  }

  get done(): boolean {
    return this.#done;
  }

  writeStdout(data: Uint8Array | string): void {
    if (this.#done || !this.stdout) return;
    this.wire.stdout(toBuffer(data));
  }

  writeStderr(data: Uint8Array | string): void {
    if (this.#done) return;
    // With a TTY the terminal merges stderr into stdout; kubectl has no stderr stream then.
    if (this.tty) this.writeStdout(data);
    else if (this.stderr) this.wire.stderr(toBuffer(data));
  }

  onStdin(cb: (data: Uint8Array) => void): void {
    this.#stdinListeners.push(cb);
    const pending = this.#pendingStdin;
    this.#pendingStdin = [];
    for (const d of pending) cb(d);
  }

  onStdinEnd(cb: () => void): void {
    if (this.#stdinEnded) queueMicrotask(cb);
    else this.#stdinEndListeners.push(cb);
  }

  /** A late listener gets the last known size at once: kubectl sends the first resize right after connecting. */
  onResize(cb: (size: { width: number; height: number }) => void): void {
    this.#resizeListeners.push(cb);
    const last = this.#lastSize;
    if (last) queueMicrotask(() => cb(last));
  }

  onClose(cb: () => void): void {
    this.#closeListeners.push(cb);
  }

  exit(code: number, message?: string): void {
    if (this.#done) return;
    this.#done = true;
    this.wire.finish(encodeExitStatus(this.wire.version, { code, message, command: this.command }));
    this.closed();
  }

  // --- transport side ---

  deliverStdin(data: Buffer): void {
    if (this.#done || this.#stdinEnded || data.length === 0) return;
    if (this.#stdinListeners.length === 0) this.#pendingStdin.push(data);
    else for (const cb of this.#stdinListeners) cb(data);
  }

  deliverStdinEnd(): void {
    if (this.#stdinEnded) return;
    this.#stdinEnded = true;
    for (const cb of this.#stdinEndListeners.splice(0)) cb();
  }

  deliverResize(size: { width: number; height: number }): void {
    this.#lastSize = size;
    for (const cb of this.#resizeListeners) cb(size);
  }

  /** The connection is gone (client left, or after exit). Handlers stop timers here. */
  closed(): void {
    this.#done = true;
    for (const cb of this.#closeListeners.splice(0)) cb();
  }
}
