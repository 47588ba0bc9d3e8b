// Yamux v0 frames (hashicorp/yamux spec, protocol.md §5.2): the 12-byte header and an incremental decoder that
// treats its input as an arbitrary chunking of one byte stream (a Go peer writes a frame's header and body as
// two WebSocket messages; a header itself may be cut anywhere). Pure: no I/O, no timers.

export const YAMUX_VERSION = 0;
export const HEADER_BYTES = 12;

export const FrameType = { Data: 0, WindowUpdate: 1, Ping: 2, GoAway: 3 } as const;
export type FrameTypeCode = (typeof FrameType)[keyof typeof FrameType];

export const Flag = { SYN: 1, ACK: 2, FIN: 4, RST: 8 } as const;

export const GoAwayCode = { normal: 0, protocolError: 1, internalError: 2 } as const;

/** The initial receive/send window of every stream (the spec's fixed 256 KiB). */
export const INITIAL_STREAM_WINDOW = 256 * 1024;

export interface FrameHeader {
  type: FrameTypeCode;
  flags: number;
  streamId: number;
  /** Data: body length; WindowUpdate: window delta; Ping: opaque value; GoAway: error code. */
  length: number;
}

/** Encode a header into `out` at `offset` (callers that send a body allocate header + body once). */
export function writeHeader(out: Uint8Array, offset: number, h: FrameHeader): void {
  const v = new DataView(out.buffer, out.byteOffset + offset, HEADER_BYTES);
  v.setUint8(0, YAMUX_VERSION);
  v.setUint8(1, h.type);
  v.setUint16(2, h.flags);
  v.setUint32(4, h.streamId);
  v.setUint32(8, h.length);
}

export function encodeHeader(h: FrameHeader): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(HEADER_BYTES);
  writeHeader(out, 0, h);
  return out;
}

/** A Data frame: header and body in one buffer (`prefix` spare bytes in front, for a transport tag). */
export function encodeDataFrame(streamId: number, flags: number, body: Uint8Array, prefix = 0): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(prefix + HEADER_BYTES + body.length);
  writeHeader(out, prefix, { type: FrameType.Data, flags, streamId, length: body.length });
  out.set(body, prefix + HEADER_BYTES);
  return out;
}

export interface DecoderSink {
  /** A complete header. For a Data frame, its body follows as `data` calls and then `frameEnd`. */
  header(h: FrameHeader): void;
  /** A piece of the current Data frame's body (a view into the input: consume or copy before returning). */
  data(h: FrameHeader, piece: Uint8Array): void;
  /** The current Data frame's body is complete (also called for an empty body). */
  frameEnd(h: FrameHeader): void;
}

/**
 * Incremental decoder. `push` returns an error text on a protocol violation (bad version or type); the decoder is
 * then unusable (the session sends GoAway and ends). Body bytes are delivered as they arrive, without copying.
 */
export class FrameDecoder {
  readonly #head = new Uint8Array(HEADER_BYTES);
  #headFill = 0;
  #current: FrameHeader | null = null;
  #bodyLeft = 0;
  #failed: string | null = null;

  push(chunk: Uint8Array, sink: DecoderSink): string | null {
    if (this.#failed) return this.#failed;
    let i = 0;
    while (i < chunk.length) {
      if (this.#current) {
        const n = Math.min(this.#bodyLeft, chunk.length - i);
        const h = this.#current;
        this.#bodyLeft -= n;
        if (this.#bodyLeft === 0) this.#current = null;
        sink.data(h, chunk.subarray(i, i + n));
        i += n;
        if (!this.#current) sink.frameEnd(h);
        continue;
      }
      const n = Math.min(HEADER_BYTES - this.#headFill, chunk.length - i);
      this.#head.set(chunk.subarray(i, i + n), this.#headFill);
      this.#headFill += n;
      i += n;
      if (this.#headFill < HEADER_BYTES) break;
      this.#headFill = 0;
      const err = this.#decodeHeader(sink);
      if (err) return (this.#failed = err);
    }
    return null;
  }

  #decodeHeader(sink: DecoderSink): string | null {
    const v = new DataView(this.#head.buffer);
    const version = v.getUint8(0);
    const type = v.getUint8(1);
    if (version !== YAMUX_VERSION) return `unsupported yamux version ${version}`;
    if (type > FrameType.GoAway) return `unknown yamux frame type ${type}`;
    const h: FrameHeader = { type: type as FrameTypeCode, flags: v.getUint16(2), streamId: v.getUint32(4), length: v.getUint32(8) };
    sink.header(h);
    if (h.type === FrameType.Data) {
      if (h.length === 0) sink.frameEnd(h);
      else {
        this.#current = h;
        this.#bodyLeft = h.length;
      }
    }
    return null;
  }
}
