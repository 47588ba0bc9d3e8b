// `hub kubeconfig` against a real hub's state file and the gateway config flags.
import { afterAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadHubConfig } from '../../src/hub/config/load.ts';
import { buildKubeconfigFromState } from '../../src/hub/kube-gateway/kubeconfig-command.ts';
import type { Hub } from '../../src/hub/server.ts';
import { tempDir, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { connectFakeAgent } from './fake-agent.ts';

const hubs: Hub[] = [];
afterAll(async () => {
  for (const h of hubs) await h.stop();
});

test('kube_port and proxy_timeout flags', () => {
  const r = loadHubConfig(['--agent-token', 'agent-token-x', '--kube-port', '0', '--proxy-timeout', '2m'], {});
  expect(r.ok && r.config.kube_port).toBe(0);
  expect(r.ok && r.config.proxy_timeout).toBe(120_000);
  const d = loadHubConfig(['--agent-token', 'agent-token-x'], {});
  expect(d.ok && [d.config.kube_port, d.config.proxy_timeout]).toEqual([6443, 60_000]);
  const bad = loadHubConfig(['--agent-token', 'agent-token-x', '--proxy-timeout', 'soon'], {});
  expect(bad.ok).toBe(false);
});

test('hub kubeconfig: persisted CA, recorded gateway URL, cluster by name; the CA survives a restart', async () => {
  const state = join(tempDir(), 'hub.db');
  const hub = await testHub({ state });
  hubs.push(hub);
  const agent = await connectFakeAgent(hub, 'prod', 'sa-token-prod-123456');
  agent.handler = (r, a) => a.respondJson(r.message.requestId!, 200, { 'Content-Type': ['application/json'] }, new TextEncoder().encode('{"ok":true}'), 'base64');
  const r = await buildKubeconfigFromState(['--cluster', 'prod', '--state', state, '--user-token', USER_TOKEN], {});
  if (!r.ok) throw new Error(r.message);
  const kc = parse(r.kubeconfig) as { clusters: { cluster: { server: string; 'certificate-authority-data': string } }[]; users: { user: { token: string } }[] };
  const cluster = kc.clusters[0]!.cluster;
  expect(cluster.server).toBe(`${hub.kubeUrl}/clusters/${agent.clusterId}/k8s`);
  expect(Buffer.from(cluster['certificate-authority-data'], 'base64').toString()).toBe(hub.kubeCaPem!);
  expect(kc.users[0]!.user.token).toBe(USER_TOKEN);
  // The printed kubeconfig works: its server URL and CA reach the cluster.
  const res = await fetch(`${cluster.server}/version`, { headers: { authorization: `Bearer ${USER_TOKEN}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
  expect(await res.text()).toBe('{"ok":true}');
  await agent.close();
  const firstCa = hub.kubeCaPem;
  await hub.stop();
  hubs.pop();
  const again = await testHub({ state });
  hubs.push(again);
  expect(again.kubeCaPem).toBe(firstCa);

  expect(await buildKubeconfigFromState(['--cluster', 'nope', '--state', state, '--user-token', USER_TOKEN], {})).toMatchObject({ ok: false });
  expect(await buildKubeconfigFromState(['--cluster', 'prod', '--state', state], {})).toMatchObject({ ok: false });
  expect(await buildKubeconfigFromState(['--state', state], {})).toMatchObject({ ok: false });
});

test('one debug line per gateway request, failures at warn, and no token in any line', async () => {
  const lines: string[] = [];
  const { createLogger } = await import('../../src/log/logger.ts');
  const { startHub } = await import('../../src/hub/server.ts');
  const { HubConfigSchema } = await import('../../src/hub/config/schema.ts');
  const { AGENT_TOKEN } = await import('../support/hub-agent.ts');
  const log = createLogger({ level: 'debug', name: 'hub', sink: (l) => lines.push(l) });
  const hub = await startHub(HubConfigSchema.parse({ port: 0, kube_port: 0, agent_tokens: [AGENT_TOKEN], user_tokens: [USER_TOKEN], state: ':memory:' }), log);
  hubs.push(hub);
  const SA = 'sa-token-for-log-test-9876';
  const agent = await connectFakeAgent(hub, 'logs', SA);
  agent.handler = (r, a) =>
    r.message.payload.path === '/fail'
      ? a.send('proxy_error', { error: 'boom' }, r.message.requestId!)
      : a.respondJson(r.message.requestId!, 200, null, new TextEncoder().encode('x'), 'base64');
  const get = (p: string, token = USER_TOKEN) => fetch(`${hub.kubeUrl}/clusters/logs/k8s${p}`, { headers: { authorization: `Bearer ${token}` }, tls: { ca: hub.kubeCaPem } } as RequestInit);
  expect((await get('/api/v1/pods')).status).toBe(200);
  expect((await get('/fail')).status).toBe(502);
  expect((await get('/api', 'wrong-user-token-5555')).status).toBe(401);
  const parsed = lines.map((l) => JSON.parse(l) as { level: unknown; msg: string; path?: string; status?: number });
  const ok = parsed.filter((p) => p.msg === 'kube gateway request');
  expect(ok.map((p) => [p.path, p.status, p.level])).toEqual([['/api/v1/pods', 200, 'debug']]);
  const failed = parsed.filter((p) => p.msg === 'kube gateway request failed');
  expect(failed.map((p) => [p.path, p.status, p.level])).toEqual([['/fail', 502, 'warn']]);
  expect(parsed.some((p) => p.msg.includes('unauthorized') && p.level === ('warn' as unknown))).toBe(true);
  const all = lines.join('\n');
  for (const secret of [SA, USER_TOKEN, 'wrong-user-token-5555']) expect(all).not.toContain(secret);
  await agent.close();
});
