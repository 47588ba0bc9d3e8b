// The PortForwardConnection a handler sees, independent of the wire (SPDY stream pair or WebSocket channel
// pair): buffers early data, makes end/error idempotent, and reports the client's half-close once.
import type { PortForwardConnection } from './types.ts';

export interface PortForwardWire {
  write(data: Buffer): void;
  /** The pod side finished sending. */
  end(): void;
  /** The forward failed; the wire reports `message` to the client and tears the pair down. */
  error(message: string): void;
}

export class WirePortForwardConnection implements PortForwardConnection {
  #dataListeners: ((d: Uint8Array) => void)[] = [];
  #endListeners: (() => void)[] = [];
  #pending: Buffer[] = [];
  #remoteEnded = false;
  #localDone = false;

  constructor(
    readonly namespace: string,
    readonly pod: string,
    readonly port: number,
    private readonly wire: PortForwardWire,
  ) {}

  write(data: Uint8Array): void {
    if (this.#localDone || data.length === 0) return;
    this.wire.write(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  onData(cb: (d: Uint8Array) => void): void {
    this.#dataListeners.push(cb);
    const pending = this.#pending;
    this.#pending = [];
    for (const d of pending) cb(d);
  }

  /** The client stopped sending (half-close) or went away; called at once if that already happened. */
  onEnd(cb: () => void): void {
    if (this.#remoteEnded) queueMicrotask(cb);
    else this.#endListeners.push(cb);
  }

  end(): void {
    if (this.#localDone) return;
    this.#localDone = true;
    this.wire.end();
  }

  error(message: string): void {
    if (this.#localDone) return;
    this.#localDone = true;
    this.wire.error(message);
  }

  // --- wire side ---

  deliverData(d: Buffer): void {
    if (this.#remoteEnded || d.length === 0) return;
    if (this.#dataListeners.length === 0) this.#pending.push(d);
    else for (const cb of this.#dataListeners) cb(d);
  }

  deliverEnd(): void {
    if (this.#remoteEnded) return;
    this.#remoteEnded = true;
    for (const cb of this.#endListeners.splice(0)) cb();
  }
}
