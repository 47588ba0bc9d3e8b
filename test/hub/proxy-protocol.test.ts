// The PROXY protocol header decoder (v1 and v2): round trips for any address, any split of the bytes, and clear
// errors for what is not a header.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { encodeProxyHeader, looksLikeHeader, parseProxyHeader } from '../../src/hub/public-gateway/proxy-protocol.ts';

const v6 = fc.ipV6().filter((ip) => !ip.includes('.'));

describe('PROXY protocol header', () => {
  test('v1 and v2, IPv4 and IPv6: the source address comes back, the length is the header\'s, any prefix is incomplete', () => {
    fc.assert(
      fc.property(fc.constantFrom(1 as const, 2 as const), fc.oneof(fc.tuple(fc.ipV4(), fc.ipV4()), fc.tuple(v6, v6)), fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 64 }), (version, [src, dst], sport, rest) => {
        const h = encodeProxyHeader(version, src, dst, sport, 8088);
        const got = parseProxyHeader(Buffer.concat([h, rest]));
        expect(got.kind).toBe('ok');
        if (got.kind !== 'ok') return;
        expect(got.length).toBe(h.length);
        // The address reads back as the same one (re-encoding it gives the same bytes).
        expect(encodeProxyHeader(version, got.source!, dst, sport, 8088).equals(h)).toBe(true);
        for (const cut of [0, 1, 5, 12, 15, h.length - 1]) if (cut < h.length) expect(parseProxyHeader(h.subarray(0, cut)).kind).toBe('incomplete');
      }),
    );
  });

  test('known forms', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 198.51.100.7 10.0.0.1 40000 8088\r\nGET /'))).toEqual({ kind: 'ok', source: '198.51.100.7', length: 45 });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ kind: 'ok', source: null, length: 15 });
    expect(parseProxyHeader(encodeProxyHeader(2, '2001:db8::1', '2001:db8::2', 1, 2))).toMatchObject({ kind: 'ok', source: '2001:db8::1' });
    // v2 LOCAL (HAProxy's own health checks): no client address.
    const local = Buffer.from(encodeProxyHeader(2, '1.2.3.4', '5.6.7.8', 1, 2));
    local[12] = 0x20;
    expect(parseProxyHeader(local)).toEqual({ kind: 'ok', source: null, length: local.length });
  });

  test('what is not a header is an error, never a guess', () => {
    expect(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n'))).toMatchObject({ kind: 'error', reason: 'the connection does not start with a PROXY protocol header' });
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'))).toMatchObject({ kind: 'error', reason: 'malformed PROXY v1 line' });
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 2\r\n'))).toMatchObject({ kind: 'error', reason: 'PROXY v1 addresses are not TCP4' });
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n'))).toMatchObject({ kind: 'error', reason: 'PROXY v1 port out of range' });
    expect(parseProxyHeader(Buffer.from(`PROXY ${'x'.repeat(120)}`))).toMatchObject({ kind: 'error', reason: 'PROXY v1 line longer than 107 bytes' });
    const v3 = Buffer.from(encodeProxyHeader(2, '1.2.3.4', '5.6.7.8', 1, 2));
    v3[12] = 0x31;
    expect(parseProxyHeader(v3)).toMatchObject({ kind: 'error', reason: 'PROXY v2 header with version 3' });
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes) => {
        const r = parseProxyHeader(bytes);
        if (r.kind === 'ok') expect(r.length).toBeLessThanOrEqual(bytes.length);
      }),
    );
  });

  test('looksLikeHeader: a malformed header is still a header (refused); HTTP, even with a leading CRLF, is not', () => {
    expect(looksLikeHeader(Buffer.from('PROXY TCP4 1.2.3.4\r\n'))).toBe(true);
    expect(looksLikeHeader(encodeProxyHeader(2, '1.2.3.4', '5.6.7.8', 1, 2).subarray(0, 12))).toBe(true);
    for (const http of ['GET / HTTP/1.1\r\n', '\r\nGET / HTTP/1.1\r\n', 'POST /x HTTP/1.1\r\n', 'PROPFIND / HTTP/1.1\r\n']) expect(looksLikeHeader(Buffer.from(http))).toBe(false);
  });
});
