// Soak (issue 19): hub restarts under mixed load for a given duration; prints RSS and file-descriptor drift of
// the agent and the hub, worker restarts, and whether the agent's gauges return to 0 once the load stops.
//   bun bench/soak.ts [--minutes 60] [--restarts 8] [--sample-seconds 30]
// The sandbox API server runs in this process; hub and agent are separate processes (`bun run src/cli.ts`).
// The hub is stopped (SIGTERM) and started again on the same ports and state file `--restarts` times, evenly
// spread; the agent reconnects on its own. Load, all through the hub's Kubernetes API gateway: lists and gets,
// a held watch and a held `logs -f` (re-opened whenever they end), appended log lines, object updates that
// the watch sees, and one `kubectl exec` every few seconds when kubectl is installed.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox } from '../src/sandbox/index.ts';
import { connectedClusterId, fmt, lineOf } from './support/load.ts';
import { rssMiB } from './support/proc-stats.ts';

const ROOT = join(import.meta.dir, '..');
const BUN = process.execPath;
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const minutes = arg('minutes', 10);
const restarts = arg('restarts', 8);
const sampleMs = arg('sample-seconds', 30) * 1000;
const AGENT_TOKEN = 'soak-agent-token-0123456789';
const ADMIN_TOKEN = 'soak-admin-token-0123456789';
const USER_TOKEN = 'soak-user-token-0123456789';
const SA_TOKEN = 'soak-sa-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'pipeops-soak-'));
const FIX = join(ROOT, 'test/fixtures/tls');
const TLS = { cert: readFileSync(join(FIX, 'server.crt'), 'utf8'), key: readFileSync(join(FIX, 'server.key'), 'utf8'), ca: readFileSync(join(FIX, 'ca.crt'), 'utf8') };

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

type Proc = ReturnType<typeof Bun.spawn>;
let hub: Proc | null = null;
let agent: Proc | null = null;
let stopping = false;

async function startHub(port: number, kubePort: number): Promise<{ url: string; kube_url: string; port: number; kubePort: number }> {
  hub = Bun.spawn(
    [BUN, join(ROOT, 'src/cli.ts'), 'hub', '--port', String(port), '--kube-port', String(kubePort), '--agent-token', AGENT_TOKEN, '--admin-token', ADMIN_TOKEN, '--user-token', USER_TOKEN, '--gateway-port', '0', '--state', join(dir, 'hub.db'), '--log-level', 'warn'],
    { stdout: 'pipe', stderr: 'inherit' },
  );
  const ready = JSON.parse(await lineOf(hub, /"hub_ready"/));
  return { url: ready.url, kube_url: ready.kube_url, port: ready.port, kubePort: Number(new URL(ready.kube_url).port) };
}

async function stopHub(): Promise<void> {
  const h = hub!;
  h.kill('SIGTERM');
  await h.exited;
}

async function agentMetrics(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  for (const l of text.split('\n')) if (l && !l.startsWith('#')) out.set(l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1)));
  return out;
}
const sum = (m: Map<string, number>, prefix: string) => [...m].filter(([k]) => k === prefix || k.startsWith(`${prefix}{`)).reduce((a, [, v]) => a + v, 0);

function agentPort(pid: number): number {
  const out = Bun.spawnSync(['ss', '-ltnpH']).stdout.toString();
  const line = out.split('\n').find((l) => l.includes(`pid=${pid},`) && /0\.0\.0\.0:\d+/.test(l));
  return Number(/0\.0\.0\.0:(\d+)/.exec(line ?? '')?.[1] ?? 0);
}

async function main() {
  const sandbox = await startSandbox({ tls: TLS, tokens: { [SA_TOKEN]: { verbs: '*', resources: '*', namespaces: '*' } }, seed: 'demo' });
  const kubeconfig = join(dir, 'kubeconfig');
  await sandbox.writeKubeconfig(kubeconfig, { token: SA_TOKEN });
  let h = await startHub(0, 0);
  const ca = readFileSync(join(dir, 'hub.db.tls', 'ca.crt'), 'utf8');
  agent = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'agent'], {
    stdout: 'ignore',
    stderr: 'inherit',
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      PIPEOPS_API_URL: h.url,
      PIPEOPS_TOKEN: AGENT_TOKEN,
      PIPEOPS_CLUSTER_NAME: 'soak',
      PIPEOPS_PORT: '0',
      PIPEOPS_STATE_FILE: join(dir, 'agent-state.yaml'),
      PIPEOPS_LOG_LEVEL: 'warn',
      KUBERNETES_IN_CLUSTER: 'false',
      KUBERNETES_KUBECONFIG: kubeconfig,
    },
  });
  const clusterId = await connectedClusterId(h.url, ADMIN_TOKEN);
  let aport = 0;
  for (let i = 0; i < 100 && !aport; i++) {
    aport = agentPort(agent.pid);
    if (!aport) await Bun.sleep(100);
  }
  const via = () => `${h.kube_url}/clusters/${clusterId}/k8s`;
  const hdr = { authorization: `Bearer ${USER_TOKEN}` };
  const get = (path: string, signal?: AbortSignal) => fetch(`${via()}${path}`, { headers: hdr, tls: { ca }, signal } as RequestInit);
  const userKubeconfig = join(dir, 'user.kubeconfig');
  const kc = Bun.spawnSync([BUN, join(ROOT, 'src/cli.ts'), 'hub', 'kubeconfig', '--cluster', clusterId, '--state', join(dir, 'hub.db'), '--server', h.kube_url], { env: { ...process.env, PIPEOPS_HUB_USER_TOKEN: USER_TOKEN } });
  if (kc.exitCode === 0) writeFileSync(userKubeconfig, kc.stdout);
  const kubectl = Bun.which('kubectl') && kc.exitCode === 0 ? 'kubectl' : null;
  const pods = ((await (await get('/api/v1/namespaces/demo/pods')).json()) as { items: { metadata: { name: string } }[] }).items.map((p) => p.metadata.name);
  const pod = pods[0]!;
  const container = (sandbox.get('pods', 'demo', pod)?.spec as { containers: { name: string }[] }).containers[0]!.name;

  const counts = { ok: 0, failed: 0, watchEvents: 0, watchEnds: 0, logLines: 0, logEnds: 0, execOk: 0, execFailed: 0, hubRestarts: 0 };
  const loops: Promise<void>[] = [];
  const loadAbort = new AbortController();
  // Request loop: lists and gets, sequential per worker.
  const paths = ['/api/v1/namespaces/demo/pods', '/api/v1/namespaces', '/apis/apps/v1/deployments', `/api/v1/namespaces/demo/pods/${pod}`, '/api/v1/nodes', '/version'];
  for (let w = 0; w < 3; w++)
    loops.push(
      (async () => {
        for (let i = w; !stopping; i++) {
          try {
            const r = await get(paths[i % paths.length]!, loadAbort.signal);
            await r.arrayBuffer();
            if (r.ok) counts.ok++;
            else counts.failed++;
          } catch {
            counts.failed++;
          }
          await Bun.sleep(80);
        }
      })(),
    );
  // A held stream, re-opened whenever it ends (hub restarts end it).
  const held = (path: string, onData: () => void, onEnd: () => void) =>
    loops.push(
      (async () => {
        while (!stopping) {
          try {
            const r = await get(path, loadAbort.signal);
            for await (const _ of r.body as ReadableStream<Uint8Array>) onData();
          } catch {}
          onEnd();
          if (!stopping) await Bun.sleep(200);
        }
      })(),
    );
  held('/api/v1/namespaces/demo/configmaps?watch=1', () => counts.watchEvents++, () => counts.watchEnds++);
  held(`/api/v1/namespaces/demo/pods/${pod}/log?follow=true`, () => counts.logLines++, () => counts.logEnds++);
  // Producers for the held streams.
  loops.push(
    (async () => {
      for (let i = 0; !stopping; i++) {
        sandbox.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `soak-${i % 20}`, namespace: 'demo' }, data: { i: String(i) } });
        sandbox.appendLog('demo', pod, container, `soak line ${i}`);
        await Bun.sleep(100);
      }
    })(),
  );
  if (kubectl)
    loops.push(
      (async () => {
        while (!stopping) {
          const p = Bun.spawn([kubectl, '--kubeconfig', userKubeconfig, 'exec', '-n', 'demo', pod, '--', 'echo', 'soak'], { stdout: 'pipe', stderr: 'pipe' });
          const out = await new Response(p.stdout).text();
          if ((await p.exited) === 0 && out.includes('soak')) counts.execOk++;
          else counts.execFailed++;
          await Bun.sleep(3000);
        }
      })(),
    );

  const t0 = Date.now();
  const end = t0 + minutes * 60_000;
  const restartEvery = restarts > 0 ? (minutes * 60_000) / (restarts + 1) : Number.POSITIVE_INFINITY;
  let nextRestart = t0 + restartEvery;
  type Sample = { t: number; agentRss: number; agentFds: number; hubRss: number; hubFds: number; hubLife: number };
  const samples: Sample[] = [];
  let hubLife = 0;
  const sample = () => {
    const s = { t: (Date.now() - t0) / 1000, agentRss: rssMiB(agent!.pid), agentFds: fds(agent!.pid), hubRss: rssMiB(hub!.pid), hubFds: fds(hub!.pid), hubLife };
    samples.push(s);
    console.log(`t=${fmt(s.t / 60, 1)} min  agent ${fmt(s.agentRss, 1)} MiB ${s.agentFds} fds  hub#${hubLife} ${fmt(s.hubRss, 1)} MiB ${s.hubFds} fds  ok=${counts.ok} failed=${counts.failed} exec=${counts.execOk}/${counts.execOk + counts.execFailed} watchEnds=${counts.watchEnds} logEnds=${counts.logEnds}`);
  };
  let nextSample = t0 + Math.min(sampleMs, 30_000);
  while (Date.now() < end) {
    await Bun.sleep(500);
    if (Date.now() >= nextSample) {
      sample();
      nextSample += sampleMs;
    }
    if (Date.now() >= nextRestart && Date.now() < end - 30_000) {
      nextRestart += restartEvery;
      await stopHub();
      h = await startHub(h.port, h.kubePort);
      hubLife++;
      counts.hubRestarts++;
      console.log(`hub restarted (${counts.hubRestarts})`);
    }
  }
  sample();
  stopping = true;
  loadAbort.abort();
  await Promise.allSettled(loops);
  // Gauges back to 0 once nothing is in flight (worker metrics are batched: poll briefly).
  let m = await agentMetrics(aport);
  for (let i = 0; i < 50 && (sum(m, 'pipeops_tunnel_forwards_active') !== 0 || sum(m, 'pipeops_ws_sessions_active') !== 0); i++) {
    await Bun.sleep(200);
    m = await agentMetrics(aport);
  }
  const first = samples.find((s) => s.t >= 60) ?? samples[0]!;
  const last = samples[samples.length - 1]!;
  // Hub drift per lifetime (a restart resets it): first vs last sample of the longest-lived hub process.
  const lives = new Map<number, Sample[]>();
  for (const s of samples) lives.set(s.hubLife, [...(lives.get(s.hubLife) ?? []), s]);
  const longest = [...lives.values()].sort((a, b) => b.length - a.length)[0]!;
  const hubFirst = longest[0]!;
  const hubLast = longest[longest.length - 1]!;
  const peak = Math.max(...samples.map((s) => s.agentRss));
  console.log(
    [
      '',
      `| soak: ${minutes} min, ${counts.hubRestarts} hub restarts | value |`,
      '|---|---|',
      `| agent RSS (MiB), first sample ≥ 1 min → last | ${fmt(first.agentRss, 1)} → ${fmt(last.agentRss, 1)} (${fmt((100 * (last.agentRss - first.agentRss)) / first.agentRss, 1)} %), peak ${fmt(peak, 1)} |`,
      `| agent fds, first → last | ${first.agentFds} → ${last.agentFds} |`,
      `| hub RSS (MiB), longest lifetime (${longest.length} samples, ${fmt((hubLast.t - hubFirst.t) / 60, 1)} min) | ${fmt(hubFirst.hubRss, 1)} → ${fmt(hubLast.hubRss, 1)} |`,
      `| hub fds, same lifetime | ${hubFirst.hubFds} → ${hubLast.hubFds} |`,
      `| requests ok / failed | ${counts.ok} / ${counts.failed} |`,
      `| kubectl exec ok / failed | ${counts.execOk} / ${counts.execFailed} |`,
      `| watch events / re-opens; log chunks / re-opens | ${counts.watchEvents} / ${counts.watchEnds}; ${counts.logLines} / ${counts.logEnds} |`,
      `| agent worker restarts | ${sum(m, 'pipeops_worker_restarts_total')} |`,
      `| agent reconnects | ${sum(m, 'pipeops_tunnel_reconnects_total')} |`,
      `| gauges after load: forwards_active / ws_sessions_active | ${sum(m, 'pipeops_tunnel_forwards_active')} / ${sum(m, 'pipeops_ws_sessions_active')} |`,
    ].join('\n'),
  );
  await sandbox.close();
}

try {
  await main();
} finally {
  stopping = true;
  const left = ([hub, agent] as (Proc | null)[]).filter((p): p is Proc => p !== null);
  for (const p of left) p.kill('SIGTERM');
  await Promise.allSettled(left.map((p) => p.exited));
}
process.exit(0);
