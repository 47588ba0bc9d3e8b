// The binary frames byte by byte (protocol.md §3.2, §3.6): hand-built frames pin the layout, and frames inside a
// larger buffer (a view with an offset, as a WebSocket message may be) decode the same. The seeded fuzzing of
// round trips and mutations is test/fuzz/decoders.fuzz.test.ts; this file pins what those properties cannot.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { decodeIdFrame, decodeResponseFrame, encodeIdFrame, encodeResponseFrame, frameRequestId, isGzip } from '../../src/protocol/binary-frame.ts';

const bytes = (...xs: number[]) => Uint8Array.from(xs) as Uint8Array<ArrayBuffer>;
const ascii = (s: string) => [...Buffer.from(s, 'latin1')];
/** `frame` copied into the middle of a bigger buffer: a view whose byteOffset is not 0. */
const offsetView = (frame: Uint8Array, pad = 7) => {
  const buf = new Uint8Array(pad + frame.length + pad).fill(0xee);
  buf.set(frame, pad);
  return buf.subarray(pad, pad + frame.length) as Uint8Array<ArrayBuffer>;
};

describe('id frame [u16 L][id][bytes]', () => {
  test('layout: big-endian id length, the id, then the bytes', () => {
    expect([...encodeIdFrame('r1', bytes(9, 8))]).toEqual([0, 2, ...ascii('r1'), 9, 8]);
    const longId = 'x'.repeat(0x0102);
    expect([...encodeIdFrame(longId, bytes()).subarray(0, 2)]).toEqual([1, 2]);
  });

  test('a hand-built frame decodes; an empty id and an empty body are valid', () => {
    expect(decodeIdFrame(bytes(0, 3, ...ascii('abc'), 1, 2, 3))).toEqual({ ok: true, value: { requestId: 'abc', body: bytes(1, 2, 3) } });
    expect(decodeIdFrame(bytes(0, 0))).toEqual({ ok: true, value: { requestId: '', body: bytes() } });
  });

  test('short, truncated and non-UTF-8 frames are error values with the reason', () => {
    expect(decodeIdFrame(bytes())).toEqual({ ok: false, error: 'binary body frame shorter than its length prefix' });
    expect(decodeIdFrame(bytes(0))).toMatchObject({ ok: false });
    expect(decodeIdFrame(bytes(0, 5, 97, 98))).toEqual({ ok: false, error: 'binary body frame truncated: id length 5, frame 4 bytes' });
    expect(decodeIdFrame(bytes(0, 1, 0xff))).toEqual({ ok: false, error: 'binary body frame request id is not UTF-8' });
  });

  test('an id over 65535 UTF-8 bytes is refused when encoding (a bug of ours, not input)', () => {
    expect(() => encodeIdFrame('é'.repeat(32_768), bytes())).toThrow(RangeError);
    expect(encodeIdFrame('x'.repeat(0xffff), bytes()).length).toBe(2 + 0xffff);
  });

  test('property: a frame inside a larger buffer decodes like a fresh one', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 16 }), (id, body, pad) => {
        const d = decodeIdFrame(offsetView(encodeIdFrame(id, body), pad));
        expect(d).toEqual({ ok: true, value: { requestId: id, body: expect.anything() } });
        if (d.ok) expect([...d.value.body]).toEqual([...body]);
        expect(frameRequestId(offsetView(encodeIdFrame(id, body), pad))).toBe(id);
      }),
      { seed: 17, numRuns: 300 },
    );
  });
});

describe('response frame [u16 L][id][u32 status][u32 H][headers JSON][body]', () => {
  test('layout: a hand-built frame decodes to its fields', () => {
    const h = ascii('{"A":["b"]}');
    const frame = bytes(0, 1, ...ascii('r'), 0, 0, 0, 200, 0, 0, 0, h.length, ...h, 7, 7);
    expect(decodeResponseFrame(frame)).toEqual({ ok: true, value: { requestId: 'r', status: 200, headers: { A: ['b'] }, body: bytes(7, 7) } });
    expect([...encodeResponseFrame('r', 200, { A: ['b'] }, bytes(7, 7))]).toEqual([...frame]);
  });

  test('no or empty headers travel as JSON null', () => {
    const empty = encodeResponseFrame('r', 204, {}, bytes());
    expect([...empty.subarray(7, 11)]).toEqual([0, 0, 0, 4]);
    expect(Buffer.from(empty.subarray(11, 15)).toString()).toBe('null');
    expect(decodeResponseFrame(empty)).toEqual({ ok: true, value: { requestId: 'r', status: 204, headers: null, body: bytes() } });
    expect(decodeResponseFrame(offsetView(encodeResponseFrame('r', 500, null, bytes(1)), 3))).toMatchObject({ ok: true, value: { status: 500, headers: null } });
  });

  test('truncations before the body and headers that are not an object are error values', () => {
    const frame = encodeResponseFrame('abc', 200, { X: ['y'] }, bytes(1, 2));
    for (let n = 0; n < frame.length - 2; n++) expect(decodeResponseFrame(frame.subarray(0, n)).ok, `cut at ${n}`).toBe(false);
    const withHeaders = (json: string) => {
      const h = ascii(json);
      return bytes(0, 0, 0, 0, 0, 200, 0, 0, 0, h.length, ...h);
    };
    expect(decodeResponseFrame(withHeaders('[1]'))).toEqual({ ok: false, error: 'response frame headers are not an object' });
    expect(decodeResponseFrame(withHeaders('"x"'))).toEqual({ ok: false, error: 'response frame headers are not an object' });
    expect(decodeResponseFrame(withHeaders('{'))).toMatchObject({ ok: false, error: expect.stringContaining('response frame undecodable') });
  });
});

describe('frameRequestId and isGzip', () => {
  test('the id of either layout, or null when unreadable', () => {
    expect(frameRequestId(encodeResponseFrame('rid', 200, null, bytes()))).toBe('rid');
    expect(frameRequestId(encodeIdFrame('rid', bytes(1)))).toBe('rid');
    expect(frameRequestId(bytes(0))).toBeNull();
    expect(frameRequestId(bytes(0, 4, 97))).toBeNull();
    expect(frameRequestId(bytes(0, 1, 0xc3))).toBeNull();
  });

  test('gzip is recognised by its two magic bytes only', () => {
    expect(isGzip(bytes(0x1f, 0x8b))).toBe(true);
    expect(isGzip(bytes(0x1f))).toBe(false);
    expect(isGzip(bytes(0x8b, 0x1f, 0))).toBe(false);
  });
});

test('property: the decoders read lengths and status as a DataView does (big-endian, unsigned), for any bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 48 }), fc.constantFrom(0, 200, 2 ** 31, 2 ** 32 - 1), (bytes, status) => {
      const f = new Uint8Array(bytes);
      const v = new DataView(f.buffer);
      const r = decodeResponseFrame(f);
      if (f.length >= 2 && r.ok) expect(r.value.status).toBe(v.getUint32(2 + v.getUint16(0)));
      const framed = encodeResponseFrame('id', status, null, f);
      const d = decodeResponseFrame(framed);
      expect(d.ok && d.value.status).toBe(status);
      expect(d.ok && [...d.value.body]).toEqual([...f]);
      const idf = decodeIdFrame(f);
      if (idf.ok) expect(idf.value.body.length).toBe(f.length - 2 - v.getUint16(0));
    }),
    { numRuns: 5000 },
  );
});
