// Real kubectl 1.27–1.33 against the sandbox over HTTPS with a token: exec (output, 1 MiB stdin, exit code,
// -it under a pty with a resize), attach, port-forward (4 MiB + parallel connections through pipeToTcp), and
// the SPDY fallback of a 1.32 kubectl when WebSockets are refused. All versions run concurrently in
// beforeAll; each cell is then its own test, and the matrix is printed as a table.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Sandbox } from '../../../src/sandbox/index.ts';
import { type PortForwardHandler, pipeToTcp } from '../../../src/sandbox/streams/index.ts';
import {
  kubectlPath,
  ptyExecResize,
  randomPayload,
  roundTrip,
  runKubectl,
  sha256,
  startEchoServer,
  startPortForward,
  VERSIONS,
} from './kubectl-run.ts';
import { kubectlEnv, startStreamSandbox, testPod } from './sandbox-fixture.ts';
import { RACE_FOOTNOTE, runWithRaceRetry } from '../../support/kubectl-race.ts';

const CASES = ['exec', 'stdin-1MiB', 'exit-code', 'tty-resize', 'attach', 'port-forward', 'pf-error'] as const;
const FALLBACK_CASES = ['spdy-exec', 'spdy-exit-code', 'spdy-port-forward'] as const;
type Cell = { ok: boolean; detail: string; wire: string; ms: number; raced: boolean };

const results = new Map<string, Cell>();
const cleanups: (() => Promise<void>)[] = [];

/** The wire a kubectl run used, from the sandbox's request log (each case has its own pod). */
function wireOf(sandbox: Sandbox, pod: string, sub: string): string {
  const r = sandbox.requests.filter((q) => q.upgrade && q.url.includes(`/pods/${pod}/${sub}`));
  return r.map((q) => (q.upgrade?.toLowerCase() === 'websocket' ? `ws:${q.protocols ?? ''}` : `spdy:${q.method}`)).join('>');
}

/** Runs one case against its own pod (named after the case) so the request log tells cases apart. */
async function cell(key: string, sandbox: Sandbox, sub: string, fn: (pod: string) => Promise<string | null>): Promise<void> {
  const started = Date.now();
  const pod = (key.split('/')[1] as string).toLowerCase();
  sandbox.apply(testPod(pod));
  const { detail, raced } = await runWithRaceRetry(() => fn(pod));
  results.set(key, { ok: detail === null, detail: detail ?? '', wire: wireOf(sandbox, pod, sub), ms: Date.now() - started, raced });
}

async function runVersion(version: string, bin: string, sandbox: Sandbox, fallback: boolean): Promise<void> {
  const { env, cleanup } = await kubectlEnv(sandbox);
  cleanups.push(cleanup);
  const k = (args: string[], stdin?: Uint8Array) => runKubectl(bin, args, env, stdin);
  const prefix = fallback ? `${version}-fallback` : version;
  const tasks: Promise<void>[] = [];

  const execCase = (name: string) =>
    cell(`${prefix}/${name}`, sandbox, 'exec', async (pod) => {
      const r = await k(['exec', pod, '--', 'echo', 'hello', 'world']);
      if (r.code !== 0 || r.stdout.toString() !== 'hello world\n') return `code ${r.code} out ${JSON.stringify(r.stdout.toString())} err ${r.stderr.slice(-300)}`;
      return null;
    });
  const exitCase = (name: string) =>
    cell(`${prefix}/${name}`, sandbox, 'exec', async (pod) => {
      const r = await k(['exec', pod, '--', 'sh', '-c', 'exit 7']);
      if (r.code !== 7) return `expected exit 7, got ${r.code}: ${r.stderr.slice(-300)}`;
      if (!r.stderr.includes('command terminated with exit code 7')) return `stderr: ${r.stderr.slice(-300)}`;
      return null;
    });
  const portForwardCase = (name: string) =>
    cell(`${prefix}/${name}`, sandbox, 'portforward', async (pod) => {
      const pf = await startPortForward(bin, [pod, ':80'], env);
      try {
        const big = randomPayload(4 * 1024 * 1024);
        const small = Array.from({ length: 5 }, () => randomPayload(256 * 1024));
        const echoed = await Promise.all([big, ...small].map((p) => roundTrip(pf.localPort, p)));
        const bad = echoed.findIndex((e, i) => sha256(e) !== sha256(([big, ...small][i] as Buffer)));
        if (bad >= 0) return `connection ${bad}: ${echoed[bad]?.length} bytes back, sha256 differs`;
        return null;
      } finally {
        await pf.stop();
      }
    });

  if (fallback) {
    tasks.push(execCase('spdy-exec'), exitCase('spdy-exit-code'), portForwardCase('spdy-port-forward'));
    await Promise.all(tasks);
    return;
  }
  tasks.push(execCase('exec'), exitCase('exit-code'), portForwardCase('port-forward'));
  tasks.push(
    cell(`${prefix}/pf-error`, sandbox, 'portforward', async (pod) => {
      // Port 81 is refused by the hook: kubectl must report the kubelet's message and give up (not hang).
      const pf = await startPortForward(bin, [pod, ':81'], env);
      // kubectl closes the local connection once the pod side failed: a clean EOF or a reset, depending on timing.
      const back = await roundTrip(pf.localPort, Buffer.from('x')).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ECONNRESET') return Buffer.alloc(0);
        throw e;
      });
      const r = await pf.exited();
      if (back.length !== 0) return `got ${back.length} bytes from a refused port`;
      if (r.code !== 1) return `kubectl exit ${r.code}, expected 1: ${r.stderr.slice(-300)}`;
      if (!r.stderr.includes('error forwarding port 81 to pod')) return `stderr: ${r.stderr.slice(-300)}`;
      return null;
    }),
  );
  tasks.push(
    cell(`${prefix}/stdin-1MiB`, sandbox, 'exec', async (pod) => {
      const payload = randomPayload(1024 * 1024);
      const r = await k(['exec', '-i', pod, '--', 'cat'], payload);
      if (r.code !== 0) return `code ${r.code}: ${r.stderr.slice(-300)}`;
      if (sha256(r.stdout) !== sha256(payload)) return `${r.stdout.length} bytes back, sha256 differs`;
      return null;
    }),
  );
  tasks.push(
    cell(`${prefix}/attach`, sandbox, 'attach', async (pod) => {
      const r = await k(['attach', '-i', pod, '-c', 'web'], Buffer.from('attached-line\n'));
      if (r.code !== 0 || !r.stdout.toString().includes('attached-line')) return `code ${r.code} out ${JSON.stringify(r.stdout.toString())} err ${r.stderr.slice(-300)}`;
      return null;
    }),
  );
  tasks.push(
    cell(`${prefix}/tty-resize`, sandbox, 'exec', async (pod) => {
      return ptyExecResize(bin, pod, env);
    }),
  );
  await Promise.all(tasks);
}

const present = VERSIONS.filter((v) => kubectlPath(v));
const missing = VERSIONS.filter((v) => !kubectlPath(v));
for (const v of missing) console.log(`kubectl ${v} not found in the image; its row is skipped`);

beforeAll(async () => {
  const echo = await startEchoServer();
  cleanups.push(echo.close);
  const toEcho = pipeToTcp('127.0.0.1', echo.port);
  const forward: PortForwardHandler = (c) => (c.port === 80 ? toEcho(c) : c.error(`dial tcp4 127.0.0.1:${c.port}: connect: connection refused`));
  const jobs: Promise<void>[] = [];
  for (const v of present) {
    // One sandbox per version keeps request logs (the "wire" column) and hooks separate.
    const sandbox = await startStreamSandbox();
    sandbox.hooks.portForward = forward;
    cleanups.push(() => sandbox.close());
    jobs.push(runVersion(v, kubectlPath(v) as string, sandbox, false));
  }
  const fbBin = kubectlPath('1.32');
  if (fbBin) {
    const sandbox = await startStreamSandbox();
    sandbox.hooks.portForward = forward;
    sandbox.hooks.rejectWebSockets = true;
    cleanups.push(() => sandbox.close());
    jobs.push(runVersion('1.32', fbBin, sandbox, true));
  }
  await Promise.all(jobs);
  printMatrix();
}, 60_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function printMatrix(): void {
  const cols = [...CASES];
  const rows = present.map((v) => [v, ...cols.map((c) => fmt(results.get(`${v}/${c}`)))]);
  const header = ['kubectl', ...cols];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  if (kubectlPath('1.32')) {
    out.push('', 'SPDY fallback (kubectl 1.32, WebSockets refused):');
    for (const c of FALLBACK_CASES) out.push(`  ${c}: ${fmt(results.get(`1.32-fallback/${c}`))}`);
  }
  const raced = [...results.entries()].filter(([, c]) => c.raced).map(([k]) => k);
  if (raced.length) out.push('', `${RACE_FOOTNOTE}: ${raced.join(', ')}`);
  console.log(`\n${out.join('\n')}\n`);
}

function fmt(c: Cell | undefined): string {
  if (!c) return '-';
  const wire = c.wire.replace(/\.channel\.k8s\.io/g, '').replace('SPDY/3.1+portforward.k8s.io', 'spdy-tunnel');
  return `${c.ok ? 'ok' : 'FAIL'}${c.raced ? '*' : ''} ${wire} ${c.ms}ms`;
}

describe('kubectl matrix', () => {
  for (const v of present) {
    for (const c of CASES) {
      test(`kubectl ${v} ${c}`, () => {
        const r = results.get(`${v}/${c}`);
        expect(r?.detail ?? 'not run').toBe('');
      });
    }
  }
  if (kubectlPath('1.32')) {
    for (const c of FALLBACK_CASES) {
      test(`kubectl 1.32 with WebSockets refused: ${c} goes over SPDY`, () => {
        const r = results.get(`1.32-fallback/${c}`);
        expect(r?.detail ?? 'not run').toBe('');
        // The WebSocket attempt was refused, then the same request succeeded as a SPDY POST.
        expect(r?.wire).toContain('spdy:POST');
      });
    }
  }
});
