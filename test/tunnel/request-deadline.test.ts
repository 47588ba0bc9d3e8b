// A proxy_request's deadline (`timeout`, §3.2) aborts its backend call and answers proxy_error, while requests with
// later deadlines on the same relay (one shared timer, src/timing/deadlines.ts) are answered normally.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import type { SessionConnection } from '../../src/tunnel/session.ts';
import { mappedDispatcher } from '../support/tunnel-dispatcher.ts';
import { waitFor } from '../support/wait.ts';

let backend: ReturnType<typeof Bun.serve>;
const hanging: (() => void)[] = [];
beforeAll(() => {
  backend = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    fetch: (req) => (new URL(req.url).pathname === '/hang' ? new Promise<Response>((resolve) => hanging.push(() => resolve(new Response('late')))) : new Response('ok')),
  });
});
afterAll(() => {
  for (const release of hanging) release();
  backend.stop(true);
});

test('the request past its deadline fails with proxy_error; the others, earlier and later, are answered', async () => {
  const d = mappedDispatcher(backend.port);
  const answers = new Map<string, { type: string; payload: Record<string, unknown> }>();
  const conn: SessionConnection = { send: (m) => (answers.set(m.requestId ?? '', { type: m.type, payload: m.payload as Record<string, unknown> }), true), sendBinary: () => false, bufferedAmount: 0, open: true };
  const target = { service_name: 'app', namespace: 'demo', service_port: 80 };
  const send = (id: string, path: string, timeout: number) => d.handle({ type: 'proxy_request', requestId: id, payload: { method: 'GET', path, timeout, ...target } } as InboundMessage, conn);
  send('late-deadline', '/ok', 60_000);
  send('hangs', '/hang', 50);
  send('also-fine', '/ok', 20_000);
  await waitFor(() => answers.size === 3 && d.http.inflight === 0, { what: 'three answers' });
  expect(answers.get('hangs')).toMatchObject({ type: 'proxy_error', payload: { error: expect.stringContaining('deadline exceeded') } });
  expect(answers.get('late-deadline')).toMatchObject({ type: 'proxy_response', payload: { status: 200 } });
  expect(answers.get('also-fine')).toMatchObject({ type: 'proxy_response', payload: { status: 200 } });
});
