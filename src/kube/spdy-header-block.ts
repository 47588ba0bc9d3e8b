// SPDY/3 header blocks: the name/value serialisation (§2.6.10) and its zlib compression. Each direction of a
// connection is ONE zlib stream primed with the SPDY/3 dictionary, so blocks must be (de)compressed in the
// order they travel; the session serialises that.
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './spdy-dictionary.ts';

export type SpdyHeaders = Record<string, string>;

/** `u32 count, (u32 len, name, u32 len, value)*`; names lower-cased as SPDY/3 requires. */
export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.allocUnsafe(4);
  const entries = Object.entries(headers);
  count.writeUInt32BE(entries.length);
  parts.push(count);
  for (const [name, value] of entries) {
    for (const s of [name.toLowerCase(), value]) {
      const bytes = Buffer.from(s, 'utf8');
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32BE(bytes.length);
      parts.push(len, bytes);
    }
  }
  return Buffer.concat(parts);
}

/** Multi-valued headers (NUL-separated values) keep their first value: the k8s stream headers are single. */
export function decodeHeaderBlock(block: Buffer): SpdyHeaders {
  const fail = (why: string): never => {
    throw new Error(`malformed SPDY header block: ${why}`);
  };
  if (block.length < 4) fail('shorter than its count');
  const count = block.readUInt32BE(0);
  // No prototype: a header named `__proto__` (or `constructor`) is just a header, never an object property.
  const headers: SpdyHeaders = Object.create(null) as SpdyHeaders;
  let off = 4;
  const str = (): string => {
    if (off + 4 > block.length) fail('truncated length');
    const len = block.readUInt32BE(off);
    off += 4;
    if (off + len > block.length) fail('truncated string');
    const s = block.subarray(off, off + len).toString('utf8');
    off += len;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    const value = str();
    headers[name] = value.split('\0')[0] ?? '';
  }
  return headers;
}

function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * Compressor for our direction. It emits deflate *stored* blocks, which is what Z_SYNC_FLUSH output looks like
 * at compression level 0: a valid zlib stream any inflater with the dictionary accepts, produced synchronously,
 * so a SYN_REPLY can be written in order with the data frames around it without an async zlib round trip.
 * Our header blocks are a few bytes, so not compressing them costs nothing that matters.
 */
export class HeaderDeflater {
  #started = false;

  compress(block: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.#started) {
      this.#started = true;
      // CMF 0x78 (deflate, 32K window), FLG 0xBB (FDICT set, check bits), then the dictionary's Adler-32.
      const head = Buffer.from([0x78, 0xbb, 0, 0, 0, 0]);
      head.writeUInt32BE(adler32(SPDY3_DICTIONARY), 2);
      parts.push(head);
    }
    // Stored blocks hold at most 65535 bytes.
    let off = 0;
    do {
      const piece = block.subarray(off, off + 0xffff);
      const h = Buffer.allocUnsafe(5);
      h[0] = 0x00; // BFINAL=0, BTYPE=00 (stored); the rest of the byte pads to the boundary.
      h.writeUInt16LE(piece.length, 1);
      h.writeUInt16LE(~piece.length & 0xffff, 3);
      parts.push(h, piece);
      off += piece.length;
    } while (off < block.length);
    // The empty stored block Z_SYNC_FLUSH ends with. Go's flate hands out a stored block's bytes only when the
    // next block starts; without this marker it reads past the frame, hits EOF and fails every later block.
    parts.push(Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]));
    return Buffer.concat(parts);
  }
}

/** Decompressor for the peer's direction: one long-lived inflate stream, flushed per block. */
export class HeaderInflater {
  readonly #inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  #out: Buffer[] = [];
  #error: Error | null = null;
  /** On a corrupt stream zlib emits 'error' and never calls the flush callback; this settles the caller. */
  #rejectPending: ((e: Error) => void) | null = null;

  constructor() {
    this.#inflate.on('data', (c: Buffer) => this.#out.push(c));
    this.#inflate.on('error', (e: Error) => {
      this.#error = e;
      this.#rejectPending?.(e);
      this.#rejectPending = null;
    });
  }

  /** Must not be called again before the previous promise settled (the session chains calls). */
  decompress(compressed: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.#error) {
        reject(this.#error);
        return;
      }
      this.#rejectPending = reject;
      this.#inflate.write(compressed);
      this.#inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.#rejectPending = null;
        if (this.#error) {
          reject(this.#error);
          return;
        }
        const out = Buffer.concat(this.#out);
        this.#out = [];
        resolve(out);
      });
    });
  }

  close(): void {
    this.#inflate.close();
  }
}
