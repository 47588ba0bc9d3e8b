// A minimal SSE reader over fetch for the route tests: yields parsed events as they arrive on the wire.
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

export class SseClient {
  readonly #ctrl = new AbortController();
  readonly #events: SseEvent[] = [];
  readonly #waiters: Array<() => void> = [];
  #ended = false;
  status = 0;
  contentType: string | null = null;

  static async open(url: string): Promise<SseClient> {
    const c = new SseClient();
    const res = await fetch(url, { signal: c.#ctrl.signal, headers: { accept: 'text/event-stream' } });
    c.status = res.status;
    c.contentType = res.headers.get('content-type');
    if (res.body) void c.#pump(res.body);
    return c;
  }

  async #pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += dec.decode(chunk, { stream: true });
        let idx = buf.indexOf('\n\n');
        while (idx >= 0) {
          this.#parse(buf.slice(0, idx));
          buf = buf.slice(idx + 2);
          idx = buf.indexOf('\n\n');
        }
      }
    } catch {
      // aborted by close() or cut by the server: either way the stream has ended
    }
    this.#ended = true;
    this.#wake();
  }

  #parse(block: string): void {
    const ev: SseEvent = { event: 'message', data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      const i = line.indexOf(':');
      if (i === 0) continue;
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') ev.event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') ev.id = value;
    }
    ev.data = data.join('\n');
    this.#events.push(ev);
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** All events received so far. */
  get events(): readonly SseEvent[] {
    return this.#events;
  }

  /** Resolves with the first event (from `from` on) matching `pred`; rejects if the stream ends first. */
  async waitFor(pred: (e: SseEvent) => boolean, from = 0): Promise<SseEvent> {
    for (;;) {
      const hit = this.#events.slice(from).find(pred);
      if (hit) return hit;
      if (this.#ended) throw new Error(`stream ended before the expected event; got ${this.#events.map((e) => e.event).join(',')}`);
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  /** Resolves once `n` events matching `pred` arrived. */
  async waitForCount(pred: (e: SseEvent) => boolean, n: number): Promise<SseEvent[]> {
    for (;;) {
      const hits = this.#events.filter(pred);
      if (hits.length >= n) return hits;
      if (this.#ended) throw new Error(`stream ended after ${hits.length}/${n} events`);
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  close(): void {
    this.#ctrl.abort();
  }
}
