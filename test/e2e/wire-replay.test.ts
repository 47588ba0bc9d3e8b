// Control-plane traffic replayed against the real agent process (`bun src/cli.ts agent`, spawned), talking to a
// fake control plane over real WebSockets: each test is one wire-compatibility defect of issue 10 (items 1–7, 13).
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { type AgentProcess, CP_AGENT_TOKEN, type FakeControlPlaneOptions, fakeControlPlane, spawnAgent } from '../support/fake-control-plane.ts';
import { tempDir } from '../support/hub-agent.ts';
import { SA_TOKEN, TLS } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

let sandbox: Sandbox;
let kubeconfig: string;
beforeAll(async () => {
  sandbox = await startSandbox({ tls: TLS, tokens: { [SA_TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'demo' });
  kubeconfig = join(tempDir(), 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig, { token: SA_TOKEN });
});
afterAll(async () => {
  await sandbox.close();
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(o: { cp?: FakeControlPlaneOptions; dir?: string; kube?: boolean; extraYaml?: string; env?: Record<string, string> } = {}) {
  const cp = await fakeControlPlane(o.cp);
  cleanups.push(() => cp.stop());
  const dir = o.dir ?? tempDir('pipeops-replay-');
  const agent = await spawnAgent(cp.url, dir, { kubeconfig: o.kube === false ? '' : kubeconfig, extraYaml: o.extraYaml, env: o.env });
  cleanups.push(() => agent.stop());
  return { cp, agent, dir };
}

const noHandoff: FakeControlPlaneOptions = { onRegister: () => ({ cluster_id: 'C-1', cluster_uuid: 'U-1', name: 'replay', status: 'registered' }) };

async function metricValue(agent: AgentProcess, re: RegExp): Promise<number> {
  const text = await (await fetch(`${agent.url}/metrics`)).text();
  const line = text.split('\n').find((l) => re.test(l));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('wire replay against the agent process', () => {
  test('item 1: every gateway dial carries the issued cluster_uuid (redial and restart), persisted with the state', async () => {
    const { cp, agent, dir } = await start({ kube: false });
    const gw = await cp.waitForConn('gateway');
    expect(cp.dials.filter((d) => d.kind === 'gateway').map((d) => d.url.searchParams.get('cluster_uuid'))).toEqual(['U-1']);
    gw.close(1000, 'bye');
    await cp.waitForConn('gateway', 2);
    expect(cp.dials.filter((d) => d.kind === 'gateway').map((d) => d.url.searchParams.get('cluster_uuid'))).toEqual(['U-1', 'U-1']);
    expect(readFileSync(join(dir, 'state.yaml'), 'utf8')).toMatch(/cluster_uuid: U-1/);
    // A restarted agent resumes on the persisted gateway URL with the same uuid, without registering.
    await agent.stop();
    const registers = cp.of('register').length;
    const again = await spawnAgent(cp.url, dir, { kubeconfig: '' });
    cleanups.push(() => again.stop());
    await cp.waitForConn('gateway', 3);
    expect(cp.dials.filter((d) => d.kind === 'gateway').map((d) => d.url.searchParams.get('cluster_uuid'))).toEqual(['U-1', 'U-1', 'U-1']);
    expect(cp.of('register').length).toBe(registers);
  });

  test('item 2: JSON envelopes in binary frames (legacy JSON-in-binary) are answered on the gateway socket', async () => {
    const { cp } = await start();
    const gw = await cp.waitForConn('gateway');
    gw.sendRaw(new TextEncoder().encode(JSON.stringify({ type: 'ping', request_id: 'bin-ping' })) as Uint8Array<ArrayBuffer>);
    gw.sendRaw(new TextEncoder().encode(JSON.stringify({ type: 'proxy_request', request_id: 'bin-proxy', payload: { method: 'GET', path: '/version', headers: { Authorization: [`Bearer ${SA_TOKEN}`] } } })) as Uint8Array<ArrayBuffer>);
    const pong = await cp.next((r) => r.json?.type === 'pong' && r.json.request_id === 'bin-ping', 'pong to a binary ping');
    expect(pong.conn).toBe(gw.id);
    const res = await cp.next((r) => r.json?.type === 'proxy_response' && r.json.request_id === 'bin-proxy', 'proxy_response to a binary proxy_request');
    expect(res.json!.payload!.status).toBe(200);
  });

  test('item 2: … and on the controller socket (no gateway hand-off)', async () => {
    const { cp } = await start({ cp: noHandoff, kube: false });
    const c = await cp.waitForConn('controller');
    await cp.next((r) => r.json?.type === 'heartbeat', 'first heartbeat');
    c.sendRaw(new TextEncoder().encode(JSON.stringify({ type: 'ping', request_id: 'bin-ping-c' })) as Uint8Array<ArrayBuffer>);
    await cp.next((r) => r.json?.type === 'pong' && r.json.request_id === 'bin-ping-c', 'pong on the controller socket');
  });

  test('item 3: proxy_request with payload null is a proxy_error with a reason, never relayed as GET /', async () => {
    const { cp } = await start();
    const gw = await cp.waitForConn('gateway');
    const before = sandbox.requests.length;
    gw.send('proxy_request', null, 'null-payload');
    gw.sendRaw(JSON.stringify({ type: 'proxy_request', request_id: 'no-payload' }));
    const e1 = await cp.next((r) => r.json?.request_id === 'null-payload', 'answer to payload null');
    const e2 = await cp.next((r) => r.json?.request_id === 'no-payload', 'answer to a missing payload');
    for (const e of [e1, e2]) {
      expect(e.json!.type).toBe('proxy_error');
      expect(String(e.json!.payload!.error)).toContain('payload');
    }
    expect(sandbox.requests.slice(before).some((r) => new URL(r.url, 'https://x').pathname === '/')).toBe(false);
  });

  test('item 4: protocol_fallback once per unknown type, not once per session', async () => {
    const { cp } = await start({ kube: false });
    const gw = await cp.waitForConn('gateway');
    gw.send('made_up_type', { x: 1 }, 'u1');
    gw.send('made_up_type', { x: 2 }, 'u2');
    gw.send('another_unknown', {}, 'u3');
    gw.send('ping', null, 'done');
    await cp.next((r) => r.json?.type === 'pong' && r.json.request_id === 'done', 'pong');
    const fb = cp.of('protocol_fallback');
    expect(fb.map((m) => m.payload!.unknown_type)).toEqual(['made_up_type', 'another_unknown']);
    expect(fb.map((m) => m.payload!.original_request_id)).toEqual(['u1', 'u3']);
  });

  test('item 5: a persisted cluster_id is sent with registration_mode "resume" (as upstream), even when the token is new', async () => {
    const dir = tempDir('pipeops-replay-');
    writeFileSync(join(dir, 'state.yaml'), 'agent_id: agent-persisted\ncluster_id: C-OLD\n');
    const { cp } = await start({ dir });
    const reg = (await cp.next((r) => r.json?.type === 'register', 'register')).json!;
    const p = reg.payload as { cluster_id?: string; k8s_service_token?: string; metadata: Record<string, string> };
    expect(p.cluster_id).toBe('C-OLD');
    expect(p.k8s_service_token).toBeTruthy();
    expect(p.metadata.registration_mode).toBe('resume');
  });

  test('item 5: a first registration without a cluster id is "fresh" and carries no cluster_id', async () => {
    const { cp } = await start({ kube: false });
    const p = (await cp.next((r) => r.json?.type === 'register', 'register')).json!.payload as Record<string, unknown>;
    expect(p.cluster_id).toBeUndefined();
    expect((p.metadata as Record<string, string>).registration_mode).toBe('fresh');
  });

  test('item 5: a dropped controller-only session is redialled without a new register (upstream onReconnect)', async () => {
    const { cp } = await start({ cp: noHandoff, kube: false });
    const c1 = await cp.waitForConn('controller');
    await cp.next((r) => r.conn === c1.id && r.json?.type === 'heartbeat', 'heartbeat on the first socket');
    c1.close(1000, 'bye');
    const c2 = await cp.waitForConn('controller', 2);
    const hb = await cp.next((r) => r.conn === c2.id && r.json?.type === 'heartbeat', 'heartbeat on the redialled socket');
    expect((hb.json!.payload as Record<string, unknown>).cluster_id).toBe('C-1');
    expect(cp.received.some((r) => r.conn === c2.id && r.json?.type === 'register')).toBe(false);
    expect(cp.dials.every((d) => d.kind === 'controller' && d.authorization === `Bearer ${CP_AGENT_TOKEN}`)).toBe(true);
    // The control plane does not know the socket: "not registered" makes the agent register again (L2).
    c2.send('error', { error: 'not registered' });
    const c3 = await cp.waitForConn('controller', 3);
    const reg = await cp.next((r) => r.conn === c3.id && r.json?.type === 'register', 'register after "not registered"');
    expect((reg.json!.payload as { metadata: Record<string, string> }).metadata.registration_mode).toBe('fresh');
  });

  test('item 7: /api/realtime/events answers CORS as upstream, governed by the /ws origin allow-list', async () => {
    const open = await start({ kube: false });
    await open.cp.waitForConn('gateway');
    const any = await fetch(`${open.agent.url}/api/realtime/events`, { headers: { Origin: 'http://dash.example' } });
    expect(any.headers.get('access-control-allow-origin')).toBe('*');
    await any.body?.cancel();

    const limited = await start({ kube: false, env: { AGENT_ALLOWED_WS_ORIGINS: 'http://dash.example' } });
    await limited.cp.waitForConn('gateway');
    const ok = await fetch(`${limited.agent.url}/api/realtime/events`, { headers: { Origin: 'http://dash.example' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('http://dash.example');
    expect(ok.headers.get('vary')).toContain('Origin');
    await ok.body?.cancel();
    const bad = await fetch(`${limited.agent.url}/api/realtime/events`, { headers: { Origin: 'http://evil.example' } });
    expect(bad.headers.get('access-control-allow-origin')).toBeNull();
    await bad.body?.cancel();
  });

  test('item 13: late arrivals for finished streams are counted apart from protocol errors', async () => {
    const { cp, agent } = await start();
    const gw = await cp.waitForConn('gateway');
    // A streamed request body whose backend answers without reading it; the chunk arrives after the answer.
    gw.send('proxy_request', { method: 'POST', path: '/version', use_streaming: true }, 'early');
    await cp.next((r) => r.json?.request_id === 'early' && ['proxy_response', 'proxy_error'].includes(r.json.type), 'early answer');
    gw.send('proxy_request_chunk', { data: 'aGVsbG8=' }, 'early');
    // A kubectl stream that ended (the API server refused it); its data arrives afterwards.
    gw.send('proxy_websocket_start', { stream_id: 'gone', path: '/api/v1/namespaces/default/pods/no-such-pod/exec', query: 'command=true&stdout=true' }, 'gone');
    await cp.next((r) => r.json?.type === 'proxy_websocket_close' && r.json.request_id === 'gone', 'stream closed');
    gw.send('proxy_websocket_data', { stream_id: 'gone', data: 'AGhp' }, 'gone');
    // Data for a stream that never existed stays a protocol error.
    gw.send('proxy_websocket_data', { stream_id: 'never', data: 'AGhp' }, 'never');
    await waitFor(async () => (await metricValue(agent, /^pipeops_protocol_errors_total\{reason="unknown_stream"\}/)) === 1, { what: 'unknown_stream counted once', timeoutMs: 30_000 });
    await waitFor(async () => (await metricValue(agent, /^pipeops_late_arrivals_total\{kind="stream_data"\}/)) === 1, { what: 'late stream data', timeoutMs: 30_000 });
    await waitFor(async () => (await metricValue(agent, /^pipeops_late_arrivals_total\{kind="request_chunk"\}/)) === 1, { what: 'late request chunk', timeoutMs: 30_000 });
    expect(await metricValue(agent, /^pipeops_protocol_errors_total\{reason="chunk_for_unknown_request"\}/)).toBe(0);
  });

  test('item 15: two agents on one host, for different clusters, register with different agent ids', async () => {
    const cp = await fakeControlPlane();
    cleanups.push(() => cp.stop());
    const a = await spawnAgent(cp.url, tempDir('pipeops-replay-a-'), { kubeconfig: '' });
    cleanups.push(() => a.stop());
    const b = await spawnAgent(cp.url, tempDir('pipeops-replay-b-'), { kubeconfig: '', env: { PIPEOPS_CLUSTER_NAME: 'replay-cluster-2' } });
    cleanups.push(() => b.stop());
    await waitFor(() => cp.of('register').length >= 2, { what: 'two registers', timeoutMs: 30_000 });
    const ids = cp.of('register').map((m) => (m.payload as { agent_id: string; name: string }).agent_id);
    expect(new Set(cp.of('register').map((m) => (m.payload as { name: string }).name)).size).toBe(2);
    expect(ids[0]).toMatch(/^agent-[0-9a-f]{16}$/);
    expect(ids[0]).not.toBe(ids[1]);
  });

  test("item 6: upstream's metric names, types and labels (protocol.md §8.1) are exposed beside ours, with real values", async () => {
    const { cp, agent } = await start({ kube: false });
    const gw = await cp.waitForConn('gateway');
    await cp.next((r) => r.json?.type === 'heartbeat', 'a heartbeat');
    gw.close(1000, 'bye');
    await cp.waitForConn('gateway', 2);
    await cp.next((r) => r.conn !== gw.id && r.kind === 'gateway' && r.json?.type === 'heartbeat', 'a heartbeat after the redial');
    const types: Record<string, string> = {
      pipeops_agent_heartbeat_success_total: 'counter',
      pipeops_agent_heartbeat_failures_total: 'counter',
      pipeops_agent_heartbeat_skip_reconnecting_total: 'counter',
      pipeops_agent_heartbeat_duration_seconds: 'histogram',
      pipeops_agent_connection_state: 'gauge',
      pipeops_agent_connection_state_changes_total: 'counter',
      pipeops_agent_websocket_reconnections_total: 'counter',
      pipeops_agent_unhealthy_duration_seconds: 'gauge',
      pipeops_agent_websocket_active_connections: 'gauge',
      pipeops_agent_websocket_proxy_active_streams: 'gauge',
      pipeops_agent_websocket_proxy_streams_total: 'counter',
      pipeops_agent_websocket_bytes_sent_total: 'counter',
      pipeops_agent_websocket_bytes_received_total: 'counter',
    };
    const text = await waitFor(async () => {
      const t = await (await fetch(`${agent.url}/metrics`)).text();
      return /^pipeops_agent_heartbeat_success_total [1-9]/m.test(t) && /^pipeops_agent_websocket_reconnections_total [1-9]/m.test(t) ? t : null;
    }, { what: 'heartbeats and a reconnection counted under upstream names', timeoutMs: 30_000 });
    for (const [name, type] of Object.entries(types)) expect(text).toContain(`# TYPE ${name} ${type}`);
    const value = (re: RegExp) => Number(text.split('\n').find((l) => re.test(l))?.split(' ').pop());
    expect(value(/^pipeops_agent_heartbeat_success_total /)).toBe(value(/^pipeops_heartbeat_total /));
    expect(value(/^pipeops_agent_connection_state /)).toBe(2);
    expect(value(/^pipeops_agent_unhealthy_duration_seconds /)).toBe(0);
    expect(value(/^pipeops_agent_connection_state_changes_total\{state="connected"\}/)).toBeGreaterThanOrEqual(2);
    expect(value(/^pipeops_agent_connection_state_changes_total\{state="reconnecting"\}/)).toBeGreaterThanOrEqual(1);
    expect(value(/^pipeops_agent_heartbeat_duration_seconds_bucket\{le="0.005"\}/)).toBeGreaterThanOrEqual(0);
    // Families this agent cannot fill truthfully are absent, not zero (the yamux and tcp_tunnel families exist since
    // issue 13's L4 tunnels and are filled by them).
    for (const absent of ['pipeops_agent_gateway_watcher_', 'pipeops_agent_websocket_frames_sent_total']) expect(text).not.toContain(absent);
    expect(text).toContain('# TYPE pipeops_agent_yamux_streams_accepted_total counter');
  });
});

