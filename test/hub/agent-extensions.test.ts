// Issue 11 item 9: our agent names its protocol extensions (gateway query `pipeops_extensions`, register
// `metadata.pipeops_extensions`); the hub keeps each session's set and uses an extension only when advertised.
import { afterAll, describe, expect, test } from 'bun:test';
import { connect } from 'node:net';
import { HubConfigSchema } from '../../src/hub/config/schema.ts';
import { type Hub, startHub } from '../../src/hub/server.ts';
import { createLogger } from '../../src/log/logger.ts';
import { ADMIN_TOKEN, AGENT_TOKEN, adminClusters, tempDir, testAgent, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { encodeResponseFrame } from '../../src/protocol/binary-frame.ts';
import { FrameBatchBuilder } from '../../src/protocol/frame-batch.ts';
import { connectFakeAgent } from './fake-agent.ts';

const ALL = ['binary_chunks', 'frame_batches', 'long_streams', 'raw_frames', 'raw_upgrade', 'yamux_tagged'];
const stops: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const s of stops.reverse()) await s();
});

async function hubWith(over: Parameters<typeof testHub>[0] = {}): Promise<Hub> {
  const hub = await testHub(over);
  stops.push(() => hub.stop());
  return hub;
}

describe('our agent advertises its extensions; the hub keeps them per session', () => {
  for (const handoff of [true, false])
    test(`${handoff ? 'gateway session (query parameter)' : 'controller session, no hand-off (register metadata)'}`, async () => {
      const hub = await hubWith({ handoff });
      const agent = await testAgent(hub.url, tempDir());
      stops.push(() => agent.stop());
      await waitFor(() => hub.agents.sessions.size === 1, { what: 'agent session' });
      const session = [...hub.agents.sessions.values()][0]!;
      expect(session.kind).toBe(handoff ? 'gateway' : 'controller');
      expect([...session.extensions].sort() as string[]).toEqual(ALL);
      const [view] = await adminClusters(hub);
      expect(view!.extensions).toEqual(ALL);
      // frame_batches: the hub accepts them, so answers of one turn arrive together. Concurrent requests until one
      // batch came (bounded: answers that each take a turn of their own are not batched, and that is allowed).
      let batched = 0;
      for (let round = 0; round < 20 && batched === 0; round++) {
        const got = await Promise.all(
          Array.from({ length: 32 }, () =>
            fetch(`${hub.kubeUrl}/clusters/${session.clusterId}/k8s/api/v1/namespaces`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit).then(async (r) => [r.status, ((await r.json()) as { kind?: string }).kind]),
          ),
        );
        expect(got.every(([st, kind]) => st === 200 && kind === 'NamespaceList')).toBe(true);
        const m = /pipeops_hub_agent_batched_messages_total (\d+)/.exec(await (await fetch(`${hub.url}/metrics`)).text());
        batched = Number(m?.[1] ?? 0);
      }
      expect(batched).toBeGreaterThan(1);
    });
});

describe('an agent that advertises nothing (the upstream Go agent) gets no extension', () => {
  test('no binary_chunks on its proxy_requests; the advertising agent gets it', async () => {
    const hub = await hubWith();
    const upstream = await connectFakeAgent(hub, 'upstream', 'sa-upstream-123456', '');
    const ours = await connectFakeAgent(hub, 'ours', 'sa-ours-1234567');
    stops.push(
      () => upstream.close(),
      () => ours.close(),
    );
    expect(hub.agents.sessions.get(upstream.clusterId)!.extensions.size).toBe(0);
    const views = await adminClusters(hub);
    expect(views.find((v) => v.cluster_id === upstream.clusterId)!.extensions).toEqual([]);
    for (const a of [upstream, ours])
      a.handler = (r, self) => self.respondJson(r.message.requestId!, 200, { 'Content-Type': ['application/json'] }, new TextEncoder().encode('{}'), 'base64');
    for (const a of [upstream, ours]) {
      const r = await fetch(`${hub.kubeUrl}/clusters/${a.clusterId}/k8s/api/v1/namespaces`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
      expect(r.status).toBe(200);
      await r.text();
    }
    expect('binary_chunks' in upstream.requests.at(-1)!.message.payload).toBe(false);
    expect(ours.requests.at(-1)!.message.payload.binary_chunks).toBe(true);
  });

  test('frame_batches: sent once to an agent that lists the extension, never to one that does not', async () => {
    const hub = await hubWith();
    const upstream = await connectFakeAgent(hub, 'upstream-fb', 'sa-upstream-fb-1234', '');
    const ours = await connectFakeAgent(hub, 'ours-fb', 'sa-ours-fb-1234567');
    stops.push(
      () => upstream.close(),
      () => ours.close(),
    );
    await waitFor(() => ours.messages.some((m) => m.type === 'frame_batches'), { what: 'frame_batches to our agent' });
    // A message the hub sends later on the same socket arrives after it: nothing more was owed to the upstream agent.
    ours.handler = upstream.handler = (r, self) => self.respondJson(r.message.requestId!, 200, null, new Uint8Array(0), 'base64');
    for (const a of [upstream, ours]) {
      const r = await fetch(`${hub.kubeUrl}/clusters/${a.clusterId}/k8s/api/v1/namespaces`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
      await r.text();
    }
    expect(ours.messages.filter((m) => m.type === 'frame_batches')).toHaveLength(1);
    expect(upstream.messages.filter((m) => m.type === 'frame_batches')).toHaveLength(0);
  });

  test('frame batches: every answer in a batch reaches its client; a malformed batch is dropped and counted, and the session goes on', async () => {
    const hub = await hubWith();
    const a = await connectFakeAgent(hub, 'batcher', 'sa-batcher-1234567');
    stops.push(() => a.close());
    // Answers are held until three requests are in, then sent as one batch of three response frames.
    const waiting: string[] = [];
    a.handler = (r, self) => {
      waiting.push(r.message.requestId!);
      if (waiting.length < 3) return;
      const b = new FrameBatchBuilder();
      for (const id of waiting.splice(0)) b.add(encodeResponseFrame(id, 200, { 'Content-Type': ['text/plain'] }, new TextEncoder().encode(`answer ${id}`)));
      self.ws.send(b.take()!);
    };
    const get = (n: number) =>
      fetch(`${hub.kubeUrl}/clusters/${a.clusterId}/k8s/api/v1/namespaces/n${n}`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit).then(async (r) => ({ status: r.status, body: await r.text() }));
    const got = await Promise.all([get(1), get(2), get(3)]);
    const ids = a.requests.map((r) => r.message.requestId!);
    expect(got.map((g) => g.status)).toEqual([200, 200, 200]);
    expect(got.map((g) => g.body).sort()).toEqual(ids.map((id) => `answer ${id}`).sort());
    // A batch whose second entry runs past the end: dropped whole (its first answer too), logged, counted.
    a.handler = (r, self) => {
      const frame = encodeResponseFrame(r.message.requestId!, 200, null, new TextEncoder().encode('lost'));
      const b = new FrameBatchBuilder();
      b.add(frame);
      b.add(frame);
      const bad = b.take()!.slice();
      self.ws.send(bad.subarray(0, bad.length - 2));
      // The answer that counts comes on its own afterwards.
      self.respondFrame(r.message.requestId!, 201, null, new TextEncoder().encode('after'), false);
    };
    const after = await get(4);
    expect(after).toEqual({ status: 201, body: 'after' });
    const text = await (await fetch(`${hub.url}/metrics`)).text();
    expect(text).toContain('pipeops_hub_agent_frame_batches_total{result="ok"} 1');
    expect(text).toContain('pipeops_hub_agent_frame_batches_total{result="malformed"} 1');
    expect(text).toContain('pipeops_hub_agent_batched_messages_total 3');
  });

  test('unknown names in the list are ignored', async () => {
    const hub = await hubWith();
    const a = await connectFakeAgent(hub, 'newer', 'sa-newer-1234567', 'raw_upgrade,teleport, binary_chunks');
    stops.push(() => a.close());
    expect([...hub.agents.sessions.get(a.clusterId)!.extensions].sort() as string[]).toEqual(['binary_chunks', 'raw_upgrade']);
  });
});

/** One raw HTTP/1.1 exchange with the public gateway; the first response head and body text. */
function rawUpgrade(url: string, host: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect({ host: u.hostname, port: Number(u.port) }, () =>
      sock.write(`GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`),
    );
    let got = '';
    sock.on('data', (d: Buffer) => (got += d.toString()));
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
  });
}

test('public gateway: ours gets the raw upgrade, the upstream agent its application relay request without extensions', async () => {
  const hub = await hubWith();
  const upstream = await connectFakeAgent(hub, 'upstream-app', 'sa-upstream-app-1', '');
  const ours = await connectFakeAgent(hub, 'ours-app', 'sa-ours-app-12345');
  stops.push(
    () => upstream.close(),
    () => ours.close(),
  );
  const route = (cluster_id: string, hostname: string) => ({
    cluster_id,
    hostname,
    path: '/',
    path_type: 'Prefix' as const,
    namespace: 'default',
    service_name: 'web',
    service_port: 80,
    ingress_namespace: 'default',
    ingress_name: 'web',
    tls: false,
    annotations: {},
    public_endpoint: '',
    routing_mode: 'tunnel' as const,
    deployment_id: '',
    deployment_name: '',
  });
  await hub.routes.sync(upstream.clusterId, [route(upstream.clusterId, 'up.example.test')]);
  await hub.routes.sync(ours.clusterId, [route(ours.clusterId, 'ours.example.test')]);
  // The upstream agent gets upstream's application relay request (§3.8); its dial failure is the client's 502.
  upstream.handler = (r, a) => a.send('proxy_error', { error: 'dial tcp 10.0.0.9:80: connect: connection refused' }, r.message.requestId!);
  const reply = await rawUpgrade(hub.gatewayUrl, 'up.example.test');
  expect(reply).toStartWith('HTTP/1.1 502');
  expect(reply).toContain('connection refused');
  const sent = upstream.requests.at(-1)!.message.payload;
  expect(sent.raw_upgrade).toBeUndefined();
  expect(sent.is_websocket).toBe(true);
  expect(sent).toMatchObject({ service_name: 'web', namespace: 'default', service_port: 80 });

  ours.handler = (r, a) => a.respondJson(r.message.requestId!, 404, null, new Uint8Array(0), 'base64');
  const answered = await rawUpgrade(hub.gatewayUrl, 'ours.example.test');
  expect(answered).toStartWith('HTTP/1.1 404');
  expect(ours.requests.at(-1)!.message.payload.raw_upgrade).toBe(true);
});

test('watch/follow: the 30 s cut of an agent without long_streams is logged once per cluster; an advertising agent never triggers it', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', name: 'hub', sink: (l) => lines.push(JSON.parse(l)) });
  const hub = await startHub(HubConfigSchema.parse({ port: 0, kube_port: 0, agent_tokens: [AGENT_TOKEN], admin_tokens: [ADMIN_TOKEN], user_tokens: [USER_TOKEN], state: ':memory:' }), log);
  stops.push(() => hub.stop());
  const upstream = await connectFakeAgent(hub, 'upstream-watch', 'sa-upstream-watch-1', '');
  const ours = await connectFakeAgent(hub, 'ours-watch', 'sa-ours-watch-12345');
  stops.push(
    () => upstream.close(),
    () => ours.close(),
  );
  for (const a of [upstream, ours])
    a.handler = (r, self) => {
      const id = r.message.requestId!;
      self.header(id, 200, { 'Content-Type': ['application/json'] });
      self.send('proxy_response_end', {}, id);
    };
  for (const a of [upstream, ours])
    for (const q of ['watch=true', 'follow=true', 'watch=1']) {
      const r = await fetch(`${hub.kubeUrl}/clusters/${a.clusterId}/k8s/api/v1/namespaces/default/pods?${q}`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
      expect(r.status).toBe(200);
      await r.text();
    }
  const notices = lines.filter((l) => String(l.msg).includes('does not advertise long_streams'));
  expect(notices.map((l) => l.cluster_id)).toEqual([upstream.clusterId]);
  expect(notices[0]!.level).toBe('warn');
});
