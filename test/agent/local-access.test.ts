// Who may use the agent's local port (issue 10, item 11): probes and /metrics for anyone; the dashboard, /ws, the
// SSE streams and /api/* for loopback clients or holders of agent.api_token. The remote client is curl in a network
// namespace this test creates, joined to the host by a veth pair on a private /30 (nothing else is touched).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import type { RunningAgent } from '../../src/agent/run.ts';
import { isLoopback } from '../../src/agent/local-access.ts';
import { tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import type { Hub } from '../../src/hub/server.ts';

const API_TOKEN = `local-api-${randomBytes(12).toString('hex')}`;
const suffix = randomBytes(3).toString('hex');
const NS = `pa-access-${suffix}`;
const VETH_HOST = `vpah${suffix}`;
const VETH_NS = `vpan${suffix}`;
// One /30 out of 10.213.0.0/16, chosen per run so two runs at once do not collide: .1 host side, .2 namespace side.
const NET = `10.213.${randomBytes(1)[0]!}.${4 * (randomBytes(1)[0]! % 64)}`;
const [a, b, c, d] = NET.split('.').map(Number) as [number, number, number, number];
const HOST_IP = `${a}.${b}.${c}.${d + 1}`;
const NS_IP = `${a}.${b}.${c}.${d + 2}`;

function ip(...args: string[]): { ok: boolean; err: string } {
  const r = Bun.spawnSync(['ip', ...args], { stderr: 'pipe', stdout: 'pipe' });
  return { ok: r.exitCode === 0, err: r.stderr.toString().trim() };
}

let netnsError: string | null = null;
let hub: Hub | null = null;
let withToken: RunningAgent | null = null;
let noToken: RunningAgent | null = null;

beforeAll(async () => {
  const steps: string[][] = [
    ['netns', 'add', NS],
    ['link', 'add', VETH_HOST, 'type', 'veth', 'peer', 'name', VETH_NS],
    ['link', 'set', VETH_NS, 'netns', NS],
    ['addr', 'add', `${HOST_IP}/30`, 'dev', VETH_HOST],
    ['link', 'set', VETH_HOST, 'up'],
    ['netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_IP}/30`, 'dev', VETH_NS],
    ['netns', 'exec', NS, 'ip', 'link', 'set', VETH_NS, 'up'],
    ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up'],
  ];
  for (const s of steps) {
    const r = ip(...s);
    if (!r.ok) {
      netnsError = `ip ${s.join(' ')}: ${r.err}`;
      return;
    }
  }
  hub = await testHub();
  // host 0.0.0.0 as in production: reachable from the namespace over the veth.
  withToken = await testAgent(hub.url, tempDir(), { agent: { host: '0.0.0.0', api_token: API_TOKEN } });
  noToken = await testAgent(hub.url, tempDir(), { agent: { host: '0.0.0.0' } });
}, 60_000);

afterAll(async () => {
  await withToken?.stop();
  await noToken?.stop();
  await hub?.stop();
  ip('link', 'del', VETH_HOST); // deletes the peer too
  ip('netns', 'del', NS);
});

/** curl from inside the namespace; returns status, headers (lower-case names) and body. */
async function remote(port: number, path: string, headers: Record<string, string> = {}, opts: { maxTimeS?: number } = {}) {
  const args = ['netns', 'exec', NS, 'curl', '-s', '-S', '-D', '-', '--max-time', String(opts.maxTimeS ?? 10), '--noproxy', '*'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(`http://${HOST_IP}:${port}${path}`);
  const p = Bun.spawn(['ip', ...args], { stdout: 'pipe', stderr: 'pipe' });
  const [out] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  const split = out.indexOf('\r\n\r\n');
  const head = split >= 0 ? out.slice(0, split) : out;
  const lines = head.split('\r\n');
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const hdrs: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status, headers: hdrs, body: split >= 0 ? out.slice(split + 4) : '' };
}

const PROTECTED = ['/dashboard', '/dashboard/app.js', '/api/realtime/events', '/api/realtime/logs', '/api/status/features', '/api/status/connectivity', '/api/health/detailed', '/api/metrics/runtime'];
const WS_UPGRADE = { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' };

describe('local API access', () => {
  test('loopback detection', () => {
    for (const x of ['127.0.0.1', '127.3.2.1', '::1', '::ffff:127.0.0.1', '[::1]']) expect(isLoopback(x)).toBe(true);
    for (const x of ['10.213.0.2', '::ffff:10.0.0.1', '0.0.0.0', '128.0.0.1', '::', 'fe80::1', '', null, undefined]) expect(isLoopback(x)).toBe(false);
  });

  test('from another network namespace: probes and /metrics open, the rest 401 without the token, 403 when no token is configured', async () => {
    if (netnsError) {
      console.log(`skipped: ip netns unavailable (${netnsError})`);
      return;
    }
    for (const agent of [withToken!, noToken!]) {
      for (const path of ['/health', '/version', '/metrics']) expect((await remote(agent.port, path)).status).toBe(200);
      const ready = await remote(agent.port, '/ready');
      expect([200, 503]).toContain(ready.status);
      expect(ready.body).toContain('"connection_state"');
    }
    for (const path of PROTECTED) {
      const r = await remote(withToken!.port, path);
      expect(`${path} ${r.status}`).toBe(`${path} 401`);
      expect(r.headers['www-authenticate']).toContain('Bearer');
      expect(r.body).toContain('agent.api_token');
      expect(r.body).not.toContain(API_TOKEN);
      const n = await remote(noToken!.port, path);
      expect(`${path} ${n.status}`).toBe(`${path} 403`);
      expect(n.body).toContain('loopback');
    }
    expect((await remote(withToken!.port, '/ws', WS_UPGRADE)).status).toBe(401);
    expect((await remote(noToken!.port, '/ws', WS_UPGRADE)).status).toBe(403);
    // A wrong token is no token.
    expect((await remote(withToken!.port, '/api/status/features', { Authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await remote(withToken!.port, '/dashboard?token=wrong')).status).toBe(401);
    // The no-token agent accepts no token at all.
    expect((await remote(noToken!.port, '/api/status/features', { Authorization: `Bearer ${API_TOKEN}` })).status).toBe(403);
  }, 60_000);

  test('from another network namespace with the token: Bearer header, or /dashboard?token= traded for a cookie', async () => {
    if (netnsError) {
      console.log(`skipped: ip netns unavailable (${netnsError})`);
      return;
    }
    const auth = { Authorization: `Bearer ${API_TOKEN}` };
    const features = await remote(withToken!.port, '/api/status/features', auth);
    expect(features.status).toBe(200);
    expect(features.body).toContain('features');
    // SSE: the headers of the stream arrive (curl then stops it at --max-time).
    const logs = await remote(withToken!.port, '/api/realtime/logs', auth, { maxTimeS: 2 });
    expect(logs.status).toBe(200);
    expect(logs.headers['content-type']).toContain('text/event-stream');
    expect((await remote(withToken!.port, '/ws', { ...WS_UPGRADE, ...auth })).status).toBe(101);

    const login = await remote(withToken!.port, `/dashboard?token=${API_TOKEN}`);
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/dashboard');
    const cookie = login.headers['set-cookie']!;
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    const page = await remote(withToken!.port, '/dashboard', { Cookie: cookie.split(';')[0]! });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<html');
    const events = await remote(withToken!.port, '/api/realtime/events', { Cookie: cookie.split(';')[0]! }, { maxTimeS: 2 });
    expect(events.status).toBe(200);
  }, 60_000);

  test('loopback clients need no token (kubectl port-forward arrives from 127.0.0.1)', async () => {
    for (const agent of [withToken ?? null, noToken ?? null]) {
      if (!agent) continue;
      const base = `http://127.0.0.1:${agent.port}`;
      expect((await fetch(`${base}/dashboard`)).status).toBe(200);
      expect((await fetch(`${base}/api/status/features`)).status).toBe(200);
      const ac = new AbortController();
      const sse = await fetch(`${base}/api/realtime/events`, { signal: ac.signal });
      expect(sse.status).toBe(200);
      ac.abort();
    }
  });
});
