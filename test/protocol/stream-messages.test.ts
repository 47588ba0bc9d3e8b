// WebSocket and stream relay messages (protocol.md §3.8, §4): the stream id precedence, the [opcode][payload]
// data encoding with upstream's `message_type` normalisation, the channel-protocol test and the stream path rules.
// Close-frame arguments are pinned in proxy-messages.test.ts; hostile data is fuzzed in test/fuzz.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import { decodeFrameData, encodeFrameData, isChannelProtocol, OPCODE, sanitiseStreamPath, streamIdOf } from '../../src/protocol/stream-messages.ts';

const m = (payload: Record<string, unknown>, requestId?: string): InboundMessage => ({ type: 'proxy_websocket_data', requestId, payload });

describe('stream id', () => {
  test('payload.request_id ▸ payload.stream_id ▸ top-level request_id; empty and non-string values are skipped', () => {
    expect(streamIdOf(m({ request_id: 'a', stream_id: 'b' }, 'c'))).toBe('a');
    expect(streamIdOf(m({ stream_id: 'b' }, 'c'))).toBe('b');
    expect(streamIdOf(m({}, 'c'))).toBe('c');
    expect(streamIdOf(m({ request_id: '', stream_id: 7 }, 'c'))).toBe('c');
    expect(streamIdOf(m({}))).toBeUndefined();
  });
});

describe('frame data', () => {
  test('encoding: base64 of the opcode byte then the payload', () => {
    expect(encodeFrameData(OPCODE.binary, Uint8Array.from([0xff, 0]))).toBe(Buffer.from([2, 0xff, 0]).toString('base64'));
    expect(encodeFrameData(OPCODE.text, new TextEncoder().encode('hi'))).toBe(Buffer.from('\x01hi').toString('base64'));
  });

  test('property: every opcode and payload round-trips, with and without normalisation', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(OPCODE)), fc.uint8Array({ maxLength: 300 }), fc.boolean(), (opcode, payload, normalise) => {
        const f = decodeFrameData({ data: encodeFrameData(opcode, payload) }, normalise);
        expect(f).toEqual({ opcode, payload: expect.anything() });
        if (typeof f !== 'string') expect([...f.payload]).toEqual([...payload]);
      }),
      { seed: 17, numRuns: 300 },
    );
  });

  test('normalisation (app relay, §3.8 step 6): raw data takes its opcode from message_type; the kubectl path refuses it', () => {
    const raw = { data: Buffer.from('hello').toString('base64'), message_type: 1 };
    expect(decodeFrameData(raw, true)).toEqual({ opcode: 1, payload: new Uint8Array(Buffer.from('hello')) });
    expect(decodeFrameData(raw, false)).toBe('first byte 104 is not a WebSocket opcode');
    expect(decodeFrameData({ ...raw, message_type: 3 }, true)).toBe('first byte 104 is not a WebSocket opcode');
  });

  test('a leading opcode byte wins over message_type; empty data needs a valid message_type', () => {
    expect(decodeFrameData({ data: Buffer.from([2, 9]).toString('base64'), message_type: 1 }, true)).toEqual({ opcode: 2, payload: Uint8Array.from([9]) });
    expect(decodeFrameData({ data: '', message_type: 8 }, false)).toEqual({ opcode: 8, payload: new Uint8Array(0) });
    expect(decodeFrameData({ data: '' }, true)).toBe('empty data without message_type');
    expect(decodeFrameData({ data: '', message_type: 4 }, true)).toBe('empty data without message_type');
    expect(decodeFrameData({ data: 5 }, true)).toBe('data must be a base64 string');
  });
});

describe('stream start rules', () => {
  test('channel protocols are channel.k8s.io and its versions', () => {
    for (const p of ['channel.k8s.io', 'v4.channel.k8s.io', 'base64.channel.k8s.io']) expect(isChannelProtocol(p), p).toBe(true);
    for (const p of ['', 'v5.channel.k8s.io.evil', 'SPDY/3.1', 'xchannel.k8s.io']) expect(isChannelProtocol(p), p).toBe(false);
  });

  test('stream paths: Kubernetes API prefixes only; %, \\, CR, LF refused; .. removed and // collapsed', () => {
    expect(sanitiseStreamPath('/api/v1/namespaces/d/pods/p/exec')).toBe('/api/v1/namespaces/d/pods/p/exec');
    expect(sanitiseStreamPath('/api')).toBe('/api');
    expect(sanitiseStreamPath('/api//v1/../x')).toBe('/api/v1/x');
    expect(sanitiseStreamPath('/apis/../../etc')).toBe('/apis/etc');
    for (const bad of ['', '/metrics', '/api%2f', '/api/\\x', '/api/a\r\nb', 'api/v1']) expect(sanitiseStreamPath(bad), JSON.stringify(bad)).toBeNull();
  });

  test('property: an accepted stream path has no .., no //, and starts with an API prefix', () => {
    fc.assert(
      fc.property(fc.constantFrom('/api/', '/apis/', '/version', '/x/', ''), fc.string({ maxLength: 30 }), (prefix, rest) => {
        const p = sanitiseStreamPath(prefix + rest);
        if (p === null) return;
        expect(p.includes('..')).toBe(false);
        expect(p.includes('//')).toBe(false);
        expect(/^\/(api|apis)(\/|$)|^\/(version|healthz|readyz|livez|openapi\/)/.test(p)).toBe(true);
      }),
      { seed: 17, numRuns: 500 },
    );
  });
});
