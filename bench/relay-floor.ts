// What this runtime allows a relay at all (issue 14): the same backend reached directly, through a relay with no
// logic at all (bench/support/floor-hub.ts and floor-agent.ts: HTTPS in, one TLS WebSocket, fetch out, nothing
// else), and through our hub and agent, in interleaved rounds, with the CPU each process spends per request (c=64
// 1 KiB GETs) and per MiB (64 MiB bodies read by bench/support/bulk-client.ts). If the floor relay itself misses a
// ratio target, no hub and agent built on the same runtime and the same architecture (HTTPS client → hub →
// WebSocket → agent → backend) can meet it on this machine; the gap between floor and ours is what our own logic
// costs.
//
//   bun bench/relay-floor.ts [--rounds N] [--secs S] [--tls-backend] [--json FILE] [--no-bulk] [--no-small] [--no-ours]
//                            [--floors 'VARIANT;VARIANT;…'] [--threads] [--node-floor] [--fairness]
// --floors runs one floor relay per variant (a comma-separated list of the options in floor-agent.ts and
// floor-hub.ts, e.g. 'reader=socket,ws=raw,out=raw'; the empty variant is the plain floor), each a side of its own
// in the same interleaved rounds, named floor[VARIANT] in the result (the plain one just `floor`). Before measuring,
// every side must deliver the 64 MiB body unaltered (sha256). `SIDE_all_us_per_mib` sums the medians of every process
// of a side (bulk client included): with two cores, 2,000,000 / that is the most MiB/s the side could ever move. A
// per-side bulk table goes to stderr.
// --threads splits each relay's CPU per request by thread name (user and kernel apart): its JS thread, the HTTP
// client thread of fetch, JIT and GC helpers. --node-floor adds the plain floor with its client side on node:https
// (bench/support/floor-hub-node.ts, as our kube gateway), small requests only.
// --fairness adds, per side, c=4 small requests (1,000) idle and while a bulk client reads 64 MiB bodies in a loop
// as fast as it can (the full-speed rows of bench/tunnel.ts): if even a floor relay's *idle* p50 is above direct's
// p50 during bulk, "no slower than direct during full-speed bulk" is out of reach for any relay of this shape here.
// With the bulk phase it also runs them while the bulk client reads at 25 % of our tunnel's bulk rate of the round
// (the rate-limited rows of bench/tunnel.ts, the same absolute rate on every side): SIDE_limited_p99_over_idle is
// the head-of-line figure of target 1 (≤ 3), per round, for the floor relays as for ours.
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
const withSmall = !argv.includes('--no-small');
const withOurs = !argv.includes('--no-ours');
const floorVariants = option('floors', '').split(';');
const threads = argv.includes('--threads');
const nodeFloor = argv.includes('--node-floor');
const listenFloor = argv.includes('--listen-floor');
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

  // floor relays, one per variant
  const floors: { name: string; url: string; pids: Record<string, number>; smallOnly?: boolean }[] = [];
  for (const v of floorVariants) {
    const fhub = Bun.spawn([BUN, join(ROOT, 'bench/support/floor-hub.ts'), v], { stdout: 'pipe', stderr: 'inherit' });
    procs.push(fhub);
    const fready = JSON.parse(await lineOf(fhub, /"floor_hub_ready"/)) as { url: string; ws: string };
    const fagent = Bun.spawn([BUN, join(ROOT, 'bench/support/floor-agent.ts'), fready.ws, backendUrl, fixtureCa, v], {
      stdout: 'pipe',
      stderr: 'inherit',
      env: { ...process.env, ...(tlsBackend ? { NODE_EXTRA_CA_CERTS: fixtureCa } : {}) },
    });
    procs.push(fagent);
    await lineOf(fagent, /"floor_agent_ready"/);
    floors.push({ name: v ? `floor[${v}]` : 'floor', url: fready.url, pids: { hub: fhub.pid, agent: fagent.pid, backend: backend.pid } });
  }
  for (const mode of [...(nodeFloor ? ['node'] : []), ...(listenFloor ? ['listen'] : [])]) {
    const nhub = Bun.spawn([BUN, join(ROOT, 'bench/support/floor-hub-node.ts'), mode], { stdout: 'pipe', stderr: 'inherit' });
    procs.push(nhub);
    const nready = JSON.parse(await lineOf(nhub, /"floor_hub_ready"/)) as { url: string; ws: string };
    const nagent = Bun.spawn([BUN, join(ROOT, 'bench/support/floor-agent.ts'), nready.ws, backendUrl, fixtureCa], {
      stdout: 'pipe',
      stderr: 'inherit',
      env: { ...process.env, ...(tlsBackend ? { NODE_EXTRA_CA_CERTS: fixtureCa } : {}) },
    });
    procs.push(nagent);
    await lineOf(nagent, /"floor_agent_ready"/);
    floors.push({ name: `${mode}floor`, url: nready.url, pids: { hub: nhub.pid, agent: nagent.pid, backend: backend.pid }, smallOnly: true });
  }

  // our hub and agent, as bench/tunnel.ts starts them
  let via = '';
  let hubCaFile = '';
  let ourPids: Record<string, number> = {};
  if (withOurs) {
    const hub = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'hub', '--port', '0', '--kube-port', '0', '--state', join(dir, 'hub.db'), '--log-level', 'warn'], {
      stdout: 'pipe',
      stderr: 'inherit',
      env: { ...process.env, PIPEOPS_HUB_AGENT_TOKENS: T.agent, PIPEOPS_HUB_ADMIN_TOKENS: T.admin, PIPEOPS_HUB_USER_TOKENS: T.user },
    });
    procs.push(hub);
    const ready = JSON.parse(await lineOf(hub, /"hub_ready"/));
    hubCaFile = join(dir, 'hub.db.tls', 'ca.crt');
    const kubeconfig = writeBenchKubeconfig(dir, backendUrl, tlsBackend ? fixtureCa : undefined);
    const agent = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'agent'], { stdout: Bun.file(join(dir, 'agent.log')), stderr: 'inherit', env: benchAgentEnv({ dir, apiUrl: ready.url, token: T.agent, kubeconfig }) });
    procs.push(agent);
    const clusterId = await connectedClusterId(ready.url, T.admin);
    via = `${ready.kube_url}/clusters/${clusterId}/k8s`;
    ourPids = { hub: hub.pid, agent: agent.pid, backend: backend.pid };
  }

  const fixCa = readFileSync(fixtureCa, 'utf8');
  const hdr = { authorization: `Bearer ${T.user}` };
  type Side = string;
  const sides: Record<Side, { url: string; ca?: string; caFile?: string; pids: Record<string, number>; auth?: boolean; smallOnly?: boolean }> = {
    direct: { url: backendUrl, ...(tlsBackend ? { ca: fixCa, caFile: fixtureCa } : {}), pids: { backend: backend.pid } },
  };
  for (const f of floors) sides[f.name] = { url: f.url, ca: fixCa, caFile: fixtureCa, pids: f.pids, smallOnly: f.smallOnly };
  if (withOurs) sides.ours = { url: via, ca: readFileSync(hubCaFile, 'utf8'), caFile: hubCaFile, pids: ourPids, auth: true };
  const names = Object.keys(sides);
  /** The sides that relay streamed bodies (the node:https floor answers whole bodies only). */
  const bulkNames = names.filter((s) => !sides[s]!.smallOnly);
  const get = (s: Side, path: string) => () => fetch(`${sides[s]!.url}${path}`, { ...(sides[s]!.auth ? { headers: hdr } : {}), ...(sides[s]!.ca ? { tls: { ca: sides[s]!.ca } } : {}) } as RequestInit);
  if (withSmall) for (const s of names) await load(get(s, '/bench/small'), 8, { count: 2000 });
  // Every relay must deliver the backend's bytes, not just as many: one 64 MiB body through each side, hashed.
  const digest = async (s: Side) => new Bun.CryptoHasher('sha256').update(await (await get(s, '/bench/big')()).arrayBuffer()).digest('hex');
  const want = await digest('direct');
  for (const s of bulkNames.slice(1)) if ((await digest(s)) !== want) throw new Error(`${s}: the 64 MiB body arrived altered`);

  const res: Record<string, number[]> = {};
  const put = (k: string, v: number) => (res[k] ??= []).push(v);
  /** Round r visits the sides rotated by r, and reversed every other round. */
  const orderOf = (r: number, of = names) => {
    const rot = [...of.slice(r % of.length), ...of.slice(0, r % of.length)];
    return r % 2 ? rot.reverse() : rot;
  };
  for (let r = 0; r < rounds; r++) {
    for (const s of withSmall ? orderOf(r) : []) {
      const pids = sides[s]!.pids;
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
    /** This round's bulk MiB/s per side (the rate-limited fairness phase reads at a share of ours). */
    const bulkRate: Record<Side, number> = {};
    if (withBulk) {
      for (const s of orderOf(r, bulkNames)) {
        const pids = sides[s]!.pids;
        const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTicks(pid)]));
        const p = Bun.spawn(
          [BUN, join(ROOT, 'bench/support/bulk-client.ts'), '--url', `${sides[s]!.url}/bench/big`, '--count', '2', ...(sides[s]!.caFile ? ['--ca', sides[s]!.caFile!] : [])],
          { stdout: 'pipe', stderr: 'inherit', env: { ...process.env, ...(sides[s]!.auth ? { BENCH_BULK_AUTH: T.user } : {}) } },
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
        bulkRate[s] = mib / (ms / 1000);
        const u = p.resourceUsage();
        put(`${s}_bulkclient_us_per_mib`, u ? Number(u.cpuTime.user + u.cpuTime.system) / mib : Number.NaN);
        for (const [k, pid] of Object.entries(pids)) put(`${s}_${k}_us_per_mib`, ((cpuTicks(pid) - before[k]!) * TICK_US) / mib);
      }
    }
    if (withFairness) {
      for (const s of orderOf(r, bulkNames)) {
        /** c=4 small requests (1,000) while a bulk client loops over 64 MiB bodies (at `rate` MiB/s; 0: full speed). */
        const smallDuringBulk = async (rate: number) => {
          const p = Bun.spawn(
            [BUN, join(ROOT, 'bench/support/bulk-client.ts'), '--url', `${sides[s]!.url}/bench/big`, '--count', '0', '--rate', String(rate), ...(sides[s]!.caFile ? ['--ca', sides[s]!.caFile!] : [])],
            { stdout: 'pipe', stderr: 'inherit', env: { ...process.env, ...(sides[s]!.auth ? { BENCH_BULK_AUTH: T.user } : {}) } },
          );
          procs.push(p);
          await lineOf(p, /"flowing"/);
          const run = await load(get(s, '/bench/small'), 4, { count: 1000, minBytes: 900 });
          p.kill('SIGTERM');
          await p.exited;
          if (run.errors) throw new Error(`${s}: errors in the fairness phase (bulk rate ${rate || 'full'})`);
          return run;
        };
        const idle = await load(get(s, '/bench/small'), 4, { count: 1000, minBytes: 900 });
        if (idle.errors) throw new Error(`${s}: errors in the fairness phase (idle)`);
        const during = await smallDuringBulk(0);
        // Rate-limited bulk (bench/tunnel.ts's definition: 25 % of the tunnel's bulk rate of the round, the same
        // absolute rate on every side): the cores are not saturated, what slows small requests is queueing.
        const limitedRate = 0.25 * (bulkRate.ours ?? bulkRate[s] ?? 0);
        if (limitedRate > 0) {
          const limited = await smallDuringBulk(limitedRate);
          put(`${s}_small_p50_during_limited_bulk_ms`, limited.p50);
          put(`${s}_small_p99_during_limited_bulk_ms`, limited.p99);
          put(`${s}_limited_p99_over_idle`, limited.p99 / idle.p99);
        }
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
  for (const s of names.slice(1)) {
    if (withSmall) out[`${s}_c64_pct_of_direct`] = +(100 * ratio(`${s}_c64_rps`, 'direct_c64_rps')).toFixed(1);
    if (withBulk && !sides[s]!.smallOnly) out[`${s}_bulk_pct_of_direct`] = +(100 * ratio(`${s}_bulk_mib_s`, 'direct_bulk_mib_s')).toFixed(1);
    if (withBulk && !sides[s]!.smallOnly) {
      // all processes of the side, per MiB (client included): what two cores must carry
      const sum = ['bulkclient', ...Object.keys(sides[s]!.pids)].reduce((a, k) => a + median(res[`${s}_${k}_us_per_mib`]!), 0);
      out[`${s}_all_us_per_mib`] = Math.round(sum);
    }
  }
  if (withBulk) out.direct_all_us_per_mib = Math.round(median(res.direct_bulkclient_us_per_mib!) + median(res.direct_backend_us_per_mib!));
  out.rounds = rounds;
  out.secs = secs;
  out.backend = tlsBackend ? 'https' : 'http';
  out.load_avg_start = load0.map((x) => +x.toFixed(2));
  out.load_avg_end = loadavg().map((x) => +x.toFixed(2));
  out.command = `bun bench/relay-floor.ts ${argv.join(' ')}`;
  console.log(JSON.stringify(out, null, 1));
  if (withBulk) {
    const cell = (k: string) => (res[k] ? `${Math.round(median(res[k]!))} (${Math.round(Math.min(...res[k]!))}–${Math.round(Math.max(...res[k]!))})` : '');
    console.error('side | MiB/s | % of direct | client | hub | agent | backend | all, µs/MiB');
    for (const s of bulkNames)
      console.error(
        [s, cell(`${s}_bulk_mib_s`), out[`${s}_bulk_pct_of_direct`] ?? 100, ...['bulkclient', 'hub', 'agent', 'backend'].map((k) => cell(`${s}_${k}_us_per_mib`)), out[`${s}_all_us_per_mib`]].join(' | '),
      );
  }
  if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify(out, null, 2)}\n`);
} finally {
  for (const p of procs) p.kill('SIGTERM');
}
process.exit(0);
