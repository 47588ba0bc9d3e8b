// The agent's HTTP relay against the sandbox API server, driven by proxy_requests through the hub's session.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { bodyOf, CP_TOKEN, type Stack, startStack } from '../support/stack.ts';

let s: Stack;
beforeAll(async () => {
  s = await startStack();
});
afterAll(async () => {
  await s?.stop();
});

const auth = { Authorization: [`Bearer ${CP_TOKEN}`] };

describe('HTTP relay', () => {
  test('buffered GET of the Kubernetes API with the control plane token', async () => {
    const r = s.proxy({ method: 'GET', path: '/api/v1/namespaces', headers: auth });
    const b = bodyOf(await r.done);
    expect(b.status).toBe(200);
    const list = JSON.parse(new TextDecoder().decode(b.body));
    expect(list.kind).toBe('NamespaceList');
    expect(list.items.map((n: { metadata: { name: string } }) => n.metadata.name)).toContain('kube-system');
  });

  test('no Authorization from the control plane: the agent does not inject its own (401 from the API server)', async () => {
    const b = bodyOf(await s.proxy({ method: 'GET', path: '/api/v1/namespaces' }).done);
    expect(b.status).toBe(401);
  });

  test('POST with base64, JSON and binary next-frame bodies creates objects', async () => {
    const cm = (name: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { k: 'v' } });
    const headers = { ...auth, 'Content-Type': ['application/json'] };
    const a = bodyOf(await s.proxy({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers, body: Buffer.from(JSON.stringify(cm('via-b64'))).toString('base64'), body_encoding: 'base64' }).done);
    const j = bodyOf(await s.proxy({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers, body: cm('via-json') }).done);
    const bin = bodyOf(await s.proxy({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers, body_binary: true }, { binaryBody: new TextEncoder().encode(JSON.stringify(cm('via-binary'))) }).done);
    expect([a.status, j.status, bin.status]).toEqual([201, 201, 201]);
    for (const n of ['via-b64', 'via-json', 'via-binary']) expect(s.sandbox.get('configmaps', 'default', n)).toBeTruthy();
  });

  test('streamed request body (chunks + stream end)', async () => {
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'via-chunks', namespace: 'default' }, data: { big: 'x'.repeat(100_000) } });
    const r = s.proxy({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers: { ...auth, 'Content-Type': ['application/json'] }, use_streaming: true });
    for (let i = 0; i < body.length; i += 30_000) s.send('proxy_request_chunk', { data: Buffer.from(body.slice(i, i + 30_000)).toString('base64') }, r.id);
    s.send('proxy_request_stream_end', {}, r.id);
    expect(bodyOf(await r.done).status).toBe(201);
    expect((s.sandbox.get('configmaps', 'default', 'via-chunks') as { data: { big: string } }).data.big.length).toBe(100_000);
  });

  test('large buffered list goes as a binary frame with gzip; small as JSON', async () => {
    for (let i = 0; i < 60; i++)
      s.sandbox.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `bulk-${i}`, namespace: 'default', labels: { bulk: 'yes' } }, data: { payload: 'abc'.repeat(200) } });
    const big = bodyOf(await s.proxy({ method: 'GET', path: '/api/v1/namespaces/default/configmaps', query: 'labelSelector=bulk%3Dyes', headers: auth }).done);
    expect(big.via).toBe('binary_gzip');
    expect(JSON.parse(new TextDecoder().decode(big.body)).items.length).toBe(60);
    const small = bodyOf(await s.proxy({ method: 'GET', path: '/version', headers: auth }).done);
    expect(small.via).toBe('json');
  });

  test('streaming writer: header, chunks, end for a watch; proxy_cancel closes the backend stream', async () => {
    const { waitFor } = await import('../support/wait.ts');
    const baseline = s.sandbox.openStreams().watches;
    const r = s.proxy({ method: 'GET', path: '/api/v1/namespaces/default/configmaps', query: 'watch=true&resourceVersion=0', headers: auth, supports_response_streaming: true });
    await waitFor(() => r.messages.some((m) => m.type === 'proxy_response_chunk'), { what: 'first watch chunk' });
    expect(r.messages[0]!.type).toBe('proxy_response_header');
    expect(r.messages[0]!.payload.status).toBe(200);
    const before = r.messages.length;
    s.sandbox.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched-later', namespace: 'default' }, data: {} });
    await waitFor(() => r.messages.slice(before).some((m) => Buffer.from(String(m.payload.data), 'base64').toString().includes('watched-later')), { what: 'event for the new object' });
    s.send('proxy_cancel', {}, r.id);
    const end = await r.done;
    expect(end.type).toBe('proxy_response_abort');
    expect((end as unknown as { payload: { error: string } }).payload.error).toBe('cancelled');
    // P2: the backend connection really closed (the sandbox's watch is gone).
    await waitFor(() => s.sandbox.openStreams().watches === baseline, { what: 'sandbox watch closed after proxy_cancel' });
  });

  test('logs -f through the streaming writer; proxy_cancel ends the sandbox follower', async () => {
    const { waitFor } = await import('../support/wait.ts');
    const pods = bodyOf(await s.proxy({ method: 'GET', path: '/api/v1/pods', headers: auth }).done);
    const pod = JSON.parse(new TextDecoder().decode(pods.body)).items.find((p: { spec: { containers: unknown[] } }) => p.spec.containers.length === 1);
    const { name, namespace } = pod.metadata;
    const container = pod.spec.containers[0].name;
    const before = s.sandbox.openStreams().logFollowers;
    const r = s.proxy({ method: 'GET', path: `/api/v1/namespaces/${namespace}/pods/${name}/log`, query: 'follow=true', headers: auth, supports_response_streaming: true });
    await waitFor(() => s.sandbox.openStreams().logFollowers === before + 1, { what: 'follower open' });
    s.sandbox.appendLog(namespace, name, container, 'a line appended while following');
    await waitFor(() => r.messages.some((m) => Buffer.from(String(m.payload.data ?? ''), 'base64').toString().includes('appended while following')), { what: 'appended line relayed' });
    s.send('proxy_cancel', {}, r.id);
    await r.done;
    await waitFor(() => s.sandbox.openStreams().logFollowers === before, { what: 'follower closed' });
  });

  test('malformed requests get proxy_error and other requests in flight complete', async () => {
    const watch = s.proxy({ method: 'GET', path: '/api/v1/namespaces/default/pods', query: 'watch=true', headers: auth, supports_response_streaming: true });
    const bad = [
      s.proxy({ method: 'GET', path: '/api/v1/namespaces', body: '@@@', body_encoding: 'base64' }),
      s.proxy({ method: 42, path: '/x' }),
      s.proxy({ path: '/api/v1/namespaces', headers: 'nope' }),
      s.proxy({ method: 'GET', path: '/api/../../etc/passwd' }),
      s.proxy({ method: 'GET', path: '/', service_name: 'Bad_Name', namespace: 'default', service_port: 80 }),
      s.proxy({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', body_binary: true }),
    ];
    // The binary body that arrives is for another id: the waiting request fails.
    s.hub.agents.sessions.get(s.clusterId)!.sendBinary(new Uint8Array([0, 3, 120, 120, 120, 1, 2]));
    for (const b of bad) {
      const end = await b.done;
      expect(end.type).toBe('proxy_error');
    }
    const good = bodyOf(await s.proxy({ method: 'GET', path: '/version', headers: auth }).done);
    expect(good.status).toBe(200);
    expect(watch.messages[0]?.type).toBe('proxy_response_header');
    s.send('proxy_cancel', {}, watch.id);
    await watch.done;
  });
});
