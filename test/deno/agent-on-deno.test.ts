// The Deno tier (issue 16): the agent CLI under Deno (`deno run` with deno.json mapping #runtime to the Deno
// adapter) registers with a Bun hub, sends heartbeats, and relays real kubectl through the hub to the sandbox:
// get, get -w, logs -f, exec and port-forward. Skips with a message when no deno binary is installed, unless
// PIPEOPS_DENO_TIER=required (.ci/run sets it), where a missing deno fails.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigFor } from '../../src/hub/kube-gateway/kubeconfig.ts';
import type { Hub } from '../../src/hub/server.ts';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.ts';
import { pipeToTcp } from '../../src/sandbox/streams/index.ts';
import { kubectl, kubectlBinaries, kubectlEnv, type KubectlEnv, LiveKubectl } from '../sandbox/kubectl-process.ts';
import { portForwardEchoes, startEchoServer } from '../sandbox/streams/kubectl-run.ts';
import { testPod } from '../sandbox/streams/sandbox-fixture.ts';
import { ADMIN_TOKEN, AGENT_TOKEN, tempDir, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { SA_TOKEN, TLS } from '../support/stack.ts';
import { lineWatcher, waitFor } from '../support/wait.ts';

const ROOT = join(import.meta.dir, '../..');
const DENO = join(ROOT, 'node_modules/.bin/deno');
const present = existsSync(DENO);
const required = process.env.PIPEOPS_DENO_TIER === 'required';
if (!present) console.log(`skipped: no deno at ${DENO} (npm ci installs it as a devDependency)`);
const kubectlBin = kubectlBinaries()
  .filter((b) => b.path && Number(b.version.split('.')[1]) >= 30)
  .at(-1)?.path;
if (!kubectlBin) console.log('kubectl 1.30+ not found on this machine: the kubectl cases of the Deno tier are skipped');

interface DenoAgent {
  url: string;
  lines: string[];
  exited: Promise<number>;
  stop(): Promise<number>;
}

/** `npm run agent:deno` as a subprocess: same CLI, same flags and env, Deno instead of Bun. */
async function startDenoAgent(hubUrl: string, kubeconfig: string, dir: string): Promise<DenoAgent> {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const cmd = pkg.scripts['agent:deno']!.replace(/^deno /, '').split(' ');
  const p = Bun.spawn([DENO, ...cmd], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      DENO_DIR: join(dir, 'deno-cache'),
      PIPEOPS_API_URL: hubUrl,
      PIPEOPS_TOKEN: AGENT_TOKEN,
      PIPEOPS_CLUSTER_NAME: 'deno-cluster',
      PIPEOPS_PORT: '0',
      AGENT_HOST: '127.0.0.1',
      PIPEOPS_STATE_FILE: join(dir, 'state.yaml'),
      PIPEOPS_HEARTBEAT_INTERVAL: '300ms',
      PIPEOPS_LOG_LEVEL: 'info',
      KUBECONFIG: kubeconfig,
      KUBERNETES_IN_CLUSTER: 'false',
      PIPEOPS_K8S_SERVICE_TOKEN: SA_TOKEN,
      ENABLE_INGRESS_SYNC: 'true',
    },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const out = lineWatcher(p.stdout as ReadableStream<Uint8Array>);
  const err = lineWatcher(p.stderr as ReadableStream<Uint8Array>);
  const listening = await Promise.race([
    out.next(/local API listening/),
    p.exited.then((c) => {
      throw new Error(`deno agent exited with ${c} before listening:\n${[...out.lines, ...err.lines].slice(-30).join('\n')}`);
    }),
  ]);
  return {
    url: (JSON.parse(listening) as { url: string }).url,
    get lines() {
      return [...out.lines, ...err.lines];
    },
    exited: p.exited,
    async stop() {
      if (p.exitCode === null) p.kill('SIGTERM');
      return p.exited;
    },
  };
}

let s: { sandbox: Sandbox; hub: Hub; agent: DenoAgent; clusterId: string; env: KubectlEnv; echoClose(): Promise<void> } | null = null;

beforeAll(async () => {
  if (!present) return;
  const sandbox = await startSandbox({ tls: TLS, tokens: { [SA_TOKEN]: {} }, seed: 'demo' });
  const echo = await startEchoServer();
  const toEcho = pipeToTcp('127.0.0.1', echo.port);
  sandbox.hooks.portForward = (c) => (c.port === 80 ? toEcho(c) : c.error(`dial tcp4 127.0.0.1:${c.port}: connect: connection refused`));
  sandbox.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'deno' } });
  sandbox.apply({ ...testPod('app-0'), metadata: { name: 'app-0', namespace: 'deno', labels: { app: 'web' } } });
  sandbox.appendLog('deno', 'app-0', 'web', 'backlog line one');
  const hub = await testHub();
  const dir = tempDir('pipeops-deno-');
  const kubeconfig = join(dir, 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig, { token: SA_TOKEN });
  const agent = await startDenoAgent(hub.url, kubeconfig, dir);
  await waitFor(async () => (await fetch(`${agent.url}/ready`)).status === 200, { what: 'Deno agent ready', timeoutMs: 30_000 });
  const clusterId = (await waitFor(async () => (await clusters(hub)).find((c) => c.name === 'deno-cluster'), { what: 'the cluster registered' })).cluster_id;
  s = { sandbox, hub, agent, clusterId, env: await kubectlEnv(await kubeconfigFor(hub, clusterId, USER_TOKEN, { namespace: 'deno' })), echoClose: echo.close };
}, 90_000);

afterAll(async () => {
  if (!s) return;
  await s.agent.stop();
  await s.hub.stop();
  await s.echoClose();
  await s.sandbox.close();
});

const t = present ? test : required ? test : test.skip;
const tk = present && kubectlBin ? test : test.skip;

interface ClusterView {
  cluster_id: string;
  name: string;
  connected: boolean;
  last_heartbeat?: string | null;
}

async function clusters(hub: Hub): Promise<ClusterView[]> {
  const r = await fetch(`${hub.url}/api/v1/clusters`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return ((await r.json()) as { clusters: ClusterView[] }).clusters;
}

describe('the agent under Deno', () => {
  t('deno is installed (a devDependency) and the agent reports the Deno runtime', async () => {
    expect(present).toBe(true);
    const v = Bun.spawn([DENO, 'run', '-A', 'src/cli.ts', '--version'], { cwd: ROOT, stdout: 'pipe' });
    expect(await new Response(v.stdout).text()).toMatch(/^pipeops-agent \S+ \(commit [^)]+, deno 2\.\d+\.\d+\)\n$/);
    const hub = Bun.spawn([DENO, 'run', '-A', 'src/cli.ts', 'hub'], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' });
    expect(await hub.exited).toBe(2);
    expect(await new Response(hub.stderr).text()).toContain('"hub" runs on Bun only');
  });

  t('registers with the hub and sends heartbeats', async () => {
    expect(s!.clusterId).not.toBe('');
    const first = await waitFor(async () => (await clusters(s!.hub)).find((c) => c.cluster_id === s!.clusterId && c.last_heartbeat), { what: 'a heartbeat', timeoutMs: 15_000 });
    await waitFor(async () => (await clusters(s!.hub)).find((c) => c.cluster_id === s!.clusterId && c.last_heartbeat && c.last_heartbeat > first.last_heartbeat!), {
      what: 'a second heartbeat',
      timeoutMs: 15_000,
    });
    const m = await (await fetch(`${s!.agent.url}/metrics`)).text();
    expect(m).toMatch(/pipeops_worker_up\{worker="tunnel"\} 1/);
    expect(m).not.toMatch(/worker="heartbeat"/); // the heartbeat runs on the tunnel worker's thread
    expect(m).toMatch(/pipeops_worker_up\{worker="ingress"\} 1/);
    expect(m).toMatch(/pipeops_agent_info\{[^}]*bun_version="none"/);
    // V8 does not count heap objects (JavaScriptCore does): the Deno adapter's heap figures are what is served.
    const rt = (await (await fetch(`${s!.agent.url}/api/metrics/runtime`)).json()) as { runtime: { bun_version: string }; jsc_heap: { object_count: number | null; heap_size_bytes: number } };
    expect(rt.runtime.bun_version).toMatch(/^none \(deno 2\./);
    expect(rt.jsc_heap.object_count).toBeNull();
    expect(rt.jsc_heap.heap_size_bytes).toBeGreaterThan(0);
  });

  t("ingress sync: the seed's managed Ingress and one added later reach the hub's route registry", async () => {
    const hosts = async () => (await s!.hub.routes.list()).map((r) => r.hostname);
    await waitFor(async () => (await hosts()).includes('hello.demo.local'), { what: 'hello.demo.local registered', timeoutMs: 20_000 });
    s!.sandbox.apply({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'late', namespace: 'demo', labels: { 'pipeops.io/managed': 'true' } },
      spec: { ingressClassName: 'traefik', rules: [{ host: 'late.deno.local', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'hello', port: { number: 80 } } } }] } }] },
      status: { loadBalancer: { ingress: [{ ip: '10.96.100.10' }] } },
    });
    await waitFor(async () => (await hosts()).includes('late.deno.local'), { what: 'late.deno.local registered', timeoutMs: 20_000 }).catch((e) => {
      console.log(s!.agent.lines.slice(-30).join('\n'));
      throw e;
    });
  });

  tk('kubectl get through the hub', async () => {
    const r = await kubectl(kubectlBin!, s!.env, ['get', 'pods']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/app-0\s+1\/1\s+Running/);
    const d = await kubectl(kubectlBin!, s!.env, ['get', 'deploy', 'hello', '-n', 'demo', '-o', 'json']);
    expect(JSON.parse(d.stdout).metadata.name).toBe('hello');
  });

  tk('kubectl get -w receives an event caused after it started', async () => {
    const w = new LiveKubectl(kubectlBin!, s!.env, ['get', 'pods', '-w']);
    try {
      await w.waitFor('app-0', 20_000);
      s!.sandbox.apply({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'late-pod', namespace: 'deno' }, spec: { containers: [{ name: 'c', image: 'x' }] } });
      await w.waitFor(/late-pod\s+0\/1\s+Pending/, 15_000);
    } finally {
      w.kill();
    }
  });

  tk('kubectl logs -f receives a line appended after it started', async () => {
    const f = new LiveKubectl(kubectlBin!, s!.env, ['logs', '-f', 'app-0']);
    try {
      await f.waitFor('backlog line one', 20_000);
      s!.sandbox.appendLog('deno', 'app-0', 'web', 'a line while following');
      await f.waitFor('a line while following', 15_000);
    } finally {
      f.kill();
    }
  });

  tk('kubectl exec: output, stdin and the exit code', async () => {
    const r = await kubectl(kubectlBin!, s!.env, ['exec', 'app-0', '--', 'echo', 'hello', 'deno']);
    expect(r.stdout).toBe('hello deno\n');
    expect(r.code).toBe(0);
    const e = await kubectl(kubectlBin!, s!.env, ['exec', 'app-0', '--', 'sh', '-c', 'exit 7']);
    expect(e.code).toBe(7);
  });

  tk('kubectl port-forward: 1 MiB and 64 KiB echoed intact over parallel connections', async () => {
    expect(await portForwardEchoes(kubectlBin!, ['app-0', ':80'], s!.env.env, [1024 * 1024, 64 * 1024, 64 * 1024, 64 * 1024])).toBeNull();
  });

  t('SIGTERM: the agent under Deno shuts down cleanly (exit 0) and the hub sees it disconnect', async () => {
    const code = await s!.agent.stop();
    if (code !== 0) console.log(s!.agent.lines.slice(-20).join('\n'));
    expect(code).toBe(0);
    await waitFor(async () => (await clusters(s!.hub)).find((c) => c.cluster_id === s!.clusterId && c.connected === false), { what: 'the hub to see the agent gone' });
  });
});
