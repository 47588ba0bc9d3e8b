import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { decodeEnvelope, EnvelopeSchema, encodeEnvelope, legacyJsonText } from '../../src/protocol/envelope.ts';

describe('envelope', () => {
  test('the hand-checked fast path accepts exactly what the schema accepts (and the timestamp rule holds)', () => {
    const field = fc.oneof(fc.constant(undefined), fc.constant(null), fc.string(), fc.integer(), fc.boolean(), fc.array(fc.jsonValue(), { maxLength: 2 }), fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }));
    const stamp = fc.oneof(field, fc.constant('2026-12-03T02:52:38.816Z'), fc.constant('2026-12-03T02:52:38+01:00'));
    fc.assert(
      fc.property(fc.oneof(field, fc.constantFrom('proxy_request', 'heartbeat_ack', '')), field, field, stamp, (type, id, payload, timestamp) => {
        const env: Record<string, unknown> = {};
        if (type !== undefined) env.type = type;
        if (id !== undefined) env.request_id = id;
        if (payload !== undefined) env.payload = payload;
        if (timestamp !== undefined) env.timestamp = timestamp;
        const d = decodeEnvelope(JSON.stringify(env));
        const schemaOk = EnvelopeSchema.safeParse(env).success;
        const stampOk = timestamp === undefined || timestamp === null || (typeof timestamp === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(timestamp));
        expect(d.ok).toBe(schemaOk && stampOk);
        if (d.ok) {
          expect(d.message.type).toBe(type as string);
          expect(d.message.requestId).toBe((id as string) || undefined);
          expect(d.message.payload).toEqual((payload ?? {}) as Record<string, unknown>);
          expect(d.message.payloadAbsent).toBe(payload === undefined || payload === null ? true : undefined);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('encode → decode round-trips type, request id and payload', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.option(fc.string({ minLength: 1 }), { nil: undefined }), fc.dictionary(fc.string(), fc.jsonValue()), (type, id, payload) => {
        const d = decodeEnvelope(encodeEnvelope(type, payload, id));
        expect(d.ok).toBe(true);
        if (!d.ok) return;
        expect(d.message.type).toBe(type);
        expect(d.message.requestId).toBe(id);
        expect(d.message.payload).toEqual(JSON.parse(JSON.stringify(payload)));
      }),
    );
  });

  test('arbitrary input never throws and always yields a reason when rejected', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
        const d = decodeEnvelope(text);
        if (!d.ok) expect(d.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 2000 },
    );
  });

  test('a payload key named __proto__ stays data (no prototype games from the wire)', () => {
    const d = decodeEnvelope('{"type":"x","payload":{"__proto__":{"polluted":true},"a":1}}');
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(Object.keys(d.message.payload).sort()).toEqual(['__proto__', 'a']);
    expect((d.message.payload as { polluted?: boolean }).polluted).toBeUndefined();
  });

  test('a timestamp equal to the last valid one is accepted without a second check; any other is checked', () => {
    const ok = '2026-12-03T08:00:00.123Z';
    for (const ts of [ok, ok, '', 'yesterday', ok, '2026-12-03 08:00:00', ok]) {
      const d = decodeEnvelope(JSON.stringify({ type: 'proxy_request', request_id: 'r1', payload: {}, timestamp: ts }));
      expect(d.ok ? 'ok' : d.reason).toBe(ts === ok ? 'ok' : 'invalid_timestamp');
    }
  });

  test('empty request_id is omitted, null payload allowed, timestamps RFC 3339', () => {
    const s = JSON.parse(encodeEnvelope('heartbeat', null, ''));
    expect('request_id' in s).toBe(false);
    expect(s.payload).toBeNull();
    expect(decodeEnvelope(JSON.stringify({ type: 'x', timestamp: '2024-11-21T19:00:00.123456789Z' })).ok).toBe(true);
    expect(decodeEnvelope(JSON.stringify({ type: 'x', timestamp: '2024-11-21T19:00:00+02:00' })).ok).toBe(true);
    expect(decodeEnvelope(JSON.stringify({ type: 'x', timestamp: null })).ok).toBe(true);
    for (const ts of ['', 'yesterday', '2024-11-21', 17]) {
      const d = decodeEnvelope(JSON.stringify({ type: 'x', timestamp: ts }));
      expect(d.ok ? 'ok' : d.reason).toBe('invalid_timestamp');
    }
  });

  test('rejections keep the request id and type when they are readable', () => {
    const d = decodeEnvelope(JSON.stringify({ type: 'proxy_request', request_id: 'r1', payload: 3 }));
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.requestId).toBe('r1');
      expect(d.type).toBe('proxy_request');
      expect(d.reason).toBe('invalid_envelope');
    }
  });

  test('a missing or null payload is marked, an empty object is not', () => {
    for (const text of ['{"type":"proxy_request","request_id":"a"}', '{"type":"proxy_request","request_id":"a","payload":null}']) {
      const d = decodeEnvelope(text);
      expect(d.ok && d.message.payloadAbsent).toBe(true);
    }
    const d = decodeEnvelope('{"type":"proxy_request","request_id":"a","payload":{}}');
    expect(d.ok && d.message.payloadAbsent).toBeUndefined();
  });

  test('legacy JSON-in-binary: an object after optional blanks is text, anything else is not', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(legacyJsonText(enc(' \n{"type":"ping"}'))).toBe(' \n{"type":"ping"}');
    expect(legacyJsonText(enc('[1]'))).toBeNull();
    expect(legacyJsonText(new Uint8Array([0, 3, 0x61, 0x62, 0x63, 1, 2]))).toBeNull();
    expect(legacyJsonText(new Uint8Array(0))).toBeNull();
    fc.assert(fc.property(fc.uint8Array(), (b) => {
      const t = legacyJsonText(b);
      if (t !== null) expect(t.trimStart().startsWith('{')).toBe(true);
    }));
  });
});
