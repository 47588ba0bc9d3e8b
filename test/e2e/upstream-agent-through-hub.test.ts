// Issue 11 items 10 and 11: the hub serving the shipped Go agent. A test double that speaks the upstream protocol
// (test/support/upstream-agent.ts: registers without extensions, dials the sandbox API server itself with
// channel translation) is the cluster's agent; real kubectl 1.27–1.33 runs exec and port-forward through the
// hub's Kubernetes gateway (WebSocket and, for kubectl ≤ 1.29, SPDY, which the hub translates). What upstream's
// translation loses is asserted as lost (stderr merged into stdout), what the hub recovers as recovered (exit
// codes), what it cannot carry as refused with a readable message.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigFor } from '../../src/hub/kube-gateway/kubeconfig.ts';
import type { Hub } from '../../src/hub/server.ts';
import { createLogger } from '../../src/log/logger.ts';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { pipeToTcp } from '../../src/sandbox/streams/index.ts';
import { HubConfigSchema } from '../../src/hub/config/schema.ts';
import { startHub } from '../../src/hub/server.ts';
import { AGENT_TOKEN, ADMIN_TOKEN, USER_TOKEN } from '../support/hub-agent.ts';
import { RawWsClient } from '../support/hub-streams.ts';
import { RACE_FOOTNOTE, runWithRaceRetry } from '../support/kubectl-race.ts';
import { SA_TOKEN, type Stack, TLS } from '../support/stack.ts';
import { UpstreamAgentDouble } from '../support/upstream-agent.ts';
import { waitFor } from '../support/wait.ts';
import { kubectlPath, portForwardEchoes, ptyExecResize, randomPayload, runKubectl, sha256, startEchoServer, VERSIONS } from '../sandbox/streams/kubectl-run.ts';
import { testPod } from '../sandbox/streams/sandbox-fixture.ts';

const CASES = ['exec', 'exit-7', 'stdin-256KiB', 'stderr-merged', 'tty-resize', 'attach', 'pf-1MiB-x3'] as const;
type Cell = { ok: boolean; detail: string; ms: number; raced: boolean; wire: string };

let sandbox: Sandbox;
let hub: Hub;
let agent: UpstreamAgentDouble;
/** The application behind the public gateway's route (a WebSocket echo); its connections' close times. */
let appServer: ReturnType<typeof Bun.serve>;
const appClosed: number[] = [];
const logLines: Record<string, unknown>[] = [];
const results = new Map<string, Cell>();
const cleanups: (() => Promise<void>)[] = [];
const present = VERSIONS.filter((v) => kubectlPath(v));
for (const v of VERSIONS.filter((x) => !kubectlPath(x))) console.log(`kubectl ${v} not found on this machine; its row is skipped`);
const minorOf = (v: string) => Number(v.split('.')[1]);

async function kubectlEnv(): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), 'upstream-kubectl-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'kubeconfig'), await kubeconfigFor(hub, agent.clusterId, USER_TOKEN), { mode: 0o600 });
  return { KUBECONFIG: join(dir, 'kubeconfig'), KUBECACHEDIR: join(dir, 'cache'), HOME: dir };
}

async function cell(key: string, fn: (pod: string) => Promise<string | null>): Promise<void> {
  const started = Date.now();
  const pod = key.replace(/[./]/g, '-').toLowerCase();
  sandbox.apply(testPod(pod));
  const { detail, raced } = await runWithRaceRetry(() => fn(pod));
  results.set(key, { ok: detail === null, detail: detail ?? '', ms: Date.now() - started, raced, wire: wireOf(pod) });
}

/** The wire kubectl used toward the hub, from the hub's debug log of translated upgrades. */
function wireOf(pod: string): string {
  const seen = logLines.filter((l) => l.msg === 'kube gateway: upgrade carried over channel translation' && String(l.path).includes(`/pods/${pod}/`));
  const one = (l: Record<string, unknown>) => `${l.upgrade === 'websocket' ? 'WS' : 'SPDY'} ${String(l.protocol).replace('.channel.k8s.io', '').replace('SPDY/3.1+portforward.k8s.io', 'tunnel')}`;
  return [...new Set(seen.map(one))].join('>');
}

async function runVersion(version: string, bin: string): Promise<void> {
  const env = await kubectlEnv();
  const k = (args: string[], stdin?: Uint8Array) => runKubectl(bin, args, env, stdin, 40_000);
  await Promise.all([
    cell(`${version}/exec`, async (pod) => {
      const r = await k(['exec', pod, '--', 'echo', 'hello', 'world']);
      if (r.code !== 0 || r.stdout.toString() !== 'hello world\n') return `code ${r.code} out ${JSON.stringify(r.stdout.toString())} err ${r.stderr.slice(-300)}`;
      return null;
    }),
    cell(`${version}/exit-7`, async (pod) => {
      const r = await k(['exec', pod, '--', 'sh', '-c', 'exit 7']);
      if (r.code !== 7) return `expected exit 7, got ${r.code}: ${r.stderr.slice(-300)}`;
      if (!r.stderr.includes('command terminated with exit code 7')) return `stderr: ${r.stderr.slice(-300)}`;
      return null;
    }),
    cell(`${version}/stdin-256KiB`, async (pod) => {
      const payload = randomPayload(256 * 1024);
      const r = await k(['exec', '-i', pod, '--', 'cat'], payload);
      if (r.code !== 0) return `code ${r.code}: ${r.stderr.slice(-300)}`;
      if (sha256(r.stdout) !== sha256(payload)) return `${r.stdout.length} bytes back, sha256 differs`;
      return null;
    }),
    cell(`${version}/stderr-merged`, async (pod) => {
      // Lost in upstream's translation: stderr arrives as stdout. The exit status still comes through.
      const r = await k(['exec', pod, '--', 'sh', '-c', 'echo out; nosuch']);
      const out = r.stdout.toString();
      if (r.code !== 127) return `expected exit 127, got ${r.code}: ${r.stderr.slice(-300)}`;
      if (!out.includes('out\n') || !out.includes('sh: nosuch: not found')) return `stdout ${JSON.stringify(out)}`;
      if (r.stderr.includes('nosuch: not found')) return `stderr kept apart, which upstream's translation cannot do: ${r.stderr}`;
      return null;
    }),
    cell(`${version}/tty-resize`, async (pod) => {
      // `exec -it sh` under a pty: two window sizes reach the shell (stty size), then `exit 3` (pty-driver.py).
      return ptyExecResize(bin, pod, env, 40);
    }),
    cell(`${version}/attach`, async (pod) => {
      const r = await k(['attach', '-i', pod, '-c', 'web'], Buffer.from('attached-line\n'));
      if (r.code !== 0 || !r.stdout.toString().includes('attached-line')) return `code ${r.code} out ${JSON.stringify(r.stdout.toString())} err ${r.stderr.slice(-300)}`;
      return null;
    }),
    cell(`${version}/pf-1MiB-x3`, async (pod) => {
      return portForwardEchoes(bin, [pod, ':80'], env, [1024 * 1024, 64 * 1024, 64 * 1024]);
    }),
  ]);
}

beforeAll(async () => {
  sandbox = await startSandbox({ host: '127.0.0.1', tls: TLS, tokens: { [SA_TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'demo' });
  const log = createLogger({ level: 'debug', name: 'hub', sink: (l) => logLines.push(JSON.parse(l)) });
  hub = await startHub(HubConfigSchema.parse({ port: 0, kube_port: 0, agent_tokens: [AGENT_TOKEN], admin_tokens: [ADMIN_TOKEN], user_tokens: [USER_TOKEN], state: ':memory:' }), log);
  appServer = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(req, srv) {
      const offered = req.headers.get('sec-websocket-protocol') ?? '';
      if (srv.upgrade(req, { headers: offered.includes('chat') ? { 'Sec-WebSocket-Protocol': 'chat' } : {}, data: undefined })) return;
      return new Response('not a websocket', { status: 400 });
    },
    websocket: {
      message: (ws, msg) => void ws.send(msg),
      close: () => void appClosed.push(Date.now()),
    },
  });
  agent = await UpstreamAgentDouble.connect({
    hubUrl: hub.url,
    token: AGENT_TOKEN,
    clusterName: 'upstream',
    serviceToken: SA_TOKEN,
    apiServer: { url: sandbox.url, ca: TLS.ca },
    serviceAddress: () => `127.0.0.1:${appServer.port}`,
  });
  await waitFor(() => hub.agents.isConnected(agent.clusterId), { what: 'upstream double connected' });
  const echo = await startEchoServer();
  cleanups.push(echo.close);
  const toEcho = pipeToTcp('127.0.0.1', echo.port);
  sandbox.hooks.portForward = (c) => (c.port === 80 ? toEcho(c) : c.error(`dial tcp4 127.0.0.1:${c.port}: connect: connection refused`));
  const started = Date.now();
  // Two lanes of versions, one version at a time in each: every kubectl at once starves a loaded machine (and
  // startPortForward kills kubectl after 20 s).
  const lanes = [present.filter((_, i) => i % 2 === 0), present.filter((_, i) => i % 2 === 1)];
  await Promise.all(lanes.map(async (lane) => {
    for (const v of lane) await runVersion(v, kubectlPath(v) as string);
  }));
  printMatrix(Date.now() - started);
}, 400_000);

afterAll(async () => {
  await agent?.close();
  for (const c of cleanups.reverse()) await c();
  await hub?.stop();
  await sandbox?.close();
  await appServer?.stop(true);
});

function printMatrix(totalMs: number): void {
  const header = ['kubectl', ...CASES];
  const rows = present.map((v) => [v, ...CASES.map((c) => fmt(v, c))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  const raced = [...results.entries()].filter(([, c]) => c.raced).map(([k]) => k);
  if (raced.length) out.push(`${RACE_FOOTNOTE}: ${raced.join(', ')}`);
  console.log(`\nkubectl through hub → upstream-agent double → sandbox (${totalMs} ms):\n${out.join('\n')}\n`);
}

function fmt(v: string, c: string): string {
  const r = results.get(`${v}/${c}`);
  if (!r) return '-';
  return `${r.ok ? 'ok' : 'FAIL'}${r.raced ? '*' : ''} ${r.wire} ${r.ms}ms`;
}

const sent = (type: string) => agent.received.filter((m: InboundMessage) => m.type === type);

describe('kubectl exec and port-forward through the hub to an upstream agent', () => {
  for (const v of present)
    for (const c of CASES)
      test(`kubectl ${v} ${c}`, () => {
        expect(results.get(`${v}/${c}`)?.detail ?? 'not run').toBe('');
      });

  test('the versions used the wires kubectl is known for: SPDY exec before 1.30, raw SPDY port-forward before 1.31, WebSocket after', () => {
    for (const v of present) {
      const minor = minorOf(v);
      expect(`${v} ${results.get(`${v}/exec`)?.wire}`).toBe(`${v} ${minor >= 30 ? 'WS v5' : 'SPDY v4'}`);
      expect(`${v} ${results.get(`${v}/pf-1MiB-x3`)?.wire}`).toBe(`${v} ${minor >= 31 ? 'WS tunnel' : 'SPDY tunnel'}`);
    }
  });

  test('the hub never sent raw_upgrade (or any other extension) to the upstream agent; streams went through proxy_websocket_start', () => {
    for (const m of sent('proxy_request')) {
      expect(m.payload.raw_upgrade).toBeUndefined();
      expect(m.payload.binary_chunks).toBeUndefined();
    }
    const starts = sent('proxy_websocket_start');
    const protocols = new Set(starts.map((m) => m.payload.protocol));
    if (present.some((v) => minorOf(v) >= 30)) expect(protocols.has('v5.channel.k8s.io')).toBe(true);
    if (present.length) expect(protocols.has('SPDY/3.1+portforward.k8s.io')).toBe(true);
    for (const m of starts) {
      expect(m.payload.raw_frames).toBeUndefined();
      expect(m.payload.headers).toEqual({ Authorization: [`Bearer ${SA_TOKEN}`] });
    }
  });
});

describe('watch and logs -f with an upstream agent (deviation P3)', () => {
  test('the hub warns once per cluster that the agent cuts long streams; our agent never triggers it (test/hub/agent-extensions.test.ts)', async () => {
    const notices = () => logLines.filter((l) => String(l.msg).includes('does not advertise long_streams'));
    for (let i = 0; i < 2; i++) {
      const ac = new AbortController();
      const r = await fetch(`${hub.kubeUrl}/clusters/${agent.clusterId}/k8s/api/v1/namespaces/default/pods?watch=true`, {
        headers: { authorization: `Bearer ${USER_TOKEN}` },
        tls: { ca: hub.kubeCaPem },
        signal: ac.signal,
      } as RequestInit);
      expect(r.status).toBe(200);
      await r.body!.getReader().read();
      ac.abort();
    }
    expect(notices().length).toBe(1);
    expect(notices()[0]!.cluster_id).toBe(agent.clusterId);
  });
});

describe('what upstream cannot carry, and stream failures, reach the client readably', () => {
  const stackView = () => ({ hub, clusterId: agent.clusterId }) as unknown as Stack;

  test('the kubelet-style v4.channel.k8s.io port-forward (client-node) is refused with a Status naming what works', async () => {
    const err = await RawWsClient.open(stackView(), '/api/v1/namespaces/default/pods/web-0/portforward?ports=80', ['v4.channel.k8s.io']).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(err).toContain('HTTP/1.1 400');
    expect(err).toContain('port-forward needs SPDY/3.1+portforward.k8s.io');
    expect(err).toContain('"kind":"Status"');
  });

  test('when the agent cannot open the stream (the API server refused it), kubectl gets a Failure status on channel 3', async () => {
    const c = await RawWsClient.open(stackView(), '/api/v1/namespaces/default/pods/no-such-pod/exec?command=echo&stdout=true', ['v5.channel.k8s.io']);
    expect(c.protocol).toBe('v5.channel.k8s.io');
    await c.until(() => c.channel(3).length > 0 && c.closeCode !== null, 'status and close');
    const status = JSON.parse(c.channel(3).toString());
    expect(status.status).toBe('Failure');
    expect(status.message).toContain('failed to connect to K8s API');
    expect(c.closeCode).toBe(1000);
    c.destroy();
  });
});

describe('public gateway: application WebSockets over the upstream agent\'s relay (protocol.md §3.8)', () => {
  test('the subprotocol, text and a 100 kB binary message echo back; the client close reaches the app', async () => {
    await hub.routes.sync(agent.clusterId, [
      {
        cluster_id: agent.clusterId,
        hostname: 'app.example.test',
        path: '/',
        path_type: 'Prefix',
        namespace: 'default',
        service_name: 'web',
        service_port: 80,
        ingress_namespace: 'default',
        ingress_name: 'web',
        tls: false,
        annotations: {},
        public_endpoint: '',
        routing_mode: 'tunnel',
        deployment_id: '',
        deployment_name: '',
      },
    ]);
    const ws = new WebSocket(`${hub.gatewayUrl.replace('http', 'ws')}/socket`, { headers: { host: 'app.example.test' }, protocols: ['chat'] } as never);
    ws.binaryType = 'arraybuffer';
    const got: (string | ArrayBuffer)[] = [];
    const big = randomPayload(100_000);
    await new Promise<void>((resolve, reject) => {
      ws.onerror = () => reject(new Error('websocket error'));
      ws.onclose = (e) => reject(new Error(`closed early: ${e.code} ${e.reason}`));
      ws.onopen = () => {
        ws.send('hello');
        ws.send(Uint8Array.from(big));
      };
      ws.onmessage = (e) => {
        got.push(e.data as string | ArrayBuffer);
        if (got.length === 2) resolve();
      };
    });
    expect(ws.protocol).toBe('chat');
    expect(got[0]).toBe('hello');
    expect(sha256(new Uint8Array(got[1] as ArrayBuffer))).toBe(sha256(big));
    const closedBefore = appClosed.length;
    ws.onclose = null;
    ws.close(1000);
    await waitFor(() => appClosed.length > closedBefore, { what: 'the app saw the close' });
    const req = agent.received.find((m) => m.type === 'proxy_request' && m.payload.service_name === 'web')!;
    expect(req.payload.is_websocket).toBe(true);
    expect(req.payload.raw_upgrade).toBeUndefined();
  });
});
