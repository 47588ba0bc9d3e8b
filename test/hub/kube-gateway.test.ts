// The hub's Kubernetes API gateway against a hand-made agent: every answer shape of protocol.md §3.5–3.6,
// request bodies (§3.2), failures, cancels and disconnects, over real HTTPS connections.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { connect as tlsConnect } from 'node:tls';
import type { Hub } from '../../src/hub/server.ts';
import { ensureGatewayTls } from '../../src/hub/kube-gateway/gateway-tls.ts';
import { startKubeGateway } from '../../src/hub/kube-gateway/kube-gateway.ts';
import { quietLog, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { seededBytes } from '../support/seeded-bytes.ts';
import { connectFakeAgent, type FakeAgent } from './fake-agent.ts';

const SA_TOKEN = 'cluster-sa-token-abcdef123456';
let hub: Hub;
let agent: FakeAgent;
const gatewayTlsForTest = () => ensureGatewayTls({ state: ':memory:', host: '127.0.0.1', publicUrl: '' });

beforeAll(async () => {
  hub = await testHub({ proxy_timeout: 1500 });
  agent = await connectFakeAgent(hub, 'fake-one', SA_TOKEN);
});
afterAll(async () => {
  await agent?.close();
  await hub?.stop();
});

const base = () => `${hub.kubeUrl}/clusters/${agent.clusterId}/k8s`;
function kget(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token !== null) headers.set('authorization', `Bearer ${init.token ?? USER_TOKEN}`);
  return fetch(`${base()}${path}`, { ...init, headers, tls: { ca: hub.kubeCaPem } } as RequestInit);
}

const bytes = seededBytes;
const jsonish = (n: number) => new TextEncoder().encode(`{"items":[${'"abcdefgh",'.repeat(Math.ceil(n / 11))}`.slice(0, n)) as Uint8Array<ArrayBuffer>;

describe('buffered answers', () => {
  const sizes = [0, 1024, 10 * 1024 - 1, 10 * 1024, 5 * 1024 * 1024];
  const forms = ['json-base64', 'json-gzip', 'frame-raw', 'frame-gzip'] as const;
  for (const size of sizes)
    for (const form of forms)
      test(`${form}, ${size} bytes: byte-exact body, recomputed Content-Length`, async () => {
        const textual = form.endsWith('gzip');
        const body = textual ? jsonish(size) : bytes(size);
        const ctype = textual ? 'application/json' : 'application/octet-stream';
        agent.handler = (r, a) => {
          const id = r.message.requestId!;
          const h = { 'Content-Type': [ctype], 'Content-Length': ['999999'], 'X-Upstream': ['yes'], Connection: ['close'] };
          if (form === 'json-base64') a.respondJson(id, 200, h, body, 'base64');
          else if (form === 'json-gzip') a.respondJson(id, 200, h, body, 'gzip');
          else a.respondFrame(id, 200, h, body, form === 'frame-gzip');
        };
        const res = await kget('/api/v1/namespaces');
        expect(res.status).toBe(200);
        const got = new Uint8Array(await res.arrayBuffer());
        expect(got.length).toBe(size);
        expect(Buffer.compare(Buffer.from(got), Buffer.from(body))).toBe(0);
        expect(res.headers.get('content-length')).toBe(String(size));
        expect(res.headers.get('content-type')).toBe(ctype);
        expect(res.headers.get('x-upstream')).toBe('yes');
        expect(res.headers.get('content-encoding')).toBeNull();
      });

  test('a binary frame of a non-textual type that merely starts with 1f 8b is passed through, not gunzipped', async () => {
    const gz = Bun.gzipSync(new TextEncoder().encode('a real gzip file'));
    agent.handler = (r, a) => a.respondFrame(r.message.requestId!, 200, { 'Content-Type': ['application/octet-stream'] }, gz, false);
    const res = await kget('/api/v1/namespaces/default/configmaps/blob');
    expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), Buffer.from(gz))).toBe(0);
  });

  test('non-200 statuses and headers: null come through', async () => {
    agent.handler = (r, a) => a.respondJson(r.message.requestId!, 404, null, new TextEncoder().encode('{"kind":"Status","code":404}'), 'base64');
    const res = await kget('/api/v1/namespaces/nope');
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('{"kind":"Status","code":404}');
  });
});

describe('what the agent receives', () => {
  test('method, stripped path, raw query, SA token instead of the user token, no hop-by-hop, streaming off', async () => {
    agent.handler = (r, a) => a.respondJson(r.message.requestId!, 200, null, new Uint8Array(0), 'base64');
    await kget('/api/v1/namespaces/default/pods?limit=500&labelSelector=app%3Dweb', {
      headers: { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io', 'Keep-Alive': 'timeout=5', 'User-Agent': 'kubectl/v1.32.4' },
    });
    const m = agent.requests.at(-1)!.message;
    expect(m.requestId).toMatch(/^k8s-\d+-[0-9a-f]+$/);
    const p = m.payload as { method: string; path: string; query: string; headers: Record<string, string[]>; supports_response_streaming: boolean };
    expect(p.method).toBe('GET');
    expect(p.path).toBe('/api/v1/namespaces/default/pods');
    expect(p.query).toBe('limit=500&labelSelector=app%3Dweb');
    expect(p.supports_response_streaming).toBe(false);
    expect(p.headers.Authorization).toEqual([`Bearer ${SA_TOKEN}`]);
    expect(JSON.stringify(p.headers)).not.toContain(USER_TOKEN);
    const names = Object.keys(p.headers).map((k) => k.toLowerCase());
    for (const h of ['host', 'connection', 'keep-alive', 'accept-encoding', 'content-length']) expect(names).not.toContain(h);
    expect(p.headers.Accept).toEqual(['application/json;as=Table;v=v1;g=meta.k8s.io']);
    expect(p.headers['User-Agent']).toEqual(['kubectl/v1.32.4']);
  });

  test('request ids are unique', async () => {
    agent.handler = (r, a) => a.respondJson(r.message.requestId!, 200, null, new Uint8Array(0), 'base64');
    const before = agent.requests.length;
    await Promise.all(Array.from({ length: 20 }, () => kget('/version')));
    const ids = agent.requests.slice(before).map((r) => r.message.requestId);
    expect(new Set(ids).size).toBe(20);
  });

  test('a small body travels inline as base64; a large one as the adjacent binary frame', async () => {
    agent.handler = (r, a) => a.respondJson(r.message.requestId!, 201, null, r.body, 'base64');
    const small = jsonish(1000);
    const r1 = await kget('/api/v1/namespaces/default/configmaps', { method: 'POST', body: small, headers: { 'Content-Type': 'application/json' } });
    expect(r1.status).toBe(201);
    const q1 = agent.requests.at(-1)!;
    expect(q1.message.payload.body_encoding).toBe('base64');
    expect(q1.message.payload.body_binary).toBeUndefined();
    expect(Buffer.compare(Buffer.from(q1.body), Buffer.from(small))).toBe(0);

    const large = bytes(300 * 1024, 3);
    const r2 = await kget('/api/v1/namespaces/default/configmaps', { method: 'PUT', body: large });
    expect(r2.status).toBe(201);
    expect(Buffer.compare(Buffer.from(await r2.arrayBuffer()), Buffer.from(large))).toBe(0);
    const q2 = agent.requests.at(-1)!;
    expect(q2.message.payload.body_binary).toBe(true);
    expect(q2.message.payload.body_size).toBe(large.length);
    expect(q2.message.payload.body).toBeUndefined();
    expect(q2.frameAdjacent).toBe(true);
    expect(Buffer.compare(Buffer.from(q2.body), Buffer.from(large))).toBe(0);
  });

  test('a chunked body (lower-case header names) is read whole before the request goes to the agent', async () => {
    agent.handler = (r, a) => a.respondJson(r.message.requestId!, 201, null, r.body, 'base64');
    const out = await rawRequest(
      `POST /clusters/${agent.clusterId}/k8s/api/v1/namespaces/default/configmaps HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${USER_TOKEN}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
    );
    expect(out).toStartWith('HTTP/1.1 201');
    expect(out.endsWith('hello world')).toBe(true);
    expect(new TextDecoder().decode(agent.requests.at(-1)!.body)).toBe('hello world');
  });

  test('concurrent large uploads keep each JSON message adjacent to its own frame', async () => {
    agent.handler = (r, a) => a.respondJson(r.message.requestId!, 200, null, new TextEncoder().encode(String(r.body.length)), 'base64');
    const before = agent.requests.length;
    const sizes = [270_000, 400_000, 600_000, 1_000_000];
    const res = await Promise.all(sizes.map((n, i) => kget('/api/v1/namespaces/default/secrets', { method: 'POST', body: bytes(n, i + 11) }).then((r) => r.text())));
    expect(res).toEqual(sizes.map(String));
    expect(agent.requests.slice(before).every((r) => r.frameAdjacent)).toBe(true);
  });
});

describe('streamed answers', () => {
  test('watch=true asks for streaming; chunks reach the client as they arrive; end is a clean end', async () => {
    let id = '';
    agent.handler = (r, a) => {
      id = r.message.requestId!;
      a.header(id, 200, { 'Content-Type': ['application/json'], 'Transfer-Encoding': ['chunked'] });
      a.chunk(id, '{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
    };
    const res = await kget('/api/v1/namespaces/default/pods?watch=true&resourceVersion=5');
    expect(res.status).toBe(200);
    expect(agent.requests.at(-1)!.message.payload.supports_response_streaming).toBe(true);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    const first = dec.decode((await reader.read()).value);
    expect(first).toContain('"name":"a"');
    // Only now does the agent send more: proves the first chunk was not held back.
    agent.chunk(id, '{"type":"DELETED","object":{"metadata":{"name":"a"}}}\n');
    let rest = '';
    const second = await reader.read();
    rest += dec.decode(second.value);
    agent.send('proxy_response_end', {}, id);
    for (;;) {
      const c = await reader.read();
      if (c.done) break;
      rest += dec.decode(c.value);
    }
    expect(rest).toContain('DELETED');
    await waitFor(() => hub.kubeGateway.inFlight === 0, { what: 'exchange finished' });
  });

  test('follow=true is streamed too', async () => {
    agent.handler = (r, a) => {
      const id = r.message.requestId!;
      a.header(id, 200, { 'Content-Type': ['text/plain'] });
      a.chunk(id, 'line 1\n');
      a.chunk(id, 'line 2\n');
      a.send('proxy_response_end', {}, id);
    };
    const res = await kget('/api/v1/namespaces/default/pods/web-0/log?follow=true&container=web');
    expect(agent.requests.at(-1)!.message.payload.supports_response_streaming).toBe(true);
    expect(await res.text()).toBe('line 1\nline 2\n');
  });

  test('proxy_response_abort mid-stream: the client sees an error, not a clean end', async () => {
    agent.handler = (r, a) => {
      const id = r.message.requestId!;
      a.header(id, 200, { 'Content-Type': ['application/json'] });
      a.chunk(id, '{"type":"ADDED"}\n');
      a.send('proxy_response_abort', { error: 'backend went away' }, id);
    };
    const res = await kget('/api/v1/pods?watch=1');
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  test('proxy_response_abort before the header: 502 with the error text (text/plain, so kubectl shows it in discovery too)', async () => {
    agent.handler = (r, a) => a.send('proxy_response_abort', { error: 'dial tcp: connection refused' }, r.message.requestId!);
    const res = await kget('/api/v1/pods?watch=true');
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe(`cluster "${agent.clusterId}": dial tcp: connection refused\n`);
  });
});

describe('failures', () => {
  test('proxy_error → 502 carrying the error', async () => {
    agent.handler = (r, a) => a.send('proxy_error', { error: 'kubernetes API timeout' }, r.message.requestId!);
    const res = await kget('/api/v1/nodes');
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('kubernetes API timeout');
  });

  test('proxy_error of an agent without a Kubernetes API → 503 ServiceUnavailable; a refused path → 400 BadRequest', async () => {
    for (const [error, code, reason] of [
      ['kubernetes client not initialized', 503, 'ServiceUnavailable'],
      ['invalid path: must be a Kubernetes API path', 400, 'BadRequest'],
    ] as const) {
      agent.handler = (r, a) => a.send('proxy_error', { error }, r.message.requestId!);
      const res = await kget('/api/v1/nodes');
      expect(res.status).toBe(code);
      expect(await res.json()).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `cluster "${agent.clusterId}": ${error}`, reason, code });
    }
  });

  test('dot segments, raw or percent-encoded, and encoded slashes → 400 BadRequest before anything reaches the agent', async () => {
    const before = agent.requests.length;
    for (const p of ['/api/v1/../../x', '/api/v1/namespaces/%2e%2E/secrets', '/api/./v1', '/api/v1/namespaces/a%2fb', '/api/v1/namespaces/%ZZ']) {
      const reply = await rawRequest(`GET /clusters/${agent.clusterId}/k8s${p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USER_TOKEN}\r\nConnection: close\r\n\r\n`);
      expect(reply).toStartWith('HTTP/1.1 400');
      expect(reply).toContain('"reason":"BadRequest"');
      expect(reply).toMatch(/"message":"invalid path: [a-z -]+"/);
    }
    const upgrade = await rawRequest(
      `GET /clusters/${agent.clusterId}/k8s/api/v1/namespaces/%2e%2e/pods/x/exec HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USER_TOKEN}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    expect(upgrade).toStartWith('HTTP/1.1 400');
    expect(agent.requests.length).toBe(before);
  });

  test('bad or missing token → 401 Unauthorized Status; nothing reaches the agent', async () => {
    const before = agent.requests.length;
    for (const token of ['wrong-token-123456', null]) {
      const res = await kget('/api/v1/namespaces', { token });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    expect(agent.requests.length).toBe(before);
  });

  test('unknown cluster → 404 Status; paths outside /clusters/<c>/k8s → 404', async () => {
    const res = await fetch(`${hub.kubeUrl}/clusters/no-such-cluster/k8s/api`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { message: string }).message).toContain('no-such-cluster');
    const other = await fetch(`${hub.kubeUrl}/api/v1/namespaces`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
    expect(other.status).toBe(404);
  });

  test('the cluster can be addressed by name', async () => {
    agent.handler = (r, a) => a.respondJson(r.message.requestId!, 200, null, new TextEncoder().encode('by-name'), 'base64');
    const res = await fetch(`${hub.kubeUrl}/clusters/fake-one/k8s/version`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
    expect(await res.text()).toBe('by-name');
  });

  test('no answer within proxy_timeout → 504 Status and proxy_cancel', async () => {
    agent.handler = () => {};
    const res = await kget('/api/v1/namespaces/slow');
    expect(res.status).toBe(504);
    const id = agent.requests.at(-1)!.message.requestId!;
    await waitFor(() => agent.cancels(id).length === 1, { what: 'proxy_cancel after timeout' });
  });

  test('client disconnect while waiting, and mid-stream → proxy_cancel to the agent', async () => {
    agent.handler = () => {};
    const ac = new AbortController();
    const p = kget('/api/v1/namespaces/wait', { signal: ac.signal }).catch(() => 'aborted');
    await waitFor(() => agent.requests.at(-1)?.message.payload.path === '/api/v1/namespaces/wait', { what: 'request at agent' });
    const id1 = agent.requests.at(-1)!.message.requestId!;
    ac.abort();
    await p;
    await waitFor(() => agent.cancels(id1).length === 1, { what: 'proxy_cancel for waiting request' });
    expect(agent.cancels(id1)[0]!.payload).toEqual({});

    agent.handler = (r, a) => {
      a.header(r.message.requestId!, 200, { 'Content-Type': ['application/json'] });
      a.chunk(r.message.requestId!, '{"type":"ADDED"}\n');
    };
    const ac2 = new AbortController();
    const res = await kget('/api/v1/pods?watch=true', { signal: ac2.signal });
    const id2 = agent.requests.at(-1)!.message.requestId!;
    await res.body!.getReader().read();
    ac2.abort();
    await waitFor(() => agent.cancels(id2).length === 1, { what: 'proxy_cancel for a stream' });
    await waitFor(() => hub.kubeGateway.inFlight === 0, { what: 'pending table empty' });
  });

  test('upgrades travel to the agent as a raw upgrade with the cluster token; the agent\'s refusal reaches the client', async () => {
    agent.handler = (r, a) => {
      // An agent that cannot open the stream answers with the API server's status (W2).
      a.respondJson(r.message.requestId!, 403, { 'Content-Type': ['application/json'] }, new TextEncoder().encode('{"kind":"Status","code":403}'), 'base64');
    };
    const reply = await rawRequest(
      `POST /clusters/${agent.clusterId}/k8s/api/v1/namespaces/default/pods/web-0/exec?command=sh HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USER_TOKEN}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n`,
    );
    expect(reply).toStartWith('HTTP/1.1 403');
    expect(reply).toContain('"kind":"Status"');
    const sent = agent.requests.at(-1)!.message.payload;
    expect(sent.raw_upgrade).toBe(true);
    expect(sent.is_websocket).toBe(true);
    expect(sent.path).toBe('/api/v1/namespaces/default/pods/web-0/exec');
    const headers = sent.headers as Record<string, string[]>;
    expect(headers.Upgrade).toEqual(['SPDY/3.1']);
    expect(headers['X-Stream-Protocol-Version']).toEqual(['v4.channel.k8s.io']);
    expect(headers.Authorization).toEqual([`Bearer ${SA_TOKEN}`]);
  });

  test('an upgrade with a bad token is refused with 401 before anything reaches the agent', async () => {
    const before = agent.requests.length;
    const reply = await rawRequest(
      `GET /clusters/${agent.clusterId}/k8s/api/v1/namespaces/default/pods/web-0/exec HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-123\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    expect(reply).toStartWith('HTTP/1.1 401');
    expect(agent.requests.length).toBe(before);
  });

  test('a client that stops reading is cut at the backlog bound: proxy_cancel, no terminating chunk', async () => {
    // A second gateway on the same agent endpoint, with a small bound, so the test need not push 16 MiB past the kernel buffers.
    const gw = await startKubeGateway({ host: '127.0.0.1', port: 0, tls: await gatewayTlsForTest(), userTokens: [USER_TOKEN], proxyTimeoutMs: 5000, maxClientBacklog: 256 * 1024, agents: hub.agents, directory: hub.directory, clusters: hub.store, log: quietLog });
    try {
      let id = '';
      agent.handler = (r, a) => {
        id = r.message.requestId!;
        a.header(id, 200, { 'Content-Type': ['application/json'] });
        void (async () => {
          const chunk = bytes(32 * 1024, 5);
          for (let sent = 0; sent < 256 * 1024 * 1024 && agent.cancels(id).length === 0; sent += chunk.length) {
            a.chunk(id, chunk);
            await new Promise((r2) => setImmediate(r2));
          }
        })();
      };
      const s = tlsConnect({ host: '127.0.0.1', port: gw.port, ca: hub.kubeCaPem, servername: 'localhost' });
      await new Promise((r) => s.once('secureConnect', r));
      s.pause();
      s.write(`GET /clusters/${agent.clusterId}/k8s/api/v1/pods?watch=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USER_TOKEN}\r\n\r\n`);
      await waitFor(() => id && agent.cancels(id).length === 1, { what: 'proxy_cancel for the slow client', timeoutMs: 30_000 });
      await waitFor(() => gw.inFlight === 0, { what: 'exchange dropped' });
      const tail: Buffer[] = [];
      s.on('data', (d: Buffer) => tail.push(d.subarray(-16)));
      s.resume();
      await new Promise((r) => s.once('close', r));
      expect(Buffer.concat(tail).toString('latin1').endsWith('0\r\n\r\n')).toBe(false);
    } finally {
      await gw.stop();
    }
  });
});

describe('agent session loss', () => {
  test('agent disconnect mid-stream → client error; while waiting → 503; afterwards → 503 not connected', async () => {
    const second = await connectFakeAgent(hub, 'fake-two', 'second-sa-token-0987654321');
    const url = (p: string) => `${hub.kubeUrl}/clusters/${second.clusterId}/k8s${p}`;
    const opts = { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit;
    second.handler = (r, a) => {
      if (r.message.payload.supports_response_streaming) {
        a.header(r.message.requestId!, 200, { 'Content-Type': ['application/json'] });
        a.chunk(r.message.requestId!, '{"type":"ADDED"}\n');
      }
    };
    const stream = await fetch(url('/api/v1/pods?watch=true'), opts);
    const reader = stream.body!.getReader();
    await reader.read();
    const waiting = fetch(url('/api/v1/nodes'), opts);
    await waitFor(() => second.requests.length === 2, { what: 'both requests at the agent' });
    await second.close();
    const w = await waiting;
    expect(w.status).toBe(503);
    expect(await w.json()).toMatchObject({ reason: 'ServiceUnavailable', message: `cluster "${second.clusterId}" disconnected from the hub` });
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return 'clean end';
      })(),
    ).rejects.toThrow();
    const after = await fetch(url('/api/v1/nodes'), opts);
    expect(after.status).toBe(503);
    expect(((await after.json()) as { message: string }).message).toBe(`cluster "${second.clusterId}" is not connected to the hub`);
  });
});

function rawRequest(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: hub.kubeGateway.port, ca: hub.kubeCaPem, servername: 'localhost' }, () => s.write(text));
    let out = '';
    s.on('data', (d) => {
      out += d.toString();
    });
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}
