// RequestBodyStream (issue 19): chunks or the end arriving after the reader cancelled are ignored, not thrown.
import { expect, test } from 'bun:test';
import { RequestBodyStream } from '../../src/tunnel/request-body.ts';

test('push and end after the reader cancelled (an aborted request) are no-ops', async () => {
  const b = new RequestBodyStream(1024);
  b.push(new Uint8Array([1]));
  await b.stream.cancel(new Error('aborted'));
  expect(b.open).toBe(false);
  expect(() => b.push(new Uint8Array([2]))).not.toThrow();
  expect(() => b.end()).not.toThrow();
  expect(() => b.fail(new Error('late'))).not.toThrow();
});

test('push after fail and end after end are no-ops; the reader sees the bytes, then the end', async () => {
  const b = new RequestBodyStream(1024);
  b.push(new Uint8Array([1, 2]));
  b.end();
  b.end();
  b.push(new Uint8Array([3]));
  expect(new Uint8Array(await new Response(b.stream).arrayBuffer())).toEqual(new Uint8Array([1, 2]));
  const f = new RequestBodyStream(1024);
  f.fail(new Error('bad chunk'));
  expect(() => f.push(new Uint8Array([1]))).not.toThrow();
});
