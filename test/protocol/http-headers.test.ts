// Header rules of the proxy paths (protocol.md §3.4–3.5, P7): the hop-by-hop set and every header the
// Connection header lists are dropped on the way to a backend and on the way back, except Connection/Upgrade of a
// 101 (and of a raw upgrade request); names are Go-canonical. Also the upgrade heads (src/protocol/upgrade-head.ts).
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import {
  canonicalHeaderName,
  forwardRawRequestHeaders,
  forwardRequestHeaders,
  forwardRequestInit,
  HOP_BY_HOP,
  type HeaderMap,
  headersToMap,
  headerValue,
  rawHeadersToMap,
  responseHeaderMap,
  responseHeaderPairs,
  sanitizeResponseHeaders,
} from '../../src/protocol/http-headers.ts';
import { parseResponseHead, requestHead } from '../../src/protocol/upgrade-head.ts';

describe('forwardRequestHeaders', () => {
  test('hop-by-hop and Connection-listed headers are dropped, whatever their case', () => {
    const h: HeaderMap = {
      Connection: ['keep-alive, X-Secret', ' x-other '],
      'X-SECRET': ['s'],
      'x-other': ['o'],
      'Keep-Alive': ['timeout=5'],
      TE: ['trailers'],
      'Transfer-Encoding': ['chunked'],
      Upgrade: ['websocket'],
      'Proxy-Authorization': ['Basic x'],
      Accept: ['*/*'],
    };
    expect(forwardRequestHeaders(h)).toEqual({ Accept: ['*/*'] });
  });

  test('keepUpgrade keeps Connection and Upgrade (a raw upgrade needs them), still drops what Connection lists', () => {
    const h: HeaderMap = { Connection: ['Upgrade, X-Hop'], Upgrade: ['websocket'], 'X-Hop': ['1'], 'Sec-WebSocket-Key': ['k'] };
    expect(forwardRequestHeaders(h, { keepUpgrade: true })).toEqual({ Connection: ['Upgrade, X-Hop'], Upgrade: ['websocket'], 'Sec-WebSocket-Key': ['k'] });
  });

  test('the drop list is case-insensitive', () => {
    expect(forwardRequestHeaders({ Authorization: ['Bearer t'], HOST: ['h'], Accept: ['a'] }, { drop: ['authorization', 'Host'] })).toEqual({ Accept: ['a'] });
  });

  test('property: no hop-by-hop or Connection-listed name survives; every other header survives unchanged', () => {
    const name = fc.oneof(fc.constantFrom(...HOP_BY_HOP, 'X-A', 'x-b', 'Accept', 'Content-Type'), fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,8}$/));
    const anyCase = name.chain((n) => fc.constantFrom(n, n.toUpperCase(), n.toLowerCase()));
    fc.assert(
      fc.property(fc.dictionary(anyCase, fc.array(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 2 }), { maxKeys: 8 }), fc.array(name, { maxLength: 3 }), (h, listed) => {
        if (listed.length) h.Connection = [listed.join(', ')];
        const listedSet = new Set<string>();
        for (const [k, vs] of Object.entries(h)) if (k.toLowerCase() === 'connection') for (const v of vs) for (const t of v.split(',')) listedSet.add(t.trim().toLowerCase());
        const out = forwardRequestHeaders(h);
        for (const [k, vs] of Object.entries(h)) {
          const l = k.toLowerCase();
          const dropped = HOP_BY_HOP.has(l) || listedSet.has(l);
          expect(out[k], k).toEqual(dropped ? undefined : vs);
        }
      }),
      { seed: 17, numRuns: 300 },
    );
  });
});

describe('sanitizeResponseHeaders', () => {
  test('a 101 keeps Connection and Upgrade; any other status drops them', () => {
    const h: HeaderMap = { Connection: ['Upgrade'], Upgrade: ['websocket'], 'Sec-WebSocket-Accept': ['x'] };
    expect(sanitizeResponseHeaders(101, h)).toEqual(h);
    expect(sanitizeResponseHeaders(200, h)).toEqual({ 'Sec-WebSocket-Accept': ['x'] });
  });

  test('Connection-listed headers are dropped even on a 101; an empty result is null', () => {
    expect(sanitizeResponseHeaders(101, { Connection: ['Upgrade, X-Internal'], 'X-Internal': ['1'], Upgrade: ['h2c'] })).toEqual({ Connection: ['Upgrade, X-Internal'], Upgrade: ['h2c'] });
    expect(sanitizeResponseHeaders(200, { 'Transfer-Encoding': ['chunked'], Connection: ['close'] })).toBeNull();
    expect(sanitizeResponseHeaders(200, {})).toBeNull();
  });
});

describe('header names and maps', () => {
  test("Go's canonical form: each dash-separated word capitalised, the rest lower case", () => {
    expect(canonicalHeaderName('content-type')).toBe('Content-Type');
    expect(canonicalHeaderName('X-FORWARDED-FOR')).toBe('X-Forwarded-For');
    expect(canonicalHeaderName('sec-websocket-key')).toBe('Sec-Websocket-Key');
  });

  test('rawHeadersToMap keeps arrival order of repeated names under one canonical name; a dangling name is ignored', () => {
    expect(rawHeadersToMap(['accept', 'a', 'X-Y', '1', 'ACCEPT', 'b', 'dangling'])).toEqual({ Accept: ['a', 'b'], 'X-Y': ['1'] });
  });

  test('headersToMap keeps every Set-Cookie separately; headerValue is case-insensitive and takes the first value', () => {
    const h = new Headers([['content-type', 'text/plain'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']]);
    const m = headersToMap(h);
    expect(m).toEqual({ 'Content-Type': ['text/plain'], 'Set-Cookie': ['a=1', 'b=2'] });
    expect(headerValue({ 'X-A': ['1', '2'] }, 'x-a')).toBe('1');
    expect(headerValue({}, 'x-a')).toBeUndefined();
  });
});

describe('upgrade heads', () => {
  test('the request head sets Host, drops the client Host and Content-Length, ends with Content-Length: 0', () => {
    const head = requestHead('GET', '/api/v1/x?y=1', 'kube:6443', { host: ['evil'], 'Content-Length': ['5'], Upgrade: ['websocket'], 'X-Two': ['a', 'b'] });
    expect(head).toBe('GET /api/v1/x?y=1 HTTP/1.1\r\nHost: kube:6443\r\nUpgrade: websocket\r\nX-Two: a\r\nX-Two: b\r\nContent-Length: 0\r\n\r\n');
  });

  test('a header with CR or LF in its name or value is left out instead of splitting the head', () => {
    const head = requestHead('GET', '/', 'h', { 'X-A': ['ok', 'bad\r\nInjected: 1'], 'X\nB': ['v'] });
    expect(head).toBe('GET / HTTP/1.1\r\nHost: h\r\nX-A: ok\r\nContent-Length: 0\r\n\r\n');
  });

  test('response head: status and headers (repeated names gathered, values trimmed); no status line is null', () => {
    expect(parseResponseHead('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX: 1\r\nX:  2 \r\nbroken line')).toEqual({ status: 101, headers: { Upgrade: ['websocket'], X: ['1', '2'] } });
    expect(parseResponseHead('HTTP/1.0 403 Forbidden')).toEqual({ status: 403, headers: {} });
    expect(parseResponseHead('HTTP/2 200')).toBeNull();
    expect(parseResponseHead('')).toBeNull();
  });
});

test('forwardRawRequestHeaders equals forwardRequestHeaders(rawHeadersToMap(raw), {drop}) for any header list (property)', () => {
  const name = fc.constantFrom('Host', 'host', 'Connection', 'connection', 'X-Trace', 'x-trace', 'Accept', 'ACCEPT', 'Keep-Alive', 'Upgrade', 'TE', 'Authorization', 'Content-Length', 'X-Custom', 'x-custom', 'Foo');
  const value = fc.oneof(fc.constantFrom('close', 'X-Trace', 'x-custom, foo', 'keep-alive', ' , ', 'upgrade'), fc.string({ maxLength: 8 }));
  const drop = ['authorization', 'host', 'content-length'];
  fc.assert(
    fc.property(fc.array(fc.tuple(name, value), { maxLength: 14 }), (pairs) => {
      const raw = pairs.flat();
      const fused = forwardRawRequestHeaders(raw, drop);
      const composed = forwardRequestHeaders(rawHeadersToMap(raw), { drop });
      expect(JSON.stringify(fused)).toBe(JSON.stringify(composed));
    }),
    { numRuns: 3000 },
  );
});

describe('one-pass forms used by the HTTP relay agree with the two-step ones', () => {
  const names = fc.constantFrom('Connection', 'connection', 'Upgrade', 'Keep-Alive', 'TE', 'Accept', 'X-Secret', 'x-secret', 'Set-Cookie', 'Content-Type', 'Authorization', 'Transfer-Encoding', 'X-A');
  const value = fc.oneof(fc.constantFrom('x-secret', 'keep-alive, X-Secret', 'set-cookie', ' upgrade ', 'a=1', ''), fc.stringMatching(/^[ -~]{0,12}$/));
  const pairs = fc.array(fc.tuple(names, value), { maxLength: 12 });

  test('forwardRequestInit(h) gives fetch exactly the headers of forwardRequestHeaders(h), as a record when it can', () => {
    fc.assert(
      fc.property(pairs, (ps) => {
        const h: HeaderMap = {};
        for (const [k, v] of ps) (h[k] ??= []).push(v);
        const kept = Object.entries(forwardRequestHeaders(h));
        const appended = new Headers();
        for (const [k, vs] of kept) for (const v of vs) appended.append(k, v);
        const init = forwardRequestInit(h);
        expect(Array.isArray(init)).toBe(kept.some(([, vs]) => vs.length > 1));
        expect([...new Headers(init)]).toEqual([...appended]);
      }),
    );
  });

  test('forwardRequestInit keeps a header named __proto__ as a header and leaves out names without values', () => {
    const h = JSON.parse('{"__proto__":["x"],"Accept":["a"],"X-Empty":[]}') as HeaderMap;
    const r = forwardRequestInit(h) as Record<string, string>;
    expect(Object.getPrototypeOf(r)).toBeNull();
    expect(Object.keys(r)).toEqual(['__proto__', 'Accept']);
    expect([...new Headers(r)]).toEqual([['__proto__', 'x'], ['accept', 'a']]);
  });

  test('responseHeaderMap(status, headers) is sanitizeResponseHeaders(status, headersToMap(headers))', () => {
    fc.assert(
      fc.property(pairs, fc.constantFrom(101, 200, 404), (ps, status) => {
        const h = new Headers();
        for (const [k, v] of ps) h.append(k, v);
        expect(responseHeaderMap(status, h)).toEqual(sanitizeResponseHeaders(status, headersToMap(h)));
      }),
    );
  });

  test('responseHeaderPairs(raw) is sanitizeResponseHeaders(200, …) of the same answer, every value of a name kept apart', () => {
    fc.assert(
      fc.property(pairs, (ps) => {
        const raw = ps.flat();
        const map: HeaderMap = {};
        for (const [k, v] of ps) (map[canonicalHeaderName(k)] ??= []).push(v);
        expect(responseHeaderPairs(raw)).toEqual(sanitizeResponseHeaders(200, map));
      }),
    );
    expect(responseHeaderPairs(['Audit-Id', 'a', 'cache-control', 'no-cache', 'Cache-Control', 'private', 'Connection', 'close, X-Hop', 'x-hop', '1'])).toEqual({
      'Audit-Id': ['a'],
      'Cache-Control': ['no-cache', 'private'],
    });
  });
});
