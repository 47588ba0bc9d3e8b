// AgentMetrics.apply for a worker's batched observations (`values`, src/threads/metric-batch.ts): every value is
// observed, on the series and on its upstream alias.
import { expect, test } from 'bun:test';
import { AgentMetrics } from '../../src/agent/metrics.ts';

test('a batch of observations counts every value, as single observations would', async () => {
  const batched = new AgentMetrics(undefined, { defaultMetrics: false });
  const single = new AgentMetrics(undefined, { defaultMetrics: false });
  expect(batched.apply({ name: 'pipeops_proxy_request_duration_seconds', op: 'observe', values: [0.001, 0.2, 3], labels: { target: 'kubernetes' } })).toBeNull();
  for (const v of [0.001, 0.2, 3]) single.observe('pipeops_proxy_request_duration_seconds', v, { target: 'kubernetes' });
  expect(batched.apply({ name: 'pipeops_heartbeat_duration_seconds', op: 'observe', values: [0.05, 0.07] })).toBeNull();
  for (const v of [0.05, 0.07]) single.observe('pipeops_heartbeat_duration_seconds', v);
  const text = await batched.text();
  expect(text).toBe(await single.text());
  expect(text).toContain('pipeops_proxy_request_duration_seconds_count{target="kubernetes"} 3');
  expect(text).toContain('pipeops_agent_heartbeat_duration_seconds_count 2');
});
