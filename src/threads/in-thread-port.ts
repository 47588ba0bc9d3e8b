// Two ends of a message channel inside one thread, with the WorkerPort shape: what runs on another thread's event loop
// (the heartbeat on the tunnel worker's, workers/tunnel.ts) keeps speaking the messages it would speak to the main
// thread. Delivery is asynchronous and in order, as with postMessage (a microtask later), so a handler never runs
// inside the caller's post(); a message posted before the other end listens waits for it. Messages are passed by
// reference, not cloned: both ends must treat them as read-only.
import type { WorkerPort } from '../runtime/worker-port.ts';

export interface InThreadChannel<AToB, BToA> {
  /** The end that posts AToB and receives BToA. */
  a: WorkerPort<BToA, AToB>;
  /** The end that posts BToA and receives AToB. */
  b: WorkerPort<AToB, BToA>;
}

/** One direction: posts queue up and are handed to the listener, in order, a microtask later. */
class Lane<M> {
  #handler: ((m: M) => void) | null = null;
  #queue: M[] = [];
  #scheduled = false;

  post(m: M): void {
    this.#queue.push(m);
    this.#flushSoon();
  }

  listen(h: (m: M) => void): void {
    this.#handler = h;
    this.#flushSoon();
  }

  #flushSoon(): void {
    if (this.#scheduled || !this.#handler || this.#queue.length === 0) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      const h = this.#handler;
      if (!h) return;
      for (const m of this.#queue.splice(0)) h(m);
    });
  }
}

export function inThreadChannel<AToB, BToA>(): InThreadChannel<AToB, BToA> {
  const toB = new Lane<AToB>();
  const toA = new Lane<BToA>();
  return {
    a: { post: (m) => toB.post(m), onMessage: (h) => toA.listen(h) },
    b: { post: (m) => toA.post(m), onMessage: (h) => toB.listen(h) },
  };
}
