// L4 tunnel benchmark (issue 13): TCP throughput (iperf3) and echo round trip through hub → yamux → agent versus the
// same backends reached directly, in one run with interleaved rounds (medians and ranges); then 1,000 concurrent idle
// TCP connections through the tunnel and the agent's RSS growth. Hub, agent and backends are separate processes.
//   bun bench/l4.ts [--quick]
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg as osLoad, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchAgentEnv, writeBenchKubeconfig } from './support/agent-env.ts';
import { connectedClusterId, fmt, lineOf, pct } from './support/load.ts';
import { cpuTicks, rssMiB, TICK_US } from './support/proc-stats.ts';

const ROOT = join(import.meta.dir, '..');
const BUN = process.execPath;
const quick = process.argv.includes('--quick');
const dir = mkdtempSync(join(tmpdir(), 'pipeops-bench-l4-'));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const AGENT_TOKEN = 'bench-agent-token-0123456789';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
/** Throughput only (no round trips, no idle connections): for iterating on the relay. */
const throughputOnly = process.argv.includes('--throughput');
/** Print each run's busiest threads of hub, agent and iperf3 server (user + system % of one core). */
const showThreads = process.argv.includes('--threads');
/** The hub's `l4_stream_window` (default: the hub's default). */
const WINDOW = arg('window');
/** One direction only (`up` = client → service, `down`), per-run lines only: for profiling one direction. */
const ONLY = arg('only');
/** Run hub and agent under `bun --cpu-prof` into this directory (main threads only: the agent's L4 relay runs in its tunnel worker, which needs JSC's sampling profiler, bun:jsc). */
const PROF_DIR = arg('cpu-prof');
const profFlags = (name: string) => (PROF_DIR ? ['--cpu-prof', '--cpu-prof-md', `--cpu-prof-dir=${PROF_DIR}`, `--cpu-prof-name=${name}.cpuprofile`] : []);
const ROUNDS = Number(arg('rounds') ?? (quick ? 2 : 3));
const IPERF_SECONDS = Number(arg('seconds') ?? (quick ? 2 : 4));
const RTT_SAMPLES = quick ? 500 : 1500;
const IDLE_CONNECTIONS = 1000;



const loadavg = () => osLoad().map((x) => x.toFixed(2)).join(' ');
const median = (xs: number[]) => pct([...xs].sort((a, b) => a - b), 50);
const range = (xs: number[], digits = 1) => `${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)}`;

/** iperf3 runs that failed and were run again (iperf3's single-test server can refuse a run that follows the
 * previous one too closely: "control socket has closed unexpectedly"). Printed under the table. */
let iperfRetries = 0;

interface IperfRun {
  mibps: number;
  /** CPU-µs per MiB moved, by process (the iperf3 client from its own report, the others from /proc). */
  cpuPerMiB: Record<string, number>;
}

/** Processes whose CPU is read from /proc around each run (set once they are started). */
const watched: Record<string, number> = {};

async function iperf(port: number, reverse: boolean): Promise<IperfRun> {
  try {
    return await iperfOnce(port, reverse);
  } catch (e) {
    iperfRetries++;
    process.stderr.write(`l4 bench: ${(e as Error).message}; running it again\n`);
    await Bun.sleep(500);
    return iperfOnce(port, reverse);
  }
}

/** user clock ticks of a process (all threads): the part of its CPU that is our code and the runtime's, not the kernel's. */
function userTicks(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[11]);
}

/** softirq clock ticks of the whole machine (/proc/stat). */
function softirqTicks(): number {
  return Number(readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/)[7]);
}

/** user and system ticks of each thread (by name) of the watched processes. */
function threadTicks(): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (const [k, pid] of Object.entries(watched)) {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        const st = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
        const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
        const f = st.slice(st.lastIndexOf(') ') + 2).split(' ');
        const key = `${k}/${name}`;
        const prev = m.get(key) ?? [0, 0];
        m.set(key, [prev[0] + Number(f[11]), prev[1] + Number(f[12])]);
      } catch {
        // the thread ended
      }
    }
  }
  return m;
}

async function iperfOnce(port: number, reverse: boolean): Promise<IperfRun> {
  const c0 = Object.fromEntries(Object.entries(watched).map(([k, pid]) => [k, cpuTicks(pid)]));
  const si0 = softirqTicks();
  const u0 = Object.fromEntries(Object.entries(watched).map(([k, pid]) => [k, userTicks(pid)]));
  const t0 = showThreads ? threadTicks() : null;
  const w0 = performance.now();
  const p = Bun.spawn(['iperf3', '-c', '127.0.0.1', '-p', String(port), '-t', String(IPERF_SECONDS), '-J', ...(reverse ? ['-R'] : [])], { stdout: 'pipe', stderr: 'pipe' });
  const out = await new Response(p.stdout).text();
  if ((await p.exited) !== 0) throw new Error(`iperf3 failed: ${out.slice(0, 400)}`);
  const j = JSON.parse(out) as {
    error?: string;
    end: { sum_received?: { bits_per_second: number; bytes: number; seconds: number }; cpu_utilization_percent?: { host_total: number } };
  };
  const sum = j.end.sum_received;
  if (!sum) throw new Error(`iperf3 to port ${port}${reverse ? ' (-R)' : ''}: ${j.error ?? 'no result'}`);
  const mib = sum.bytes / (1 << 20);
  const cpuPerMiB: Record<string, number> = {};
  for (const [k, pid] of Object.entries(watched)) {
    cpuPerMiB[k] = ((cpuTicks(pid) - (c0[k] ?? 0)) * TICK_US) / mib;
    cpuPerMiB[`${k} user`] = ((userTicks(pid) - (u0[k] ?? 0)) * TICK_US) / mib;
  }
  // Loopback packets are processed in softirq context, which Linux accounts to no process (IRQ time accounting):
  // the machine-wide figure (it includes whatever else runs meanwhile).
  cpuPerMiB.softirq = ((softirqTicks() - si0) * TICK_US) / mib;
  // iperf3 reports its own CPU as a percentage of the test's wall time.
  cpuPerMiB['iperf3 client'] = ((j.end.cpu_utilization_percent?.host_total ?? 0) / 100) * sum.seconds * 1e6 / mib;
  if (t0) {
    const secs = (performance.now() - w0) / 1000;
    const busy = [...threadTicks()]
      .map(([k, [u, sy]]) => [k, u - (t0.get(k)?.[0] ?? 0), sy - (t0.get(k)?.[1] ?? 0)] as const)
      .filter(([, u, sy]) => (u + sy) / secs > 3)
      .map(([k, u, sy]) => `${k} ${fmt(u / secs, 0)}+${fmt(sy / secs, 0)} %`);
    process.stderr.write(`l4 bench: port ${port}${reverse ? ' -R' : ''}: ${fmt(sum.bits_per_second / 8 / (1 << 20), 0)} MiB/s; threads (user+sys % of one core): ${busy.join(', ')}\n`);
  }
  return { mibps: sum.bits_per_second / 8 / (1 << 20), cpuPerMiB };
}

/** Sequential 64-byte ping-pongs on one connection: latency per round trip in ms. */
async function rtt(port: number, samples: number): Promise<number[]> {
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise<void>((r, j) => {
    s.once('connect', r);
    s.once('error', j);
  });
  const msg = Buffer.alloc(64, 7);
  const lat: number[] = [];
  let pending: (() => void) | null = null;
  let got = 0;
  s.on('data', (d) => {
    got += d.length;
    if (got >= msg.length && pending) {
      got -= msg.length;
      const p = pending;
      pending = null;
      p();
    }
  });
  for (let i = 0; i < samples + 50; i++) {
    const t0 = performance.now();
    await new Promise<void>((r) => {
      pending = r;
      s.write(msg);
    });
    if (i >= 50) lat.push(performance.now() - t0);
  }
  s.destroy();
  return lat;
}

async function echoOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write('x'));
    const t = setTimeout(() => (s.destroy(), resolve(false)), 2000);
    s.on('data', () => (clearTimeout(t), s.destroy(), resolve(true)));
    s.on('error', () => (clearTimeout(t), resolve(false)));
  });
}

async function main() {
  const echo = Bun.spawn([BUN, join(ROOT, 'bench/support/tcp-echo.ts')], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(echo);
  const echoPort = JSON.parse(await lineOf(echo, /"echo_ready"/)).port as number;
  const iperfPort = await new Promise<number>((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
  const iperfServer = Bun.spawn(['iperf3', '-s', '--forceflush', '-B', '127.0.0.1', '-p', String(iperfPort)], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(iperfServer);
  await lineOf(iperfServer, /Server listening/);

  // Stand-in API server for the agent (it is not ready without one); the L4 path does not use it.
  const backend = Bun.spawn([BUN, join(ROOT, 'bench/support/backend.ts')], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(backend);
  const backendUrl = JSON.parse(await lineOf(backend, /"backend_ready"/)).url as string;

  const hubConfig = join(dir, 'hub.yaml');
  writeFileSync(
    hubConfig,
    `${WINDOW ? `l4_stream_window: ${WINDOW}\n` : ''}l4_exposures:\n  - {name: echo, protocol: tcp, listen_port: 0, cluster: bench, namespace: bench, service: echo, port: 7}\n  - {name: iperf, protocol: tcp, listen_port: 0, cluster: bench, namespace: bench, service: iperf, port: 5201}\n`,
  );
  const hub = Bun.spawn([BUN, ...profFlags('hub'), join(ROOT, 'src/cli.ts'), 'hub', '--config', hubConfig, '--port', '0', '--kube-port', '0', '--gateway-port', '0', '--state', join(dir, 'hub.db'), '--log-level', 'warn'], {
    stdout: 'pipe',
    stderr: 'inherit',
    env: { ...process.env, PIPEOPS_HUB_AGENT_TOKENS: AGENT_TOKEN, PIPEOPS_HUB_ADMIN_TOKENS: ADMIN_TOKEN },
  });
  procs.push(hub);
  const ready = JSON.parse(await lineOf(hub, /"hub_ready"/));

  const kubeconfig = writeBenchKubeconfig(dir, backendUrl);
  const agent = Bun.spawn([BUN, ...profFlags('agent'), join(ROOT, 'src/cli.ts'), 'agent'], {
    stdout: 'pipe',
    stderr: 'inherit',
    env: {
      ...benchAgentEnv({ dir, apiUrl: ready.url, token: AGENT_TOKEN, kubeconfig }),
      TUNNELS_ENABLED: 'true',
      PIPEOPS_SERVICE_MAP: JSON.stringify({ 'bench/echo:7': `tcp://127.0.0.1:${echoPort}`, 'bench/iperf:5201': `tcp://127.0.0.1:${iperfPort}` }),
      TUNNELS_TCP_MAX_CONNECTIONS: '2000',
    },
  });
  procs.push(agent);
  await connectedClusterId(ready.url, ADMIN_TOKEN);
  const list = (await (await fetch(`${ready.url}/api/v1/l4/tunnels`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { tunnels: { name: string; hub_address: string }[] };
  const hubPort = (name: string) => Number(list.tunnels.find((t) => t.name === name)!.hub_address.split(':').pop());
  const viaEcho = hubPort('echo');
  const viaIperf = hubPort('iperf');
  for (let i = 0; i < 200 && !(await echoOnce(viaEcho)); i++) await Bun.sleep(50);

  const progress = (what: string) => process.stderr.write(`l4 bench: ${what}\n`);
  let rss0 = 0;
  let rss1 = 0;
  let hubRss0 = 0;
  let hubRss1 = 0;
  let alive = 0;
  if (!throughputOnly) {
    progress(`${IDLE_CONNECTIONS} idle connections`);
    // ---- 1,000 idle connections, first: after the throughput runs the RSS baseline holds their freed buffers ----
    await Bun.sleep(1000);
    rss0 = rssMiB(agent.pid);
    hubRss0 = rssMiB(hub.pid);
    const idle: net.Socket[] = [];
    await Promise.all(
      Array.from({ length: IDLE_CONNECTIONS }, async () => {
        const s = net.connect({ host: '127.0.0.1', port: viaEcho });
        idle.push(s);
        await new Promise<void>((r, j) => {
          s.once('error', j);
          s.once('connect', () => s.write('.'));
          s.once('data', () => r());
        });
      }),
    );
    await Bun.sleep(1000);
    rss1 = rssMiB(agent.pid);
    hubRss1 = rssMiB(hub.pid);
    alive = (await Promise.all(idle.map((s) => new Promise<boolean>((r) => (s.write('!', (e) => r(!e))))))).filter(Boolean).length;
    for (const s of idle) s.destroy();
  }
  progress('throughput');
  // ---- throughput (iperf3), interleaved ----
  Object.assign(watched, { hub: hub.pid, agent: agent.pid, 'iperf3 server': iperfServer.pid });
  const tp = { up: { d: [] as IperfRun[], t: [] as IperfRun[] }, down: { d: [] as IperfRun[], t: [] as IperfRun[] } };
  const load0 = loadavg();
  for (let r = 0; r < ROUNDS; r++) {
    if (ONLY !== 'down') {
      tp.up.d.push(await iperf(iperfPort, false));
      tp.up.t.push(await iperf(viaIperf, false));
    }
    if (ONLY !== 'up') {
      tp.down.d.push(await iperf(iperfPort, true));
      tp.down.t.push(await iperf(viaIperf, true));
    }
  }
  if (ONLY) return;
  const load1 = loadavg();
  const mibps = (runs: IperfRun[]) => runs.map((x) => x.mibps);
  const cpuCell = (runs: IperfRun[], who: string) => fmt(median(runs.map((x) => x.cpuPerMiB[who] ?? 0)), 0);
  const cpuRows = (['up', 'down'] as const).flatMap((dir) =>
    (['d', 't'] as const).map((via) => {
      const runs = tp[dir][via];
      const shown = via === 'd' ? ['iperf3 client', 'iperf3 server', 'softirq'] : ['iperf3 client', 'iperf3 server', 'hub', 'agent', 'softirq'];
      const total = median(runs.map((x) => shown.reduce((a, k) => a + (x.cpuPerMiB[k] ?? 0), 0)));
      const both = (who: string) => (via === 'd' ? '' : `${cpuCell(runs, who)} (${cpuCell(runs, `${who} user`)})`);
      return `| ${dir === 'up' ? 'client → service' : 'service → client'} | ${via === 'd' ? 'direct' : 'hub + agent'} | ${cpuCell(runs, 'iperf3 client')} | ${cpuCell(runs, 'iperf3 server')} | ${both('hub')} | ${both('agent')} | ${cpuCell(runs, 'softirq')} | ${fmt(total, 0)} |`;
    }),
  );
  const tpRows = [
    `| TCP throughput client → service (iperf3, MiB/s) | ${fmt(median(mibps(tp.up.d)), 0)} (${range(mibps(tp.up.d), 0)}) | ${fmt(median(mibps(tp.up.t)), 0)} (${range(mibps(tp.up.t), 0)}) | ${fmt((100 * median(mibps(tp.up.t))) / median(mibps(tp.up.d)), 0)} % | ≥ 50 % of direct |`,
    `| TCP throughput service → client (iperf3 -R, MiB/s) | ${fmt(median(mibps(tp.down.d)), 0)} (${range(mibps(tp.down.d), 0)}) | ${fmt(median(mibps(tp.down.t)), 0)} (${range(mibps(tp.down.t), 0)}) | ${fmt((100 * median(mibps(tp.down.t))) / median(mibps(tp.down.d)), 0)} % | ≥ 50 % of direct |`,
  ];
  const printThroughput = () => {
    console.log(`\nL4 tunnel benchmark — ${ROUNDS} interleaved rounds (median, range), iperf3 ${IPERF_SECONDS} s per run${WINDOW ? `, l4_stream_window ${WINDOW}` : ''}; load average ${load0} before, ${load1} after\n`);
    console.log('| measure | direct | through hub + agent | ratio / overhead | target |');
    console.log('|---|---|---|---|---|');
    for (const r of tpRows) console.log(r);
    console.log('\nCPU-µs per MiB moved (median of the rounds; user + system of all threads, in brackets user only; the iperf3 client from its own report; softirq: loopback packet processing, accounted to no process, machine-wide)\n');
    console.log('| direction | path | iperf3 client | iperf3 server | hub (user) | agent (user) | softirq, machine-wide | total |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of cpuRows) console.log(r);
    console.log(`\niperf3 runs repeated after a failed start: ${iperfRetries}`);
  };
  if (throughputOnly) return printThroughput();

  progress('round trips');
  // ---- echo round trip, interleaved ----
  const rttD: number[][] = [];
  const rttT: number[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    rttD.push(await rtt(echoPort, RTT_SAMPLES));
    rttT.push(await rtt(viaEcho, RTT_SAMPLES));
  }
  const p50s = (runs: number[][]) => runs.map((l) => median(l));
  const p99s = (runs: number[][]) => runs.map((l) => pct([...l].sort((a, b) => a - b), 99));
  const overheads = p50s(rttT).map((t, i) => t - p50s(rttD)[i]!);


  printThroughput();
  const rows = [
    `| echo round trip 64 B, p50 ms | ${fmt(median(p50s(rttD)), 3)} (${range(p50s(rttD), 3)}) | ${fmt(median(p50s(rttT)), 3)} (${range(p50s(rttT), 3)}) | +${fmt(median(overheads), 3)} ms (${range(overheads, 3)}) | overhead ≤ 1 ms |`,
    `| echo round trip 64 B, p99 ms | ${fmt(median(p99s(rttD)), 3)} | ${fmt(median(p99s(rttT)), 3)} | | |`,
    `| ${IDLE_CONNECTIONS} idle TCP connections through the tunnel: agent RSS MiB | | ${fmt(rss0, 1)} → ${fmt(rss1, 1)} | +${fmt(rss1 - rss0, 1)} MiB (${alive}/${IDLE_CONNECTIONS} alive) | ≤ 30 MiB |`,
    `| same: hub RSS MiB | | ${fmt(hubRss0, 1)} → ${fmt(hubRss1, 1)} | +${fmt(hubRss1 - hubRss0, 1)} MiB | |`,
  ];
  console.log(`\nRound trips (${RTT_SAMPLES} per run, ${ROUNDS} interleaved rounds) and idle connections\n`);
  console.log('| measure | direct | through hub + agent | ratio / overhead | target |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

try {
  await main();
} finally {
  for (const p of procs) p.kill();
  // Let hub and agent write their profiles.
  if (PROF_DIR) await Promise.race([Promise.all(procs.map((p) => p.exited)), Bun.sleep(5000)]);
}
process.exit(0);
