// Per-request flow control of binary response chunks (negotiated `binary_chunks`): `proxy_window` credit goes
// back to the agent once the client has taken the bytes.
import type { ServerResponse } from 'node:http';

/** Credit is returned in steps of this size, once the client has taken the bytes (res below its high-water mark). */
const WINDOW_STEP = 1 << 20;

/** Per-request flow control of binary chunks: `proxy_window` credit goes back once the client drained the bytes. */
export class ChunkCredit {
  #owed = 0;
  #waitingDrain = false;

  constructor(
    private readonly res: ServerResponse,
    /** Send `proxy_window {increment}` for this request. */
    private readonly grant: (bytes: number) => void,
    /** False once the request is over (no credit for finished requests). */
    private readonly live: () => boolean,
  ) {}

  add(bytes: number): void {
    this.#owed += bytes;
    this.#flush();
  }

  #flush(): void {
    if (this.#owed < WINDOW_STEP || this.#waitingDrain) return;
    if (this.res.writableLength > WINDOW_STEP) {
      this.#waitingDrain = true;
      this.res.once('drain', () => {
        this.#waitingDrain = false;
        this.#flush();
      });
      return;
    }
    if (!this.live()) return;
    this.grant(this.#owed);
    this.#owed = 0;
  }
}
