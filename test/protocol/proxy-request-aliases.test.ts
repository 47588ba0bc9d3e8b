// proxy_request and its companions as protocol.md §3.1–3.3 define them: the aliases a control plane may use, the
// precedence rules (deadline over timeout, `protocol` implying a WebSocket), `__proto__` header names, and the
// type errors that become a `proxy_error` (P1). Nesting and header-token cases are in proxy-messages.test.ts; the
// builders of src/protocol/proxy-request-builders.ts are checked against this parser.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { decodeEnvelope, type InboundMessage } from '../../src/protocol/envelope.ts';
import { type HeaderMap, rawHeadersToMap } from '../../src/protocol/http-headers.ts';
import { parseGoDuration, parseHeaderMap, parseProxyRequest, parseRequestChunk } from '../../src/protocol/proxy-messages.ts';
import { appProxyRequest, appWebSocketRequest, buildProxyRequest, INLINE_BODY_MAX, rawUpgradeRequest } from '../../src/protocol/proxy-request-builders.ts';
import { encodeMessage } from '../../src/protocol/wire-messages.ts';

const NOW = 1_700_000_000_000;
const msg = (payload: Record<string, unknown>, requestId = 'r'): InboundMessage => ({ type: 'proxy_request', requestId, payload });
const parse = (payload: Record<string, unknown>) => parseProxyRequest(msg(payload), NOW);
const ok = (payload: Record<string, unknown>) => {
  const r = parse(payload);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};
const err = (payload: Record<string, unknown>) => {
  const r = parse(payload);
  if (r.ok) throw new Error('expected an error');
  return r.error;
};

describe('proxy_request aliases and defaults', () => {
  test('an empty payload is GET / of nothing, as upstream relays it; the method is upper-cased', () => {
    expect(ok({})).toMatchObject({ method: 'GET', path: '', query: '', headers: {}, body: null, bodyBinary: false, streamingBody: false, isWebSocket: false, deadlineMs: null });
    expect(ok({ method: 'patch' }).method).toBe('PATCH');
  });

  test('use_streaming and streaming both mean a streamed body; is_websocket and isWebSocket both mean an upgrade', () => {
    expect(ok({ use_streaming: true }).streamingBody).toBe(true);
    expect(ok({ streaming: true }).streamingBody).toBe(true);
    expect(ok({ is_websocket: true }).isWebSocket).toBe(true);
    expect(ok({ isWebSocket: true }).isWebSocket).toBe(true);
  });

  test('`protocol` implies a WebSocket and becomes Sec-WebSocket-Protocol unless a header already says it (any case)', () => {
    const v = ok({ protocol: 'v5.channel.k8s.io' });
    expect(v.isWebSocket).toBe(true);
    expect(v.headers).toEqual({ 'Sec-WebSocket-Protocol': ['v5.channel.k8s.io'] });
    expect(ok({ protocol: 'a', headers: { 'sec-websocket-protocol': 'b' } }).headers).toEqual({ 'sec-websocket-protocol': ['b'] });
  });

  test('proxy_request_chunk: `data` wins over its alias `chunk`; a missing id or non-string data is an error', () => {
    const chunk = (payload: Record<string, unknown>, requestId: string | null = 'r') => parseRequestChunk({ type: 'proxy_request_chunk', requestId: requestId ?? undefined, payload });
    expect(chunk({ data: 'AQI=', chunk: 'AwQ=' })).toEqual({ ok: true, value: Uint8Array.from([1, 2]) });
    expect(chunk({ chunk: 'AwQ=' })).toEqual({ ok: true, value: Uint8Array.from([3, 4]) });
    expect(chunk({ data: 5 })).toEqual({ ok: false, error: 'proxy_request_chunk needs a base64 string in data or chunk' });
    expect(chunk({ data: 'AA==' }, null)).toEqual({ ok: false, error: 'proxy_request_chunk without request_id' });
  });

  test('a missing request id or a missing payload is an error, never a relayed request', () => {
    expect(parseProxyRequest({ type: 'proxy_request', requestId: undefined, payload: {} })).toEqual({ ok: false, error: 'proxy_request without request_id' });
    expect(parseProxyRequest({ type: 'proxy_request', requestId: 'r', payload: {}, payloadAbsent: true })).toEqual({ ok: false, error: 'invalid proxy_request: payload is missing or null' });
  });
});

describe('deadline vs timeout', () => {
  test('deadline (RFC 3339) wins over timeout', () => {
    expect(ok({ deadline: '2023-11-14T22:13:25Z', timeout: 5 }).deadlineMs).toBe(Date.parse('2023-11-14T22:13:25Z'));
  });

  test('timeout: milliseconds as a number, or a Go duration string; 0 means none', () => {
    expect(ok({ timeout: 1500 }).deadlineMs).toBe(NOW + 1500);
    expect(ok({ timeout: '1m30s' }).deadlineMs).toBe(NOW + 90_000);
    expect(ok({ timeout: '250ms' }).deadlineMs).toBe(NOW + 250);
    expect(ok({ timeout: 0 }).deadlineMs).toBeNull();
    expect(ok({ timeout: null }).deadlineMs).toBeNull();
  });

  test('an unparsable deadline is an error even beside a valid timeout; a bad timeout is an error', () => {
    expect(err({ deadline: 'tomorrow', timeout: 5 })).toBe('invalid proxy_request: deadline "tomorrow" is not an RFC 3339 time');
    for (const t of [-1, '5 minutes', '1e309', true, {}])
      expect(err({ timeout: t }), String(t)).toBe('invalid proxy_request: timeout must be a finite number of milliseconds or a Go duration string');
  });

  test('parseGoDuration: the units of time.ParseDuration, summed; anything else is null', () => {
    expect(parseGoDuration('1h2m3s')).toBe(3_723_000);
    expect(parseGoDuration('1.5s')).toBe(1500);
    expect(parseGoDuration('10us')).toBeCloseTo(0.01);
    expect(parseGoDuration('10µs')).toBeCloseTo(0.01);
    for (const bad of ['', '5', 's', '1d', '-1s', '1s ', ' 1s']) expect(parseGoDuration(bad), bad).toBeNull();
  });
});

describe('headers from the wire', () => {
  test('a header named __proto__ is refused by name and never becomes the prototype', () => {
    const payload = JSON.parse('{"headers":{"__proto__":["x"],"Accept":"a"}}') as Record<string, unknown>;
    expect(err(payload)).toBe('invalid proxy_request: headers has a header named __proto__');
    const errors: string[] = [];
    const map = parseHeaderMap(payload.headers, errors);
    expect(Object.getPrototypeOf(map)).toBe(Object.prototype);
    expect(map).toEqual({ Accept: ['a'] });
  });

  test('a string value is one value; non-string items of an array are dropped (upstream); other values are errors', () => {
    const errors: string[] = [];
    expect(parseHeaderMap({ A: 'x', B: ['y', 5, null, 'z'], C: null }, errors)).toEqual({ A: ['x'], B: ['y', 'z'] });
    expect(errors).toEqual([]);
    parseHeaderMap({ D: 5 }, errors, 'headers');
    parseHeaderMap(['x'], errors, 'trailers');
    expect(errors).toEqual(['headers.D must be a string or an array of strings', 'trailers must be an object']);
  });

  test('wrong field types are named in one proxy_error text', () => {
    const text = err({ method: 5, is_websocket: 'yes', service_port: '80' });
    expect(text.startsWith('invalid proxy_request: ')).toBe(true);
    expect(text.slice('invalid proxy_request: '.length).split('; ').sort()).toEqual(['is_websocket must be a boolean', 'method must be a string', 'service_port must be a number']);
    expect(err({ service_port: 70000 })).toBe('invalid proxy_request: service_port must be 1–65535');
  });

  test('bodies: base64 only with body_encoding base64 (any case), else the string itself; invalid base64 is an error', () => {
    expect([...ok({ body: 'AQID', body_encoding: 'BASE64' }).body!]).toEqual([1, 2, 3]);
    expect(Buffer.from(ok({ body: 'AQID' }).body!).toString()).toBe('AQID');
    expect(ok({ body: '' }).body).toBeNull();
    expect(err({ body: 'A', body_encoding: 'base64' })).toBe('invalid proxy_request: body is not valid base64');
    expect(err({ body: 5 })).toBe('invalid proxy_request: body must be a string, an object or an array');
  });
});

/** A builder's payload, through the envelope, as the agent decodes it. */
function overTheWire(payload: Record<string, unknown> | object, requestId = 'rid-1') {
  const d = decodeEnvelope(encodeMessage({ type: 'proxy_request', payload, requestId }));
  if (!d.ok) throw new Error(d.detail);
  return parseProxyRequest(d.message, NOW);
}

describe('the hub builders against the agent parser', () => {
  const rawHeaders = fc.array(fc.tuple(fc.constantFrom('Accept', 'X-Trace', 'content-type', 'Authorization', 'Host', 'Connection', 'Expect'), fc.stringMatching(/^[ -~]{0,12}$/)), { maxLength: 6 }).map((ps) => ps.flat());

  test('property: a kubectl request round-trips; large bodies move to a binary frame, small ones inline', () => {
    fc.assert(
      fc.property(rawHeaders, fc.constantFrom('get', 'POST', 'patch'), fc.integer({ min: 0, max: INLINE_BODY_MAX + 10 }), fc.boolean(), fc.boolean(), (raw, method, size, streaming, binaryChunks) => {
        const body = new Uint8Array(size).fill(7);
        const out = buildProxyRequest({ requestId: 'rid-1', method, path: '/api/v1/pods', query: 'limit=1', rawHeaders: raw, serviceToken: 'sa-token', body, streaming, binaryChunks });
        const r = overTheWire(out.payload);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.value).toMatchObject({ requestId: 'rid-1', method: method.toUpperCase(), path: '/api/v1/pods', query: 'limit=1', responseStreaming: streaming, binaryChunks });
        expect(r.value.headers.Authorization).toEqual(['Bearer sa-token']);
        expect(r.value.headers.Host).toBeUndefined();
        expect(r.value.headers.Connection).toBeUndefined();
        if (size > INLINE_BODY_MAX) {
          expect(r.value.bodyBinary).toBe(true);
          expect(r.value.bodySize).toBe(size);
          expect(out.frame?.length).toBe(2 + 'rid-1'.length + size);
        } else {
          expect(out.frame).toBeNull();
          expect(r.value.body === null ? 0 : r.value.body.length).toBe(size);
        }
      }),
      { seed: 17, numRuns: 60 },
    );
  });

  test('an app request names its Service and streams its response; a streamed body sets use_streaming', () => {
    const headers: HeaderMap = rawHeadersToMap(['Host', 'app.example.com', 'X-A', '1']);
    const service = { namespace: 'shop', name: 'web', port: 8080 };
    const inline = overTheWire(appProxyRequest({ method: 'post', path: '/cart', query: '', headers, service, body: { kind: 'inline', bytes: Buffer.from('hi') }, binaryChunks: true }));
    expect(inline).toMatchObject({ ok: true, value: { method: 'POST', serviceName: 'web', namespace: 'shop', servicePort: 8080, responseStreaming: true, binaryChunks: true, streamingBody: false, headers } });
    if (inline.ok) expect(Buffer.from(inline.value.body!).toString()).toBe('hi');
    expect(overTheWire(appProxyRequest({ method: 'PUT', path: '/u', query: '', headers, service, body: { kind: 'stream' }, binaryChunks: false }))).toMatchObject({ ok: true, value: { streamingBody: true, body: null, binaryChunks: false } });
  });

  test('upgrade requests: raw upgrade to the API or a Service; the app WebSocket without raw upgrade', () => {
    const headers: HeaderMap = { Upgrade: ['websocket'], Connection: ['Upgrade'] };
    expect(overTheWire(rawUpgradeRequest({ method: 'GET', path: '/api/v1/x/exec', query: 'c=sh', headers }))).toMatchObject({ ok: true, value: { isWebSocket: true, rawUpgrade: true, serviceName: '', headers } });
    expect(overTheWire(rawUpgradeRequest({ method: 'GET', path: '/ws', query: '', headers, service: { namespace: 'n', name: 's', port: 1 } }))).toMatchObject({ ok: true, value: { rawUpgrade: true, serviceName: 's', namespace: 'n', servicePort: 1 } });
    expect(overTheWire(appWebSocketRequest({ path: '/ws', query: 'a=1', headers, service: { namespace: 'n', name: 's', port: 2 } }))).toMatchObject({ ok: true, value: { method: 'GET', isWebSocket: true, rawUpgrade: false, servicePort: 2, query: 'a=1' } });
  });
});
