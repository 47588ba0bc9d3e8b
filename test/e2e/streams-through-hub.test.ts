// Issue 5 acceptance, through the whole system: kubectl 1.27–1.33 → hub Kubernetes gateway (HTTPS, user token)
// → agent tunnel (raw upgrade) → sandbox API server: exec (echo), 1 MiB stdin through cat, exit code 7, -it under
// a pty with a resize, attach, port-forward with a 4 MiB round trip over 20 parallel connections; then
// @kubernetes/client-node Exec and PortForward through the hub. All versions run concurrently in beforeAll,
// each cell is its own test, and the matrix (with the wire each version used) is printed as a table.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { PassThrough, Readable, Writable } from 'node:stream';
import { Exec, KubeConfig, PortForward, type V1Status } from '@kubernetes/client-node';
import { kubeconfigFor } from '../../src/hub/kube-gateway/kubeconfig.ts';
import { pipeToTcp } from '../../src/sandbox/streams/index.ts';
import { USER_TOKEN } from '../support/hub-agent.ts';
import { agentMetric, hubKubectlEnv, startHubStreamStack } from '../support/hub-streams.ts';
import type { Stack } from '../support/stack.ts';
import { waitFor } from '../support/wait.ts';
import { kubectlPath, portForwardEchoes, ptyExecResize, randomPayload, runKubectl, sha256, startEchoServer, VERSIONS } from '../sandbox/streams/kubectl-run.ts';
import { testPod } from '../sandbox/streams/sandbox-fixture.ts';
import { RACE_FOOTNOTE, runWithRaceRetry } from '../support/kubectl-race.ts';

const CASES = ['exec', 'stdin-1MiB', 'exit-7', 'tty-resize', 'attach', 'pf-4MiB-x20'] as const;
type Cell = { ok: boolean; detail: string; wire: string; ms: number; raced: boolean };

let s: Stack;
const results = new Map<string, Cell>();
const cleanups: (() => Promise<void>)[] = [];
const present = VERSIONS.filter((v) => kubectlPath(v));
for (const v of VERSIONS.filter((x) => !kubectlPath(x))) console.log(`kubectl ${v} not found on this machine; its row is skipped`);

/** The wire kubectl used, from the sandbox's request log: the agent replays the client's upgrade unchanged. */
function wireOf(pod: string, sub: string): string {
  const r = s.sandbox.requests.filter((q) => q.upgrade && q.url.includes(`/pods/${pod}/${sub}`));
  const one = (q: (typeof r)[number]) => (q.upgrade?.toLowerCase() === 'websocket' ? `WS ${(q.protocols ?? '').split(',')[0]?.trim().replace('.channel.k8s.io', '').replace('SPDY/3.1+portforward.k8s.io', 'SPDY-in-WS')}` : 'SPDY');
  return [...new Set(r.map(one))].join('>');
}

async function cell(key: string, sub: string, fn: (pod: string) => Promise<string | null>): Promise<void> {
  const started = Date.now();
  const pod = key.replace(/[./]/g, '-').toLowerCase();
  s.sandbox.apply(testPod(pod));
  const { detail, raced } = await runWithRaceRetry(() => fn(pod));
  results.set(key, { ok: detail === null, detail: detail ?? '', wire: wireOf(pod, sub), ms: Date.now() - started, raced });
}

async function runVersion(version: string, bin: string): Promise<void> {
  const { env, cleanup } = await hubKubectlEnv(s);
  cleanups.push(cleanup);
  const k = (args: string[], stdin?: Uint8Array) => runKubectl(bin, args, env, stdin, 40_000);
  await Promise.all([
    cell(`${version}/exec`, 'exec', async (pod) => {
      const r = await k(['exec', pod, '--', 'echo', 'hello', 'world']);
      if (r.code !== 0 || r.stdout.toString() !== 'hello world\n') return `code ${r.code} out ${JSON.stringify(r.stdout.toString())} err ${r.stderr.slice(-300)}`;
      return null;
    }),
    cell(`${version}/stdin-1MiB`, 'exec', async (pod) => {
      const payload = randomPayload(1024 * 1024);
      const r = await k(['exec', '-i', pod, '--', 'cat'], payload);
      if (r.code !== 0) return `code ${r.code}: ${r.stderr.slice(-300)}`;
      if (sha256(r.stdout) !== sha256(payload)) return `${r.stdout.length} bytes back, sha256 differs`;
      return null;
    }),
    cell(`${version}/exit-7`, 'exec', async (pod) => {
      const r = await k(['exec', pod, '--', 'sh', '-c', 'exit 7']);
      if (r.code !== 7) return `expected exit 7, got ${r.code}: ${r.stderr.slice(-300)}`;
      if (!r.stderr.includes('command terminated with exit code 7')) return `stderr: ${r.stderr.slice(-300)}`;
      return null;
    }),
    cell(`${version}/tty-resize`, 'exec', async (pod) => {
      return ptyExecResize(bin, pod, env, 40);
    }),
    cell(`${version}/attach`, 'attach', async (pod) => {
      const r = await k(['attach', '-i', pod, '-c', 'web'], Buffer.from('attached-line\n'));
      if (r.code !== 0 || !r.stdout.toString().includes('attached-line')) return `code ${r.code} out ${JSON.stringify(r.stdout.toString())} err ${r.stderr.slice(-300)}`;
      return null;
    }),
    cell(`${version}/pf-4MiB-x20`, 'portforward', async (pod) => {
      return portForwardEchoes(bin, [pod, ':80'], env, [4 * 1024 * 1024, ...Array.from({ length: 19 }, () => 64 * 1024)]);
    }),
  ]);
}

beforeAll(async () => {
  s = await startHubStreamStack();
  const echo = await startEchoServer();
  cleanups.push(echo.close);
  const toEcho = pipeToTcp('127.0.0.1', echo.port);
  s.sandbox.hooks.portForward = (c) => (c.port === 80 ? toEcho(c) : c.error(`dial tcp4 127.0.0.1:${c.port}: connect: connection refused`));
  const started = Date.now();
  await Promise.all(present.map((v) => runVersion(v, kubectlPath(v) as string)));
  printMatrix(Date.now() - started);
}, 90_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await s?.stop();
});

function printMatrix(totalMs: number): void {
  const header = ['kubectl', ...CASES];
  const rows = present.map((v) => [v, ...CASES.map((c) => fmt(results.get(`${v}/${c}`)))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  const raced = [...results.entries()].filter(([, c]) => c.raced).map(([k]) => k);
  if (raced.length) out.push(`${RACE_FOOTNOTE}: ${raced.join(', ')}`);
  console.log(`\nkubectl through hub → agent → sandbox (all versions concurrently, ${totalMs} ms):\n${out.join('\n')}\n`);
}

function fmt(c: Cell | undefined): string {
  if (!c) return '-';
  return `${c.ok ? 'ok' : 'FAIL'}${c.raced ? '*' : ''} ${c.wire} ${c.ms}ms`;
}

describe('kubectl matrix through the hub', () => {
  for (const v of present) {
    for (const c of CASES) {
      test(`kubectl ${v} ${c}`, () => {
        expect(results.get(`${v}/${c}`)?.detail ?? 'not run').toBe('');
      });
    }
  }
  test('the versions used the wires kubectl is known for (SPDY before 1.30 exec / 1.31 port-forward, WebSocket after)', () => {
    for (const v of present) {
      const minor = Number(v.split('.')[1]);
      expect(`${v} ${results.get(`${v}/exec`)?.wire}`).toBe(`${v} ${minor >= 30 ? 'WS v5' : 'SPDY'}`);
      expect(`${v} ${results.get(`${v}/pf-4MiB-x20`)?.wire}`).toBe(`${v} ${minor >= 31 ? 'WS SPDY-in-WS' : 'SPDY'}`);
    }
  });
});

function collector(): { stream: Writable; bytes(): Buffer; until(n: number): Promise<void> } {
  const chunks: Buffer[] = [];
  let size = 0;
  const waiters: { n: number; resolve(): void }[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(Buffer.from(chunk));
        size += chunk.length;
        for (const w of waiters.filter((x) => size >= x.n)) w.resolve();
        cb();
      },
    }),
    bytes: () => Buffer.concat(chunks),
    until: (n) => (size >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

describe('@kubernetes/client-node through the hub (HTTPS with the hub CA)', () => {
  let kubeconfigText = '';
  beforeAll(async () => {
    kubeconfigText = await kubeconfigFor(s.hub, s.clusterId, USER_TOKEN);
  });
  const kc = () => {
    const k = new KubeConfig();
    k.loadFromString(kubeconfigText);
    return k;
  };

  test('Exec: v5, 256 KiB stdin through cat with the v5 CLOSE, Success; a non-zero exit arrives as ExitCode', async () => {
    s.sandbox.apply(testPod('client-node-exec'));
    const out = collector();
    const payload = randomPayload(256 * 1024);
    const status = await new Promise<V1Status>((resolve, reject) => {
      new Exec(kc()).exec('default', 'client-node-exec', 'web', ['cat'], out.stream, null, Readable.from([payload]), false, resolve).catch(reject);
    });
    expect(status.status).toBe('Success');
    expect(sha256(out.bytes())).toBe(sha256(payload));
    expect(wireOf('client-node-exec', 'exec')).toBe('WS v5');
    const failed = await new Promise<V1Status>((resolve, reject) => {
      new Exec(kc()).exec('default', 'client-node-exec', 'web', ['sh', '-c', 'exit 5'], collector().stream, null, null, false, resolve).catch(reject);
    });
    expect(failed.status).toBe('Failure');
    expect(failed.details?.causes?.[0]).toEqual({ reason: 'ExitCode', message: '5' });
  }, 30_000);

  test('PortForward: WebSocket v4 with ?ports=, 256 KiB round trip to the echo server', async () => {
    s.sandbox.apply(testPod('client-node-pf'));
    const out = collector();
    const input = new PassThrough();
    const ws = await new PortForward(kc()).portForward('default', 'client-node-pf', [80], out.stream, null, input);
    const payload = randomPayload(256 * 1024);
    input.write(payload);
    await out.until(payload.length);
    // The v4 port-forward stream starts each channel with its 2-byte port number; what follows is the echo.
    expect(sha256(out.bytes().subarray(out.bytes().length - payload.length))).toBe(sha256(payload));
    (ws as { close(): void }).close();
    expect(s.sandbox.requests.find((r) => r.url.includes('/pods/client-node-pf/portforward'))?.url).toContain('ports=80');
  }, 30_000);
});

describe('agent metrics after the matrix', () => {
  test('sessions back at 0, durations observed, bytes both ways per kind', async () => {
    const kinds = ['exec', 'attach', 'port-forward'];
    for (const kind of kinds) {
      await waitFor(async () => (await agentMetric(s, new RegExp(`^pipeops_ws_sessions_active\\{kind="${kind}"\\}`))) === 0, { what: `${kind} sessions back at 0` });
      expect(await agentMetric(s, new RegExp(`^pipeops_ws_session_duration_seconds_count\\{kind="${kind}"\\}`))).toBeGreaterThan(0);
      expect(await agentMetric(s, new RegExp(`^pipeops_ws_bytes_total\\{kind="${kind}",direction="to_backend"\\}`))).toBeGreaterThan(0);
      expect(await agentMetric(s, new RegExp(`^pipeops_ws_bytes_total\\{kind="${kind}",direction="to_control_plane"\\}`))).toBeGreaterThan(0);
    }
    // Every kubectl's 1 MiB went to the backend and came back, and the port-forward's 4 MiB too.
    expect(await agentMetric(s, /^pipeops_ws_bytes_total\{kind="exec",direction="to_control_plane"\}/)).toBeGreaterThan(present.length * 1024 * 1024);
    expect(await agentMetric(s, /^pipeops_ws_bytes_total\{kind="port-forward",direction="to_control_plane"\}/)).toBeGreaterThan(present.length * 4 * 1024 * 1024);
  }, 30_000);
});
