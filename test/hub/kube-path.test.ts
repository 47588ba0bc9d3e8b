// The kube gateway's pure decisions about a request: which paths it refuses before the agent sees them, how an
// agent's refusal maps to a status kubectl knows, and the verb label of its metrics.
import { expect, test } from 'bun:test';
import fc from 'fast-check';
import { checkDecodedPath, checkKubePath, requestHeaders } from '../../src/hub/kube-gateway/gateway-route.ts';
import { agentErrorStatus, kubeErrorBody, kubeStatus } from '../../src/hub/kube-gateway/kube-status.ts';
import { kubeVerb } from '../../src/hub/hub-metrics.ts';
import { backendErrorText, withoutRuntimeHints } from '../../src/hub/runtime-error-text.ts';

const segment = fc.stringMatching(/^[a-z0-9][a-z0-9.:_-]{0,20}$/).filter((s) => s !== '.' && s !== '..');
const dots = fc.constantFrom('..', '.', '%2e%2e', '%2E%2e', '.%2E', '%2e', '%2E.');

test('Kubernetes-shaped paths pass; one dot segment anywhere, in any encoding, is refused', () => {
  fc.assert(
    fc.property(fc.array(segment, { minLength: 1, maxLength: 8 }), dots, fc.nat(), (segs, dot, at) => {
      expect(checkKubePath(`/${segs.join('/')}`)).toBeNull();
      const bad = [...segs];
      bad.splice(at % (segs.length + 1), 0, dot);
      expect(checkKubePath(`/${bad.join('/')}`)).toBe('invalid path: dot segments are not allowed');
    }),
  );
});

test('the same answer as the decoding check for any path, with or without percent-encoding (property)', () => {
  const piece = fc.constantFrom('/', '.', '..', 'a', 'api', 'v1', '%2e', '%2F', '%', '%zz', '\\', '\u0001', '\u007f', '-', ':', 'é');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 14 }), (parts) => {
      const path = parts.join('');
      expect(checkKubePath(path)).toBe(checkDecodedPath(path));
    }),
    { numRuns: 5000 },
  );
});

test('encoded slashes, backslashes, control characters and broken escapes are refused', () => {
  expect(checkKubePath('/api/v1/namespaces/a%2Fb')).toBe('invalid path: encoded slashes are not allowed');
  expect(checkKubePath('/api/v1/a%5Cb')).toBe('invalid path: control characters and backslashes are not allowed');
  expect(checkKubePath('/api/v1/a\\b')).toBe('invalid path: control characters and backslashes are not allowed');
  expect(checkKubePath('/api/v1/a%0d%0aX:1')).toBe('invalid path: control characters and backslashes are not allowed');
  expect(checkKubePath('/api/v1/%E0%A4%A')).toBe('invalid path: malformed percent-encoding');
  expect(checkKubePath('/')).toBeNull();
  expect(checkKubePath('/api/v1/namespaces/default/pods/web-0.v2/log')).toBeNull();
});

test('agent refusals map to statuses kubectl knows; 502 is text, the rest Status JSON with a known reason', () => {
  expect(agentErrorStatus('kubernetes client not initialized')).toBe(503);
  expect(agentErrorStatus('invalid path: must be a Kubernetes API path')).toBe(400);
  expect(agentErrorStatus('dial tcp 10.0.0.1:443: connect: connection refused')).toBe(502);
  expect(kubeErrorBody(502, 'x')).toEqual({ contentType: 'text/plain; charset=utf-8', body: 'x\n' });
  for (const [code, reason] of [[400, 'BadRequest'], [503, 'ServiceUnavailable'], [504, 'Timeout'], [501, 'InternalError']] as const) {
    expect(kubeStatus(code, 'm').reason).toBe(reason);
    expect(JSON.parse(kubeErrorBody(code, 'm').body)).toMatchObject({ kind: 'Status', code, reason, message: 'm' });
  }
});

test('verb label: method, WATCH for watch=true, OTHER for anything unexpected', () => {
  expect(kubeVerb('get', '')).toBe('GET');
  expect(kubeVerb('GET', 'watch=true&resourceVersion=1')).toBe('WATCH');
  expect(kubeVerb('GET', 'watch=1')).toBe('WATCH');
  expect(kubeVerb('GET', 'watch=false')).toBe('GET');
  expect(kubeVerb('DELETE', '')).toBe('DELETE');
  expect(kubeVerb('BREW', '')).toBe('OTHER');
});

test('runtime hints are dropped; connection errors named by their code', () => {
  expect(withoutRuntimeHints('ECONNRESET: The socket connection was closed unexpectedly. For more information, pass `verbose: true` in the second argument to fetch()')).toBe(
    'ECONNRESET: The socket connection was closed unexpectedly.',
  );
  expect(backendErrorText(Object.assign(new TypeError('ECONNREFUSED: Unable to connect. Is the computer able to access the url?'), { code: 'ECONNREFUSED' }))).toBe('connection refused (ECONNREFUSED)');
  expect(backendErrorText(Object.assign(new Error('self signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }))).toBe('TLS handshake failed (DEPTH_ZERO_SELF_SIGNED_CERT)');
  expect(backendErrorText(new Error('something else'))).toBe('something else');
});

test('requestHeaders: the first Authorization, Content-Length and Transfer-Encoding of rawHeaders, any casing', () => {
  expect(requestHeaders([])).toEqual({});
  expect(
    requestHeaders(['Host', 'x', 'AUTHORIZATION', 'Bearer a', 'authorization', 'Bearer b', 'content-LENGTH', '5', 'Transfer-Encoding', 'chunked', 'X-Authorizatio', 'no']),
  ).toEqual({ authorization: 'Bearer a', contentLength: '5', transferEncoding: 'chunked' });
  // Names of the same length that are other headers are not taken.
  expect(requestHeaders(['X-Custom-Head', 'v', 'Content-Lengtx', '9', 'transfer-encodinx', 'gzip'])).toEqual({});
});

test('requestHeaders agrees with a lower-cased first-value lookup for any header list (property)', () => {
  const names = fc.constantFrom('Authorization', 'authorization', 'Content-Length', 'content-length', 'Transfer-Encoding', 'TRANSFER-ENCODING', 'Host', 'Accept', 'X-Authorization');
  fc.assert(
    fc.property(fc.array(fc.tuple(names, fc.string()), { maxLength: 12 }), (pairs) => {
      const first = (n: string) => pairs.find(([k]) => k.toLowerCase() === n)?.[1];
      const h = requestHeaders(pairs.flat());
      expect(h.authorization).toBe(first('authorization'));
      expect(h.contentLength).toBe(first('content-length'));
      expect(h.transferEncoding).toBe(first('transfer-encoding'));
    }),
  );
});
