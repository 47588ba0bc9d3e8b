import { expect, test } from 'bun:test';
import { originAllowed, replyTo } from '../../src/agent/dashboard-ws.ts';
import { AgentStatus } from '../../src/agent/status.ts';

test('origin policy: empty or * allows all, missing Origin allowed, else exact match', () => {
  expect(originAllowed('http://evil.example', [])).toBe(true);
  expect(originAllowed('http://evil.example', ['*'])).toBe(true);
  expect(originAllowed(undefined, ['http://ok.example'])).toBe(true);
  expect(originAllowed('http://OK.example/', ['http://ok.example'])).toBe(true);
  expect(originAllowed('http://evil.example', ['http://ok.example'])).toBe(false);
  expect(originAllowed('http://ok.example.evil', ['http://ok.example'])).toBe(false);
});

const s = new AgentStatus({ version: '1', agentId: 'a1', clusterName: 'c', heartbeatIntervalMs: 1, ingressSync: false, kubernetesConfigured: true });
const ctx = { now: 0, snapshot: () => s.snapshot(), ready: () => false, metrics: () => ({ m: 1 }) };

test('replies by message type; bad input gets an error reply', () => {
  expect(replyTo('{"type":"ping"}', ctx).type).toBe('pong');
  const st = replyTo('{"type":"get_status"}', ctx);
  expect(st.type).toBe('status_response');
  expect(st.data).toMatchObject({ agent_id: 'a1', ready: false });
  expect(replyTo('{"type":"get_metrics"}', ctx)).toMatchObject({ type: 'metrics_response', data: { m: 1 } });
  expect(replyTo('{nope', ctx)).toMatchObject({ type: 'error', data: { message: 'malformed JSON' } });
  expect(replyTo('{"type":"dance"}', ctx)).toMatchObject({ type: 'error', data: { message: 'unknown message type: dance' } });
  expect(replyTo('[1,2]', ctx).type).toBe('error');
  expect(replyTo('null', ctx).type).toBe('error');
  expect(replyTo(new ArrayBuffer(2), ctx).type).toBe('error');
});
