// SPDY/3 frame codec, pure (draft-mbelshe-httpbis-spdy-00 §2.2): control frames
// `1|version(15)|type(16)|flags(8)|length(24)|data` and data frames `0|stream(31)|flags(8)|length(24)|data`.
// Header blocks stay compressed here; spdy-header-block.ts (de)compresses them in connection order.

export const SPDY_VERSION = 3;
export const FLAG_FIN = 0x01;
export const FRAME = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goaway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;
/** RST_STREAM status codes we send. */
export const RST = { protocolError: 1, invalidStream: 2, refusedStream: 3, cancel: 5, internalError: 6 } as const;
/** 24-bit length field. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

export type SpdyFrame =
  | { kind: 'data'; streamId: number; fin: boolean; data: Buffer }
  | { kind: 'synStream'; streamId: number; associatedId: number; priority: number; fin: boolean; headerBlock: Buffer }
  | { kind: 'synReply'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { kind: 'headers'; streamId: number; fin: boolean; headerBlock: Buffer }
  | { kind: 'rstStream'; streamId: number; status: number }
  | { kind: 'settings'; entries: { id: number; flags: number; value: number }[] }
  | { kind: 'ping'; id: number }
  | { kind: 'goaway'; lastGoodStreamId: number; status: number }
  | { kind: 'windowUpdate'; streamId: number; delta: number }
  | { kind: 'unknown'; type: number; flags: number; data: Buffer };

export class SpdyProtocolError extends Error {}

function controlFrame(type: number, flags: number, body: Buffer): Buffer {
  if (body.length > MAX_FRAME_PAYLOAD) throw new SpdyProtocolError(`control frame body of ${body.length} bytes`);
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  out.writeUInt16BE(type, 2);
  // `>>> 0`: flags ≥ 0x80 shifted into bit 31 make a negative int32, which writeUInt32BE refuses.
  out.writeUInt32BE((((flags & 0xff) << 24) | body.length) >>> 0, 4);
  body.copy(out, 8);
  return out;
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(values.length * 4);
  for (const [i, v] of values.entries()) b.writeUInt32BE(v >>> 0, i * 4);
  return b;
}

export function encodeSpdyFrame(f: SpdyFrame): Buffer {
  switch (f.kind) {
    case 'data': {
      if (f.data.length > MAX_FRAME_PAYLOAD) throw new SpdyProtocolError(`data frame of ${f.data.length} bytes`);
      const out = Buffer.allocUnsafe(8 + f.data.length);
      out.writeUInt32BE(f.streamId & 0x7fffffff, 0);
      out.writeUInt32BE((((f.fin ? FLAG_FIN : 0) << 24) | f.data.length) >>> 0, 4);
      f.data.copy(out, 8);
      return out;
    }
    case 'synStream': {
      const pri = Buffer.from([(f.priority & 0x7) << 5, 0]);
      const body = Buffer.concat([u32s(f.streamId & 0x7fffffff, f.associatedId & 0x7fffffff), pri, f.headerBlock]);
      return controlFrame(FRAME.synStream, f.fin ? FLAG_FIN : 0, body);
    }
    case 'synReply':
      return controlFrame(FRAME.synReply, f.fin ? FLAG_FIN : 0, Buffer.concat([u32s(f.streamId & 0x7fffffff), f.headerBlock]));
    case 'headers':
      return controlFrame(FRAME.headers, f.fin ? FLAG_FIN : 0, Buffer.concat([u32s(f.streamId & 0x7fffffff), f.headerBlock]));
    case 'rstStream':
      return controlFrame(FRAME.rstStream, 0, u32s(f.streamId & 0x7fffffff, f.status));
    case 'settings': {
      const body = Buffer.allocUnsafe(4 + f.entries.length * 8);
      body.writeUInt32BE(f.entries.length, 0);
      f.entries.forEach((e, i) => {
        body.writeUInt32BE((((e.flags & 0xff) << 24) | (e.id & 0xffffff)) >>> 0, 4 + i * 8);
        body.writeUInt32BE(e.value >>> 0, 8 + i * 8);
      });
      return controlFrame(FRAME.settings, 0, body);
    }
    case 'ping':
      return controlFrame(FRAME.ping, 0, u32s(f.id));
    case 'goaway':
      return controlFrame(FRAME.goaway, 0, u32s(f.lastGoodStreamId & 0x7fffffff, f.status));
    case 'windowUpdate':
      return controlFrame(FRAME.windowUpdate, 0, u32s(f.streamId & 0x7fffffff, f.delta & 0x7fffffff));
    case 'unknown':
      return controlFrame(f.type, f.flags, f.data);
  }
}

function need(body: Buffer, n: number, what: string): void {
  if (body.length < n) throw new SpdyProtocolError(`${what} frame too short: ${body.length} < ${n} bytes`);
}

function decodeControl(type: number, flags: number, body: Buffer): SpdyFrame {
  const fin = (flags & FLAG_FIN) !== 0;
  switch (type) {
    case FRAME.synStream:
      need(body, 10, 'SYN_STREAM');
      return {
        kind: 'synStream',
        streamId: body.readUInt32BE(0) & 0x7fffffff,
        associatedId: body.readUInt32BE(4) & 0x7fffffff,
        priority: (body[8] as number) >> 5,
        fin,
        headerBlock: body.subarray(10),
      };
    case FRAME.synReply:
      need(body, 4, 'SYN_REPLY');
      return { kind: 'synReply', streamId: body.readUInt32BE(0) & 0x7fffffff, fin, headerBlock: body.subarray(4) };
    case FRAME.headers:
      need(body, 4, 'HEADERS');
      return { kind: 'headers', streamId: body.readUInt32BE(0) & 0x7fffffff, fin, headerBlock: body.subarray(4) };
    case FRAME.rstStream:
      need(body, 8, 'RST_STREAM');
      return { kind: 'rstStream', streamId: body.readUInt32BE(0) & 0x7fffffff, status: body.readUInt32BE(4) };
    case FRAME.settings: {
      need(body, 4, 'SETTINGS');
      const count = body.readUInt32BE(0);
      need(body, 4 + count * 8, 'SETTINGS');
      const entries = [];
      for (let i = 0; i < count; i++) {
        const idf = body.readUInt32BE(4 + i * 8);
        entries.push({ flags: idf >>> 24, id: idf & 0xffffff, value: body.readUInt32BE(8 + i * 8) });
      }
      return { kind: 'settings', entries };
    }
    case FRAME.ping:
      need(body, 4, 'PING');
      return { kind: 'ping', id: body.readUInt32BE(0) };
    case FRAME.goaway:
      need(body, 8, 'GOAWAY');
      return { kind: 'goaway', lastGoodStreamId: body.readUInt32BE(0) & 0x7fffffff, status: body.readUInt32BE(4) };
    case FRAME.windowUpdate:
      need(body, 8, 'WINDOW_UPDATE');
      return {
        kind: 'windowUpdate',
        streamId: body.readUInt32BE(0) & 0x7fffffff,
        delta: body.readUInt32BE(4) & 0x7fffffff,
      };
    default:
      return { kind: 'unknown', type, flags, data: body };
  }
}

/**
 * Incremental frame parser: push arbitrary slices of the byte stream (socket chunks or WebSocket messages of a
 * tunnel, which cut frames anywhere) and get complete frames back in order.
 */
export class SpdyFrameParser {
  /** Bytes not yet parsed, kept as the chunks they came in: joined only once a whole frame is there. */
  #parts: Buffer[] = [];
  #len = 0;
  /** Bytes needed before the next frame can complete (8 for a header, then 8 + its length). */
  #need = 8;

  push(chunk: Buffer): SpdyFrame[] {
    // Joining on every push would copy an incomplete frame again for each slice: quadratic in its size
    // (a 16 MiB frame arriving a byte at a time). Wait until it can complete.
    this.#parts.push(chunk);
    this.#len += chunk.length;
    if (this.#len < this.#need) return [];
    const buf = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#len);
    const frames: SpdyFrame[] = [];
    let off = 0;
    while (buf.length - off >= 8) {
      const word0 = buf.readUInt32BE(off);
      const word1 = buf.readUInt32BE(off + 4);
      const len = word1 & 0xffffff;
      if (buf.length - off < 8 + len) break;
      const body = buf.subarray(off + 8, off + 8 + len);
      const flags = word1 >>> 24;
      if (word0 & 0x80000000) {
        const version = (word0 >>> 16) & 0x7fff;
        if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
        frames.push(decodeControl(word0 & 0xffff, flags, body));
      } else {
        frames.push({ kind: 'data', streamId: word0 & 0x7fffffff, fin: (flags & FLAG_FIN) !== 0, data: body });
      }
      off += 8 + len;
    }
    const rest = buf.subarray(off);
    this.#parts = rest.length ? [rest] : [];
    this.#len = rest.length;
    this.#need = rest.length >= 8 ? 8 + (rest.readUInt32BE(4) & 0xffffff) : 8;
    return frames;
  }
}
