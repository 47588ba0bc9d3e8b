// What this runtime allows a relay at all (issue 14): the same backend reached directly, through a relay with no
// logic at all (bench/support/floor-hub.ts and floor-agent.ts: HTTPS in, one TLS WebSocket, fetch out, nothing
// else), and through our hub and agent, in interleaved rounds, with the CPU each process spends per request (c=64
// 1 KiB GETs) and per MiB (64 MiB bodies read by bench/support/bulk-client.ts). If the floor relay itself misses a
// ratio target, no hub and agent built on the same runtime and the same architecture (HTTPS client → hub →
// WebSocket → agent → backend) can meet it on this machine; the gap between floor and ours is what our own logic
// costs.
//
//   bun bench/relay-floor.ts [--rounds N] [--secs S] [--tls-backend] [--json FILE] [--no-bulk] [--threads] [--node-floor]
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchAgentEnv, writeBenchKubeconfig } from './support/agent-env.ts';
import { connectedClusterId, lineOf, load } from './support/load.ts';
import { TICK_US, cpuTicks, threadTicks } from './support/proc-stats.ts';

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
const threads = argv.includes('--threads');
const nodeFloor = argv.includes('--node-floor');
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

  // --node-floor: the same floor with its client side on node:https (as our kube gateway), beside the Bun.serve one
  let nready: { url: string; ws: string } | undefined;
  let nfloor: { hub: number; agent: number } | undefined;
  if (nodeFloor) {
    const nhub = Bun.spawn([BUN, join(ROOT, 'bench/support/floor-hub-node.ts')], { stdout: 'pipe', stderr: 'inherit' });
    procs.push(nhub);
    nready = JSON.parse(await lineOf(nhub, /"floor_hub_ready"/)) as { url: string; ws: string };
    const nagent = Bun.spawn([BUN, join(ROOT, 'bench/support/floor-agent.ts'), nready.ws, backendUrl, fixtureCa], {
      stdout: 'pipe',
      stderr: 'inherit',
      env: { ...process.env, ...(tlsBackend ? { NODE_EXTRA_CA_CERTS: fixtureCa } : {}) },
    });
    procs.push(nagent);
    await lineOf(nagent, /"floor_agent_ready"/);
    nfloor = { hub: nhub.pid, agent: nagent.pid };
  }

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
  type Side = 'direct' | 'floor' | 'nodefloor' | 'ours';
  type SideInfo = { url: string; ca?: string; caFile?: string; pids: Record<string, number>; auth?: boolean };
  const sides: Record<Side, SideInfo> = {
    direct: { url: backendUrl, ...(tlsBackend ? { ca: fixCa, caFile: fixtureCa } : {}), pids: { backend: backend.pid } },
    floor: { url: fready.url, ca: fixCa, caFile: fixtureCa, pids: { hub: fhub.pid, agent: fagent.pid, backend: backend.pid } },
    ours: { url: via, ca: hubCa, caFile: hubCaFile, pids: { hub: hub.pid, agent: agent.pid, backend: backend.pid }, auth: true },
    // present only with --node-floor (never in `names` otherwise)
    nodefloor: nready && nfloor ? { url: nready.url, ca: fixCa, caFile: fixtureCa, pids: { ...nfloor, backend: backend.pid } } : { url: '', pids: {} },
  };
  const names: Side[] = nodeFloor ? ['direct', 'floor', 'nodefloor', 'ours'] : ['direct', 'floor', 'ours'];
  const get = (s: Side, path: string) => () => fetch(`${sides[s].url}${path}`, { ...(sides[s].auth ? { headers: hdr } : {}), ...(sides[s].ca ? { tls: { ca: sides[s].ca } } : {}) } as RequestInit);
  for (const s of names) await load(get(s, '/bench/small'), 8, { count: 2000 });

  const res: Record<string, number[]> = {};
  const put = (k: string, v: number) => (res[k] ??= []).push(v);
  // each round its own order: rotated, and every other round reversed
  const order: Side[][] = names.map((_, r) => {
    const o = [...names.slice(r), ...names.slice(0, r)];
    return r % 2 ? o.reverse() : o;
  });
  for (let r = 0; r < rounds; r++) {
    for (const s of order[r % order.length]!) {
      const pids = sides[s].pids;
      const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTicks(pid)]));
      const beforeThreads = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, threads ? threadTicks(pid) : {}]));
      const c0 = process.cpuUsage();
      const run = await load(get(s, '/bench/small'), 64, { durationMs: secs * 1000, minBytes: 900 });
      const c = process.cpuUsage(c0);
      if (run.errors) throw new Error(`${s}: ${run.errors} errors at c=64`);
      put(`${s}_c64_rps`, run.rps);
      put(`${s}_client_us_per_req`, (c.user + c.system) / run.n);
      for (const [k, pid] of Object.entries(pids)) put(`${s}_${k}_us_per_req`, ((cpuTicks(pid) - before[k]!) * TICK_US) / run.n);
      if (threads)
        for (const [k, pid] of Object.entries(pids)) {
          if (k === 'backend') continue;
          for (const [t, v] of Object.entries(threadTicks(pid))) {
            const b = beforeThreads[k]![t] ?? { user: 0, sys: 0 };
            put(`${s}_${k}_${t}_user_us_per_req`, ((v.user - b.user) * TICK_US) / run.n);
            put(`${s}_${k}_${t}_sys_us_per_req`, ((v.sys - b.sys) * TICK_US) / run.n);
          }
        }
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
  }
  const out: Record<string, unknown> = {};
  for (const [k, xs] of Object.entries(res)) out[k] = { median: +median(xs).toFixed(2), min: +Math.min(...xs).toFixed(2), max: +Math.max(...xs).toFixed(2) };
  const ratio = (a: string, b: string) => median(res[a]!) / median(res[b]!);
  out.floor_c64_pct_of_direct = +(100 * ratio('floor_c64_rps', 'direct_c64_rps')).toFixed(1);
  out.ours_c64_pct_of_direct = +(100 * ratio('ours_c64_rps', 'direct_c64_rps')).toFixed(1);
  if (nodeFloor) out.nodefloor_c64_pct_of_direct = +(100 * ratio('nodefloor_c64_rps', 'direct_c64_rps')).toFixed(1);
  if (withBulk) {
    out.floor_bulk_pct_of_direct = +(100 * ratio('floor_bulk_mib_s', 'direct_bulk_mib_s')).toFixed(1);
    out.ours_bulk_pct_of_direct = +(100 * ratio('ours_bulk_mib_s', 'direct_bulk_mib_s')).toFixed(1);
    if (nodeFloor) out.nodefloor_bulk_pct_of_direct = +(100 * ratio('nodefloor_bulk_mib_s', 'direct_bulk_mib_s')).toFixed(1);
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
