// The agent → control plane writer's scheduler (issue 14, fairness). Everything the agent sends goes through one
// WebSocket, so a byte queued on it delays every message behind it. Control and small messages (pongs, heartbeats,
// buffered answers, stream headers and ends) are written at once, as before; bulk chunk frames (binary chunks of
// streamed answers) wait here instead, and are handed to the socket one at a time, round-robin between the
// streams that have one waiting, only while the socket's own send buffer is below a low-water mark. So a small
// answer never queues behind more than about one bulk chunk inside the agent, and one large download cannot
// monopolise the socket against another. How much bulk data is in flight beyond the socket (kernel buffers, the
// hub) is bounded per stream by its credit window (credit-window.ts).
import { drained } from '../timing/drain.ts';
import type { SessionConnection } from './session.ts';

export interface SchedulerOptions {
  /** Bulk frames are written only while the socket's bufferedAmount is at or below this many bytes. */
  lowWaterBytes: number;
}

/** One bulk chunk frame per stream at or below this buffered amount: the socket never idles, nothing piles up in it. */
export const DEFAULT_LOW_WATER_BYTES = 256 * 1024;

interface Pending {
  frame: Uint8Array<ArrayBuffer>;
  resolve(): void;
  reject(e: Error): void;
}

export class OutboundScheduler {
  readonly #conn: SessionConnection;
  readonly #lowWater: number;
  /** Streams with a frame waiting, in round-robin order (a stream that just sent moves to the back). */
  readonly #queues = new Map<string, Pending[]>();
  /** A drained() wait is pending (one per scheduler). */
  #waiting = false;
  #pumping = false;

  constructor(conn: SessionConnection, o: SchedulerOptions = { lowWaterBytes: DEFAULT_LOW_WATER_BYTES }) {
    this.#conn = conn;
    this.#lowWater = o.lowWaterBytes;
  }

  /** Frames waiting (all streams). */
  get queued(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.length;
    return n;
  }

  /**
   * Queue a bulk frame of stream `key`; resolves once it is written to the socket. Rejects when the socket closes
   * or `signal` aborts first (the frame is then never written).
   */
  sendBulk(key: string, frame: Uint8Array<ArrayBuffer>, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error('cancelled'));
    return new Promise<void>((resolve, reject) => {
      // An abort while waiting takes the frame out at once (the writer must not wait for room it will not use).
      const onAbort = () => {
        const q = this.#queues.get(key);
        const i = q ? q.indexOf(p) : -1;
        if (i < 0) return;
        q!.splice(i, 1);
        if (!q!.length) this.#queues.delete(key);
        reject(signal!.reason ?? new Error('cancelled'));
      };
      const p: Pending = {
        frame,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const q = this.#queues.get(key);
      if (q) q.push(p);
      else this.#queues.set(key, [p]);
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queues.size) {
        if (!this.#conn.open) return this.#failAll(new Error('tunnel connection lost'));
        if (this.#conn.bufferedAmount > this.#lowWater) {
          // The shared drain primitive (src/timing/drain.ts): paced by the observed drain rate on Bun's client socket.
          if (!this.#waiting) {
            this.#waiting = true;
            void drained(this.#conn, this.#lowWater).then(() => {
              this.#waiting = false;
              this.#pump();
            });
          }
          return;
        }
        const [key, q] = this.#queues.entries().next().value as [string, Pending[]];
        const p = q.shift()!;
        this.#queues.delete(key);
        if (q.length) this.#queues.set(key, q); // to the back of the round
        if (!this.#conn.sendBinary(p.frame)) p.reject(new Error('tunnel connection lost'));
        else p.resolve();
      }
    } finally {
      this.#pumping = false;
    }
  }

  #failAll(e: Error): void {
    for (const q of this.#queues.values()) for (const p of q) p.reject(e);
    this.#queues.clear();
  }
}

/** One scheduler per session connection (the relays receive the same connection object for every message of a socket). */
const schedulers = new WeakMap<SessionConnection, OutboundScheduler>();

export function schedulerFor(conn: SessionConnection): OutboundScheduler {
  let s = schedulers.get(conn);
  if (!s) {
    s = new OutboundScheduler(conn);
    schedulers.set(conn, s);
  }
  return s;
}
