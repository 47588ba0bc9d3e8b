// Late request chunks (docs/compatibility.md, "Late arrivals"): a chunk for a streamed-body request that was already
// answered is a late arrival; a chunk for an answered request that never streamed its body is a protocol error, as it
// is while that request is in flight (only streamed-body requests are remembered once finished, issue 14).
import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import type { MetricUpdate } from '../../src/threads/metric-update.ts';
import type { SessionConnection } from '../../src/tunnel/session.ts';
import { mappedDispatcher } from '../support/tunnel-dispatcher.ts';
import { waitFor } from '../support/wait.ts';

let backend: ReturnType<typeof Bun.serve>;
beforeAll(() => {
  backend = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('ok') });
});
afterAll(() => backend.stop(true));

test('a chunk after the answer: late arrival for a streamed body, protocol error otherwise', async () => {
  const metrics: MetricUpdate[] = [];
  const d = mappedDispatcher(backend.port, (u) => metrics.push(u));
  const answered = new Set<string>();
  const conn: SessionConnection = { send: (m) => (answered.add(m.requestId ?? ''), true), sendBinary: () => false, bufferedAmount: 0, open: true };
  const target = { service_name: 'app', namespace: 'demo', service_port: 80 };
  d.handle({ type: 'proxy_request', requestId: 'streamed', payload: { method: 'POST', path: '/', use_streaming: true, ...target } } as InboundMessage, conn);
  d.handle({ type: 'proxy_request_stream_end', requestId: 'streamed', payload: {} } as InboundMessage, conn);
  d.handle({ type: 'proxy_request', requestId: 'plain', payload: { method: 'GET', path: '/', ...target } } as InboundMessage, conn);
  await waitFor(() => answered.has('streamed') && answered.has('plain') && d.http.inflight === 0);
  d.handle({ type: 'proxy_request_chunk', requestId: 'streamed', payload: { data: 'aGk=' } } as InboundMessage, conn);
  d.handle({ type: 'proxy_request_chunk', requestId: 'plain', payload: { data: 'aGk=' } } as InboundMessage, conn);
  expect(metrics.filter((u) => u.name === 'pipeops_late_arrivals_total').map((u) => u.labels)).toEqual([{ kind: 'request_chunk' }]);
  expect(metrics.filter((u) => u.name === 'pipeops_protocol_errors_total').map((u) => u.labels)).toEqual([{ reason: 'chunk_for_unknown_request' }]);
});
