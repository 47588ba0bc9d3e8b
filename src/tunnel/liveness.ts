// Liveness of one control-plane socket: a read deadline that any inbound traffic pushes out, a periodic ping,
// and waiters (heartbeats) that want proof the peer is alive after a given moment.
import type { Logger } from '../log/logger.ts';
import type { ClientWebSocket } from '../runtime/types.ts';
import { IdleTimer } from '../timing/idle-timer.ts';
import { dropSocket } from './dial.ts';

export interface PeerAlive {
  ok: boolean;
  error?: string;
}

/** Ping the peer. */
export function pingSocket(ws: ClientWebSocket): void {
  ws.ping();
}

export class Liveness {
  readonly #ws: ClientWebSocket;
  readonly #readMs: number;
  readonly #log: Logger;
  readonly #readTimer: IdleTimer;
  readonly #pingTimer: ReturnType<typeof setInterval>;
  /** Heartbeats waiting for the peer to show it is alive (any inbound message or pong after they were sent). */
  readonly #waiters = new Set<(r: PeerAlive) => void>();
  #stopped = false;

  constructor(ws: ClientWebSocket, o: { readMs: number; pingMs: number }, log: Logger) {
    this.#ws = ws;
    this.#readMs = o.readMs;
    this.#log = log;
    this.#readTimer = new IdleTimer(o.readMs, () => {
      this.#log.warn({ read_timeout_ms: this.#readMs }, 'no traffic from control plane within the read deadline; reconnecting');
      // The peer is silent (frozen, partitioned): a close handshake would wait for it too. Drop the socket now;
      // the 'close' event follows at once and the session reports itself not connected.
      dropSocket(this.#ws);
    });
    this.#pingTimer = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) pingSocket(ws);
    }, o.pingMs);
  }

  /** Inbound traffic (a message or a pong): push the read deadline out and release waiting heartbeats. */
  seen(): void {
    if (this.#stopped) return;
    this.#readTimer.touch();
    // Called for every inbound message: no copy of the set unless a heartbeat is waiting.
    if (this.#waiters.size) for (const w of [...this.#waiters]) w({ ok: true });
  }

  /** Resolves ok at the next inbound traffic; not ok after `ms` or when the socket closes first. */
  peerAlive(ms: number): Promise<PeerAlive> {
    return new Promise((resolve) => {
      const waiters = this.#waiters;
      const t = setTimeout(() => done({ ok: false, error: `no traffic from the control plane within ${ms} ms of the heartbeat` }), ms);
      function done(r: PeerAlive) {
        clearTimeout(t);
        waiters.delete(done);
        resolve(r);
      }
      waiters.add(done);
    });
  }

  /** Stop the timers. With `closedError`, the socket is gone: waiting heartbeats fail with it. */
  stop(closedError?: string): void {
    this.#stopped = true;
    this.#readTimer.stop();
    clearInterval(this.#pingTimer);
    if (closedError !== undefined) for (const w of [...this.#waiters]) w({ ok: false, error: closedError });
  }
}
