// Tunnel relay benchmark (issues 4 and 14): the same backend reached directly and through
// client → hub (HTTPS) → agent's WebSocket session → agent → backend, in the same run, in interleaved rounds.
// Backend, hub, agent and the bulk client run as separate processes so that the load generator does not share
// their event loops; per-process CPU comes from /proc.
//
//   bun bench/tunnel.ts [--rounds N] [--json FILE] [--binary PATH] [--plain-backend] [--agent-runtime bun] [--quick] [--smoke]
//
// --rounds N        rounds of every measurement (default 3); each round measures direct and tunnel back to back
//                   (alternating which goes first); the result is the median over rounds, with [min, max].
// --json FILE       write the result object (keys listed in RESULT_KEYS) to FILE.
// --binary PATH     run the agent from the compiled binary (what ships) instead of `bun run` from source, with the
//                   JavaScriptCore options the Helm chart gives it (`jsc:` in its values.yaml: the FTL tier off).
//                   --agent-env BUN_JSC_useFTLJIT=1 measures the binary with the runtime's defaults.
// --agent-runtime R the runtime that runs the agent from source: bun (default) or deno (`npm run agent:deno`, issue 16);
//                   --deno is the same as --agent-runtime deno.
// --cpu-prof DIR    run hub and agent (from source) under `bun --cpu-prof --cpu-prof-md`; profiles land in DIR at exit.
// --phases LIST     run only these phases (comma-separated: c1,c64,idle,bulk,limited,full; default all); the
//                   figures of the others are absent (a focused re-run, or a profile of one phase).
// --limited-share F the rate-limited bulk client reads at F × the tunnel's bulk rate of the round (default 0.25, the
//                   target's definition); 0.5 or 0.75 show how small requests slow down as the cores fill up.
// --plain-backend   the stand-in API server speaks plain HTTP, for both the direct and the tunnel path. By default it
//                   speaks HTTPS, as a real API server does and as the backend of issue 14's measurement did ("the
//                   same HTTPS backend"): its targets are ratios against that direct path. Plain HTTP makes direct
//                   cheaper (no TLS for its client and backend) and every ratio harder; docs/benchmarks.md shows
//                   both. --tls-backend, the default, is still accepted.
// --warmup-secs S   before the first round, S seconds of c=64 small requests through the tunnel, then S seconds
//                   direct (default 0: only the 400 requests at c=8 each that every run starts with). The JIT
//                   compiles the hot code in its upper tiers during the first ≈ 10 s of c=64 load (≈ 670 ms of the
//                   agent's JIT thread); the c=1 phase and the median over rounds already leave the coldest slice
//                   out, and a 10 s warm-up moved the c=64 ratio by −1 to +1 point in alternating runs
//                   (docs/benchmarks.md, ninth round). The warm-up's own rates are in the result (c64_warmup_rps,
//                   c64_warmup_direct_rps).
// --agent-env LIST  extra environment of the agent process, comma-separated K=V pairs (e.g. BUN_JSC_useFTLJIT=0, the
//                   JIT setting docs/benchmarks.md measures), over the chart's with --binary; the agent's extra
//                   environment is recorded in the result as agent_env.
// --quick           shorter phases.
// --smoke           a few requests per phase, small bulk bodies, one round: checks that every figure is produced
//                   (test/bench/tunnel-bench.test.ts); its timings mean nothing.
//
// docs/benchmarks.md is regenerated from a result file by scripts/bench-docs.ts.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeResponseFrame } from '../src/protocol/binary-frame.ts';
import { benchAgentEnv, chartJscEnv, writeBenchKubeconfig } from './support/agent-env.ts';
import { connectedClusterId, lineOf, load, type Run } from './support/load.ts';
import { TICK_US, cpuTicks, rssMiB } from './support/proc-stats.ts';

const ROOT = join(import.meta.dir, '..');
const BUN = process.execPath;
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
};

const smoke = flag('smoke');
const quick = flag('quick') || smoke;
const rounds = smoke ? 1 : Number(option('rounds') ?? 3);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${option('rounds')}`);
const jsonOut = option('json');
const tlsBackend = !flag('plain-backend');
if (flag('plain-backend') && flag('tls-backend')) throw new Error('--plain-backend and --tls-backend contradict each other');
const agentBinary = option('binary');
const agentRuntime = flag('deno') ? 'deno' : (option('agent-runtime') ?? 'bun');
const DENO = join(ROOT, 'node_modules/.bin/deno');
const cpuProfDir = option('cpu-prof');
const agentEnvOption: Record<string, string> = Object.fromEntries(
  (option('agent-env') ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => {
      const i = kv.indexOf('=');
      if (i < 1) throw new Error(`--agent-env: expected K=V, got ${kv}`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
);
/** The agent's extra environment: the chart's JavaScriptCore options for the binary as it ships, then --agent-env. */
const agentEnv: Record<string, string> = { ...(agentBinary ? chartJscEnv(ROOT) : {}), ...agentEnvOption };
const limitedShare = Number(option('limited-share') ?? 0.25);
const warmupSecs = smoke ? 0.2 : Number(option('warmup-secs') ?? 0);
if (!(warmupSecs >= 0)) throw new Error(`--warmup-secs must be a number ≥ 0, got ${option('warmup-secs')}`);
if (!(limitedShare > 0 && limitedShare < 1)) throw new Error(`--limited-share must be between 0 and 1, got ${option('limited-share')}`);
const PHASES = ['c1', 'c64', 'idle', 'bulk', 'limited', 'full'] as const;
const phases = new Set((option('phases') ?? PHASES.join(',')).split(','));
for (const p of phases) if (!(PHASES as readonly string[]).includes(p)) throw new Error(`--phases: unknown phase ${p} (known: ${PHASES.join(', ')})`);
if ((phases.has('limited') || phases.has('full')) && !phases.has('bulk')) throw new Error('--phases: limited and full need bulk (the limited rate is 25 % of the measured bulk rate)');
/** Bun flags that write a CPU profile of the process (`name`) into --cpu-prof DIR when it exits. */
const profFlags = (name: string) => (cpuProfDir ? ['--cpu-prof', '--cpu-prof-md', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${name}.cpuprofile`] : []);

/** Every key the result object carries (the smoke test checks them all). Figures are numbers; medians over rounds. */
export const RESULT_KEYS = [
  'small_p50_idle_ms',
  'small_p99_idle_ms',
  'direct_small_p50_idle_ms',
  'direct_small_p99_idle_ms',
  'small_p50_during_limited_bulk_ms',
  'small_p99_during_limited_bulk_ms',
  'direct_small_p50_during_limited_bulk_ms',
  'direct_small_p99_during_limited_bulk_ms',
  'small_p50_during_bulk_ms',
  'small_p99_during_bulk_ms',
  'direct_small_p50_during_bulk_ms',
  'direct_small_p99_during_bulk_ms',
  'bulk_mib_s',
  'bulk_direct_mib_s',
  'bulk_during_small_mib_s',
  'bulk_limited_rate_mib_s',
  'c64_rps',
  'c64_direct_rps',
  'c64_p50_ms',
  'c64_p99_ms',
  'c1_p50_ms',
  'c1_direct_p50_ms',
  'c1_p50_overhead_ms',
  'c1_p99_ms',
  'agent_cpu_us_per_req',
  'hub_cpu_us_per_req',
  'client_cpu_us_per_req',
  'direct_client_cpu_us_per_req',
  'backend_cpu_us_per_req',
  'direct_backend_cpu_us_per_req',
  'agent_rss_idle_mib',
  'agent_rss_peak_mib',
  'agent_rss_after_mib',
  'pod_list_wire_pct',
  'errors',
] as const;
export type ResultKey = (typeof RESULT_KEYS)[number];

const dir = mkdtempSync(join(tmpdir(), 'pipeops-bench-'));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const AGENT_TOKEN = 'bench-agent-token-0123456789';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const USER_TOKEN = 'bench-user-token-0123456789';



const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The command that runs the agent: the compiled binary, or the source under the chosen runtime. */
function agentCommand(): string[] {
  if (agentBinary) return [agentBinary, 'agent'];
  switch (agentRuntime) {
    case 'bun':
      return [BUN, ...profFlags('agent'), join(ROOT, 'src/cli.ts'), 'agent'];
    case 'deno':
      return [DENO, 'run', '--allow-all', '--config', join(ROOT, 'deno.json'), join(ROOT, 'src/cli.ts'), 'agent'];
    default:
      throw new Error(`--agent-runtime ${agentRuntime}: not supported by this bench (known: bun, deno)`);
  }
}

async function main() {
  const load0 = loadavg();
  const t0 = Date.now();
  // ---- backend: a stand-in API server with fixed payloads ----
  const backend = Bun.spawn([BUN, join(ROOT, 'bench/support/backend.ts'), ...(tlsBackend ? ['--tls'] : [])], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(backend);
  const backendUrl = JSON.parse(await lineOf(backend, /"backend_ready"/)).url as string;

  // ---- hub ----
  const hub = Bun.spawn(
    [BUN, ...profFlags('hub'), join(ROOT, 'src/cli.ts'), 'hub', '--port', '0', '--kube-port', '0', '--state', join(dir, 'hub.db'), '--log-level', 'warn'],
    { stdout: 'pipe', stderr: 'inherit', env: { ...process.env, PIPEOPS_HUB_AGENT_TOKENS: AGENT_TOKEN, PIPEOPS_HUB_ADMIN_TOKENS: ADMIN_TOKEN, PIPEOPS_HUB_USER_TOKENS: USER_TOKEN } },
  );
  procs.push(hub);
  const ready = JSON.parse(await lineOf(hub, /"hub_ready"/));
  const caFile = join(dir, 'hub.db.tls', 'ca.crt');
  const ca = readFileSync(caFile, 'utf8');

  // ---- agent: its "API server" is the backend ----
  const fixtureCa = join(ROOT, 'test/fixtures/tls/ca.crt');
  const kubeconfig = writeBenchKubeconfig(dir, backendUrl, tlsBackend ? fixtureCa : undefined);
  const agent = Bun.spawn(agentCommand(), {
    stdout: Bun.file(join(dir, 'agent.log')),
    stderr: 'inherit',
    env: {
      ...benchAgentEnv({ dir, apiUrl: ready.url, token: AGENT_TOKEN, kubeconfig }),
      ...(agentRuntime === 'deno' && process.env.HOME ? { DENO_DIR: process.env.DENO_DIR ?? join(process.env.HOME, '.cache/deno') } : {}),
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('G_'))),
      ...(process.env.BENCH_HIGH_WATER ? { PROXY_STREAM_HIGH_WATER_BYTES: process.env.BENCH_HIGH_WATER } : {}),
      ...agentEnv,
    },
  });
  procs.push(agent);
  const clusterId = await connectedClusterId(ready.url, ADMIN_TOKEN);
  const via = `${ready.kube_url}/clusters/${clusterId}/k8s`;
  const tls = { ca };
  const hdr = { authorization: `Bearer ${USER_TOKEN}` };
  const tunnel = (path: string) => () => fetch(`${via}${path}`, { headers: hdr, tls } as RequestInit);
  const backendTls = tlsBackend ? { tls: { ca: readFileSync(fixtureCa, 'utf8') } } : {};
  const direct = (path: string) => () => fetch(`${backendUrl}${path}`, backendTls as RequestInit);
  const bulkPath = smoke ? '/bench/big?mib=8' : '/bench/big';
  const bulkBytes = smoke ? 8 << 20 : 64 << 20;

  // Idle RSS: registered, nothing relayed yet, after a settling period (a deliberate idle interval being measured).
  await Bun.sleep(smoke ? 500 : 3000);
  const rssIdle = rssMiB(agent.pid);
  let peakRss = rssIdle;
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, rssMiB(agent.pid));
  }, 50);

  /** Bulk client process reading the big body `count` times (0: until stopped), optionally at `rate` MiB/s. */
  const bulk = (side: 'direct' | 'tunnel', o: { rate?: number; count?: number } = {}) => {
    const url = side === 'tunnel' ? `${via}${bulkPath}` : `${backendUrl}${bulkPath}`;
    const ca = side === 'tunnel' ? caFile : tlsBackend ? fixtureCa : '';
    const p = Bun.spawn(
      [BUN, join(ROOT, 'bench/support/bulk-client.ts'), '--url', url, '--rate', String(o.rate ?? 0), '--count', String(o.count ?? 0), ...(ca ? ['--ca', ca] : [])],
      { stdout: 'pipe', stderr: 'inherit', env: { ...process.env, ...(side === 'tunnel' ? { BENCH_BULK_AUTH: USER_TOKEN } : {}) } },
    );
    procs.push(p);
    const transfers: { bytes: number; ms: number }[] = [];
    let flowingResolve: () => void = () => {};
    const flowing = new Promise<void>((r) => (flowingResolve = r));
    let transferResolve: () => void = () => {};
    const transferred = new Promise<void>((r) => (transferResolve = r));
    const reading = (async () => {
      const dec = new TextDecoder();
      let buf = '';
      for await (const chunk of p.stdout as ReadableStream<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = JSON.parse(buf.slice(0, nl)) as { event: string; bytes?: number; ms?: number; error?: string };
          buf = buf.slice(nl + 1);
          if (line.event === 'flowing') flowingResolve();
          else if (line.event === 'transfer') {
            if (line.bytes !== bulkBytes) throw new Error(`bulk body was ${line.bytes} bytes, expected ${bulkBytes}`);
            transfers.push({ bytes: line.bytes!, ms: line.ms! });
            flowingResolve();
            transferResolve();
          } else if (line.event === 'error') throw new Error(`bulk client (${side}): ${line.error}`);
        }
      }
    })();
    return {
      flowing: Promise.race([flowing, reading.then(() => undefined)]),
      /** Settles once a first transfer has finished (or the client ended). */
      transferred: Promise.race([transferred, reading.then(() => undefined)]),
      /** Run to the end (count > 0). */
      done: async () => {
        await reading;
        await p.exited;
        return transfers;
      },
      /** CPU µs the client process used (after it exited). */
      cpuUs: () => {
        const u = p.resourceUsage();
        return u ? Number(u.cpuTime.user + u.cpuTime.system) : Number.NaN;
      },
      /** Stop a looping client; transfers finished so far. */
      stop: async () => {
        p.kill('SIGTERM');
        await p.exited;
        await reading.catch(() => {});
        return transfers;
      },
    };
  };
  const mibPerS = (ts: { bytes: number; ms: number }[]) => {
    const bytes = ts.reduce((a, t) => a + t.bytes, 0);
    const ms = ts.reduce((a, t) => a + t.ms, 0);
    return ms ? bytes / (1 << 20) / (ms / 1000) : Number.NaN;
  };

  // warm-up
  await load(tunnel('/bench/small'), 8, { count: smoke ? 40 : 400 });
  await load(direct('/bench/small'), 8, { count: smoke ? 40 : 400 });
  const warmup: Record<string, number> = {};
  if (warmupSecs > 0 && phases.has('c64')) {
    // Until the JIT has compiled the hot paths (see --warmup-secs); its rates are the cold figures, reported apart.
    const t = await load(tunnel('/bench/small'), 64, { durationMs: warmupSecs * 1000 });
    const d = await load(direct('/bench/small'), 64, { durationMs: warmupSecs * 1000 });
    if (t.errors || d.errors) throw new Error(`warm-up: ${t.errors} errors through the tunnel, ${d.errors} direct`);
    warmup.c64_warmup_rps = t.rps;
    warmup.c64_warmup_direct_rps = d.rps;
  }

  const samples = new Map<ResultKey, number[]>();
  const put = (k: ResultKey, v: number) => samples.set(k, [...(samples.get(k) ?? []), v]);
  const smallCount = smoke ? 40 : quick ? 300 : 1000;
  const c1Count = smoke ? 40 : quick ? 500 : 2000;
  const c64Ms = smoke ? 300 : quick ? 2000 : 5000;
  const bulkCount = smoke ? 1 : quick ? 2 : 3;
  let errors = 0;
  const count = (...runs: Run[]) => {
    for (const r of runs) errors += r.errors;
  };
  const cpuDuringBulk: Record<string, number[]> = { bulk_client: [], hub: [], agent: [], backend: [] };

  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first, so a drift in machine load does not always favour the same side.
    const sides: ('direct' | 'tunnel')[] = round % 2 ? ['tunnel', 'direct'] : ['direct', 'tunnel'];
    const get = (side: 'direct' | 'tunnel') => (side === 'tunnel' ? tunnel('/bench/small') : direct('/bench/small'));
    for (const side of sides) {
      if (phases.has('c1')) {
        // c=1 latency
        const c1 = await load(get(side), 1, { count: c1Count });
        count(c1);
        if (side === 'tunnel') {
          put('c1_p50_ms', c1.p50);
          put('c1_p99_ms', c1.p99);
        } else put('c1_direct_p50_ms', c1.p50);
      }
      if (phases.has('c64')) {
        // c=64 rate, with the CPU each process used for it
        const a0 = cpuTicks(agent.pid);
        const h0 = cpuTicks(hub.pid);
        const b0 = cpuTicks(backend.pid);
        const l0 = process.cpuUsage();
        const c64 = await load(get(side), 64, { durationMs: c64Ms });
        count(c64);
        if (side === 'tunnel') {
          put('c64_rps', c64.rps);
          put('c64_p50_ms', c64.p50);
          put('c64_p99_ms', c64.p99);
          put('agent_cpu_us_per_req', ((cpuTicks(agent.pid) - a0) * TICK_US) / c64.n);
          put('hub_cpu_us_per_req', ((cpuTicks(hub.pid) - h0) * TICK_US) / c64.n);
        }
        // What the load generator and the backend cost per request: the whole budget of two cores is shared.
        const l = process.cpuUsage(l0);
        put(side === 'tunnel' ? 'client_cpu_us_per_req' : 'direct_client_cpu_us_per_req', (l.user + l.system) / c64.n);
        put(side === 'tunnel' ? 'backend_cpu_us_per_req' : 'direct_backend_cpu_us_per_req', ((cpuTicks(backend.pid) - b0) * TICK_US) / c64.n);
        if (side === 'direct') put('c64_direct_rps', c64.rps);
      }
      if (phases.has('idle')) {
        // small requests at c=4, idle
        const idle = await load(get(side), 4, { count: smallCount });
        count(idle);
        put(side === 'tunnel' ? 'small_p50_idle_ms' : 'direct_small_p50_idle_ms', idle.p50);
        put(side === 'tunnel' ? 'small_p99_idle_ms' : 'direct_small_p99_idle_ms', idle.p99);
      }
    }
    if (!phases.has('bulk')) continue;
    // Bulk throughput alone, one transfer at a time.
    const rate: Record<'direct' | 'tunnel', number> = { direct: 0, tunnel: 0 };
    for (const side of sides) {
      const who = { hub: hub.pid, agent: agent.pid, backend: backend.pid };
      const before = Object.fromEntries(Object.entries(who).map(([k, pid]) => [k, cpuTicks(pid)]));
      const b = bulk(side, { count: bulkCount });
      const w0 = performance.now();
      const ts = await b.done();
      rate[side] = mibPerS(ts);
      put(side === 'tunnel' ? 'bulk_mib_s' : 'bulk_direct_mib_s', rate[side]);
      if (side === 'tunnel') {
        const secs = (performance.now() - w0) / 1000;
        for (const [k, pid] of Object.entries(who)) cpuDuringBulk[k]!.push(((cpuTicks(pid) - before[k]!) / secs) | 0);
        cpuDuringBulk.bulk_client!.push((b.cpuUs() / 1e4 / secs) | 0);
      }
    }
    // Small requests during a rate-limited bulk transfer (25 % of this round's tunnel bulk throughput by default, the
    // same absolute rate on both sides): the cores are not saturated, so what slows small requests is queueing.
    const limited = rate.tunnel * limitedShare;
    put('bulk_limited_rate_mib_s', limited);
    for (const side of phases.has('limited') ? sides : []) {
      const b = bulk(side, { rate: limited });
      await b.flowing;
      const r = await load(get(side), 4, { count: smallCount });
      await b.stop();
      count(r);
      put(side === 'tunnel' ? 'small_p50_during_limited_bulk_ms' : 'direct_small_p50_during_limited_bulk_ms', r.p50);
      put(side === 'tunnel' ? 'small_p99_during_limited_bulk_ms' : 'direct_small_p99_during_limited_bulk_ms', r.p99);
    }
    // Small requests during full-speed bulk transfers: CPU contention and queueing together; direct is the floor.
    for (const side of phases.has('full') ? sides : []) {
      const b = bulk(side);
      await b.flowing;
      const r = await load(get(side), 4, { count: smallCount });
      // At least one whole transfer under this load, so that its throughput is defined: on a loaded machine the
      // small requests may all finish before the first body does (the smoke run's few requests, 8 MiB bodies).
      await b.transferred;
      const ts = await b.stop();
      count(r);
      put(side === 'tunnel' ? 'small_p50_during_bulk_ms' : 'direct_small_p50_during_bulk_ms', r.p50);
      put(side === 'tunnel' ? 'small_p99_during_bulk_ms' : 'direct_small_p99_during_bulk_ms', r.p99);
      if (side === 'tunnel' && ts.length) put('bulk_during_small_mib_s', mibPerS(ts));
    }
  }
  // Transfers that did not complete while small requests ran leave no throughput sample; keep the key defined.
  if (phases.has('full') && !samples.has('bulk_during_small_mib_s')) put('bulk_during_small_mib_s', Number.NaN);

  // Bytes on the WebSocket for a 1 MiB JSON pod list (issue 4): measured by the agent's own counter.
  const list = new Uint8Array(await (await direct('/api/v1/pods')()).arrayBuffer());
  const metricsBefore = await agentWireBytes(agent);
  const got = new Uint8Array(await (await tunnel('/api/v1/pods')()).arrayBuffer());
  if (Buffer.compare(Buffer.from(got), Buffer.from(list)) !== 0) throw new Error('pod list differs through the tunnel');
  const measuredWire = (await agentWireBytes(agent)) - metricsBefore;
  put('pod_list_wire_pct', (100 * measuredWire) / list.length);
  const b64Json = Math.ceil(list.length / 3) * 4;
  const binaryFrame = encodeResponseFrame('k8s-1-abcdef', 200, { 'Content-Type': ['application/json'] }, list).length;

  clearInterval(rssTimer);
  peakRss = Math.max(peakRss, rssMiB(agent.pid));
  // RSS 2 s after the load stopped (a deliberate idle interval being measured).
  await Bun.sleep(smoke ? 200 : 2000);
  const rssAfter = rssMiB(agent.pid);

  const result: Record<string, unknown> = {};
  const ranges: Record<string, [number, number]> = {};
  for (const [k, xs] of samples) {
    result[k] = median(xs);
    const finite = xs.filter(Number.isFinite);
    ranges[k] = finite.length ? [Math.min(...finite), Math.max(...finite)] : [Number.NaN, Number.NaN];
  }
  if (phases.has('c1')) result.c1_p50_overhead_ms = median(samples.get('c1_p50_ms')!.map((t, i) => t - samples.get('c1_direct_p50_ms')![i]!));
  result.agent_rss_idle_mib = rssIdle;
  result.agent_rss_peak_mib = peakRss;
  result.agent_rss_after_mib = rssAfter;
  result.errors = errors;
  Object.assign(result, warmup);
  const load1 = loadavg();
  Object.assign(result, {
    ranges,
    rounds,
    mode: smoke ? 'smoke' : quick ? 'quick' : 'full',
    agent: agentBinary ? `binary ${agentBinary}` : `source (${agentRuntime})`,
    backend: tlsBackend ? 'https' : 'http',
    agent_env: agentEnv,
    limited_share: limitedShare,
    warmup_secs: warmupSecs,
    bun: Bun.version,
    cores: navigator.hardwareConcurrency,
    load_avg_start: load0.map((x) => Number(x.toFixed(2))),
    load_avg_end: load1.map((x) => Number(x.toFixed(2))),
    started_at: new Date(t0).toISOString(),
    duration_s: Math.round((Date.now() - t0) / 1000),
    cpu_pct_during_tunnel_bulk: Object.fromEntries(Object.entries(cpuDuringBulk).filter(([, v]) => v.length).map(([k, v]) => [k, median(v)])),
    pod_list_bytes: { raw: list.length, base64_json: b64Json, binary_frame: binaryFrame, measured_wire: measuredWire },
    phases: [...phases],
    command: `bun bench/tunnel.ts ${argv.join(' ')}`.trim(),
  });
  if (phases.size === PHASES.length) for (const k of RESULT_KEYS) if (!(k in result)) throw new Error(`bench bug: no figure for ${k}`);
  const text = JSON.stringify(result, null, 2);
  if (jsonOut) writeFileSync(jsonOut, `${text}\n`);
  console.log(text);
}

async function agentWireBytes(agent: ReturnType<typeof Bun.spawn>): Promise<number> {
  const port = agentPort(agent.pid);
  // Worker metrics are batched (≤ 200 ms): wait for two flush periods.
  await Bun.sleep(450);
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('pipeops_proxy_wire_bytes_total{'))
    .reduce((a, l) => a + Number(l.split(' ').pop()), 0);
}

let cachedPort = 0;
/** The agent's HTTP port (it listens on an ephemeral one): asked of the OS via ss. */
function agentPort(pid: number): number {
  if (cachedPort) return cachedPort;
  const out = Bun.spawnSync(['ss', '-ltnpH']).stdout.toString();
  const line = out.split('\n').find((l) => l.includes(`pid=${pid},`) && /0\.0\.0\.0:\d+/.test(l));
  cachedPort = Number(/0\.0\.0\.0:(\d+)/.exec(line ?? '')?.[1] ?? 0);
  if (!cachedPort) throw new Error('agent port not found');
  return cachedPort;
}

if (import.meta.main) {
  let code = 0;
  try {
    await main();
  } catch (e) {
    console.error(`bench/tunnel.ts: ${(e as Error).stack ?? e}`);
    code = 1;
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    // Profiles are written as the processes exit.
    if (cpuProfDir) await Promise.all(procs.map((p) => Promise.race([p.exited, Bun.sleep(10_000)])));
  }
  process.exit(code);
}
