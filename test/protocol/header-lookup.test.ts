// The header helpers the relays call for every request (made cheaper in issue 14): same answers as before.
import { describe, expect, test } from 'bun:test';
import { canonicalHeaderName, headerValue } from '../../src/protocol/http-headers.ts';

describe('headerValue', () => {
  test('finds a name whatever its case, first value', () => {
    const h = { 'Content-Type': ['application/json', 'text/plain'], 'x-custom': ['1'] };
    expect(headerValue(h, 'content-type')).toBe('application/json');
    expect(headerValue(h, 'CONTENT-TYPE')).toBe('application/json');
    expect(headerValue(h, 'X-Custom')).toBe('1');
  });

  test('absent names, names that only share a prefix, and empty value lists are undefined', () => {
    const h = { Host: [], 'Content-Type-Extra': ['x'], Upgrade: ['websocket'] };
    expect(headerValue(h, 'host')).toBeUndefined();
    expect(headerValue(h, 'content-type')).toBeUndefined();
    expect(headerValue(h, 'sec-websocket-key')).toBeUndefined();
  });

  test('the first matching name in insertion order wins when a map carries two casings', () => {
    expect(headerValue({ host: ['a'], Host: ['b'] }, 'HOST')).toBe('a');
    expect(headerValue({ Host: [], host: ['b'] }, 'host')).toBe('b');
  });
});

describe('canonicalHeaderName', () => {
  test('Go canonical form, the same answer from the memo as on first sight', () => {
    for (let i = 0; i < 2; i++) {
      expect(canonicalHeaderName('content-type')).toBe('Content-Type');
      expect(canonicalHeaderName('X-FORWARDED-FOR')).toBe('X-Forwarded-For');
      expect(canonicalHeaderName('a--b')).toBe('A--B');
      expect(canonicalHeaderName('')).toBe('');
    }
  });

  test('names beyond the memo bound are still canonicalised', () => {
    for (let i = 0; i < 1500; i++) expect(canonicalHeaderName(`x-name-${i}`)).toBe(`X-Name-${i}`);
  });
});
