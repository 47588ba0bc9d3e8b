// Seeded property fuzzing of every decoder (issue 19): round trips, mutations and truncations of valid input,
// and arbitrary input. A decoder answers bad input with its error value (or its declared error class), never
// with any other throw, and no single case takes a second. Budget: PIPEOPS_FUZZ_CASES cases in total (split
// over the properties), seed PIPEOPS_FUZZ_SEED; `npm run fuzz -- --cases N --seed S` for long runs.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { decodeIdFrame, decodeResponseFrame, encodeIdFrame, encodeResponseFrame, frameRequestId } from '../../src/protocol/binary-frame.ts';
import { decodeEnvelope, encodeEnvelope } from '../../src/protocol/envelope.ts';
import { mapToHeaders } from '../../src/protocol/http-headers.ts';
import { canonicalJson, parseProxyRequest, parseRequestChunk } from '../../src/protocol/proxy-messages.ts';
import { closeFrameArgs, decodeFrameData, encodeFrameData, isSendableCloseCode, MAX_CLOSE_REASON_BYTES } from '../../src/protocol/stream-messages.ts';
import { decodeChannelMessage, encodeChannelMessage, parseResize } from '../../src/sandbox/streams/channel-protocol.ts';
import { encodeSpdyFrame, SpdyFrameParser, SpdyProtocolError, type SpdyFrame } from '../../src/kube/spdy-frame.ts';
import { decodeHeaderBlock, encodeHeaderBlock } from '../../src/kube/spdy-header-block.ts';
import { encodeFrame, WebSocketFrameParser, WebSocketProtocolError } from '../../src/protocol/websocket-frame.ts';

const TOTAL = Number(process.env.PIPEOPS_FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.PIPEOPS_FUZZ_SEED ?? 19);
const PROPERTIES = 16;
const numRuns = Math.max(50, Math.floor(TOTAL / PROPERTIES));
const TIMEOUT = 120_000;

/** Runs a property with the shared seed and budget; records the slowest case in CPU time (the machine may be shared). */
let slowestMs = 0;
let slowestWhat = '';
function check<T>(what: string, arb: fc.Arbitrary<T>, predicate: (v: T) => void): void {
  fc.assert(
    fc.property(arb, (v) => {
      const t0 = process.cpuUsage();
      predicate(v);
      const d = process.cpuUsage(t0);
      const ms = (d.user + d.system) / 1000;
      if (ms > slowestMs) {
        slowestMs = ms;
        slowestWhat = what;
      }
    }),
    { seed: SEED, numRuns },
  );
}

/** Byte-level mutations of a valid encoding: flips, insertions, deletions, truncation. */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })).map(([b, edits]) => {
    let a = [...b];
    for (const [pos, kind, byte] of edits) {
      const i = a.length ? pos % a.length : 0;
      if (kind === 0 && a.length) a[i] = byte;
      else if (kind === 1) a.splice(i, 0, byte);
      else if (kind === 2 && a.length) a.splice(i, 1);
      else a = a.slice(0, i);
    }
    return Uint8Array.from(a);
  });
}
const truncations = (valid: fc.Arbitrary<Uint8Array>) => fc.tuple(valid, fc.nat()).map(([b, n]) => ({ whole: b, cut: b.subarray(0, b.length ? n % b.length : 0) }));
const ab = (u: Uint8Array) => new Uint8Array(u) as Uint8Array<ArrayBuffer>;
const idArb = fc.string({ maxLength: 40 });
const bytesArb = (max = 2000) => fc.uint8Array({ maxLength: max });

/** Values a hostile control plane puts in fields (the crash inputs among them). */
const hostile = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.constantFrom(5, -1, 0, 1e308, Number.MAX_SAFE_INTEGER, '600h', '9999-12-31T00:00:00Z', 'a b', 'é', 'x:y', '', 'e30=', '!!!', '\r\n', '__proto__'),
  fc.constantFrom(...[100, 10_000, 10_001, 30_000].map((d) => JSON.parse(`${'['.repeat(d)}${']'.repeat(d)}`))),
);
const proxyPayload = fc.dictionary(
  fc.oneof(fc.constantFrom('method', 'path', 'query', 'headers', 'body', 'body_encoding', 'body_binary', 'use_streaming', 'timeout', 'deadline', 'service_name', 'namespace', 'service_port', 'protocol', 'is_websocket', 'raw_frames', 'raw_upgrade', 'binary_chunks', 'supports_response_streaming'), fc.string({ maxLength: 12 })),
  fc.oneof(hostile, fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 20 }), fc.array(fc.oneof(fc.string({ maxLength: 10 }), fc.integer())), hostile), { maxKeys: 4 })),
  { maxKeys: 10 },
);

describe(`decoder fuzzing (seed ${SEED}, ${numRuns} cases per property)`, () => {
  test('envelope: round trip; arbitrary and mutated text is a result, never a throw', () => {
    const env = fc.record({ type: fc.string({ minLength: 1, maxLength: 20 }), id: idArb, payload: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }) });
    check('envelope round trip', env, ({ type, id, payload }) => {
      const d = decodeEnvelope(encodeEnvelope(type, payload, id));
      expect(d.ok).toBe(true);
      if (d.ok) expect(d.message).toEqual({ type, requestId: id || undefined, payload: JSON.parse(JSON.stringify(payload)) });
    });
    const valid = env.map(({ type, id, payload }) => new TextEncoder().encode(encodeEnvelope(type, payload, id)));
    check('envelope mutations', fc.oneof(mutated(valid), bytesArb(300)), (b) => {
      expect(typeof decodeEnvelope(new TextDecoder().decode(b)).ok).toBe('boolean');
    });
  }, TIMEOUT);

  test('proxy_request / chunk: hostile payloads are a result; accepted headers are ones Headers takes; deadlines finite', () => {
    check('proxy_request', fc.tuple(proxyPayload, idArb), ([payload, id]) => {
      const r = parseProxyRequest({ type: 'proxy_request', requestId: id || undefined, payload });
      if (!r.ok) return;
      expect(() => mapToHeaders(r.value.headers)).not.toThrow();
      if (r.value.deadlineMs !== null) expect(Number.isFinite(r.value.deadlineMs)).toBe(true);
      const c = parseRequestChunk({ type: 'proxy_request_chunk', requestId: id || undefined, payload: { data: payload.body, chunk: payload.path } });
      expect(typeof c.ok).toBe('boolean');
    });
  }, TIMEOUT);

  test('canonical JSON body: same value as JSON.parse, keys sorted', () => {
    check('canonicalJson', fc.jsonValue({ maxDepth: 6 }), (v) => {
      const s = canonicalJson(v);
      expect(s).not.toBeNull();
      expect(JSON.parse(s!)).toEqual(JSON.parse(JSON.stringify(v)));
    });
  }, TIMEOUT);

  test('binary request body frame: round trip; truncations inside the id are errors; mutations never throw', () => {
    const valid = fc.tuple(idArb, bytesArb()).map(([id, body]) => encodeIdFrame(id, body));
    check('body frame round trip', fc.tuple(idArb, bytesArb()), ([id, body]) => {
      const d = decodeIdFrame(encodeIdFrame(id, body));
      expect(d.ok && d.value.requestId === id && Buffer.from(d.value.body).equals(Buffer.from(body))).toBe(true);
    });
    check('body frame truncation', truncations(valid), ({ whole, cut }) => {
      const idEnd = 2 + ((whole[0]! << 8) | whole[1]!);
      const d = decodeIdFrame(ab(cut));
      if (cut.length < idEnd) expect(d.ok).toBe(false);
    });
    check('body frame mutations', fc.oneof(mutated(valid), bytesArb(100)), (b) => {
      expect(typeof decodeIdFrame(ab(b)).ok).toBe('boolean');
      frameRequestId(ab(b));
    });
  }, TIMEOUT);

  test('binary response frame: round trip; truncations before the body are errors; mutations never throw', () => {
    const headers = fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.array(fc.string({ maxLength: 10 }), { minLength: 1, maxLength: 2 }), { minKeys: 1, maxKeys: 3 }));
    const parts = fc.tuple(idArb, fc.integer({ min: 100, max: 599 }), headers, bytesArb());
    const valid = parts.map(([id, st, h, body]) => encodeResponseFrame(id, st, h, body));
    check('response frame round trip', parts, ([id, st, h, body]) => {
      const d = decodeResponseFrame(encodeResponseFrame(id, st, h, body));
      expect(d.ok).toBe(true);
      if (d.ok) expect([d.value.requestId, d.value.status, d.value.headers, Buffer.from(d.value.body).equals(Buffer.from(body))]).toEqual([id, st, h, true]);
    });
    check('response frame truncation', truncations(valid), ({ whole, cut }) => {
      const v = new DataView(whole.buffer, whole.byteOffset);
      const l = v.getUint16(0);
      const bodyStart = 10 + l + v.getUint32(6 + l);
      const d = decodeResponseFrame(ab(cut));
      if (cut.length < bodyStart) expect(d.ok).toBe(false);
    });
    check('response frame mutations', fc.oneof(mutated(valid), bytesArb(100)), (b) => {
      expect(typeof decodeResponseFrame(ab(b)).ok).toBe('boolean');
    });
  }, TIMEOUT);

  test('stream frame data and relayed close frames: round trip; hostile data is a result; close args always sendable', () => {
    check('frame data', fc.tuple(fc.constantFrom(1, 2, 8, 9, 10), bytesArb(500), hostile, fc.boolean()), ([op, payload, junk, norm]) => {
      const f = decodeFrameData({ data: encodeFrameData(op, payload) }, false);
      expect(typeof f !== 'string' && f.opcode === op && Buffer.from(f.payload).equals(Buffer.from(payload))).toBe(true);
      const g = decodeFrameData({ data: junk, message_type: typeof junk === 'number' ? junk : 2 }, norm);
      expect(typeof g === 'string' || typeof g.opcode === 'number').toBe(true);
    });
    check('close args', bytesArb(400), (payload) => {
      const { code, reason } = closeFrameArgs(payload);
      expect(isSendableCloseCode(code)).toBe(true);
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
    });
  }, TIMEOUT);

  test('SPDY frames: round trip in any slicing; mutated streams give frames or SpdyProtocolError only', () => {
    const id31 = fc.integer({ min: 1, max: 0x7fffffff });
    const frame: fc.Arbitrary<SpdyFrame> = fc.oneof(
      fc.record({ kind: fc.constant('data' as const), streamId: id31, fin: fc.boolean(), data: bytesArb(600).map((a) => Buffer.from(a)) }),
      fc.record({ kind: fc.constant('rstStream' as const), streamId: id31, status: fc.integer({ min: 0, max: 0xffffffff }) }),
      fc.record({ kind: fc.constant('ping' as const), id: fc.integer({ min: 0, max: 0xffffffff }) }),
      fc.record({ kind: fc.constant('windowUpdate' as const), streamId: id31, delta: fc.integer({ min: 0, max: 0x7fffffff }) }),
      fc.record({ kind: fc.constant('unknown' as const), type: fc.integer({ min: 10, max: 0xffff }), flags: fc.integer({ min: 0, max: 255 }), data: bytesArb(100).map((a) => Buffer.from(a)) }),
    );
    check('spdy round trip', fc.tuple(fc.array(frame, { maxLength: 4 }), fc.integer({ min: 1, max: 50 })), ([frames, step]) => {
      const bytes = Buffer.concat(frames.map(encodeSpdyFrame));
      const p = new SpdyFrameParser();
      const got: SpdyFrame[] = [];
      for (let i = 0; i < bytes.length; i += step) got.push(...p.push(bytes.subarray(i, i + step)));
      expect(got.length).toBe(frames.length);
    });
    const valid = fc.array(frame, { minLength: 1, maxLength: 3 }).map((fs) => new Uint8Array(Buffer.concat(fs.map(encodeSpdyFrame))));
    check('spdy mutations', fc.oneof(mutated(valid), bytesArb(200)), (b) => {
      try {
        new SpdyFrameParser().push(Buffer.from(b));
      } catch (e) {
        expect(e).toBeInstanceOf(SpdyProtocolError);
      }
    });
  }, TIMEOUT);

  test('SPDY header blocks: round trip; mutations give headers or a "malformed SPDY header block" error only', () => {
    const headers = fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).map((s) => s.toLowerCase()), fc.string({ maxLength: 30 }), { maxKeys: 6 });
    check('header block round trip', headers, (h) => {
      expect(decodeHeaderBlock(encodeHeaderBlock(h))).toEqual(h);
    });
    check('header block mutations', fc.oneof(mutated(headers.map((h) => new Uint8Array(encodeHeaderBlock(h)))), bytesArb(100)), (b) => {
      try {
        decodeHeaderBlock(Buffer.from(b));
      } catch (e) {
        expect(String((e as Error).message)).toStartWith('malformed SPDY header block');
      }
    });
  }, TIMEOUT);

  test('WebSocket frames and channel messages: round trip; mutations give frames/messages or their protocol error only', () => {
    const frames = fc.tuple(fc.constantFrom(0, 1, 2, 8, 9, 10), bytesArb(300), fc.boolean());
    check('ws frame round trip + channel', fc.tuple(frames, fc.integer({ min: 0, max: 9 }), fc.boolean()), ([[op, payload], ch, b64]) => {
      const mask = Uint8Array.from([1, 2, 3, 4]);
      const got = new WebSocketFrameParser(1 << 20, true).push(encodeFrame(op, payload, { mask }));
      expect(got.length === 1 && got[0]!.opcode === op && got[0]!.payload.equals(Buffer.from(payload))).toBe(true);
      const m = encodeChannelMessage(b64, ch, payload);
      const back = decodeChannelMessage(b64, m.data, m.binary);
      expect(back?.channel === ch && back.payload.equals(Buffer.from(payload))).toBe(true);
    });
    const valid = frames.map(([op, payload, masked]) => new Uint8Array(encodeFrame(op, payload, masked ? { mask: Uint8Array.from([9, 8, 7, 6]) } : {})));
    check('ws frame mutations', fc.tuple(fc.oneof(mutated(valid), bytesArb(200)), fc.boolean(), fc.string({ maxLength: 30 })), ([b, b64, text]) => {
      try {
        new WebSocketFrameParser(4096, false).push(Buffer.from(b));
      } catch (e) {
        expect(e).toBeInstanceOf(WebSocketProtocolError);
      }
      try {
        decodeChannelMessage(b64, Buffer.from(b), false);
      } catch (e) {
        expect(String((e as Error).message)).toContain('is not an ASCII digit');
      }
      parseResize(text);
    });
  }, TIMEOUT);

  test('no single case took a second', () => {
    expect(`${slowestWhat}: ${slowestMs.toFixed(0)} ms`).toMatch(/: \d{1,3} ms$/);
  });
});
