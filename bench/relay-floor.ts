// What this runtime allows a relay at all (issue 14): the same backend reached directly, through a relay with no
// logic at all (bench/support/floor-hub.ts and floor-agent.ts: HTTPS in, one TLS WebSocket, fetch out, nothing
// else), and through our hub and agent, in interleaved rounds, with the CPU each process spends per request (c=64
// 1 KiB GETs) and per MiB (64 MiB bodies read by bench/support/bulk-client.ts). If the floor relay itself misses a
// ratio target, no hub and agent built on the same runtime and the same architecture (HTTPS client → hub →
// WebSocket → agent → backend) can meet it on this machine; the gap between floor and ours is what our own logic
// costs.
//
// --fairness adds, per side, c=4 small requests (1,000) idle and while a bulk client reads 64 MiB bodies in a loop
// as fast as it can (the full-speed rows of bench/tunnel.ts): if even the floor relay's *idle* p50 is above direct's
// p50 during bulk, "no slower than direct during full-speed bulk" is out of reach for any relay of this shape here.
//
//   bun bench/relay-floor.ts [--rounds N] [--secs S] [--tls-backend] [--json FILE] [--no-bulk] [--no-c64] [--fairness]
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchAgentEnv, writeBenchKubeconfig } from './support/agent-env.ts';
import { connectedClusterId, lineOf, load } from './support/load.ts';
import { TICK_US, cpuTicks } from './support/proc-stats.ts';

const ROOT = join(import.meta.dir, '..');
const BUN = process.execPath;
const argv = process.argv.slice(2);
const option = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? dflt : argv[i + 1]!;
};
const rounds = Number(option('rounds', '3'));
const secs = Number(option('secs', '4'));
const tlsBackend = argv.includes('--tls-backend');
const withBulk = !argv.includes('--no-bulk');
const withC64 = !argv.includes('--no-c64');
const withFairness = argv.includes('--fairness');
const jsonOut = argv.includes('--json') ? option('json', '') : '';
const dir = mkdtempSync(join(tmpdir(), 'pipeops-floor-'));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const T = { agent: 'bench-agent-token-0123456789', admin: 'bench-admin-token-0123456789', user: 'bench-user-token-0123456789' };
const fixtureCa = join(ROOT, 'test/fixtures/tls/ca.crt');
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

try {
  const load0 = loadavg();
  const backend = Bun.spawn([BUN, join(ROOT, 'bench/support/backend.ts'), ...(tlsBackend ? ['--tls'] : [])], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(backend);
  const backendUrl = JSON.parse(await lineOf(backend, /"backend_ready"/)).url as string;

  // floor relay
  const fhub = Bun.spawn([BUN, join(ROOT, 'bench/support/floor-hub.ts')], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(fhub);
  const fready = JSON.parse(await lineOf(fhub, /"floor_hub_ready"/)) as { url: string; ws: string };
  const fagent = Bun.spawn([BUN, join(ROOT, 'bench/support/floor-agent.ts'), fready.ws, backendUrl, fixtureCa], {
    stdout: 'pipe',
    stderr: 'inherit',
    env: { ...process.env, ...(tlsBackend ? { NODE_EXTRA_CA_CERTS: fixtureCa } : {}) },
  });
  procs.push(fagent);
  await lineOf(fagent, /"floor_agent_ready"/);

  // our hub and agent, as bench/tunnel.ts starts them
  const hub = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'hub', '--port', '0', '--kube-port', '0', '--state', join(dir, 'hub.db'), '--log-level', 'warn'], {
    stdout: 'pipe',
    stderr: 'inherit',
    env: { ...process.env, PIPEOPS_HUB_AGENT_TOKENS: T.agent, PIPEOPS_HUB_ADMIN_TOKENS: T.admin, PIPEOPS_HUB_USER_TOKENS: T.user },
  });
  procs.push(hub);
  const ready = JSON.parse(await lineOf(hub, /"hub_ready"/));
  const hubCaFile = join(dir, 'hub.db.tls', 'ca.crt');
  const kubeconfig = writeBenchKubeconfig(dir, backendUrl, tlsBackend ? fixtureCa : undefined);
  const agent = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'agent'], { stdout: Bun.file(join(dir, 'agent.log')), stderr: 'inherit', env: benchAgentEnv({ dir, apiUrl: ready.url, token: T.agent, kubeconfig }) });
  procs.push(agent);
  const clusterId = await connectedClusterId(ready.url, T.admin);
  const via = `${ready.kube_url}/clusters/${clusterId}/k8s`;

  const fixCa = readFileSync(fixtureCa, 'utf8');
  const hubCa = readFileSync(hubCaFile, 'utf8');
  const hdr = { authorization: `Bearer ${T.user}` };
  type Side = 'direct' | 'floor' | 'ours';
  const sides: Record<Side, { url: string; ca?: string; caFile?: string; pids: Record<string, number>; auth?: boolean }> = {
    direct: { url: backendUrl, ...(tlsBackend ? { ca: fixCa, caFile: fixtureCa } : {}), pids: { backend: backend.pid } },
    floor: { url: fready.url, ca: fixCa, caFile: fixtureCa, pids: { hub: fhub.pid, agent: fagent.pid, backend: backend.pid } },
    ours: { url: via, ca: hubCa, caFile: hubCaFile, pids: { hub: hub.pid, agent: agent.pid, backend: backend.pid }, auth: true },
  };
  const get = (s: Side, path: string) => () => fetch(`${sides[s].url}${path}`, { ...(sides[s].auth ? { headers: hdr } : {}), ...(sides[s].ca ? { tls: { ca: sides[s].ca } } : {}) } as RequestInit);
  for (const s of ['direct', 'floor', 'ours'] as Side[]) await load(get(s, '/bench/small'), 8, { count: 2000 });

  const res: Record<string, number[]> = {};
  const put = (k: string, v: number) => (res[k] ??= []).push(v);
  const order: Side[][] = [
    ['direct', 'floor', 'ours'],
    ['ours', 'floor', 'direct'],
    ['floor', 'ours', 'direct'],
  ];
  for (let r = 0; r < rounds; r++) {
    for (const s of withC64 ? order[r % order.length]! : []) {
      const pids = sides[s].pids;
      const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTicks(pid)]));
      const c0 = process.cpuUsage();
      const run = await load(get(s, '/bench/small'), 64, { durationMs: secs * 1000, minBytes: 900 });
      const c = process.cpuUsage(c0);
      if (run.errors) throw new Error(`${s}: ${run.errors} errors at c=64`);
      put(`${s}_c64_rps`, run.rps);
      put(`${s}_client_us_per_req`, (c.user + c.system) / run.n);
      for (const [k, pid] of Object.entries(pids)) put(`${s}_${k}_us_per_req`, ((cpuTicks(pid) - before[k]!) * TICK_US) / run.n);
    }
    if (withBulk) {
      for (const s of order[r % order.length]!) {
        const pids = sides[s].pids;
        const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTicks(pid)]));
        const p = Bun.spawn(
          [BUN, join(ROOT, 'bench/support/bulk-client.ts'), '--url', `${sides[s].url}/bench/big`, '--count', '2', ...(sides[s].caFile ? ['--ca', sides[s].caFile!] : [])],
          { stdout: 'pipe', stderr: 'inherit', env: { ...process.env, ...(sides[s].auth ? { BENCH_BULK_AUTH: T.user } : {}) } },
        );
        const out = await new Response(p.stdout).text();
        await p.exited;
        const ts = out
          .split('\n')
          .filter((l) => l.includes('"transfer"'))
          .map((l) => JSON.parse(l) as { bytes: number; ms: number });
        if (ts.length !== 2 || ts.some((t) => t.bytes !== 64 << 20)) throw new Error(`${s}: bulk transfers ${out}`);
        const mib = 128;
        const ms = ts.reduce((a, t) => a + t.ms, 0);
        put(`${s}_bulk_mib_s`, mib / (ms / 1000));
        const u = p.resourceUsage();
        put(`${s}_bulkclient_us_per_mib`, u ? Number(u.cpuTime.user + u.cpuTime.system) / mib : Number.NaN);
        for (const [k, pid] of Object.entries(pids)) put(`${s}_${k}_us_per_mib`, ((cpuTicks(pid) - before[k]!) * TICK_US) / mib);
      }
    }
    if (withFairness) {
      for (const s of order[r % order.length]!) {
        const idle = await load(get(s, '/bench/small'), 4, { count: 1000, minBytes: 900 });
        const p = Bun.spawn(
          [BUN, join(ROOT, 'bench/support/bulk-client.ts'), '--url', `${sides[s].url}/bench/big`, '--count', '0', ...(sides[s].caFile ? ['--ca', sides[s].caFile!] : [])],
          { stdout: 'pipe', stderr: 'inherit', env: { ...process.env, ...(sides[s].auth ? { BENCH_BULK_AUTH: T.user } : {}) } },
        );
        procs.push(p);
        await lineOf(p, /"flowing"/);
        const during = await load(get(s, '/bench/small'), 4, { count: 1000, minBytes: 900 });
        p.kill('SIGTERM');
        await p.exited;
        if (idle.errors || during.errors) throw new Error(`${s}: errors in the fairness phase`);
        put(`${s}_small_p50_idle_ms`, idle.p50);
        put(`${s}_small_p99_idle_ms`, idle.p99);
        put(`${s}_small_p50_during_bulk_ms`, during.p50);
        put(`${s}_small_p99_during_bulk_ms`, during.p99);
      }
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, xs] of Object.entries(res)) out[k] = { median: +median(xs).toFixed(2), min: +Math.min(...xs).toFixed(2), max: +Math.max(...xs).toFixed(2) };
  const ratio = (a: string, b: string) => median(res[a]!) / median(res[b]!);
  if (withC64) {
    out.floor_c64_pct_of_direct = +(100 * ratio('floor_c64_rps', 'direct_c64_rps')).toFixed(1);
    out.ours_c64_pct_of_direct = +(100 * ratio('ours_c64_rps', 'direct_c64_rps')).toFixed(1);
  }
  if (withBulk) {
    out.floor_bulk_pct_of_direct = +(100 * ratio('floor_bulk_mib_s', 'direct_bulk_mib_s')).toFixed(1);
    out.ours_bulk_pct_of_direct = +(100 * ratio('ours_bulk_mib_s', 'direct_bulk_mib_s')).toFixed(1);
  }
  out.rounds = rounds;
  out.secs = secs;
  out.backend = tlsBackend ? 'https' : 'http';
  out.load_avg_start = load0.map((x) => +x.toFixed(2));
  out.load_avg_end = loadavg().map((x) => +x.toFixed(2));
  out.command = `bun bench/relay-floor.ts ${argv.join(' ')}`;
  console.log(JSON.stringify(out, null, 1));
  if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify(out, null, 2)}\n`);
} finally {
  for (const p of procs) p.kill('SIGTERM');
}
process.exit(0);
