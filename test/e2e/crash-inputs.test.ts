// Issue 19: the exact control-plane inputs that crashed the tunnel worker (or aborted at once) under fuzzing.
// Each is sent through the hub's live session to a real agent; afterwards the worker has not restarted, the
// session is the same, and the input got the answer the protocol promises.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import { encodeFrameData } from '../../src/protocol/stream-messages.ts';
import { CP_TOKEN, type Stack, startStack } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';
import { sendUntyped } from '../support/untyped-send.ts';

let s: Stack;
const fromAgent: InboundMessage[] = [];
const auth = { Authorization: [`Bearer ${CP_TOKEN}`] };

beforeAll(async () => {
  s = await startStack();
  s.hub.agents.tap((_id, m) => fromAgent.push(m));
});
afterAll(async () => {
  await s?.stop();
});

const session = () => s.hub.agents.sessions.get(s.clusterId)!;
const answer = (id: string, types = ['proxy_response', 'proxy_error', 'proxy_response_end', 'proxy_response_abort']) =>
  waitFor(() => fromAgent.find((m) => m.requestId === id && types.includes(m.type)), { what: `answer to ${id}` });

/** The worker never restarted and the hub's session object is the one from the start; a ping is answered. */
async function expectSurvived(first: unknown, tag: string) {
  sendUntyped(session(), 'ping', null, `alive-${tag}`);
  await waitFor(() => fromAgent.some((m) => m.type === 'pong' && m.requestId === `alive-${tag}`), { what: `pong ${tag}` });
  const snap = s.agent.status.snapshot();
  expect(snap.workers.tunnel?.restarts).toBe(0);
  expect(session()).toBe(first as never);
}

describe('crash inputs from fuzzing (issue 19)', () => {
  test('1: streamed request body, invalid chunk (data: 5) aborts it, then stream_end and another chunk', async () => {
    const first = session();
    for (const tail of ['proxy_request_stream_end', 'proxy_request_chunk']) {
      const id = `body-after-abort-${tail}`;
      s.send('proxy_request', { method: 'POST', path: '/api/v1/namespaces/demo/configmaps', headers: { ...auth, 'Content-Type': ['application/json'] }, use_streaming: true }, id);
      s.send('proxy_request_chunk', { data: 5 }, id);
      s.send(tail, tail === 'proxy_request_chunk' ? { data: 'e30=' } : {}, id);
      const a = await answer(id);
      expect(a.type).toBe('proxy_error');
      expect(String(a.payload.error)).toContain('proxy_request_chunk needs a base64 string');
    }
    await expectSurvived(first, '1');
  });

  test('2: a JSON body nested 30,000 deep (array) and 20,000 deep (object) is refused with a reason', async () => {
    const first = session();
    const arr = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
    let obj = '1';
    for (let i = 0; i < 20_000; i++) obj = `{"a":${obj}}`;
    for (const [id, body] of [['deep-array', arr], ['deep-object', obj]] as const) {
      session().sendRaw(`{"type":"proxy_request","request_id":"${id}","payload":{"method":"POST","path":"/api/v1/namespaces/demo/configmaps","body":${body}}}`);
      const a = await answer(id);
      expect(a.type).toBe('proxy_error');
      expect(String(a.payload.error)).toContain('body is nested deeper than');
    }
    // A nested body within the bound still travels, keys sorted as upstream's json.Marshal does.
    const r = s.proxy({ method: 'POST', path: '/api/v1/namespaces/demo/configmaps', headers: { ...auth, 'Content-Type': ['application/json'] }, body: { metadata: { name: 'nested-ok' }, kind: 'ConfigMap', apiVersion: 'v1', data: { b: '2', a: '1' } } });
    const done = (await r.done) as InboundMessage;
    expect(done.type).toBe('proxy_response');
    expect(done.payload.status).toBe(201);
    await expectSurvived(first, '2');
  });

  test('3: relayed close frames WebSocket.close() refuses (1910, 1004, 1000 with a 200-byte reason) close the stream cleanly', async () => {
    const first = session();
    const frames = {
      'close-1910': Buffer.from([0x08, 0x07, 0x76]).toString('base64'),
      'close-1004': Buffer.from([0x08, 0x03, 0xec]).toString('base64'),
      'close-long-reason': encodeFrameData(8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.alloc(200, 'r')])),
    };
    for (const [id, data] of Object.entries(frames)) {
      s.send('proxy_websocket_start', { stream_id: id, path: '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec', query: 'command=cat&stdin=true&stdout=true', headers: auth, protocol: 'v4.channel.k8s.io' }, id);
      // Wait until the stream is open (cat echoes stdin), so the close reaches a live WebSocket.
      s.send('proxy_websocket_data', { stream_id: id, data: encodeFrameData(1, Buffer.from('up\n')) });
      await waitFor(() => fromAgent.some((m) => m.type === 'proxy_websocket_data' && m.requestId === id), { what: `${id} open` });
      s.send('proxy_websocket_data', { stream_id: id, data });
      const c = await waitFor(() => fromAgent.find((m) => m.type === 'proxy_websocket_close' && m.requestId === id), { what: `${id} closed` });
      expect(c.payload.stream_id).toBe(id);
    }
    // The same frames queued before the backend opened (sent from the open handler) are harmless too.
    const id = 'close-queued';
    s.send('proxy_websocket_start', { stream_id: id, path: '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec', query: 'command=cat&stdin=true&stdout=true', headers: auth, protocol: 'v4.channel.k8s.io' }, id);
    s.send('proxy_websocket_data', { stream_id: id, data: frames['close-1910'] });
    await waitFor(() => fromAgent.find((m) => m.type === 'proxy_websocket_close' && m.requestId === id), { what: `${id} closed` });
    await expectSurvived(first, '3');
  });

  test('4: timeouts past 2^31-1 ms and far deadlines do not abort at once; a non-finite timeout is refused', async () => {
    const first = session();
    for (const [id, extra] of [
      ['t-600h', { timeout: '600h' }],
      ['t-25d', { timeout: 2_160_000_000 }],
      ['t-9999', { deadline: '9999-12-31T00:00:00Z' }],
    ] as const) {
      const r = s.proxy({ method: 'GET', path: '/version', headers: auth, ...extra }, { id });
      const done = (await r.done) as InboundMessage;
      expect(`${id} ${done.type} ${JSON.stringify(done.payload).slice(0, 80)}`).toStartWith(`${id} proxy_response`);
    }
    session().sendRaw('{"type":"proxy_request","request_id":"t-inf","payload":{"method":"GET","path":"/version","timeout":1e309}}');
    const a = await answer('t-inf');
    expect(a.type).toBe('proxy_error');
    expect(String(a.payload.error)).toContain('timeout');
    await expectSurvived(first, '4');
  });
});

describe('metrics of upgrades (issue 19)', () => {
  test('a successful exec upgrade counts status 101 / upgrade, not status 0 / error', async () => {
    const metric = async (re: RegExp) => {
      const text = await (await fetch(`${s.agent.url}/metrics`)).text();
      return text
        .split('\n')
        .filter((l) => re.test(l))
        .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    };
    const zeroBefore = await metric(/^pipeops_proxy_requests_total\{.*status="0"/);
    const headers = { ...auth, Upgrade: ['websocket'], Connection: ['Upgrade'], 'Sec-WebSocket-Key': ['dGhlIHNhbXBsZSBub25jZQ=='], 'Sec-WebSocket-Version': ['13'], 'Sec-WebSocket-Protocol': ['v4.channel.k8s.io'] };
    const r = s.proxy({ method: 'GET', path: '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec', query: 'command=echo&command=hi&stdout=true', headers }, { id: 'exec-upgrade' });
    const first = (await r.done) as InboundMessage;
    expect(first.payload.status).toBe(101);
    await waitFor(() => fromAgent.find((m) => m.type === 'proxy_websocket_close' && m.requestId === 'exec-upgrade'), { what: 'exec ended' });
    await waitFor(async () => (await metric(/^pipeops_proxy_requests_total\{target="kubernetes",status="101",encoding="upgrade"\}/)) === 1, { what: '101 counted' });
    expect(await metric(/^pipeops_proxy_requests_total\{.*status="0"/)).toBe(zeroBefore);
  });
});

describe('found by the live fuzz (issue 19)', () => {
  test('an upgrade proxy_request reusing the id of an open stream is refused; the open stream is not orphaned', async () => {
    const metric = async (re: RegExp) =>
      (await (await fetch(`${s.agent.url}/metrics`)).text())
        .split('\n')
        .filter((l) => re.test(l))
        .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    const id = 'dup-upgrade';
    const headers = { ...auth, Upgrade: ['websocket'], Connection: ['Upgrade'], 'Sec-WebSocket-Key': ['dGhlIHNhbXBsZSBub25jZQ=='], 'Sec-WebSocket-Version': ['13'], 'Sec-WebSocket-Protocol': ['v4.channel.k8s.io'] };
    const req = { method: 'GET', path: '/api/v1/namespaces/demo/pods/hello-6d9f7c8b5-abcde/exec', query: 'command=cat&stdin=true&stdout=true', headers };
    s.send('proxy_request', req, id);
    await waitFor(() => fromAgent.find((m) => m.requestId === id && m.type === 'proxy_response' && m.payload.status === 101), { what: '101' });
    s.send('proxy_request', req, id);
    const err = await waitFor(() => fromAgent.find((m) => m.requestId === id && m.type === 'proxy_error'), { what: 'duplicate refused' });
    expect(String(err.payload.error)).toBe(`stream ${id} already exists`);
    s.send('proxy_websocket_close', { stream_id: id }, id);
    await waitFor(() => fromAgent.find((m) => m.requestId === id && m.type === 'proxy_websocket_close'), { what: 'closed' });
    await waitFor(async () => (await metric(/^pipeops_ws_sessions_active\{/)) === 0 && (await metric(/^pipeops_tunnel_forwards_active /)) === 0, { what: 'gauges 0' });
  });
});
