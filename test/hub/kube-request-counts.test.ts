import { expect, test } from 'bun:test';
import { HubMetrics } from '../../src/hub/hub-metrics.ts';

const sample = (text: string, labels: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`pipeops_hub_kube_requests_total{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

test('kube request counts reach pipeops_hub_kube_requests_total at every scrape, added to direct increments', async () => {
  const m = new HubMetrics({ defaultMetrics: false });
  m.kubeRequest('c1', 'GET', 200);
  m.kubeRequest('c1', 'GET', 200);
  m.kubeRequest('c1', 'WATCH', 0);
  m.inc('pipeops_hub_kube_requests_total', { cluster: 'c1', verb: 'GET', code: '200' });
  let t = await m.text();
  expect(sample(t, 'cluster="c1",verb="GET",code="200"')).toBe(3);
  expect(sample(t, 'cluster="c1",verb="WATCH",code="0"')).toBe(1);
  m.kubeRequest('c1', 'GET', 200);
  m.kubeRequest('c2', 'POST', 503);
  t = await m.text();
  expect(sample(t, 'cluster="c1",verb="GET",code="200"')).toBe(4);
  expect(sample(t, 'cluster="c2",verb="POST",code="503"')).toBe(1);
  expect(sample(await m.text(), 'cluster="c1",verb="GET",code="200"')).toBe(4);
});
