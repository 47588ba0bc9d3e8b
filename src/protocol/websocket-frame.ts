// RFC 6455 frame codec, pure: encode server frames (or masked client frames for tests) and incrementally
// parse a byte stream into frames. Message reassembly and connection rules live in src/kube/websocket-server.ts.

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface WebSocketFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  /** Already unmasked. */
  payload: Buffer;
}

export class WebSocketProtocolError extends Error {
  constructor(
    /** The close code to send (1002 protocol error, 1009 too big). */
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Encodes one frame. Servers never mask (RFC 6455 §5.1); `mask` exists so tests can play the client. */
export function encodeFrame(opcode: number, payload: Uint8Array, opts: { fin?: boolean; mask?: Uint8Array } = {}): Buffer {
  const fin = opts.fin ?? true;
  const len = payload.length;
  const extra = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const maskLen = opts.mask ? 4 : 0;
  const out = Buffer.allocUnsafe(2 + extra + maskLen + len);
  out[0] = (fin ? 0x80 : 0) | opcode;
  const maskBit = opts.mask ? 0x80 : 0;
  if (extra === 0) out[1] = maskBit | len;
  else if (extra === 2) {
    out[1] = maskBit | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = maskBit | 127;
    out.writeBigUInt64BE(BigInt(len), 2);
  }
  const start = 2 + extra + maskLen;
  if (opts.mask) {
    out.set(opts.mask.subarray(0, 4), 2 + extra);
    for (let i = 0; i < len; i++) out[start + i] = (payload[i] as number) ^ (opts.mask[i & 3] as number);
  } else {
    out.set(payload, start);
  }
  return out;
}

/**
 * Incremental parser. Feed arbitrary slices of the byte stream with `push`; complete frames come back in order.
 * Throws WebSocketProtocolError on frames no compliant client sends, and before buffering a frame larger than
 * `maxFrameBytes`, so a hostile length field cannot make us allocate.
 */
export class WebSocketFrameParser {
  #chunks: Buffer[] = [];
  #buffered = 0;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly requireMask: boolean,
  ) {}

  push(chunk: Buffer): WebSocketFrame[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: WebSocketFrame[] = [];
    for (;;) {
      const frame = this.#next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  #peek(n: number): Buffer | null {
    if (this.#buffered < n) return null;
    let first = this.#chunks[0] as Buffer;
    if (first.length < n) {
      first = Buffer.concat(this.#chunks);
      this.#chunks = [first];
    }
    return first;
  }

  #consume(n: number): void {
    this.#buffered -= n;
    while (n > 0) {
      const first = this.#chunks[0] as Buffer;
      if (first.length <= n) {
        this.#chunks.shift();
        n -= first.length;
      } else {
        this.#chunks[0] = first.subarray(n);
        n = 0;
      }
    }
  }

  #next(): WebSocketFrame | null {
    const head = this.#peek(2);
    if (!head) return null;
    const b0 = head[0] as number;
    const b1 = head[1] as number;
    if (b0 & 0x70) throw new WebSocketProtocolError(1002, 'reserved bits set without a negotiated extension');
    const opcode = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    const masked = (b1 & 0x80) !== 0;
    if (this.requireMask && !masked) throw new WebSocketProtocolError(1002, 'client frame is not masked');
    if (opcode >= 0x8 && (!fin || (b1 & 0x7f) > 125)) {
      throw new WebSocketProtocolError(1002, 'control frame fragmented or longer than 125 bytes');
    }
    if ((opcode > 0x2 && opcode < 0x8) || opcode > 0xa) throw new WebSocketProtocolError(1002, `unknown opcode ${opcode}`);
    let len = b1 & 0x7f;
    let offset = 2;
    if (len === 126) {
      const h = this.#peek(4);
      if (!h) return null;
      len = h.readUInt16BE(2);
      offset = 4;
    } else if (len === 127) {
      const h = this.#peek(10);
      if (!h) return null;
      const big = h.readBigUInt64BE(2);
      if (big > BigInt(this.maxFrameBytes)) {
        throw new WebSocketProtocolError(1009, `frame of ${big} bytes exceeds the limit of ${this.maxFrameBytes}`);
      }
      len = Number(big);
      offset = 10;
    }
    if (len > this.maxFrameBytes) {
      throw new WebSocketProtocolError(1009, `frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes}`);
    }
    const total = offset + (masked ? 4 : 0) + len;
    const all = this.#peek(total);
    if (!all) return null;
    const payload = Buffer.from(all.subarray(offset + (masked ? 4 : 0), total));
    if (masked) {
      const m0 = all[offset] as number;
      const m1 = all[offset + 1] as number;
      const m2 = all[offset + 2] as number;
      const m3 = all[offset + 3] as number;
      const mask = [m0, m1, m2, m3];
      for (let i = 0; i < len; i++) payload[i] = (payload[i] as number) ^ (mask[i & 3] as number);
    }
    this.#consume(total);
    return { fin, opcode, masked, payload };
  }
}
