// The kube gateway's one-pass `proxy_request` text against its reference: the envelope JSON.stringify wrote of
// buildProxyRequest's payload (with the replicas' link headers removed first), byte for byte, for any headers, path,
// query, token and body, including strings JSON must escape, repeated and integer-like names.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { decodeEnvelope, encodeEnvelope } from '../../src/protocol/envelope.ts';
import { forwardRawRequestHeaders } from '../../src/protocol/http-headers.ts';
import { buildProxyRequest, INLINE_BODY_MAX, KUBE_REQUEST_DROP, type OutboundInput } from '../../src/protocol/proxy-request-builders.ts';
import { jsonString, ProxyRequestWriter } from '../../src/protocol/proxy-request-text.ts';
import { LINK_HEADERS, withoutLinkRawHeaders } from '../../src/hub/replica-link.ts';

const NOW = new Date('2026-12-03T08:30:00.123Z');
const reference = (i: OutboundInput) => {
  const out = buildProxyRequest({ ...i, rawHeaders: withoutLinkRawHeaders(i.rawHeaders) });
  return { text: encodeEnvelope('proxy_request', out.payload as Record<string, unknown>, i.requestId, NOW), frame: out.frame };
};

/** Strings JSON escapes or that sit near those rules. */
const tricky = fc.constantFrom('"', '\\', '\u0000', '\u001f', ' ', '\u007f', '\u2028', '\u2029', '\ud800', '\udc00x', 'a\ud83d', '\ud83d\ude00', 'é', '</script>', '\t\r\n', '%2F', '');
const text = fc.oneof(fc.string({ maxLength: 10 }), fc.string({ unit: 'binary', maxLength: 6 }), tricky, fc.array(tricky, { maxLength: 3 }).map((xs) => xs.join('x')));
const name = fc.oneof(
  fc.constantFrom('Host', 'host', 'Connection', 'connection', 'Authorization', 'authorization', 'Content-Length', 'Transfer-Encoding', 'Accept-Encoding', 'Expect', 'X-Forwarded-Host'),
  fc.constantFrom('Accept', 'ACCEPT', 'accept', 'User-Agent', 'Keep-Alive', 'TE', 'Upgrade', 'X-Trace', 'x-trace', 'X-Custom', 'foo-BAR', '-x', 'a--b', 'x-'),
  fc.constantFrom(...LINK_HEADERS, 'X-Pipeops-Forwarded-By', 'X-PIPEOPS-FORWARD-SIGNATURE'),
  fc.constantFrom('__proto__', 'constructor', 'toString', '0', '1', '42', '007', '4294967294', '4294967295', '1e3'),
  fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,10}$/),
);
const value = fc.oneof(fc.constantFrom('close', 'x-trace', 'X-Custom, foo', 'keep-alive', ' , ', 'upgrade', 'accept'), text);
const input = fc.record({
  requestId: fc.oneof(fc.constantFrom('k8s-1-0123456789ab', ''), text),
  method: fc.constantFrom('GET', 'get', 'Patch', 'POST', 'DELETE'),
  path: fc.oneof(fc.constantFrom('/api/v1/pods', '/'), text),
  query: fc.oneof(fc.constantFrom('', 'limit=500&watch=true'), text),
  rawHeaders: fc.array(fc.tuple(name, value), { maxLength: 14 }).map((ps) => ps.flat()),
  serviceToken: fc.oneof(fc.constantFrom('', 'eyJhbGciOi.sa-token'), text),
  body: fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(new Uint8Array(0)), fc.constant(new Uint8Array(INLINE_BODY_MAX + 1).fill(3))),
  streaming: fc.boolean(),
  binaryChunks: fc.boolean(),
});

describe('ProxyRequestWriter', () => {
  test('property: the same text and frame as the reference', () => {
    const writer = new ProxyRequestWriter([...KUBE_REQUEST_DROP, ...LINK_HEADERS]);
    fc.assert(
      fc.property(input, (i) => {
        const ref = reference(i);
        const out = writer.write(i, NOW.toISOString());
        expect(out.text).toBe(ref.text);
        expect(out.frame).toEqual(ref.frame);
      }),
      { numRuns: 4000 },
    );
  });

  test('property: many headers (past the scan for repeats) still match', () => {
    const writer = new ProxyRequestWriter([...KUBE_REQUEST_DROP, ...LINK_HEADERS]);
    const many = fc.array(fc.tuple(fc.oneof(name, fc.constantFrom('X-A', 'x-a', 'X-B')), value), { minLength: 30, maxLength: 90 }).map((ps) => ps.flat());
    fc.assert(
      fc.property(many, fc.boolean(), (rawHeaders, withToken) => {
        const i: OutboundInput = { requestId: 'k8s-2-abc', method: 'GET', path: '/api', query: '', rawHeaders, serviceToken: withToken ? 'sa' : '', body: new Uint8Array(0), streaming: false, binaryChunks: true };
        expect(writer.write(i, NOW.toISOString()).text).toBe(reference(i).text);
      }),
      { numRuns: 500 },
    );
  });

  test('a drop list that lets Authorization through: the token replaces its values in place', () => {
    const writer = new ProxyRequestWriter(['host']);
    const i: OutboundInput = { requestId: 'r', method: 'GET', path: '/', query: '', rawHeaders: ['authorization', 'Bearer user', 'Accept', '*/*', 'Authorization', 'again'], serviceToken: 'sa', body: new Uint8Array(0), streaming: false, binaryChunks: false };
    const d = decodeEnvelope(writer.write(i, NOW.toISOString()).text);
    expect(d.ok && d.message.payload).toMatchObject({ headers: { Authorization: ['Bearer sa'], Accept: ['*/*'] } });
    expect(Object.keys((d.ok && (d.message.payload.headers as object)) || {})).toEqual(['Authorization', 'Accept']);
  });

  test('the text is an envelope the agent decodes', () => {
    const writer = new ProxyRequestWriter([...KUBE_REQUEST_DROP, ...LINK_HEADERS]);
    const i: OutboundInput = { requestId: 'k8s-9-x', method: 'get', path: '/api/v1/namespaces', query: 'limit=1', rawHeaders: ['Host', 'hub', 'Accept', 'application/json', 'Authorization', 'Bearer user-token'], serviceToken: 'sa', body: new Uint8Array(0), streaming: false, binaryChunks: true };
    const d = decodeEnvelope(writer.write(i, NOW.toISOString()).text);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.message).toMatchObject({ type: 'proxy_request', requestId: 'k8s-9-x', payload: { method: 'GET', headers: { Accept: ['application/json'], Authorization: ['Bearer sa'] }, binary_chunks: true } });
  });

  test('jsonString is JSON.stringify of a string (property)', () => {
    fc.assert(fc.property(fc.oneof(text, fc.string({ unit: 'binary' })), (s) => expect(jsonString(s)).toBe(JSON.stringify(s))), { numRuns: 3000 });
  });
});

test('a header named __proto__ is forwarded as a name like any other (it threw before)', () => {
  const h = forwardRawRequestHeaders(['__proto__', 'x', 'Accept', 'y', '__proto__', 'z'], []);
  expect(JSON.stringify(h)).toBe('{"__proto__":["x","z"],"Accept":["y"]}');
});
