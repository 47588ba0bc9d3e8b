// Reads a watch (or log) response body line by line, waiting on data rather than time.
export class LineReader {
  readonly lines: string[] = [];
  done = false;
  readonly #waiters = new Set<() => void>();

  constructor(body: ReadableStream<Uint8Array>) {
    void (async () => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of body) {
          buf += dec.decode(chunk, { stream: true });
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            this.lines.push(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
            nl = buf.indexOf('\n');
          }
          this.#wake();
        }
      } catch {
        // Aborted or cut: the same as the end for a reader.
      }
      this.done = true;
      this.#wake();
    })();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Resolves once `n` lines arrived (or rejects if the stream ended first / the guard timeout passed). */
  async waitLines(n: number, timeoutMs = 5000): Promise<string[]> {
    return this.#until(() => this.lines.length >= n, `${n} lines`, timeoutMs).then(() => this.lines.slice(0, n));
  }

  async waitEnd(timeoutMs = 5000): Promise<void> {
    await this.#until(() => this.done, 'the end of the stream', timeoutMs, true);
  }

  // biome-ignore lint/suspicious/noExplicitAny: watch event objects are asserted field by field.
  events(): { type: string; object: Record<string, any> }[] {
    return this.lines.filter((l) => l.trim()).map((l) => JSON.parse(l));
  }

  #until(cond: () => boolean, what: string, timeoutMs: number, endOk = false): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.lines)}`));
      }, timeoutMs);
      const check = () => {
        if (cond()) {
          clearTimeout(timer);
          this.#waiters.delete(check);
          resolve();
        } else if (this.done && !endOk) {
          clearTimeout(timer);
          this.#waiters.delete(check);
          reject(new Error(`stream ended before ${what}; got ${JSON.stringify(this.lines)}`));
        }
      };
      this.#waiters.add(check);
    });
  }
}
