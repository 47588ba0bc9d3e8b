// Two hub replicas on one PostgreSQL database (issue 15): the agent's session is on replica A, kubectl talks to
// replica B, whose gateways forward to A over the authenticated replica link (get, get -w, exec with stdin,
// port-forward; an app request through B's public gateway). The route registry reads the
// same from either replica. B losing its database connections gives clear errors and recovers. A forged forward
// is refused. The app behind the public gateway sees the client's own address (X-Forwarded-For, X-Real-IP,
// Forwarded) whether the request came through A or through B, and no client claim overrides it.
// Skipped without PostgreSQL unless PIPEOPS_POSTGRES=required.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningAgent } from '../../src/agent/run.ts';
import type { AgentConfigInput } from '../../src/config/schema.ts';
import { newKeyText } from '../../src/hub/credential-cipher.ts';
import { kubeconfigFor } from '../../src/hub/kube-gateway/kubeconfig.ts';
import { buildKubeconfigFromState } from '../../src/hub/kube-gateway/kubeconfig-command.ts';
import { encodeProxyHeader } from '../../src/hub/public-gateway/proxy-protocol.ts';
import { FORWARD_SIGNATURE, FORWARD_TIME, FORWARDED_BY, FORWARDED_CLIENT, FORWARDED_PROTO } from '../../src/hub/replica-link.ts';
import type { Hub } from '../../src/hub/server.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { pipeToTcp } from '../../src/sandbox/streams/index.ts';
import { LiveKubectl } from '../sandbox/kubectl-process.ts';
import { kubectlPath, portForwardEchoes, randomPayload, runKubectl, sha256, startEchoServer, VERSIONS } from '../sandbox/streams/kubectl-run.ts';
import { testPod } from '../sandbox/streams/sandbox-fixture.ts';
import { ADMIN_TOKEN, AGENT_TOKEN, tempDir, testAgent, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { POSTGRES_REQUIRED, postgresUnavailable, startPostgres, type TestPostgres } from '../support/postgres.ts';
import { SA_TOKEN, TLS } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';

const skip = POSTGRES_REQUIRED ? null : postgresUnavailable();
if (skip) console.log(`SKIPPED: hub replicas on PostgreSQL: ${skip}`);
const bin = [...VERSIONS].reverse().map(kubectlPath).find((p) => p !== null) ?? null;
if (!bin) console.log('SKIPPED: the kubectl cases of the hub replica tests: no kubectl on this machine');

const SECRET = 'replica-secret-for-tests-0123456789';
/** The client's own loopback address (the replicas and the link use 127.0.0.1), so a hop that leaks shows. */
const CLIENT_IP = '127.0.0.7';
/** The address of the "load balancer" the replicas trust for PROXY protocol headers. */
const PROXY_IP = '127.0.0.9';
const SEEN = ['x-forwarded-for', 'x-real-ip', 'forwarded', 'x-forwarded-proto', 'x-forwarded-host'];

/** An app that answers with the forwarding headers it received (plain requests: JSON; upgrades: headers of the 101). */
function startHeaderEcho() {
  const seen = (req: Request) => Object.fromEntries([...SEEN, FORWARDED_BY, FORWARDED_CLIENT, FORWARDED_PROTO].map((h) => [h, req.headers.get(h)]));
  return Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req, srv) {
      if (new URL(req.url).pathname === '/ws') {
        const h = seen(req);
        if (srv.upgrade(req, { headers: { 'x-seen': encodeURIComponent(JSON.stringify(h)) } })) return;
      }
      return Response.json(seen(req));
    },
    websocket: { message() {} },
  });
}

/** One request from CLIENT_IP (or `o.from`, after `o.prefix`) over a raw socket; for an upgrade, the 101's `x-seen` header, else the body. */
function fromClientIp(base: string, path: string, headers: Record<string, string>, upgrade = false, o: { from?: string; prefix?: Uint8Array } = {}): Promise<{ status: number; seen: Record<string, string | null> }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port), localAddress: o.from ?? CLIENT_IP });
    let got = Buffer.alloc(0);
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    const up = upgrade ? 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' : 'Connection: close\r\n';
    s.on('connect', () => s.write(Buffer.concat([o.prefix ?? Buffer.alloc(0), Buffer.from(`GET ${path} HTTP/1.1\r\n${extra}${up}\r\n`)])));
    const done = () => {
      const text = got.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      if (end < 0 || !status) return reject(new Error(`no answer: ${JSON.stringify(text.slice(0, 200))}`));
      if (status >= 400) return resolve({ status, seen: { body: text.slice(end + 4) } });
      const head = text.slice(0, end);
      const x = /\r\nx-seen: ([^\r]*)/i.exec(head)?.[1];
      try {
        resolve({ status, seen: upgrade ? JSON.parse(decodeURIComponent(x ?? '%7B%7D')) : (JSON.parse(text.slice(end + 4).replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n\r\n$/, '')) as never) });
      } catch (e) {
        reject(new Error(`${(e as Error).message}: ${JSON.stringify(text.slice(0, 400))}`));
      }
    };
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (upgrade && got.includes('\r\n\r\n')) {
        s.destroy();
        done();
      }
    });
    s.on('error', reject);
    s.on('close', () => {
      if (!upgrade) done();
    });
  });
}

describe.skipIf(skip !== null)('hub replicas on PostgreSQL', () => {
  let pg: TestPostgres;
  let database: string;
  let sandbox: Sandbox;
  let a: Hub;
  let b: Hub;
  let agent: RunningAgent;
  let clusterId: string;
  let kubeEnv: Record<string, string>;
  let statePath = '';
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
    cleanups.push(() => pg.stop());
    database = await pg.newDatabase();
    const dir = tempDir();
    // The replicas share the credentials key, the link secret and (through the state path) the gateway certificate.
    statePath = join(dir, 'hub.db');
    // 127.0.0.9 plays HAProxy with send-proxy: its connections to the public gateways start with a PROXY header.
    const common = { database, state: statePath, credentials: { key: newKeyText() }, replica: { secret: SECRET, lease: '3s' }, gateway_proxy_protocol_from: [`${PROXY_IP}/32`] };
    a = await testHub({ ...common, replica: { ...common.replica, id: 'replica-a' } });
    cleanups.push(() => a.stop());
    b = await testHub({ ...common, replica: { ...common.replica, id: 'replica-b' } });
    cleanups.push(() => b.stop());
    sandbox = await startSandbox({ tls: TLS, tokens: { [SA_TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'demo' });
    cleanups.push(() => sandbox.close());
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const headerEcho = startHeaderEcho();
    cleanups.push(async () => headerEcho.stop(true));
    sandbox.bindService('demo', 'headers', 80, { host: '127.0.0.1', port: headerEcho.port! });
    const toEcho = pipeToTcp('127.0.0.1', echo.port);
    sandbox.hooks.portForward = (c) => (c.port === 80 ? toEcho(c) : c.error(`dial tcp4 127.0.0.1:${c.port}: connect: connection refused`));
    const kubeconfig = join(dir, 'sandbox-kubeconfig');
    await sandbox.writeKubeconfig(kubeconfig, { token: SA_TOKEN });
    agent = await testAgent(a.url, dir, { kubernetes: { kubeconfig, service_token: SA_TOKEN, service_proxy: 'apiserver' } } as AgentConfigInput);
    cleanups.push(() => agent.stop());
    clusterId = await waitFor(() => agent.status.snapshot().clusterId, { what: 'registration', timeoutMs: 15_000 });
    await waitFor(async () => (await b.store.get(clusterId))?.k8s_service_token === SA_TOKEN, { what: 'SA token readable on B' });
    await waitFor(async () => (await b.directory.locate(clusterId)).kind === 'remote', { what: "B sees A's session" });
    expect(b.agents.sessions.has(clusterId)).toBe(false);
    const kdir = await mkdtemp(join(tmpdir(), 'hub-replicas-kubectl-'));
    await writeFile(join(kdir, 'kubeconfig'), await kubeconfigFor(b, clusterId, USER_TOKEN, { namespace: 'default' }), { mode: 0o600 });
    kubeEnv = { KUBECONFIG: join(kdir, 'kubeconfig'), KUBECACHEDIR: join(kdir, 'cache'), HOME: kdir };
  }, 60_000);

  /** The header echo app's route, registered on A (again: the registry keeps one); its host once B routes it. */
  const routeToHeaderEcho = async () => {
    const host = 'client-address.example.test';
    const route = { cluster_uuid: clusterId, hostname: host, namespace: 'demo', service_name: 'headers', service_port: 80, path: '/', path_type: 'Prefix', routing_mode: 'tunnel', ingress_name: 'headers', tls: false };
    const reg = await fetch(`${a.url}/api/v1/gateway/routes/register`, { method: 'POST', headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(route) });
    expect(reg.status).toBe(200);
    await waitFor(async () => (await fetch(`${b.gatewayUrl}/`, { headers: { host } })).status === 200, { what: 'B routes the host' });
    return host;
  };

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  test('the admin API of either replica reports the cluster connected', async () => {
    for (const h of [a, b]) {
      const r = await fetch(`${h.url}/api/v1/clusters/${clusterId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(((await r.json()) as { connected: boolean }).connected).toBe(true);
    }
  });

  test.skipIf(!bin)('kubectl through replica B: get, get -w, exec with 1 MiB of stdin, port-forward', async () => {
    const k = (args: string[], stdin?: Uint8Array) => runKubectl(bin!, args, kubeEnv, stdin, 40_000);
    const pods = await k(['get', 'pods', '-n', 'demo']);
    expect(pods.stderr).toBe('');
    expect(pods.stdout.toString()).toMatch(/hello-6d9f7c8b5-abcde\s+1\/1\s+Running/);

    const w = new LiveKubectl(bin!, { env: kubeEnv, dir: kubeEnv.HOME! } as never, ['get', 'pods', '-n', 'demo', '-w']);
    try {
      await w.waitFor('hello-6d9f7c8b5-abcde', 20_000);
      sandbox.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'seen-through-b', namespace: 'demo' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
      await w.waitFor(/seen-through-b\s+0\/1\s+Pending/, 15_000);
    } finally {
      w.kill();
    }

    sandbox.apply(testPod('replica-exec'));
    const payload = randomPayload(1024 * 1024);
    const cat = await k(['exec', '-i', 'replica-exec', '--', 'cat'], payload);
    expect({ code: cat.code, err: cat.stderr.slice(-300) }).toEqual({ code: 0, err: '' });
    expect(sha256(cat.stdout)).toBe(sha256(payload));

    sandbox.apply(testPod('replica-pf'));
    expect(await portForwardEchoes(bin!, ['replica-pf', ':80'], kubeEnv, [2 * 1024 * 1024, 64 * 1024, 64 * 1024])).toBeNull();
    const forwarded = await (await fetch(`${b.url}/metrics`)).text();
    expect(forwarded).toMatch(/pipeops_hub_forwarded_total\{gateway="kube",kind="request"\} [1-9]/);
    expect(forwarded).toMatch(/pipeops_hub_forwarded_total\{gateway="kube",kind="upgrade"\} [1-9]/);
  }, 120_000);

  test('the route registry reads the same from either replica, and a change on A reaches B\'s public gateway', async () => {
    const route = { cluster_uuid: clusterId, hostname: 'replicated.example.test', namespace: 'demo', service_name: 'hello', service_port: 80, path: '/', path_type: 'Prefix', routing_mode: 'tunnel', ingress_name: 'web', tls: false };
    const reg = await fetch(`${a.url}/api/v1/gateway/routes/register`, { method: 'POST', headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(route) });
    expect({ status: reg.status, body: await reg.text() }).toMatchObject({ status: 200 });
    const listed = async (h: Hub) => (await (await fetch(`${h.url}/api/v1/gateway/routes`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { routes: unknown[] };
    const fromA = await listed(a);
    expect(fromA.routes.length).toBeGreaterThan(0);
    expect(await listed(b)).toEqual(fromA);
    // B's public gateway learnt the host by NOTIFY and forwards the request to A, which holds the session.
    await waitFor(async () => (await fetch(`${b.gatewayUrl}/`, { headers: { host: 'replicated.example.test' } })).status !== 404, { what: 'B routes the new host' });
    const r = await fetch(`${b.gatewayUrl}/`, { headers: { host: 'replicated.example.test' } });
    const direct = await fetch(`${a.gatewayUrl}/`, { headers: { host: 'replicated.example.test' } });
    // The sandbox's answer for a Service without endpoints, through the agent: the same from B as from A.
    const [viaB, viaA] = [{ status: r.status, body: await r.text() }, { status: direct.status, body: await direct.text() }];
    expect(viaB.body).toContain('no endpoints available for service \\"hello\\"');
    expect(viaB).toEqual(viaA);
    const forwarded = await (await fetch(`${b.url}/metrics`)).text();
    expect(forwarded).toMatch(/pipeops_hub_forwarded_total\{gateway="public",kind="request"\} [1-9]/);
  });

  test("the app sees the client's own address through B as through A, and no client claim overrides it", async () => {
    const host = await routeToHeaderEcho();
    const before = Number(/pipeops_hub_forwarded_total\{gateway="public",kind="request"\} (\d+)/.exec(await (await fetch(`${b.url}/metrics`)).text())?.[1] ?? 0);

    const want = { 'x-forwarded-for': CLIENT_IP, 'x-real-ip': CLIENT_IP, forwarded: `for=${CLIENT_IP};host=${host};proto=http`, 'x-forwarded-proto': 'http', 'x-forwarded-host': host, [FORWARDED_BY]: null, [FORWARDED_CLIENT]: null, [FORWARDED_PROTO]: null };
    const viaA = await fromClientIp(a.gatewayUrl, '/', { Host: host });
    const viaB = await fromClientIp(b.gatewayUrl, '/', { Host: host });
    expect(viaB).toEqual(viaA);
    expect(viaA).toEqual({ status: 200, seen: want });
    const after = Number(/pipeops_hub_forwarded_total\{gateway="public",kind="request"\} (\d+)/.exec(await (await fetch(`${b.url}/metrics`)).text())?.[1] ?? 0);
    expect(after).toBeGreaterThan(before);

    // Upgrades (B carries them as a byte pipe after a signed head): the same headers reach the app.
    const wsA = await fromClientIp(a.gatewayUrl, '/ws', { Host: host }, true);
    const wsB = await fromClientIp(b.gatewayUrl, '/ws', { Host: host }, true);
    expect(wsA).toEqual({ status: 101, seen: want });
    expect(wsB).toEqual(wsA);

    // A client claiming another address (the usual headers, or the replica link's own) is one hop earlier at most.
    const forged = { Host: host, 'X-Forwarded-For': '203.0.113.9', 'X-Real-IP': '203.0.113.9', Forwarded: 'for=203.0.113.9', 'X-Forwarded-Proto': 'https', [FORWARDED_CLIENT]: '203.0.113.9', [FORWARDED_PROTO]: 'https' };
    const claimed = { ...want, 'x-forwarded-for': `203.0.113.9, ${CLIENT_IP}`, forwarded: `for=203.0.113.9, for=${CLIENT_IP};host=${host};proto=http` };
    for (const base of [a.gatewayUrl, b.gatewayUrl]) expect(await fromClientIp(base, '/', forged)).toEqual({ status: 200, seen: claimed });
    // With a made-up link signature the request is refused, on either replica.
    for (const base of [a.gatewayUrl, b.gatewayUrl]) {
      const r = await fetch(`${base}/`, { headers: { host, [FORWARDED_BY]: 'replica-a', [FORWARD_TIME]: String(Date.now()), [FORWARD_SIGNATURE]: 'AAAA', [FORWARDED_CLIENT]: '203.0.113.9' } });
      expect({ status: r.status, body: await r.text() }).toEqual({ status: 403, body: '403 Forbidden: forwarded request refused: bad signature\n' });
    }
  });

  test('behind a proxy that sends PROXY headers: the address it names is the client, through A and through B; nobody else can name one', async () => {
    const host = await routeToHeaderEcho();
    const client = '198.51.100.7';
    const want = { 'x-forwarded-for': client, 'x-real-ip': client, forwarded: `for=${client};host=${host};proto=http`, 'x-forwarded-proto': 'http', 'x-forwarded-host': host, [FORWARDED_BY]: null, [FORWARDED_CLIENT]: null, [FORWARDED_PROTO]: null };
    for (const version of [1, 2] as const) {
      for (const base of [a.gatewayUrl, b.gatewayUrl]) {
        const prefix = encodeProxyHeader(version, client, '127.0.0.1', 40_000, Number(new URL(base).port));
        expect(await fromClientIp(base, '/', { Host: host }, false, { from: PROXY_IP, prefix })).toEqual({ status: 200, seen: want });
      }
    }
    // An upgrade through B: the same address reaches the app.
    const prefix = encodeProxyHeader(2, client, '127.0.0.1', 40_000, Number(new URL(b.gatewayUrl).port));
    expect(await fromClientIp(b.gatewayUrl, '/ws', { Host: host }, true, { from: PROXY_IP, prefix })).toEqual({ status: 101, seen: want });
    // The trusted address speaking plain HTTP is itself the client; a malformed header from it is refused with the
    // reason. A client that is not the proxy sending a header: bad HTTP.
    expect(await fromClientIp(a.gatewayUrl, '/', { Host: host }, false, { from: PROXY_IP })).toMatchObject({ status: 200, seen: { 'x-forwarded-for': PROXY_IP } });
    const bad = await fromClientIp(a.gatewayUrl, '/', { Host: host }, false, { from: PROXY_IP, prefix: Buffer.from('PROXY TCP4 1.2.3.4\r\n') });
    expect(bad).toEqual({ status: 400, seen: { body: '400 Bad Request: malformed PROXY v1 line\n' } });
    const forged = await fromClientIp(b.gatewayUrl, '/', { Host: host }, false, { prefix: encodeProxyHeader(1, '203.0.113.9', '127.0.0.1', 1, 2) });
    expect(forged.status).toBe(400);
  });

  test('hub kubeconfig finds the cluster in the shared database', async () => {
    const r = await buildKubeconfigFromState(['--cluster', 'nope', '--state', statePath, '--user-token', USER_TOKEN], { PIPEOPS_HUB_DATABASE: database });
    expect(r).toMatchObject({ ok: false });
    if (!r.ok) expect(r.message).toContain('is not registered with the hub (state postgres://pipeops@');
    const found = await buildKubeconfigFromState(['--cluster', clusterId, '--state', statePath, '--user-token', USER_TOKEN], { PIPEOPS_HUB_DATABASE: database });
    if (!found.ok) throw new Error(found.message);
    expect(found.kubeconfig).toContain(`/clusters/${clusterId}/k8s`);
  });

  test('a request claiming to be forwarded without the right signature is refused', async () => {
    const r = await fetch(`${a.kubeUrl}/clusters/${clusterId}/k8s/api/v1/namespaces`, {
      headers: { authorization: `Bearer ${USER_TOKEN}`, [FORWARDED_BY]: 'replica-b', [FORWARD_TIME]: String(Date.now()), [FORWARD_SIGNATURE]: 'AAAA' },
      tls: { ca: a.kubeCaPem },
    } as RequestInit);
    expect(r.status).toBe(403);
    expect(await r.text()).toContain('forwarded request refused: bad signature');
  });

  test("B's database connections killed: requests fail with a clear error or succeed, then B recovers", async () => {
    const name = new URL(database).pathname.slice(1);
    expect(await pg.killConnections(name)).toBeGreaterThan(0);
    // B's LISTEN connection was among those killed. A route A registers right away may be announced while B is not
    // listening: B re-reads the registry when its subscription is back, so its public gateway learns the host.
    const route = { cluster_uuid: clusterId, hostname: 'after-reconnect.example.test', namespace: 'demo', service_name: 'hello', service_port: 80, path: '/', path_type: 'Prefix', routing_mode: 'tunnel', ingress_name: 'web', tls: false };
    await waitFor(async () => (await fetch(`${a.url}/api/v1/gateway/routes/register`, { method: 'POST', headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(route) })).status === 200, { what: 'A registers a route', timeoutMs: 20_000 });
    // Every answer is a real one: 200, or the 503 that names the database; never a hang or a crash.
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${b.url}/readyz`);
      const text = await r.text();
      if (r.status !== 200) expect(text).toStartWith('not ready: state database');
      statuses.push(r.status);
    }
    await waitFor(async () => (await fetch(`${b.url}/readyz`)).status === 200, { what: 'B ready again', timeoutMs: 20_000 });
    await waitFor(async () => (await fetch(`${b.url}/api/v1/clusters`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status === 200, { what: 'B answers the admin API again' });
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    await waitFor(async () => (await fetch(`${b.gatewayUrl}/`, { headers: { host: 'after-reconnect.example.test' } })).status !== 404, { what: "the route reaching B's public gateway", timeoutMs: 20_000, intervalMs: 250 });
  });
});
