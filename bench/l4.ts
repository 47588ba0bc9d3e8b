// L4 tunnel benchmark (issue 13): TCP throughput (iperf3) and echo round trip through hub → yamux → agent versus the
// same backends reached directly, in one run with interleaved rounds (medians and ranges); then 1,000 concurrent idle
// TCP connections through the tunnel and the agent's RSS growth. Hub, agent and backends are separate processes.
//   bun bench/l4.ts [--quick]
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectedClusterId, fmt, lineOf, pct } from './support/load.ts';
import { cpuTicks, rssMiB } from './support/proc-stats.ts';

const ROOT = join(import.meta.dir, '..');
const BUN = process.execPath;
const quick = process.argv.includes('--quick');
const dir = mkdtempSync(join(tmpdir(), 'pipeops-bench-l4-'));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const AGENT_TOKEN = 'bench-agent-token-0123456789';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const ROUNDS = quick ? 2 : 3;
const IPERF_SECONDS = quick ? 2 : 4;
const RTT_SAMPLES = quick ? 500 : 1500;
const IDLE_CONNECTIONS = 1000;



const median = (xs: number[]) => pct([...xs].sort((a, b) => a - b), 50);
const range = (xs: number[], digits = 1) => `${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)}`;

/** iperf3 runs that failed and were run again (iperf3's single-test server can refuse a run that follows the
 * previous one too closely: "control socket has closed unexpectedly"). Printed under the table. */
let iperfRetries = 0;

async function iperf(port: number, reverse: boolean): Promise<number> {
  try {
    return await iperfOnce(port, reverse);
  } catch (e) {
    iperfRetries++;
    process.stderr.write(`l4 bench: ${(e as Error).message}; running it again\n`);
    await Bun.sleep(500);
    return iperfOnce(port, reverse);
  }
}

async function iperfOnce(port: number, reverse: boolean): Promise<number> {
  const p = Bun.spawn(['iperf3', '-c', '127.0.0.1', '-p', String(port), '-t', String(IPERF_SECONDS), '-J', ...(reverse ? ['-R'] : [])], { stdout: 'pipe', stderr: 'pipe' });
  const out = await new Response(p.stdout).text();
  if ((await p.exited) !== 0) throw new Error(`iperf3 failed: ${out.slice(0, 400)}`);
  const j = JSON.parse(out) as { error?: string; end: { sum_received?: { bits_per_second: number } } };
  if (!j.end.sum_received) throw new Error(`iperf3 to port ${port}${reverse ? ' (-R)' : ''}: ${j.error ?? 'no result'}`);
  return j.end.sum_received!.bits_per_second / 8 / (1 << 20);
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
    `l4_exposures:\n  - {name: echo, protocol: tcp, listen_port: 0, cluster: bench, namespace: bench, service: echo, port: 7}\n  - {name: iperf, protocol: tcp, listen_port: 0, cluster: bench, namespace: bench, service: iperf, port: 5201}\n`,
  );
  const hub = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'hub', '--config', hubConfig, '--port', '0', '--kube-port', '0', '--gateway-port', '0', '--state', join(dir, 'hub.db'), '--log-level', 'warn'], {
    stdout: 'pipe',
    stderr: 'inherit',
    env: { ...process.env, PIPEOPS_HUB_AGENT_TOKENS: AGENT_TOKEN, PIPEOPS_HUB_ADMIN_TOKENS: ADMIN_TOKEN },
  });
  procs.push(hub);
  const ready = JSON.parse(await lineOf(hub, /"hub_ready"/));

  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: b, cluster: {server: "${backendUrl}", insecure-skip-tls-verify: true}}]\nusers: [{name: b, user: {token: bench-sa}}]\ncontexts: [{name: b, context: {cluster: b, user: b}}]\ncurrent-context: b\n`,
  );
  const agent = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'agent'], {
    stdout: 'pipe',
    stderr: 'inherit',
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      PIPEOPS_API_URL: ready.url,
      PIPEOPS_TOKEN: AGENT_TOKEN,
      PIPEOPS_CLUSTER_NAME: 'bench',
      PIPEOPS_PORT: '0',
      PIPEOPS_STATE_FILE: join(dir, 'agent-state.yaml'),
      PIPEOPS_LOG_LEVEL: 'warn',
      KUBERNETES_IN_CLUSTER: 'false',
      KUBERNETES_KUBECONFIG: kubeconfig,
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
  progress('tunnel up; throughput');
  // ---- throughput (iperf3), interleaved ----
  const tp = { up: { d: [] as number[], t: [] as number[] }, down: { d: [] as number[], t: [] as number[] } };
  for (let r = 0; r < ROUNDS; r++) {
    tp.up.d.push(await iperf(iperfPort, false));
    tp.up.t.push(await iperf(viaIperf, false));
    tp.down.d.push(await iperf(iperfPort, true));
    tp.down.t.push(await iperf(viaIperf, true));
  }

  // Where the CPU goes during one more tunnel run (100 % = one core; the machine has two).
  const who = { hub: hub.pid, agent: agent.pid, 'iperf3 server': iperfServer.pid };
  const c0 = Object.fromEntries(Object.entries(who).map(([k, pid]) => [k, cpuTicks(pid)]));
  const w0 = performance.now();
  await iperf(viaIperf, false);
  const secs = (performance.now() - w0) / 1000;
  const cpu = Object.entries(who).map(([k, pid]) => `${k} ${fmt((cpuTicks(pid) - (c0[k] ?? 0)) / secs, 0)} %`).join(', ');
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

  progress(`${IDLE_CONNECTIONS} idle connections`);
  // ---- 1,000 idle connections ----
  await Bun.sleep(1000); // let the agent settle after the load (RSS baseline)
  const rss0 = rssMiB(agent.pid);
  const hubRss0 = rssMiB(hub.pid);
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
  const rss1 = rssMiB(agent.pid);
  const hubRss1 = rssMiB(hub.pid);
  const alive = (await Promise.all(idle.map((s) => new Promise<boolean>((r) => (s.write('!', (e) => r(!e))))))).filter(Boolean).length;
  for (const s of idle) s.destroy();

  const rows = [
    `| TCP throughput client → service (iperf3, MiB/s) | ${fmt(median(tp.up.d), 0)} (${range(tp.up.d, 0)}) | ${fmt(median(tp.up.t), 0)} (${range(tp.up.t, 0)}) | ${fmt((100 * median(tp.up.t)) / median(tp.up.d), 0)} % | ≥ 50 % of direct |`,
    `| TCP throughput service → client (iperf3 -R, MiB/s) | ${fmt(median(tp.down.d), 0)} (${range(tp.down.d, 0)}) | ${fmt(median(tp.down.t), 0)} (${range(tp.down.t, 0)}) | ${fmt((100 * median(tp.down.t)) / median(tp.down.d), 0)} % | ≥ 50 % of direct |`,
    `| CPU during a tunnel iperf3 run (100 % = one of 2 cores) | | ${cpu} | | |`,
    `| echo round trip 64 B, p50 ms | ${fmt(median(p50s(rttD)), 3)} (${range(p50s(rttD), 3)}) | ${fmt(median(p50s(rttT)), 3)} (${range(p50s(rttT), 3)}) | +${fmt(median(overheads), 3)} ms (${range(overheads, 3)}) | overhead ≤ 1 ms |`,
    `| echo round trip 64 B, p99 ms | ${fmt(median(p99s(rttD)), 3)} | ${fmt(median(p99s(rttT)), 3)} | | |`,
    `| ${IDLE_CONNECTIONS} idle TCP connections through the tunnel: agent RSS MiB | | ${fmt(rss0, 1)} → ${fmt(rss1, 1)} | +${fmt(rss1 - rss0, 1)} MiB (${alive}/${IDLE_CONNECTIONS} alive) | ≤ 30 MiB |`,
    `| same: hub RSS MiB | | ${fmt(hubRss0, 1)} → ${fmt(hubRss1, 1)} | +${fmt(hubRss1 - hubRss0, 1)} MiB | |`,
  ];
  console.log(`\nL4 tunnel benchmark — ${ROUNDS} interleaved rounds (median, range), iperf3 ${IPERF_SECONDS} s per run, ${RTT_SAMPLES} round trips per run\n`);
  console.log('| measure | direct | through hub + agent | ratio / overhead | target |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(`\niperf3 runs repeated after a failed start: ${iperfRetries}`);
}

try {
  await main();
} finally {
  for (const p of procs) p.kill();
}
process.exit(0);
