// Idle RSS of compiled agent binaries, alternated in one run (issue 14, target 4): one backend (the stand-in API
// server) and one hub from source; then, per run and per binary in turn (the order alternates each run), an agent
// from the binary registers as its own cluster, and RSS is read at 3 s and 5 s after it is connected with a
// heartbeat, with /proc/<pid>/smaps_rollup's anonymous and file-backed parts. Medians with ranges per binary.
//   bun bench/idle-rss-ab.ts [--runs N] [--env K=V ...] LABEL=[STATE:]BIN [LABEL=[STATE:]BIN ...]
// The file-backed part depends on how the binary's pages came into the page cache (measured: the same binary
// 42.8 MiB file-backed when its pages were read from disk, 45–49 MiB when just written; docs/benchmarks.md,
// Memory), so each run first puts the binary in a known STATE: `evict` (default; its pages dropped from the page
// cache, as after a reboot: the agent reads them from disk), `fresh` (a new copy written just before, as right
// after `npm run build` or an image pull) or `asis` (whatever the cache holds).
// --hold keeps each agent running after its readings until its directory's `hold` file is removed (for /proc inspection).
// --env adds variables to every agent (e.g. ENABLE_INGRESS_SYNC=true for the ingress worker's layout).
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { benchAgentEnv, writeBenchKubeconfig } from './support/agent-env.ts';
import { lineOf } from './support/load.ts';

const ROOT = join(import.meta.dir, '..');
const BUN = process.execPath;
const argv = process.argv.slice(2);
let runs = 5;
let hold = false;
const extraEnv: Record<string, string> = {};
type CacheState = 'evict' | 'fresh' | 'asis';
const bins: { label: string; path: string; state: CacheState }[] = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a === '--runs') runs = Number(argv[++i]);
  else if (a === '--hold') hold = true;
  else if (a === '--env') {
    const [k, ...v] = argv[++i]!.split('=');
    extraEnv[k!] = v.join('=');
  } else {
    const [label, ...p] = a.split('=');
    const m = /^(evict|fresh|asis):(.*)$/.exec(p.join('='));
    bins.push({ label: label!, path: resolve(m ? m[2]! : p.join('=')), state: (m?.[1] as CacheState | undefined) ?? 'evict' });
  }
}
if (!bins.length) throw new Error('usage: bun bench/idle-rss-ab.ts [--runs N] LABEL=BIN ...');

const dir = mkdtempSync(join(tmpdir(), 'pipeops-idle-rss-'));
const AGENT_TOKEN = 'bench-agent-token-0123456789';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const procs: ReturnType<typeof Bun.spawn>[] = [];

type Reading = { rss: number; anon: number; file: number; threads: number };
function read(pid: number): Reading {
  const roll = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(roll)?.[1] ?? Number.NaN);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = kb('Rss');
  const anon = kb('Anonymous');
  const threads = Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]);
  return { rss: rss / 1024, anon: anon / 1024, file: (rss - anon) / 1024, threads };
}

async function clusterReady(hubUrl: string, name: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const r = await fetch(`${hubUrl}/api/v1/clusters`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const c = ((await r.json()) as { clusters: { name: string; connected: boolean; last_heartbeat: string | null }[] }).clusters.find((x) => x.name === name);
    if (c?.connected && c.last_heartbeat) return;
    await Bun.sleep(50);
  }
  throw new Error(`cluster ${name} did not connect`);
}

/** The binary to start, in the requested page-cache state. */
function prepare(b: (typeof bins)[number], run: number): string {
  if (b.state === 'fresh') {
    const copy = join(dir, `${b.label}-${run}`);
    copyFileSync(b.path, copy);
    return copy;
  }
  // GNU dd: with count=0 and iflag=nocache, drops the whole file from the page cache (coreutils manual).
  if (b.state === 'evict' && Bun.spawnSync(['dd', `if=${b.path}`, 'iflag=nocache', 'count=0', 'status=none']).exitCode !== 0) throw new Error(`dd could not evict ${b.path}`);
  return b.path;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

try {
  const backend = Bun.spawn([BUN, join(ROOT, 'bench/support/backend.ts')], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(backend);
  const backendUrl = JSON.parse(await lineOf(backend, /"backend_ready"/)).url as string;
  const hub = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'hub', '--port', '0', '--kube-port', '0', '--state', join(dir, 'hub.db'), '--log-level', 'warn'], {
    stdout: 'pipe',
    stderr: 'inherit',
    env: { ...process.env, PIPEOPS_HUB_AGENT_TOKENS: AGENT_TOKEN, PIPEOPS_HUB_ADMIN_TOKENS: ADMIN_TOKEN },
  });
  procs.push(hub);
  const hubUrl = JSON.parse(await lineOf(hub, /"hub_ready"/)).url as string;
  const kubeconfig = writeBenchKubeconfig(dir, backendUrl);

  const results = new Map<string, { at3: Reading[]; at5: Reading[] }>(bins.map((b) => [b.label, { at3: [], at5: [] }]));
  const loads: number[] = [loadavg()[0]!];
  for (let run = 0; run < runs; run++) {
    const order = run % 2 ? [...bins].reverse() : bins;
    for (const b of order) {
      const name = `idle-${run}-${b.label}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');
      const adir = mkdtempSync(join(dir, 'agent-'));
      const agent = Bun.spawn([prepare(b, run), 'agent'], {
        stdout: 'ignore',
        stderr: 'inherit',
        env: { ...benchAgentEnv({ dir: adir, apiUrl: hubUrl, token: AGENT_TOKEN, kubeconfig }), PIPEOPS_CLUSTER_NAME: name, ...extraEnv },
      });
      procs.push(agent);
      try {
        await clusterReady(hubUrl, name);
        await Bun.sleep(3000); // the idle period being measured
        const r3 = read(agent.pid);
        await Bun.sleep(2000);
        const r5 = read(agent.pid);
        results.get(b.label)!.at3.push(r3);
        results.get(b.label)!.at5.push(r5);
        if (hold) {
          console.log(`holding agent ${b.label} pid ${agent.pid}; remove ${join(adir, 'hold')} to go on`);
          await Bun.write(join(adir, 'hold'), '');
          while (await Bun.file(join(adir, 'hold')).exists()) await Bun.sleep(200);
        }
        console.log(`run ${run} ${b.label}: 3 s ${r3.rss.toFixed(1)} (anon ${r3.anon.toFixed(1)}, file ${r3.file.toFixed(1)}), 5 s ${r5.rss.toFixed(1)} (anon ${r5.anon.toFixed(1)}, file ${r5.file.toFixed(1)}), threads ${r5.threads}`);
      } finally {
        agent.kill('SIGTERM');
        await agent.exited;
      }
    }
    loads.push(loadavg()[0]!);
  }
  const cell = (xs: number[]) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
  console.log(`\n${runs} runs each, alternating; load average (1 min) ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}; MiB, median (min–max)\n`);
  console.log('| binary (page-cache state) | RSS 3 s | RSS 5 s | anon 5 s | file 5 s |');
  console.log('|---|---|---|---|---|');
  for (const b of bins) {
    const r = results.get(b.label)!;
    console.log(`| ${b.label} (${b.state}) | ${cell(r.at3.map((x) => x.rss))} | ${cell(r.at5.map((x) => x.rss))} | ${cell(r.at5.map((x) => x.anon))} | ${cell(r.at5.map((x) => x.file))} |`);
  }
} finally {
  for (const p of procs) p.kill();
}
