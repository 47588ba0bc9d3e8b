import { describe, expect, test } from 'bun:test';
import { gzipSync } from 'node:zlib';
import { clientHead } from '../../src/hub/agent-relay/client-head.ts';
import type { HeaderMap } from '../../src/protocol/http-headers.ts';
import { clientHeaders } from '../../src/protocol/response-decoders.ts';

/** What the exchange wrote before: the protocol's client headers, flattened for node's writeHead. */
function reference(status: number, h: HeaderMap, body?: Uint8Array): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const c = clientHeaders(status, h, body);
  for (const k in c) out[k] = c[k]!.length === 1 ? c[k]![0]! : c[k]!;
  return out;
}

describe('clientHead', () => {
  const gz = gzipSync(Buffer.from('x'));
  const plain = Buffer.from('plain');
  const cases: [string, number, HeaderMap, Uint8Array | undefined][] = [
    ['plain answer', 200, { 'Content-Type': ['application/json'], 'Content-Length': ['12'], Date: ['x'], 'Audit-Id': ['a', 'b'] }, plain],
    ['hop-by-hop and Connection-listed names', 200, { 'X-Keep': ['1'], Connection: ['close, X-Drop'], 'x-drop': ['2'], 'Keep-Alive': ['t'], 'Transfer-Encoding': ['chunked'], Upgrade: ['h2c'] }, plain],
    ['a 101 keeps Connection and Upgrade', 101, { Connection: ['Upgrade'], Upgrade: ['SPDY/3.1'], 'Proxy-Connection': ['x'] }, undefined],
    ['gzip Content-Encoding over bytes no longer gzip', 200, { 'Content-Encoding': ['gzip'], 'Content-Type': ['text/plain'] }, plain],
    ['gzip Content-Encoding over gzip bytes', 200, { 'content-encoding': ['GZIP'] }, gz],
    ['streamed (no body): the encoding stays', 200, { 'Content-Encoding': ['gzip'], 'content-length': ['5'] }, undefined],
    ['no headers', 204, {}, plain],
  ];
  for (const [name, status, h, body] of cases)
    test(name, () => {
      expect(clientHead(status, h, body)).toEqual(reference(status, h, body));
    });

  test('drops what it must', () => {
    expect(clientHead(200, { Connection: ['X-Drop'], 'X-Drop': ['1'], 'Content-Length': ['3'], 'X-Ok': ['a', 'b'] }, plain)).toEqual({ 'X-Ok': ['a', 'b'] });
  });
});
