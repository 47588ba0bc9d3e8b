// The kube gateway's request timeout (requestTimeoutMs, node's requestTimeout): a request whose body has not all
// arrived within the bound of its start is answered 408 with `Connection: close` and its connection closed, over real
// TLS against a hub and a hand-made agent. What it must not cut: a body that arrives slowly but whole in time, a
// streaming answer (a watch) that outlasts the bound, an upgrade (an agent's raw upgrade, a replica's L4 forward),
// and a kept-alive connection after a complete request.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Hub } from '../../src/hub/server.ts';
import type { ClusterStore } from '../../src/hub/store/types.ts';
import type { KubeGateway, KubeGatewayOptions } from '../../src/hub/kube-gateway/kube-gateway.ts';
import { L4_PATH, ReplicaLink } from '../../src/hub/replica-link.ts';
import type { SessionDirectory } from '../../src/hub/session-directory.ts';
import { encodeFrameData, OPCODE } from '../../src/protocol/stream-messages.ts';
import { quietLog, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { WireClient } from '../support/http-wire.ts';
import { connectFakeAgent, type FakeAgent } from './fake-agent.ts';
import { FrontGateways } from './front-gateway.ts';

/** The bound under test: short, so that a test waits for it to pass, never for a fixed sleep standing in for an event. */
const T = 400;
let hub: Hub;
let agent: FakeAgent;
let ca: string;

// The other clocks far off: only the request timeout may end a connection here.
const gateways = new FrontGateways(() => ({ hub, keepAliveTimeoutMs: 60_000, headersTimeoutMs: 60_000, requestTimeoutMs: T }));
const gateway = (over: Partial<KubeGatewayOptions> = {}) => gateways.start(over);

beforeAll(async () => {
  hub = await testHub({ proxy_timeout: 30_000 });
  ca = hub.kubeCaPem!;
  agent = await connectFakeAgent(hub, 'front-request-timeout', 'front-rt-sa-token-abcdef123456');
});
afterAll(async () => {
  await gateways.stopAll();
  await agent?.close();
  await hub?.stop();
});

const open = (gw: KubeGateway) => WireClient.open(gw.port, { ca });
const head = (method: string, path: string, extra: string) => `${method} /clusters/${agent.clusterId}/k8s${path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USER_TOKEN}\r\n${extra}\r\n`;
/** Answers every proxy_request with its method, path and body (200). */
const echo = () => {
  agent.handler = (r, a) => a.respondJson(r.message.requestId!, 200, { 'Content-Type': ['text/plain'] }, Buffer.from(`${r.message.payload.method} ${r.message.payload.path} ${Buffer.from(r.body).toString()}`), 'base64');
};
/** Resolves after `ms`, or earlier when the connection closes: how long a test lets a bound pass. */
const closedWithin = (c: WireClient, ms: number) => Promise.race([c.waitClosed(), Bun.sleep(ms)]).then(() => c.closed);
const pause = (ms: number) => Bun.sleep(ms);

async function expect408(c: WireClient, before: number, gw: KubeGateway): Promise<void> {
  // Bounded: closed within 25 bounds (the sweep's period is a quarter of one), or the test fails here.
  expect(await closedWithin(c, 25 * T)).toBe(true);
  const [r, ...more] = c.responses();
  expect(r?.status).toBe(408);
  expect(more).toEqual([]);
  expect(r!.headers.find(([k]) => k.toLowerCase() === 'connection')?.[1]).toBe('close');
  expect(JSON.parse(r!.body.toString())).toMatchObject({ kind: 'Status', code: 408 });
  expect(agent.requests.length).toBe(before);
  await waitFor(() => gw.connections === 0, { what: 'no connection left' });
}

describe('a request body that does not arrive in time', () => {
  test('Content-Length: 100, 10 bytes sent, then nothing: 408, Connection: close, the connection closed, nothing at the agent', async () => {
    echo();
    const gw = await gateway();
    const before = agent.requests.length;
    const c = await open(gw);
    c.write(head('POST', '/rt/short', 'Content-Length: 100\r\nContent-Type: application/json\r\n') + '{"kind":"N');
    await expect408(c, before, gw);
  });

  test('a chunked body whose last chunk never comes: 408, the connection closed, nothing at the agent', async () => {
    echo();
    const gw = await gateway();
    const before = agent.requests.length;
    const c = await open(gw);
    c.write(head('POST', '/rt/chunked', 'Transfer-Encoding: chunked\r\n') + '5\r\nabcde\r\n');
    await expect408(c, before, gw);
  });

  test('the bound is on the whole body, not on the pauses: one byte every T/4 is still cut (as node\'s requestTimeout)', async () => {
    echo();
    const gw = await gateway();
    const before = agent.requests.length;
    const c = await open(gw);
    c.write(head('PUT', '/rt/trickle', 'Content-Length: 1000\r\n'));
    // Bounded: the test ends at the cut, or fails when 20 bounds pass without one.
    for (let i = 0; i < 80 && !c.closed && !c.ended; i++) {
      c.write('x');
      await pause(T / 4);
    }
    await expect408(c, before, gw);
  });

  test('the rest of the body sent after the 408 never reaches the agent; a client that ignores our FIN is cut keepAliveTimeoutMs later', async () => {
    echo();
    const gw = await gateway({ keepAliveTimeoutMs: T });
    const before = agent.requests.length;
    const c = await WireClient.open(gw.port, { ca }, false);
    c.write(head('POST', '/rt/late', 'Content-Length: 20\r\n') + '0123456789');
    await c.until(() => c.ended, 'the 408 and our FIN');
    expect(c.responses()[0]!.status).toBe(408);
    c.write('abcdefghij');
    expect(await closedWithin(c, 25 * T)).toBe(true);
    expect(agent.requests.length).toBe(before);
  });

  test('an incomplete POST pipelined behind a watch still streaming: no 408 inside the stream, the connection destroyed, the watch cancelled', async () => {
    let watchId = '';
    agent.handler = (r, a) => {
      watchId = r.message.requestId!;
      a.header(watchId, 200, { 'Content-Type': ['application/json'] });
      a.chunk(watchId, '{"type":"ADDED"}\n');
    };
    const gw = await gateway({ fastPath: false });
    const c = await open(gw);
    c.write(head('GET', '/rt/pipelined-watch?watch=true', ''));
    await c.until(() => c.data.includes('ADDED'), 'the first event');
    const before = agent.requests.length;
    c.write(head('POST', '/rt/behind', 'Content-Length: 100\r\n') + 'abc');
    expect(await closedWithin(c, 25 * T)).toBe(true);
    expect(c.data.toString('latin1')).not.toContain('408');
    expect(agent.requests.length).toBe(before);
    await waitFor(() => agent.cancels(watchId).length === 1, { what: 'proxy_cancel for the watch' });
  });

  test('a store that answers after the 408: the late refusal is not written (no second answer, no error thrown)', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const clusters = { find: (idOrName: string) => gate.then(() => hub.store.find(idOrName)) } as unknown as ClusterStore;
    const gw = await gateway({ clusters });
    const c = await WireClient.open(gw.port, { ca }, false);
    c.write(`POST /clusters/no-such-cluster/k8s/api/v1/namespaces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USER_TOKEN}\r\nContent-Length: 100\r\n\r\n{"kind"`);
    await c.until(() => c.ended, 'the 408 and our FIN');
    const thrown: unknown[] = [];
    const onError = (e: unknown) => thrown.push(e);
    process.on('unhandledRejection', onError);
    process.on('uncaughtException', onError);
    try {
      release();
      await gate;
      // The lookup's continuation runs within a few turns of the loop; a lookup of the store follows it.
      await hub.store.find('no-such-cluster');
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('unhandledRejection', onError);
      process.off('uncaughtException', onError);
    }
    expect(thrown).toEqual([]);
    expect(c.responses().map((r) => r.status)).toEqual([408]);
    c.s.destroy();
  });

  test('on a connection handed to node earlier (a complete POST first): the second, incomplete one gets the 408', async () => {
    echo();
    const gw = await gateway();
    const c = await open(gw);
    c.write(head('POST', '/rt/first', 'Content-Length: 2\r\n') + 'hi');
    await c.waitResponses(1);
    const before = agent.requests.length;
    c.write(head('POST', '/rt/second', 'Content-Length: 50\r\n') + 'abc');
    expect(await closedWithin(c, 25 * T)).toBe(true);
    expect(c.responses().map((r) => r.status)).toEqual([200, 408]);
    expect(agent.requests.length).toBe(before);
  });
});

describe('what the request timeout must not cut', () => {
  test('a body in pieces spread over less than the bound is answered (200 from the agent)', async () => {
    echo();
    // A wider bound here, so that a loaded machine's late timers cannot push the pieces past it.
    const gw = await gateway({ requestTimeoutMs: 8 * T });
    const c = await open(gw);
    const body = 'piece-one|piece-two|piece-three|';
    c.write(head('POST', '/rt/pieces', `Content-Length: ${body.length}\r\n`));
    for (const piece of body.match(/[^|]+\|/g)!) {
      await pause(T / 2);
      c.write(piece);
    }
    const [r] = await c.waitResponses(1);
    expect(r!.status).toBe(200);
    expect(r!.body.toString()).toBe(`POST /rt/pieces ${body}`);
    c.s.destroy();
  });

  test('keep-alive after a complete POST: the connection stays past the bound, and a second POST on it, its body in two pieces, is answered', async () => {
    echo();
    // The second request's clock starts at its own head, not at the connection's or the first request's. The pause
    // before its body's rest is longer than the sweep's period (bound / 4), so a clock that started earlier (already
    // past the bound) is caught by a sweep within it, and leaves the correct clock 1.3 s of slack on a loaded machine.
    const bound = 5 * T;
    const gw = await gateway({ requestTimeoutMs: bound });
    const c = await open(gw);
    c.write(head('POST', '/rt/ka/1', 'Content-Length: 3\r\n') + 'one');
    await c.waitResponses(1);
    expect(await closedWithin(c, 2 * bound)).toBe(false);
    c.write(head('POST', '/rt/ka/2', 'Content-Length: 3\r\n') + 't');
    await pause(bound / 4 + 200);
    c.write('wo');
    const rs = await c.waitResponses(2);
    expect(rs.map((r) => [r.status, r.body.toString()])).toEqual([
      [200, 'POST /rt/ka/1 one'],
      [200, 'POST /rt/ka/2 two'],
    ]);
    c.s.destroy();
  });

  test('a watch whose answer streams longer than the bound, on node\'s connections and on the fast path', async () => {
    const ids: string[] = [];
    agent.handler = (r, a) => {
      const id = r.message.requestId!;
      if (String(r.message.payload.path) !== '/rt/watch') return a.respondJson(id, 200, null, Buffer.from('ok'), 'base64');
      ids.push(id);
      a.header(id, 200, { 'Content-Type': ['application/json'] });
      a.chunk(id, '{"type":"ADDED"}\n');
    };
    const watchOn = async (gw: KubeGateway, first: string) => {
      const c = await open(gw);
      // A POST first hands the connection to node's server (on the gateway with the fast path too).
      if (first) {
        c.write(first);
        await c.waitResponses(1);
      }
      c.write(head('GET', '/rt/watch?watch=true', ''));
      await c.until(() => c.data.includes('ADDED'), 'the first event');
      return { c, answers: first ? 2 : 1 };
    };
    const post = head('POST', '/rt/before-watch', 'Content-Length: 1\r\n') + 'x';
    const [fast, handed, node] = await Promise.all([gateway(), gateway(), gateway({ fastPath: false })]);
    const watches = await Promise.all([watchOn(fast, ''), watchOn(handed, post), watchOn(node, '')]);
    expect(fast.handedOff).toBe(0);
    expect(await Promise.all(watches.map(({ c }) => closedWithin(c, 4 * T)))).toEqual([false, false, false]);
    expect(ids.length).toBe(3);
    for (const id of ids) {
      agent.chunk(id, '{"type":"MODIFIED"}\n');
      agent.send('proxy_response_end', {}, id);
    }
    for (const { c, answers } of watches) {
      const rs = await c.waitResponses(answers);
      expect(rs.at(-1)!.body.toString()).toBe('{"type":"ADDED"}\n{"type":"MODIFIED"}\n');
      c.s.destroy();
    }
  });

  test('an agent\'s raw upgrade (exec over SPDY) lasting longer than the bound: bytes still flow both ways', async () => {
    let id = '';
    agent.handler = (r, a) => {
      id = r.message.requestId!;
      a.send('proxy_response', { status: 101, headers: { Connection: ['Upgrade'], Upgrade: ['SPDY/3.1'] } }, id);
    };
    const gw = await gateway();
    const c = await open(gw);
    c.write(head('POST', '/api/v1/namespaces/default/pods/web-0/exec?command=sh', 'Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n'));
    await c.until(() => c.data.includes('\r\n\r\n'), '101');
    expect(c.data.toString('latin1')).toStartWith('HTTP/1.1 101');
    expect(await closedWithin(c, 4 * T)).toBe(false);
    // Client to agent, then agent to client, after the bound passed.
    const seen = agent.messages.length;
    c.write('from-client');
    await waitFor(() => agent.messages.slice(seen).some((m) => m.type === 'proxy_websocket_data' && Buffer.from(String(m.payload.data), 'base64').subarray(1).toString() === 'from-client'), { what: 'the client\'s bytes at the agent' });
    agent.send('proxy_websocket_data', { stream_id: id, data: encodeFrameData(OPCODE.binary, Buffer.from('from-agent')) }, id);
    await c.until(() => c.data.includes('from-agent'), 'the agent\'s bytes');
    c.s.destroy();
    await waitFor(() => gw.upgradesActive === 0, { what: 'the relay ended' });
  });

  test('a replica\'s L4 forward (an upgrade of the internal path) lasting longer than the bound is not cut', async () => {
    const gw = await gateway({
      internalL4: () => (_req, socket) => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
        socket.on('data', (d: Buffer) => socket.write(d));
      },
    });
    const c = await open(gw);
    c.write(`GET ${L4_PATH} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`);
    await c.until(() => c.data.includes('\r\n\r\n'), '101');
    expect(await closedWithin(c, 4 * T)).toBe(false);
    c.write('still-there');
    await c.until(() => c.data.includes('still-there'), 'the echo');
    c.s.destroy();
  });

  test('requestTimeoutMs 0: a trickling POST is not cut by this timeout', async () => {
    echo();
    const gw = await gateway({ requestTimeoutMs: 0 });
    const before = agent.requests.length;
    const c = await open(gw);
    c.write(head('POST', '/rt/none', 'Content-Length: 100\r\n') + '0123456789');
    expect(await closedWithin(c, 4 * T)).toBe(false);
    expect(c.data.length).toBe(0);
    expect(agent.requests.length).toBe(before);
    c.s.destroy();
    await waitFor(() => gw.connections === 0, { what: 'no connection left' });
  });
});

describe('between hub replicas', () => {
  // Replica B holds no session: it forwards each request to A (the link's signed request over A's gateway port),
  // where the agent's session is. The client's body streams through B to A as it arrives.
  const SECRET = 'replica-secret-for-request-timeout';
  async function replicas() {
    const a = await gateway({ link: new ReplicaLink({ replicaId: 'a', secret: SECRET, kubeCaPem: ca, log: quietLog }) });
    const directory = {
      local: () => undefined,
      locate: async () => ({ kind: 'remote', replica: { kube_url: a.url } }),
      onSession: () => () => {},
    } as unknown as SessionDirectory;
    const b = await gateway({ directory, link: new ReplicaLink({ replicaId: 'b', secret: SECRET, kubeCaPem: ca, log: quietLog }) });
    return { a, b };
  }

  test('a forwarded request whose body stalls gets 408 from the replica the client reached; nothing at the agent, A\'s side let go', async () => {
    echo();
    const { a, b } = await replicas();
    // Forwarded whole: the link works in this set-up.
    const ok = await open(b);
    ok.write(head('POST', '/rt/via-b', 'Content-Length: 2\r\n') + 'hi');
    expect((await ok.waitResponses(1)).map((r) => [r.status, r.body.toString()])).toEqual([[200, 'POST /rt/via-b hi']]);
    ok.s.destroy();
    const before = agent.requests.length;
    const c = await open(b);
    c.write(head('POST', '/rt/via-b/stalled', 'Content-Length: 100\r\n') + '0123456789');
    await expect408(c, before, b);
    await waitFor(() => a.connections === 0, { what: 'the link\'s connection to A closed' });
  });
});
