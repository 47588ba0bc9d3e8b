// An outage does not flood the hub's log (one warning per cluster per interval, with a count), and error bodies
// carry what failed, never the runtime's advice to its developer (issue 11 item 8).
import { afterAll, describe, expect, test } from 'bun:test';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { HubConfigSchema } from '../../src/hub/config/schema.ts';
import { forwardDirect } from '../../src/hub/public-gateway/direct-forward.ts';
import { RepeatedWarning } from '../../src/hub/repeated-warning.ts';
import { type Hub, startHub } from '../../src/hub/server.ts';
import { createLogger } from '../../src/log/logger.ts';
import { AGENT_TOKEN, USER_TOKEN } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { connectFakeAgent } from './fake-agent.ts';

type Line = { level: string; msg: string; cluster_id?: string; count?: number; interval_ms?: number; error?: string };
const BUN_HINT = 'For more information, pass `verbose: true` in the second argument to fetch()';

function capture() {
  const raw: string[] = [];
  const log = createLogger({ level: 'debug', name: 'hub', sink: (l) => raw.push(l) });
  return { log, lines: () => raw.map((l) => JSON.parse(l) as Line) };
}

const hubs: Hub[] = [];
afterAll(async () => {
  for (const h of hubs) await h.stop().catch(() => {});
});

async function hubWithLog(over: Record<string, unknown> = {}) {
  const c = capture();
  const cfg = HubConfigSchema.parse({ port: 0, kube_port: 0, agent_tokens: [AGENT_TOKEN], user_tokens: [USER_TOKEN], state: ':memory:', ...over });
  const hub = await startHub(cfg, c.log);
  hubs.push(hub);
  return { hub, ...c };
}

describe('RepeatedWarning', () => {
  test('first occurrence at once, repeats as one line per key per interval with their count; close flushes', async () => {
    const c = capture();
    const w = new RepeatedWarning(c.log, 50);
    for (let i = 0; i < 1000; i++) w.note('a', 'cluster not connected', { cluster_id: 'a', n: i });
    for (let i = 0; i < 3; i++) w.note('b', 'cluster not connected', { cluster_id: 'b' });
    expect(c.lines().map((l) => [l.cluster_id, l.count])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    await waitFor(() => c.lines().length === 4, { what: 'two summary lines' });
    const summaries = c.lines().slice(2);
    expect(summaries.map((l) => [l.cluster_id, l.count, l.interval_ms, l.level]).sort()).toEqual([
      ['a', 999, 50, 'warn'],
      ['b', 2, 50, 'warn'],
    ]);
    // Repeats in the next window are counted again and flushed by close().
    w.note('a', 'cluster not connected', { cluster_id: 'a' });
    w.close();
    expect(c.lines().slice(4).map((l) => [l.cluster_id, l.count])).toEqual([['a', 1]]);
  });
});

describe('a cluster away: gateways answer every request, log one line per interval', () => {
  test('public gateway (path route) and kube gateway, 300 requests each', async () => {
    const { hub, lines } = await hubWithLog({ path_routes: [{ path_prefix: '/hook', cluster: 'away', namespace: 'default', service: 'web', port: 80 }] });
    const agent = await connectFakeAgent(hub, 'away', 'sa-token-away-123456');
    await agent.close();
    await waitFor(() => !hub.agents.isConnected(agent.clusterId), { what: 'session gone' });
    const N = 300;
    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      const r = await fetch(`${hub.gatewayUrl}/hook/${i}`);
      expect(r.status).toBe(502);
      expect(await r.text()).toBe(`502 Bad Gateway: cluster "${agent.clusterId}" is not connected to the hub\n`);
      const k = await fetch(`${hub.kubeUrl}/clusters/away/k8s/api/v1/pods`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
      expect(k.status).toBe(503);
      await k.arrayBuffer();
    }
    const elapsed = Date.now() - t0;
    await hub.stop();
    hubs.pop();
    // Every refused request is accounted for in the counts, in at most one line per started interval (+1 at shutdown).
    const bound = 2 + Math.floor(elapsed / 10_000);
    for (const msg of ['public gateway request failed', 'kube gateway: cluster not connected']) {
      const got = lines().filter((l) => l.msg === msg && l.cluster_id === agent.clusterId);
      expect(got.length).toBeGreaterThanOrEqual(1);
      expect(got.length).toBeLessThanOrEqual(bound);
      expect(got.reduce((s, l) => s + (l.count ?? 0), 0)).toBe(N);
      expect(got.every((l) => l.level === ('warn' as string))).toBe(true);
    }
  });
});

describe('error bodies carry no runtime internals', () => {
  test('direct mode: a backend that resets the connection → 502 naming the failure, not Bun\'s fetch advice', async () => {
    const backend = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const port = (backend.address() as AddressInfo).port;
    const endpoint = `127.0.0.1:${port}`;
    const connect = { host: '127.0.0.1', port, address: '127.0.0.1' };
    const outcomes: { error?: string }[] = [];
    const front = http.createServer((req: IncomingMessage, res: ServerResponse) => {
      void forwardDirect(req, res, { endpoint, connect, pathAndQuery: '/x', headers: {}, hasBody: false, timeoutMs: 10_000 }, (r, code, reason) => {
        r.writeHead(code, { 'Content-Type': 'text/plain' });
        r.end(reason);
      }).then((o) => outcomes.push(o));
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(front.address() as AddressInfo).port}/`);
      expect(res.status).toBe(502);
      const body = await res.text();
      expect(body).toBe(`backend ${endpoint} failed: connection closed unexpectedly (ECONNRESET)`);
      expect(outcomes[0]?.error).toBe(body);
    } finally {
      front.close();
      backend.close();
    }
  });

  test('tunnel: an agent relaying Bun\'s error text → 502 bodies without it, on both gateways', async () => {
    const { hub, lines } = await hubWithLog({ path_routes: [{ path_prefix: '/app', cluster: 'relay', namespace: 'default', service: 'web', port: 80 }] });
    const agent = await connectFakeAgent(hub, 'relay', 'sa-token-relay-123456');
    agent.handler = (r, a) => a.send('proxy_error', { error: `ECONNRESET: The socket connection was closed unexpectedly. ${BUN_HINT}` }, r.message.requestId!);
    const pub = await fetch(`${hub.gatewayUrl}/app/x`);
    expect(pub.status).toBe(502);
    expect(await pub.text()).toBe(`502 Bad Gateway: cluster "${agent.clusterId}": ECONNRESET: The socket connection was closed unexpectedly.\n`);
    const kube = await fetch(`${hub.kubeUrl}/clusters/relay/k8s/api/v1/pods`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
    expect(kube.status).toBe(502);
    expect(await kube.text()).toBe(`cluster "${agent.clusterId}": ECONNRESET: The socket connection was closed unexpectedly.\n`);
    expect(lines().some((l) => JSON.stringify(l).includes('verbose: true'))).toBe(false);
    await agent.close();
  });
});
