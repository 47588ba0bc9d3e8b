// Bytes a Bun socket did not take yet, for the runtime's client (stream-socket.ts) and accepted (stream-listener.ts)
// sockets: Bun's `write` returns how much the kernel took, and the rest is the caller's to write on `drain`.

/** What a Bun socket offers: `write` returns the bytes it took. */
export interface TakesBytes {
  write(d: Uint8Array): number;
}

export class WriteQueue {
  #items: Uint8Array[] = [];
  /** Bytes waiting. */
  bytes = 0;

  /** Queues `d` without writing (the socket is not ready yet). */
  push(d: Uint8Array): void {
    this.#items.push(d);
    this.bytes += d.length;
  }

  /** Writes `d` unless bytes wait (then it waits behind them); queues what the socket did not take. True when all went. */
  write(s: TakesBytes, d: Uint8Array): boolean {
    if (this.bytes) {
      this.push(d);
      return false;
    }
    const n = s.write(d);
    if (n >= d.length) return true;
    this.push(d.subarray(Math.max(0, n)));
    return false;
  }

  /** Writes what waits, in order; true once nothing does. */
  flush(s: TakesBytes): boolean {
    while (this.#items.length) {
      const head = this.#items[0]!;
      const n = s.write(head);
      if (n >= head.length) {
        this.#items.shift();
        this.bytes -= head.length;
        continue;
      }
      if (n > 0) {
        this.#items[0] = head.subarray(n);
        this.bytes -= n;
      }
      return false;
    }
    return true;
  }

  clear(): void {
    this.#items = [];
    this.bytes = 0;
  }
}
