// proxy_request decoding (issue 19): nested bodies, header names and values `Headers` refuses, timeouts.
import { describe, expect, test } from 'bun:test';
import { canonicalJson, MAX_BODY_DEPTH, parseProxyRequest } from '../../src/protocol/proxy-messages.ts';
import { closeFrameArgs, isSendableCloseCode } from '../../src/protocol/stream-messages.ts';

const req = (payload: Record<string, unknown>) => parseProxyRequest({ type: 'proxy_request', requestId: 'r', payload: { method: 'GET', path: '/version', ...payload } }, 1_000);

describe('parseProxyRequest', () => {
  test('a body nested 30,000 deep (array) or 20,000 deep (object) is an error, not a stack overflow', () => {
    const arr = JSON.parse(`${'['.repeat(30_000)}${']'.repeat(30_000)}`);
    let obj = '1';
    for (let i = 0; i < 20_000; i++) obj = `{"a":${obj}}`;
    for (const body of [arr, JSON.parse(obj)]) {
      const r = req({ body });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toContain(`body is nested deeper than ${MAX_BODY_DEPTH} levels`);
    }
  });

  test('object bodies are compact JSON with sorted keys, at any depth up to the bound', () => {
    expect(canonicalJson({ b: [3, { d: 1, c: null }], a: 'x' })).toBe('{"a":"x","b":[3,{"c":null,"d":1}]}');
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson({ __proto__x: 1, '"q"': 2 })).toBe(JSON.stringify({ '"q"': 2, __proto__x: 1 }));
    const deep = JSON.parse(`${'['.repeat(MAX_BODY_DEPTH)}${']'.repeat(MAX_BODY_DEPTH)}`);
    expect(canonicalJson(deep)).toBe(`${'['.repeat(MAX_BODY_DEPTH)}${']'.repeat(MAX_BODY_DEPTH)}`);
    expect(canonicalJson([deep])).toBeNull();
  });

  test('header names Headers rejects are refused at decode, naming the header', () => {
    for (const name of ['a b', 'é', 'x:y', '']) {
      const r = req({ headers: { [name]: ['v'] } });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toContain(`invalid header name ${JSON.stringify(name)}`);
    }
    for (const value of ['x\ny', 'a\rb', 'nul\0', 'Ā']) {
      const r = req({ headers: { 'X-Ok': [value] } });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error).toContain('headers.X-Ok has a value with CR, LF, NUL');
    }
    const ok = req({ headers: { 'X-Custom_Name.1': ['é tab\t'], Accept: 'application/json' } });
    expect(ok.ok && ok.value.headers).toEqual({ 'X-Custom_Name.1': ['é tab\t'], Accept: ['application/json'] });
  });

  test('large timeouts and far deadlines are kept; a non-finite timeout is refused', () => {
    const at = (p: Record<string, unknown>) => {
      const r = req(p);
      return r.ok ? r.value.deadlineMs : r.error;
    };
    expect(at({ timeout: '600h' })).toBe(1_000 + 600 * 3_600_000);
    expect(at({ timeout: 2_160_000_000 })).toBe(1_000 + 2_160_000_000);
    expect(at({ deadline: '9999-12-31T00:00:00Z' })).toBe(Date.parse('9999-12-31T00:00:00Z'));
    expect(String(at({ timeout: Number.POSITIVE_INFINITY }))).toContain('timeout must be a finite number');
    expect(String(at({ timeout: `${'9'.repeat(400)}h` }))).toContain('timeout must be a finite number');
  });
});

describe('closeFrameArgs (relayed close frames)', () => {
  test('codes WebSocket.close() refuses become 1000; the reason is cut to 123 bytes on a character boundary', () => {
    expect(closeFrameArgs(new Uint8Array([0x07, 0x76]))).toEqual({ code: 1000, reason: '' }); // 1910
    expect(closeFrameArgs(new Uint8Array([0x03, 0xec]))).toEqual({ code: 1000, reason: '' }); // 1004
    expect(closeFrameArgs(new Uint8Array([0x0f, 0xa1, 0x68, 0x69]))).toEqual({ code: 4001, reason: 'hi' });
    const long = closeFrameArgs(new Uint8Array([0x03, 0xe8, ...Buffer.alloc(200, 'r')]));
    expect(long).toEqual({ code: 1000, reason: 'r'.repeat(123) });
    const multi = closeFrameArgs(new Uint8Array([0x03, 0xe8, ...Buffer.from('é'.repeat(100))]));
    expect(Buffer.byteLength(multi.reason)).toBe(122);
    expect(multi.reason).toBe('é'.repeat(61));
    expect(closeFrameArgs(new Uint8Array([0x03]))).toEqual({ code: 1000, reason: '' });
  });

  test('every code isSendableCloseCode admits is accepted by the runtime, and every other is refused', async () => {
    const srv = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (r, s) => (s.upgrade(r) ? undefined : new Response('')), websocket: { message() {} } });
    try {
      // close() validates its arguments before looking at the connection state.
      for (let code = 0; code < 6000; code += code < 1100 || (code > 2990 && code < 3010) || code > 4990 ? 1 : 97) {
        let accepted = true;
        const probe = new WebSocket(`ws://127.0.0.1:${srv.port}`);
        try {
          probe.close(code, 'x');
        } catch {
          accepted = false;
          probe.close();
        }
        expect(`${code}: ${accepted}`).toBe(`${code}: ${isSendableCloseCode(code)}`);
      }
    } finally {
      srv.stop(true);
    }
  });
});
