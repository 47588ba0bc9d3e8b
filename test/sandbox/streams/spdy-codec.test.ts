// SPDY/3 frame codec and header-block compression: property round trips, stream slicing (tunnelled SPDY cuts
// frames anywhere), and the exact zlib shape Go's flate needs from our stored-block compressor.
import { describe, expect, test } from 'bun:test';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { SPDY3_DICTIONARY } from '../../../src/kube/spdy-dictionary.ts';
import { encodeSpdyFrame, SpdyFrameParser, SpdyProtocolError, type SpdyFrame } from '../../../src/kube/spdy-frame.ts';
import {
  decodeHeaderBlock,
  encodeHeaderBlock,
  HeaderDeflater,
  HeaderInflater,
} from '../../../src/kube/spdy-header-block.ts';

const id31 = fc.integer({ min: 1, max: 0x7fffffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

const frameArb: fc.Arbitrary<SpdyFrame> = fc.oneof(
  fc.record({ kind: fc.constant('data' as const), streamId: id31, fin: fc.boolean(), data: bytes(3000) }),
  fc.record({
    kind: fc.constant('synStream' as const),
    streamId: id31,
    associatedId: fc.integer({ min: 0, max: 0x7fffffff }),
    priority: fc.integer({ min: 0, max: 7 }),
    fin: fc.boolean(),
    headerBlock: bytes(200),
  }),
  fc.record({ kind: fc.constant('synReply' as const), streamId: id31, fin: fc.boolean(), headerBlock: bytes(200) }),
  fc.record({ kind: fc.constant('headers' as const), streamId: id31, fin: fc.boolean(), headerBlock: bytes(200) }),
  fc.record({ kind: fc.constant('rstStream' as const), streamId: id31, status: u32 }),
  fc.record({
    kind: fc.constant('settings' as const),
    entries: fc.array(fc.record({ id: fc.integer({ min: 0, max: 0xffffff }), flags: fc.integer({ min: 0, max: 255 }), value: u32 }), {
      maxLength: 5,
    }),
  }),
  fc.record({ kind: fc.constant('ping' as const), id: u32 }),
  fc.record({ kind: fc.constant('goaway' as const), lastGoodStreamId: fc.integer({ min: 0, max: 0x7fffffff }), status: u32 }),
  fc.record({ kind: fc.constant('windowUpdate' as const), streamId: fc.integer({ min: 0, max: 0x7fffffff }), delta: fc.integer({ min: 0, max: 0x7fffffff }) }),
);

/** Cuts `buf` at the given fractions, like WebSocket messages of a tunnel or TCP segments would. */
function slices(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * buf.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, buf.length]) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  return out;
}

describe('SPDY frame codec', () => {
  test('every frame round-trips, whatever the byte stream is cut into', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map(encodeSpdyFrame));
        const parser = new SpdyFrameParser();
        const got = slices(wire, cuts).flatMap((s) => parser.push(s));
        expect(got.map(normalise)).toEqual(frames.map(normalise));
      }),
      { numRuns: 300 },
    );
  });

  test('rejects a control frame of another SPDY version', () => {
    const f = encodeSpdyFrame({ kind: 'ping', id: 1 });
    f.writeUInt16BE(0x8002, 0);
    expect(() => new SpdyFrameParser().push(f)).toThrow(SpdyProtocolError);
  });

  test('a truncated control body is an error, not a crash', () => {
    const f = encodeSpdyFrame({ kind: 'rstStream', streamId: 1, status: 5 });
    f.writeUInt32BE(4, 4); // claims 4 bytes of body: too short for RST_STREAM
    expect(() => new SpdyFrameParser().push(f.subarray(0, 12))).toThrow(/too short/);
  });
});

function normalise(f: SpdyFrame): unknown {
  return JSON.parse(JSON.stringify(f, (_k, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v)));
}

describe('SPDY header blocks', () => {
  test('the dictionary is the 1423-byte SPDY/3 one (zlib would reject a peer with another)', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(SPDY3_DICTIONARY.subarray(0, 11).toString('latin1')).toBe('\0\0\0\x07options');
    expect(SPDY3_DICTIONARY.subarray(-6).toString('latin1')).toBe('enq=0.');
  });

  test('name/value blocks round-trip and names are lower-cased', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 20 }).map((s) => s.toLowerCase()), fc.string({ maxLength: 40 })), (h) => {
        const clean = Object.fromEntries(Object.entries(h).filter(([, v]) => !v.includes('\0')));
        expect(decodeHeaderBlock(encodeHeaderBlock(clean))).toEqual(clean);
      }),
    );
    expect(decodeHeaderBlock(encodeHeaderBlock({ StreamType: 'error' }))).toEqual({ streamtype: 'error' });
    // Found by the property above: names that are Object.prototype members are plain headers too.
    const tricky = Object.fromEntries([['__proto__', ''], ['constructor', 'x'], ['port', '80']]);
    const back = decodeHeaderBlock(encodeHeaderBlock(tricky));
    expect(Object.keys(back).sort()).toEqual(['__proto__', 'constructor', 'port']);
    expect(back.port).toBe('80');
  });

  test('our compressed blocks inflate with a dictionary-primed zlib stream, block after block', async () => {
    const deflater = new HeaderDeflater();
    const blocks: Record<string, string>[] = [{}, { streamtype: 'data', port: '80', requestid: '0' }, { a: 'x'.repeat(70_000) }];
    const wire = blocks.map((b) => deflater.compress(encodeHeaderBlock(b)));
    // Every block ends with the empty stored block of Z_SYNC_FLUSH; Go's flate needs it to release the bytes.
    for (const w of wire) expect(w.subarray(-5).toString('hex')).toBe('000000ffff');
    const inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
    const out: Buffer[] = [];
    inflate.on('data', (c: Buffer) => out.push(c));
    for (const w of wire) inflate.write(w);
    await new Promise<void>((r) => inflate.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
    expect(Buffer.concat(out).equals(Buffer.concat(blocks.map(encodeHeaderBlock)))).toBe(true);
  });

  test('the inflater reads a real deflate stream (as kubectl sends it) block by block', async () => {
    const deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
    const produced: Buffer[] = [];
    deflate.on('data', (c: Buffer) => produced.push(c));
    const compressBlock = (h: Record<string, string>) =>
      new Promise<Buffer>((resolve) => {
        deflate.write(encodeHeaderBlock(h));
        deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(produced.splice(0))));
      });
    const inflater = new HeaderInflater();
    for (const h of [{ streamtype: 'error', port: '80', requestid: '0' }, { streamtype: 'data', port: '80', requestid: '0' }]) {
      expect(decodeHeaderBlock(await inflater.decompress(await compressBlock(h)))).toEqual(h);
    }
    inflater.close();
  });

  test('a corrupt block rejects instead of hanging', async () => {
    const inflater = new HeaderInflater();
    await expect(inflater.decompress(Buffer.from('not zlib at all'))).rejects.toThrow();
  });
});

describe('issue 19: parser cost and flag encoding', () => {
  test('a 256 KiB data frame fed a byte at a time is copied about once, not once per byte (was quadratic)', () => {
    const size = 256 * 1024;
    const frame = encodeSpdyFrame({ kind: 'data', streamId: 1, fin: true, data: Buffer.alloc(size, 7) });
    const p = new SpdyFrameParser();
    // Count the bytes the parser copies by joining: before the fix, one concat per push (~34 GB for this frame).
    const concat = Buffer.concat;
    let copied = 0;
    Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
      const out = concat(list, total);
      copied += out.length;
      return out;
    }) as typeof Buffer.concat;
    const got: SpdyFrame[] = [];
    try {
      for (let i = 0; i < frame.length; i++) got.push(...p.push(frame.subarray(i, i + 1)));
    } finally {
      Buffer.concat = concat;
    }
    expect(got.length).toBe(1);
    expect(got[0]!.kind === 'data' && got[0]!.data.equals(Buffer.alloc(size, 7))).toBe(true);
    expect(copied).toBeLessThanOrEqual(2 * frame.length);
  });

  test('an unknown control frame with flags ≥ 0x80 encodes and round-trips (no signed-shift RangeError)', () => {
    for (const flags of [0x80, 0xff]) {
      const f: SpdyFrame = { kind: 'unknown', type: 0x1234, flags, data: Buffer.from('xyz') };
      const enc = encodeSpdyFrame(f);
      expect(new SpdyFrameParser().push(enc)).toEqual([f]);
    }
  });
});
