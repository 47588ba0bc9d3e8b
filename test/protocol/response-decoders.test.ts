// The hub's decoders of agent answers (src/protocol/response-decoders.ts; protocol.md §3.5, §3.6, P6, P7), fed by
// the agent's own encoders (ProxyOut, encodeResponseFrame): round trips, upstream's leniencies (status 0 is 200,
// `chunk` for `data`, no encoding = the string itself), the gzip rules of the flagless binary frame, the client
// headers, and truncated or hostile input as error values, never a throw.
import { describe, expect, test } from 'bun:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { encodeResponseFrame } from '../../src/protocol/binary-frame.ts';
import { ProxyOut } from '../../src/protocol/proxy-messages.ts';
import { clientHeaders, decodeBufferedResponse, decodeFrameResponse, decodeStreamChunk, decodeStreamHeader } from '../../src/protocol/response-decoders.ts';

const b64 = (b: Uint8Array | string) => Buffer.from(b).toString('base64');
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('proxy_response', () => {
  test('base64, gzip and absent bodies', () => {
    const d = decodeBufferedResponse({ status: 201, headers: { A: ['b'] }, body: b64('hi'), encoding: 'base64' });
    expect(d).toMatchObject({ ok: true, value: { status: 201, headers: { A: ['b'] } } });
    expect(d.ok && Buffer.from(d.value.body).toString()).toBe('hi');
    const g = decodeBufferedResponse({ status: 200, headers: null, body: b64(gzipSync('zipped')), encoding: 'GZIP' });
    expect(g.ok && Buffer.from(g.value.body).toString()).toBe('zipped');
    expect(decodeBufferedResponse({ status: 204 })).toEqual({ ok: true, value: { status: 204, headers: {}, body: new Uint8Array(0) } });
  });

  test('status 0 or absent is 200 (upstream); a status outside 100–999 or not an integer is an error', () => {
    expect(decodeBufferedResponse({ status: 0 })).toMatchObject({ ok: true, value: { status: 200 } });
    expect(decodeBufferedResponse({})).toMatchObject({ ok: true, value: { status: 200 } });
    for (const s of [99, 1000, 200.5, '200', -1]) expect(decodeBufferedResponse({ status: s }), String(s)).toEqual({ ok: false, error: 'proxy_response status is not an HTTP status code' });
  });

  test('no or an unknown encoding is the string itself; invalid base64, bad gzip and non-string bodies are errors', () => {
    const raw = decodeBufferedResponse({ status: 200, body: 'plain' });
    expect(raw.ok && Buffer.from(raw.value.body).toString()).toBe('plain');
    expect(decodeBufferedResponse({ status: 200, body: 'A', encoding: 'base64' })).toEqual({ ok: false, error: 'proxy_response body is not valid base64' });
    expect(decodeBufferedResponse({ status: 200, body: b64('not gzip'), encoding: 'gzip' })).toMatchObject({ ok: false, error: expect.stringContaining('proxy_response gzip body undecodable') });
    expect(decodeBufferedResponse({ status: 200, body: 5 })).toEqual({ ok: false, error: 'proxy_response body is not a string' });
    expect(decodeBufferedResponse(JSON.parse('{"status":200,"headers":{"__proto__":["x"]}}'))).toEqual({ ok: false, error: 'proxy_response headers has a header named __proto__' });
  });
});

describe('streamed answers', () => {
  test("the agent's header and chunk messages round-trip; `chunk` is an alias of `data`", () => {
    expect(decodeStreamHeader(ProxyOut.header(206, { 'Content-Range': ['bytes 0-1/2'] }))).toEqual({ ok: true, value: { status: 206, headers: { 'Content-Range': ['bytes 0-1/2'] } } });
    expect(decodeStreamHeader(ProxyOut.header(0, null))).toEqual({ ok: true, value: { status: 200, headers: {} } });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), (b) => {
        const d = decodeStreamChunk(ProxyOut.chunk(b));
        expect(d.ok && [...d.value]).toEqual([...b]);
      }),
      { seed: 17, numRuns: 200 },
    );
    const alias = decodeStreamChunk({ chunk: b64('x') });
    expect(alias.ok && Buffer.from(alias.value).toString()).toBe('x');
    expect(decodeStreamChunk({ data: 3 })).toEqual({ ok: false, error: 'proxy_response_chunk without base64 data' });
    expect(decodeStreamHeader({ status: 'x' })).toEqual({ ok: false, error: 'proxy_response_header status is not an HTTP status code' });
  });
});

describe('binary response frame (no encoding flag, P6)', () => {
  test('a gzip body of a type the agent compresses is gunzipped; of a media type it is left alone', () => {
    const z = new Uint8Array(gzipSync('{"a":1}'));
    const json = decodeFrameResponse(encodeResponseFrame('r', 200, { 'Content-Type': ['application/json'] }, z));
    expect(json.ok && Buffer.from(json.value.body).toString()).toBe('{"a":1}');
    const png = decodeFrameResponse(encodeResponseFrame('r', 200, { 'Content-Type': ['image/png'] }, z));
    expect(png.ok && [...png.value.body]).toEqual([...z]);
    const none = decodeFrameResponse(encodeResponseFrame('r', 200, null, z));
    expect(none.ok && [...none.value.body]).toEqual([...z]);
  });

  test('a gzip-looking body that is not gzip is an error; a status outside 100–999 is an error', () => {
    expect(decodeFrameResponse(encodeResponseFrame('r', 200, { 'Content-Type': ['text/plain'] }, Uint8Array.from([0x1f, 0x8b, 0])))).toMatchObject({ ok: false, error: expect.stringContaining('response frame gzip body undecodable') });
    expect(decodeFrameResponse(encodeResponseFrame('r', 42, null, new Uint8Array(0)))).toEqual({ ok: false, error: 'response frame status 42 is not an HTTP status code' });
  });

  test('property: round trip of id, status, headers and body; every truncation before the body is an error value', () => {
    const headers = fc.option(fc.dictionary(fc.stringMatching(/^[A-Z][a-z]{0,6}$/), fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 2 }), { maxKeys: 3 }), { nil: null });
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.integer({ min: 100, max: 999 }), headers, fc.uint8Array({ maxLength: 300 }).filter((b) => !(b[0] === 0x1f && b[1] === 0x8b)), fc.nat(), (id, status, h, body, cutAt) => {
        const frame = encodeResponseFrame(id, status, h, body);
        const d = decodeFrameResponse(frame);
        expect(d).toEqual({ ok: true, value: { requestId: id, status, headers: h && Object.keys(h).length ? h : {}, body: expect.anything() } });
        if (d.ok) expect([...d.value.body]).toEqual([...body]);
        const head = frame.length - body.length;
        const cut = decodeFrameResponse(frame.subarray(0, cutAt % head));
        expect(cut.ok).toBe(false);
      }),
      { seed: 17, numRuns: 300 },
    );
  });
});

describe('client headers', () => {
  test('hop-by-hop and Content-Length dropped; Content-Encoding gzip dropped only when the bytes are no longer gzip', () => {
    const h = { 'Content-Length': ['10'], 'Content-Encoding': ['gzip'], Connection: ['close'], 'X-A': ['1'] };
    expect(clientHeaders(200, h, bytes('plain'))).toEqual({ 'X-A': ['1'] });
    expect(clientHeaders(200, h, new Uint8Array(gzipSync('x')))).toEqual({ 'Content-Encoding': ['gzip'], 'X-A': ['1'] });
    expect(clientHeaders(200, h)).toEqual({ 'Content-Encoding': ['gzip'], 'X-A': ['1'] });
    expect(clientHeaders(101, { Connection: ['Upgrade'], Upgrade: ['websocket'] })).toEqual({ Connection: ['Upgrade'], Upgrade: ['websocket'] });
  });

  test('property: hostile payloads of every answer type are decoded to a value, never a throw', () => {
    const hostile = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('', 'A', '!!', null, 0, 1e400, -0, b64(gzipSync('x')), '__proto__'));
    const payload = fc.dictionary(fc.constantFrom('status', 'headers', 'body', 'encoding', 'data', 'chunk', 'error'), hostile, { maxKeys: 5 });
    fc.assert(
      fc.property(payload, (p) => {
        for (const d of [decodeBufferedResponse(p), decodeStreamHeader(p), decodeStreamChunk(p)]) expect(typeof d.ok).toBe('boolean');
      }),
      { seed: 17, numRuns: 500 },
    );
  });
});
