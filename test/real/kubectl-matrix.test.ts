// The real tier's kubectl matrix: kubectl 1.27–1.33 → hub Kubernetes gateway (user token) → agent tunnel →
// real kube-apiserver (the chart's control-plane ServiceAccount token, RBAC) → stand-in kubelet (the apiserver's
// kubelet client certificate). Per version: get, get -w, logs -f, exec with an exit code, exec -it with a resize
// under a pty, attach, port-forward (256 KiB round trip) and apply. All versions run concurrently; the table shows
// each cell and the wire the apiserver used towards the kubelet.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeconfigFor } from '../../src/hub/kube-gateway/kubeconfig.ts';
import { pipeToTcp } from '../../src/sandbox/streams/index.ts';
import { kubectlPath, portForwardEchoes, ptyExecResize, runKubectl, startEchoServer, VERSIONS } from '../sandbox/streams/kubectl-run.ts';
import { USER_TOKEN } from '../support/hub-agent.ts';
import { RACE_FOOTNOTE, runWithRaceRetry } from '../support/kubectl-race.ts';
import { controlPlaneToken, helmInstall, type InClusterAgent, kubeJson, type RealCluster, realTierMissing, startInClusterAgent, startRealCluster } from './real-support.ts';

const missing = realTierMissing();
if (missing) console.log(`test/real: SKIPPED (${missing})`);
const CASES = ['get', 'get-w', 'logs-f', 'exec-exit', 'exec-it-resize', 'attach', 'port-forward', 'apply'] as const;
type Cell = { ok: boolean; detail: string; wire: string; ms: number; raced: boolean };
// REAL_MATRIX_VERSIONS=1.27,1.33 narrows the matrix for a quick local run; CI runs every installed version.
const only = process.env.REAL_MATRIX_VERSIONS?.split(',');
const present = VERSIONS.filter((v) => kubectlPath(v) && (!only || only.includes(v)));
for (const v of VERSIONS.filter((x) => !kubectlPath(x))) console.log(`kubectl ${v} not found on this machine; its row is skipped`);

let c: RealCluster;
let a: InClusterAgent;
const results = new Map<string, Cell>();
const cleanups: (() => Promise<void>)[] = [];

const podName = (v: string) => `m-${v.replace('.', '-')}`;
const podSpec = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels: { app: 'matrix' } },
  spec: { containers: [{ name: 'web', image: 'nginx:1.27', stdin: true, tty: true, ports: [{ containerPort: 80 }] }] },
});

/** Which upgrade the stand-in kubelet saw for this pod's subresource (the apiserver translates WebSockets to SPDY). */
function wireOf(pod: string, op: string): string {
  const seen = c.kubelet.requests.filter((q) => q.upgrade !== undefined && q.path.startsWith(`/${op}/default/${pod}`));
  return [...new Set(seen.map((q) => (q.upgrade?.toLowerCase() === 'websocket' ? 'WS' : 'SPDY')))].join('>');
}

async function cell(key: string, op: string, pod: string, fn: () => Promise<string | null>): Promise<void> {
  const started = Date.now();
  const { detail, raced } = await runWithRaceRetry(fn);
  results.set(key, { ok: detail === null, detail: detail ?? '', wire: op ? wireOf(pod, op) : '', ms: Date.now() - started, raced });
}

/** A long-running kubectl whose stdout can be awaited. */
function live(bin: string, args: string[], env: Record<string, string>) {
  const p = Bun.spawn([bin, ...args], { env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe', stdin: 'ignore' });
  let out = '';
  const err = new Response(p.stderr).text();
  const waiters = new Set<() => void>();
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of p.stdout) {
      out += dec.decode(chunk, { stream: true });
      for (const w of [...waiters]) w();
    }
    for (const w of [...waiters]) w();
  })();
  return {
    until: (re: RegExp, ms = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!re.test(out)) return;
          clearTimeout(t);
          waiters.delete(check);
          resolve();
        };
        const t = setTimeout(async () => {
          waiters.delete(check);
          p.kill();
          reject(new Error(`no ${re} within ${ms} ms; out ${JSON.stringify(out.slice(-300))} err ${(await err).slice(-300)}`));
        }, ms);
        waiters.add(check);
        check();
      }),
    stop: async () => {
      p.kill();
      await p.exited;
    },
  };
}

async function runVersion(version: string, bin: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'real-matrix-kubectl-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'kubeconfig'), await kubeconfigFor(a.hub, a.clusterId, USER_TOKEN, { namespace: 'default' }), { mode: 0o600 });
  const env = { KUBECONFIG: join(dir, 'kubeconfig'), KUBECACHEDIR: join(dir, 'cache'), HOME: dir };
  const k = (args: string[], stdin?: Uint8Array) => runKubectl(bin, args, env, stdin, 40_000);
  const pod = podName(version);
  const cm = `cm-${version.replace('.', '-')}`;
  await kubeJson(c.kube, 'POST', '/api/v1/namespaces/default/pods', podSpec(pod));
  await c.kubelet.running('default', pod);
  await Promise.all([
    cell(`${version}/get`, '', pod, async () => {
      const r = await k(['get', 'pod', pod, '-o', 'jsonpath={.status.phase} {.spec.nodeName}']);
      return r.code === 0 && r.stdout.toString() === `Running ${c.kubelet.nodeName}` ? null : `code ${r.code} out ${JSON.stringify(r.stdout.toString())} err ${r.stderr.slice(-300)}`;
    }),
    cell(`${version}/get-w`, '', pod, async () => {
      const name = `w-${version.replace('.', '-')}`;
      await kubeJson(c.kube, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' } });
      const w = live(bin, ['get', 'configmap', name, '-w', '--no-headers'], env);
      try {
        await w.until(new RegExp(`^${name}\\s+1\\s`, 'm'), 60_000);
        // kubectl GETs the object, prints it, then watches from resourceVersion=0 (its own choice, also direct to an
        // apiserver): a change made before the watch starts is folded into the watch's first event, which kubectl
        // does not print again. Keep changing the object until a change event arrives.
        const changed = w.until(new RegExp(`^${name}\\s+[2-9]\\s`, 'm'), 60_000);
        let n = 2;
        const ticker = setInterval(() => void kubeJson(c.kube, 'PATCH', `/api/v1/namespaces/default/configmaps/${name}`, { data: Object.fromEntries(Array.from({ length: Math.min(n++, 9) }, (_, i) => [`k${i}`, 'v'])) }, { 'content-type': 'application/merge-patch+json' }).catch(() => {}), 2_000);
        try {
          await changed;
        } finally {
          clearInterval(ticker);
        }
        const watches = c.kube.audit().filter((e) => e.verb === 'watch' && e.requestURI.includes(`metadata.name%3D${name}`)).map((e) => e.requestURI);
        if (!watches.length) return 'no watch request reached the apiserver';
        return null;
      } finally {
        await w.stop();
      }
    }),
    cell(`${version}/logs-f`, 'containerLogs', pod, async () => {
      const f = live(bin, ['logs', '-f', pod], env);
      try {
        await f.until(/stand-in container web/);
        c.kubelet.appendLog('default', pod, 'web', `followed-line-${version}`);
        await f.until(new RegExp(`followed-line-${version.replace('.', '\\.')}`));
        return null;
      } finally {
        await f.stop();
      }
    }),
    cell(`${version}/exec-exit`, 'exec', pod, async () => {
      const r = await k(['exec', pod, '--', 'sh', '-c', 'echo hello; exit 7']);
      if (r.code !== 7 || r.stdout.toString() !== 'hello\n') return `code ${r.code} out ${JSON.stringify(r.stdout.toString())} err ${r.stderr.slice(-300)}`;
      return r.stderr.includes('command terminated with exit code 7') ? null : `stderr: ${r.stderr.slice(-300)}`;
    }),
    cell(`${version}/exec-it-resize`, 'exec', pod, async () => {
      return ptyExecResize(bin, pod, env, 40);
    }),
    cell(`${version}/attach`, 'attach', pod, async () => {
      const r = await k(['attach', '-i', pod, '-c', 'web'], Buffer.from('attached-line\n'));
      return r.code === 0 && r.stdout.toString().includes('attached-line') ? null : `code ${r.code} out ${JSON.stringify(r.stdout.toString())} err ${r.stderr.slice(-300)}`;
    }),
    cell(`${version}/port-forward`, 'portForward', pod, async () => {
      return portForwardEchoes(bin, [pod, ':80'], env, [256 * 1024]);
    }),
    cell(`${version}/apply`, '', pod, async () => {
      const file = join(dir, 'cm.yaml');
      await writeFile(file, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${cm}\ndata:\n  v: "1"\n`);
      const first = await k(['apply', '-f', file]);
      if (first.code !== 0 || !first.stdout.toString().includes(`configmap/${cm} created`)) return `first apply: ${first.code} ${first.stdout} ${first.stderr.slice(-300)}`;
      await writeFile(file, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${cm}\ndata:\n  v: "2"\n`);
      const second = await k(['apply', '-f', file]);
      if (second.code !== 0 || !second.stdout.toString().includes(`configmap/${cm} configured`)) return `second apply: ${second.code} ${second.stdout} ${second.stderr.slice(-300)}`;
      const got = await kubeJson<{ data: { v: string } }>(c.kube, 'GET', `/api/v1/namespaces/default/configmaps/${cm}`);
      return got.data.v === '2' ? null : `data.v is ${got.data.v}`;
    }),
  ]);
}

describe.skipIf(missing !== null)('kubectl matrix through hub → agent → real apiserver → stand-in kubelet', () => {
  beforeAll(async () => {
    c = await startRealCluster();
    await helmInstall(c.kube, { token: 'pipeops-agent-token-placeholder' });
    await controlPlaneToken(c.kube);
    a = await startInClusterAgent(c.kube, c.kube.port);
    await waitForServiceToken();
    const echo = await startEchoServer();
    cleanups.push(echo.close);
    const toEcho = pipeToTcp('127.0.0.1', echo.port);
    c.kubelet.hooks.portForward = (conn) => (conn.port === 80 ? toEcho(conn) : conn.error(`dial tcp4 127.0.0.1:${conn.port}: connect: connection refused`));
    const started = Date.now();
    await Promise.all(present.map((v) => runVersion(v, kubectlPath(v) as string)));
    printMatrix(Date.now() - started);
  }, 240_000);

  afterAll(async () => {
    for (const f of cleanups.reverse()) await f();
    await a?.stop();
    await c?.stop();
  });

  for (const v of present) {
    for (const cs of CASES) {
      test(`kubectl ${v} ${cs}`, () => {
        expect(results.get(`${v}/${cs}`)?.detail ?? 'not run').toBe('');
      });
    }
  }

  test('kubectl version through the hub shows the real server version', async () => {
    const bin = kubectlPath(present.at(-1) ?? '1.33');
    if (!bin) return;
    const dir = await mkdtemp(join(tmpdir(), 'real-matrix-version-'));
    await writeFile(join(dir, 'kubeconfig'), await kubeconfigFor(a.hub, a.clusterId, USER_TOKEN), { mode: 0o600 });
    const r = await runKubectl(bin, ['version', '-o', 'json'], { KUBECONFIG: join(dir, 'kubeconfig'), HOME: dir, KUBECACHEDIR: join(dir, 'cache') });
    await rm(dir, { recursive: true, force: true });
    expect((JSON.parse(r.stdout.toString()) as { serverVersion: { gitVersion: string } }).serverVersion.gitVersion).toBe('v1.37.2');
  });
});

async function waitForServiceToken(): Promise<void> {
  const want = await controlPlaneToken(c.kube);
  const deadline = Date.now() + 20_000;
  while ((await a.hub.store.get(a.clusterId))?.k8s_service_token !== want) {
    if (Date.now() > deadline) throw new Error('the agent did not register the control-plane token');
    await Bun.sleep(50);
  }
}

function printMatrix(totalMs: number): void {
  const header = ['kubectl', ...CASES];
  const rows = present.map((v) => [v, ...CASES.map((cs) => fmt(results.get(`${v}/${cs}`)))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((x, i) => x.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  const raced = [...results.entries()].filter(([, x]) => x.raced).map(([key]) => key);
  if (raced.length) out.push(`${RACE_FOOTNOTE}: ${raced.join(', ')}`);
  out.push('wire: what the stand-in kubelet saw from the apiserver (it translates kubectl\'s WebSockets to SPDY)');
  console.log(`\nkubectl through hub → agent → real kube-apiserver v1.37.2 → stand-in kubelet (all versions concurrently, ${totalMs} ms):\n${out.join('\n')}\n`);
}

function fmt(x: Cell | undefined): string {
  if (!x) return '-';
  return `${x.ok ? 'ok' : 'FAIL'}${x.raced ? '*' : ''}${x.wire ? ` ${x.wire}` : ''} ${x.ms}ms`;
}
