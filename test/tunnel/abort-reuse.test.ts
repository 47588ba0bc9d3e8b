// The HTTP relay gives the AbortController of a request answered the buffered way to a later request (issue 14): the
// reused signal must still abort that later request's backend call, and a controller that was aborted (cancel,
// deadline) must never come back, or the next request would fail at once.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import type { SessionConnection } from '../../src/tunnel/session.ts';
import { mappedDispatcher } from '../support/tunnel-dispatcher.ts';
import { waitFor } from '../support/wait.ts';

let backend: ReturnType<typeof Bun.serve>;
/** Requests to /hang the backend holds, and whether the client went away (the relay aborted its fetch). */
const hanging: { aborted: boolean }[] = [];
beforeAll(() => {
  backend = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req) => {
      if (new URL(req.url).pathname !== '/hang') return new Response('ok');
      const h = { aborted: false };
      hanging.push(h);
      req.signal.addEventListener('abort', () => (h.aborted = true));
      return new Promise<Response>(() => {});
    },
  });
});
afterAll(() => backend.stop(true));

function relay() {
  const d = mappedDispatcher(backend.port);
  const answers = new Map<string, { type: string; payload: Record<string, unknown> }>();
  const conn: SessionConnection = { send: (m) => (answers.set(m.requestId ?? '', { type: m.type, payload: m.payload as Record<string, unknown> }), true), sendBinary: () => false, bufferedAmount: 0, open: true };
  const target = { service_name: 'app', namespace: 'demo', service_port: 80 };
  const send = (id: string, path: string, extra: Record<string, unknown> = {}) => d.handle({ type: 'proxy_request', requestId: id, payload: { method: 'GET', path, ...target, ...extra } } as InboundMessage, conn);
  const cancel = (id: string) => d.handle({ type: 'proxy_cancel', requestId: id, payload: {} } as InboundMessage, conn);
  return { d, answers, send, cancel };
}

test('a reused controller still cancels the backend call of the request that holds it', async () => {
  const { d, answers, send, cancel } = relay();
  send('first', '/ok');
  await waitFor(() => answers.has('first') && d.http.inflight === 0, { what: 'first answer' });
  expect(answers.get('first')).toMatchObject({ type: 'proxy_response', payload: { status: 200 } });
  expect(d.http.spareAborts).toBe(1);
  const before = hanging.length;
  send('second', '/hang');
  // The second request took the first one's controller.
  expect(d.http.spareAborts).toBe(0);
  await waitFor(() => hanging.length === before + 1, { what: 'backend holds the second request' });
  cancel('second');
  await waitFor(() => answers.has('second') && d.http.inflight === 0, { what: 'cancelled answer' });
  expect(answers.get('second')).toMatchObject({ type: 'proxy_error', payload: { error: 'cancelled' } });
  await waitFor(() => hanging[before]!.aborted, { what: 'backend sees the abort' });
  // An aborted controller is not kept.
  expect(d.http.spareAborts).toBe(0);
  send('third', '/ok');
  await waitFor(() => answers.has('third') && d.http.inflight === 0, { what: 'third answer' });
  expect(answers.get('third')).toMatchObject({ type: 'proxy_response', payload: { status: 200 } });
});

test('a controller aborted by a deadline is not reused: the next request is answered normally', async () => {
  const { d, answers, send } = relay();
  send('slow', '/hang', { timeout: 30 });
  await waitFor(() => answers.has('slow') && d.http.inflight === 0, { what: 'deadline answer' });
  expect(answers.get('slow')).toMatchObject({ type: 'proxy_error', payload: { error: expect.stringContaining('deadline exceeded') } });
  expect(d.http.spareAborts).toBe(0);
  for (const id of ['a', 'b', 'c']) {
    send(id, '/ok');
    await waitFor(() => answers.has(id) && d.http.inflight === 0, { what: `answer ${id}` });
    expect(answers.get(id)).toMatchObject({ type: 'proxy_response', payload: { status: 200 } });
  }
  // One controller served all three in turn.
  expect(d.http.spareAborts).toBe(1);
});
