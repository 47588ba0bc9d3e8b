// HTTP/1.1 answers read off the wire byte for byte, for tests that compare framing (the kube gateway's front against
// node's server): a parser of a stream of responses, and a raw client connection that waits on events, not on time.
import { connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

export interface WireResponse {
  statusLine: string;
  status: number;
  /** [name, value] in wire order, as sent. */
  headers: [string, string][];
  body: Buffer;
  /** Transfer-Encoding: chunked, with the terminating chunk seen. */
  chunked: boolean;
  /** The raw chunk sizes of a chunked body (framing, not just content). */
  chunks: number[];
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Every complete response at the start of `b` (a body without Content-Length or chunking runs to the end of the
 * connection: complete only when `eof`). `rest` is what follows the last complete one. Broken chunk framing throws.
 */
export function parseResponses(b: Buffer, eof = false): { responses: WireResponse[]; rest: Buffer } {
  const responses: WireResponse[] = [];
  let at = 0;
  for (;;) {
    const end = b.indexOf(HEAD_END, at);
    if (end < 0) break;
    const lines = b.toString('latin1', at, end).split('\r\n');
    const statusLine = lines[0]!;
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN);
    const headers = lines.slice(1).map((l) => {
      const c = l.indexOf(':');
      return [l.slice(0, c), l.slice(c + 1).trim()] as [string, string];
    });
    const get = (n: string) => headers.find(([k]) => k.toLowerCase() === n)?.[1];
    let p = end + 4;
    const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
    if (noBody) {
      responses.push({ statusLine, status, headers, body: Buffer.alloc(0), chunked: false, chunks: [] });
      at = p;
      continue;
    }
    if (get('transfer-encoding')?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      const chunks: number[] = [];
      let done = false;
      for (;;) {
        const le = b.indexOf(CRLF, p);
        if (le < 0) break;
        const line = b.toString('latin1', p, le);
        if (!/^[0-9a-f]+$/i.test(line)) throw new Error(`bad chunk size line ${JSON.stringify(line.slice(0, 40))}`);
        const size = parseInt(line, 16);
        if (b.length < le + 2 + size + 2) break;
        if (b[le + 2 + size] !== 13 || b[le + 2 + size + 1] !== 10) throw new Error(`chunk of ${size} bytes not followed by CRLF`);
        chunks.push(size);
        if (size === 0) {
          // No trailers from either server: the last chunk is `0\r\n\r\n`.
          p = le + 4;
          done = true;
          break;
        }
        parts.push(b.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      if (!done) break;
      responses.push({ statusLine, status, headers, body: Buffer.concat(parts), chunked: true, chunks });
      at = p;
      continue;
    }
    const cl = get('content-length');
    if (cl !== undefined) {
      const n = Number(cl);
      if (b.length < p + n) break;
      responses.push({ statusLine, status, headers, body: Buffer.from(b.subarray(p, p + n)), chunked: false, chunks: [] });
      at = p + n;
      continue;
    }
    if (!eof) break;
    responses.push({ statusLine, status, headers, body: Buffer.from(b.subarray(p)), chunked: false, chunks: [] });
    at = b.length;
  }
  return { responses, rest: b.subarray(at) };
}

/** A raw client connection: everything it received, and waits on what arrives. */
export class WireClient {
  data = Buffer.alloc(0);
  /** The server ended its side (FIN). */
  ended = false;
  closed = false;
  error: Error | null = null;
  #waiters: (() => void)[] = [];

  constructor(
    readonly s: Socket,
    /** End our side when the server ends its own (false: keep it open, as a client that ignores the FIN). */
    readonly endOnEnd = true,
  ) {
    s.on('data', (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.#wake();
    });
    s.on('end', () => {
      this.ended = true;
      // The client's half stays open (allowHalfOpen, for half-close tests) until the server ends its own.
      if (this.endOnEnd) s.end();
      this.#wake();
    });
    s.on('error', (e) => {
      this.error = e;
    });
    s.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  static open(port: number, tls?: { ca: string }, endOnEnd = true): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const s = tls
        ? tlsConnect({ host: '127.0.0.1', port, ca: tls.ca, servername: 'localhost', allowHalfOpen: true } as ConnectionOptions, () => resolve(new WireClient(s, endOnEnd)))
        : netConnect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(new WireClient(s, endOnEnd)));
      s.once('error', reject);
    });
  }

  write(d: string | Uint8Array): void {
    this.s.write(typeof d === 'string' ? Buffer.from(d, 'latin1') : d);
  }

  /** Sends `d` one byte per write, each after the previous was handed to the kernel. */
  async trickle(d: string): Promise<void> {
    for (const c of Buffer.from(d, 'latin1')) await new Promise<void>((r) => this.s.write(Buffer.of(c), () => r()));
  }

  responses(): WireResponse[] {
    return parseResponses(this.data, this.closed || this.ended).responses;
  }

  /** Resolves once `pred` holds (checked after every arrival); rejects when the connection closes first. */
  until(pred: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pred()) return resolve();
        if (this.closed) return reject(new Error(`connection closed before ${what}; received ${JSON.stringify(this.data.toString('latin1').slice(0, 400))}`));
        this.#waiters.push(check);
      };
      check();
    });
  }

  async waitResponses(n: number): Promise<WireResponse[]> {
    await this.until(() => this.responses().length >= n, `${n} responses`);
    return this.responses();
  }

  /** Resolves once the connection is closed (whatever it carried). */
  waitClosed(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => (this.closed ? resolve() : this.#waiters.push(check));
      check();
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }
}
