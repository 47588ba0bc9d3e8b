// The hub collects its garbage (and shrinks) a quiet second after agent messages or gateway requests: each kind of
// activity earns one collection once it stops (the timing rules are QuietCollector's, test/threads/).
import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { Hub } from '../../src/hub/server.ts';
import { parsePromText } from '../routes/prom-text.ts';
import { testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { connectFakeAgent } from './fake-agent.ts';

let hub: Hub;
beforeAll(async () => {
  // No least interval between collections: every quiet second after activity collects.
  hub = await testHub({}, { quietMinIntervalMs: 0, keepRelayCodeMs: 60_000 });
});
afterAll(async () => {
  await hub.stop();
});

async function counter(name: string): Promise<number> {
  const { samples } = parsePromText(await (await fetch(`${hub.url}/metrics`)).text());
  return samples.find((s) => s.name === name)?.value ?? 0;
}
const collections = () => counter('pipeops_hub_quiet_collections_total');
const shrinks = () => counter('pipeops_hub_quiet_shrinks_total');
const collected = (after: number, what: string) => waitFor(async () => (await collections()) > after, { timeoutMs: 15_000, what });

test('start-up, then agent messages, then kube and public gateway requests each earn a collection', async () => {
  await collected(0, 'the collection after start-up');
  let n = await collections();

  const agent = await connectFakeAgent(hub, 'quiet', 'sa-token-quiet-123456');
  await collected(n, 'a collection after the agent registered');
  n = await collections();
  // Agent-session activity only so far: every collection shrank.
  const shrunk = await shrinks();
  expect(shrunk).toBe(n);

  const kube = await fetch(`${hub.kubeUrl}/clusters/quiet/k8s/api`, { headers: { authorization: 'Bearer wrong' }, tls: { ca: hub.kubeCaPem } } as RequestInit);
  expect(kube.status).toBe(401);
  await collected(n, 'a collection after a kube gateway request');
  n = await collections();

  const pub = await fetch(`${hub.gatewayUrl}/nothing-here`, { headers: { host: 'nowhere.example' } });
  expect(pub.status).toBe(404);
  await collected(n, 'a collection after a public gateway request');
  // After gateway requests the collections keep the compiled code (the next burst would compile it again).
  expect(await shrinks()).toBe(shrunk);

  const { samples } = parsePromText(await (await fetch(`${hub.url}/metrics`)).text());
  expect(samples.find((s) => s.name === 'pipeops_hub_js_heap_bytes' && s.labels.kind === 'size')!.value).toBeGreaterThan(1 << 20);
  await agent.close();
});
