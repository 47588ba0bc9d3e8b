// The gzip heuristic of buffered responses (protocol.md §3.7): size threshold, textual types by case-sensitive
// substring as upstream, media and already-compressed types never, an existing Content-Encoding never.
import { describe, expect, test } from 'bun:test';
import { GZIP_MIN_BYTES, shouldCompress } from '../../src/protocol/compression.ts';

describe('shouldCompress', () => {
  test('textual types at or above the threshold are compressed, below it not', () => {
    for (const ct of ['text/plain', 'application/json', 'application/javascript', 'application/xml', 'text/html; charset=utf-8', 'application/yaml'])
      expect(shouldCompress(ct, undefined, GZIP_MIN_BYTES), ct).toBe(true);
    expect(shouldCompress('application/json', undefined, GZIP_MIN_BYTES - 1)).toBe(false);
    expect(shouldCompress('application/json', undefined, 10, 10)).toBe(true);
  });

  test('media, archives and unknown or missing types are not; the match is case-sensitive like upstream', () => {
    for (const ct of ['image/svg+xml', 'video/mp4', 'audio/ogg', 'application/gzip', 'application/zip', 'application/x-compress', 'application/octet-stream', 'Application/JSON', ''])
      expect(shouldCompress(ct, undefined, 1 << 20), ct).toBe(false);
    expect(shouldCompress(undefined, undefined, 1 << 20)).toBe(false);
  });

  test('a body already carrying a Content-Encoding other than identity is left alone', () => {
    expect(shouldCompress('text/plain', 'br', 1 << 20)).toBe(false);
    expect(shouldCompress('text/plain', 'gzip', 1 << 20)).toBe(false);
    expect(shouldCompress('text/plain', 'identity', 1 << 20)).toBe(true);
  });
});
