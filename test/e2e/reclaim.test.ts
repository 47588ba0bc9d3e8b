// Reclaiming abandoned work (issue 19): a streamed request body the control plane stops sending and a stream it
// never closes are ended after the configured idle time (timeouts.proxy_body_idle, timeouts.stream_idle), and
// the agent's gauges return to 0.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import { CP_TOKEN, type Stack, startStack } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

let s: Stack;
const fromAgent: InboundMessage[] = [];
const auth = { Authorization: [`Bearer ${CP_TOKEN}`] };
const BODY_IDLE_MS = 300;
const STREAM_IDLE_MS = 500;

beforeAll(async () => {
  s = await startStack({ agent: { timeouts: { proxy_body_idle: `${BODY_IDLE_MS}ms`, stream_idle: `${STREAM_IDLE_MS}ms` } } });
  s.hub.agents.tap((_id, m) => fromAgent.push(m));
});
afterAll(async () => {
  await s?.stop();
});

async function metric(re: RegExp): Promise<number> {
  const text = await (await fetch(`${s.agent.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => re.test(l))
    .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
}

test('an abandoned streamed body and an abandoned stream are ended after their idle time; gauges return to 0', async () => {
  const t0 = Date.now();
  // A streamed body: one chunk, then nothing (no more chunks, no stream_end).
  s.send('proxy_request', { method: 'POST', path: '/api/v1/namespaces/demo/configmaps', headers: { ...auth, 'Content-Type': ['application/json'] }, use_streaming: true }, 'abandoned-body');
  s.send('proxy_request_chunk', { data: Buffer.from('{"apiVersion":"v1",').toString('base64') }, 'abandoned-body');
  // A stream that the control plane never writes to or closes (cat waits for stdin, prints nothing).
  s.send('proxy_websocket_start', { stream_id: 'abandoned-stream', path: '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec', query: 'command=cat&stdin=true&stdout=true', headers: auth }, 'abandoned-stream');

  const err = await waitFor(() => fromAgent.find((m) => m.requestId === 'abandoned-body' && m.type === 'proxy_error'), { what: 'body reclaimed' });
  expect(String(err.payload.error)).toContain('timeouts.proxy_body_idle');
  const close = await waitFor(() => fromAgent.find((m) => m.requestId === 'abandoned-stream' && m.type === 'proxy_websocket_close'), { what: 'stream reclaimed' });
  expect(close.payload.code).toBe(1001);
  expect(String(close.payload.reason)).toContain('timeouts.stream_idle');
  // Not before the idle time, and well within a generous bound of it.
  const elapsed = Date.now() - t0;
  expect(elapsed).toBeGreaterThanOrEqual(STREAM_IDLE_MS);
  expect(elapsed).toBeLessThan(STREAM_IDLE_MS * 20);

  await waitFor(async () => (await metric(/^pipeops_tunnel_forwards_active /)) === 0 && (await metric(/^pipeops_ws_sessions_active\{/)) === 0, { what: 'gauges back to 0' });
  expect(await metric(/^pipeops_tunnel_reclaimed_total\{kind="request_body"\}/)).toBe(1);
  expect(await metric(/^pipeops_tunnel_reclaimed_total\{kind="stream"\}/)).toBe(1);
  // The session is untouched.
  expect(s.agent.status.snapshot().workers.tunnel?.restarts).toBe(0);
});
