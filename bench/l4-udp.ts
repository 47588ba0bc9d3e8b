// UDP through hub replicas (issues 13 and 15): sequential 64-byte datagram round trips to a UDP echo reached
// directly, through the hub replica that holds the agent's session (hub → yamux → agent), and through the other
// replica (its listener → signed /internal/l4 link → the holder → agent), in interleaved rounds; plus CPU per
// round trip of each hub process and the agent (from /proc, all threads). Two hub processes on PostgreSQL
// (src/devstack/hub-cluster.ts), the agent and the echo are separate processes.
//   bun bench/l4-udp.ts [--quick]
import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHubCluster } from '../src/devstack/hub-cluster.ts';
import { benchAgentEnv, writeBenchKubeconfig } from './support/agent-env.ts';
import { connectedClusterId, fmt, lineOf, pct } from './support/load.ts';
import { cpuTicks, TICK_US } from './support/proc-stats.ts';

const ROOT = join(import.meta.dir, '..');
const BUN = process.execPath;
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 2 : 3;
const SAMPLES = quick ? 1000 : 3000;
const dir = mkdtempSync(join(tmpdir(), 'pipeops-bench-l4-udp-'));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const median = (xs: number[]) => pct([...xs].sort((a, b) => a - b), 50);
const range = (xs: number[], d = 3) => `${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)}`;

/** Sequential round trips of one 64-byte datagram from one client address: latency of each in ms. */
async function rtt(port: number, samples: number): Promise<number[]> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const msg = Buffer.alloc(64, 7);
  const lat: number[] = [];
  let answered: (() => void) | null = null;
  s.on('message', () => answered?.());
  for (let i = 0; i < samples + 50; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer from port ${port} within 5 s`)), 5000);
      answered = () => (clearTimeout(t), (answered = null), resolve());
      s.send(msg, port, '127.0.0.1');
    });
    if (i >= 50) lat.push(performance.now() - t0);
  }
  s.close();
  return lat;
}

async function main() {
  const echo = Bun.spawn([BUN, join(ROOT, 'bench/support/udp-echo.ts')], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(echo);
  const echoPort = JSON.parse(await lineOf(echo, /"udp_echo_ready"/)).port as number;
  const cluster = await startHubCluster({
    dir,
    replicas: 2,
    extraConfig: { l4_exposures: [{ name: 'udp', protocol: 'udp', listen_port: 0, cluster: 'bench', namespace: 'bench', service: 'echo', port: 7 }], log_level: 'warn' },
  });
  try {
    const backend = Bun.spawn([BUN, join(ROOT, 'bench/support/backend.ts')], { stdout: 'pipe', stderr: 'inherit' });
    procs.push(backend);
    const backendUrl = JSON.parse(await lineOf(backend, /"backend_ready"/)).url as string;
    const kubeconfig = writeBenchKubeconfig(dir, backendUrl);
    const first = cluster.replicas[0]!;
    const agent = Bun.spawn([BUN, join(ROOT, 'src/cli.ts'), 'agent'], {
      stdout: 'pipe',
      stderr: 'inherit',
      env: {
        ...benchAgentEnv({ dir, apiUrl: `http://${first.host}:${first.port}`, token: cluster.tokens.agent, kubeconfig }),
        TUNNELS_ENABLED: 'true',
        PIPEOPS_SERVICE_MAP: JSON.stringify({ 'bench/echo:7': `udp://127.0.0.1:${echoPort}` }),
      },
    });
    procs.push(agent);
    const urls = cluster.replicas.map((r) => `http://${r.host}:${r.port}`);
    await connectedClusterId(urls[0]!, cluster.tokens.admin);
    const portOf = async (url: string) => {
      const list = (await (await fetch(`${url}/api/v1/l4/tunnels`, { headers: { authorization: `Bearer ${cluster.tokens.admin}` } })).json()) as { tunnels: { name: string; hub_address: string }[] };
      return Number(list.tunnels.find((t) => t.name === 'udp')!.hub_address.split(':').pop());
    };
    const forwarded = async (url: string) => Number((await (await fetch(`${url}/metrics`)).text()).match(/pipeops_hub_forwarded_total\{gateway="l4",kind="udp"\} (\d+)/)?.[1] ?? 0);
    // Which replica holds the session (the hand-off may have sent the agent through HAProxy to either): the one
    // whose listener did not forward a probe.
    const ports = await Promise.all(urls.map(portOf));
    for (let i = 0; i < 2; i++) await rtt(ports[i]!, 1).catch(async () => rtt(ports[i]!, 1));
    const fwd = await Promise.all(urls.map(forwarded));
    const remote = fwd.findIndex((n) => n > 0);
    if (remote < 0 || fwd[1 - remote]) throw new Error(`expected exactly one replica to forward, got ${fwd.join(', ')}`);
    const holder = 1 - remote;
    const pids = cluster.pids();
    const who = { holder: pids.get(cluster.replicas[holder]!.name)!, forwarder: pids.get(cluster.replicas[remote]!.name)!, agent: agent.pid };
    const paths = { direct: echoPort, 'via the holding replica': ports[holder]!, 'via the other replica (forwarded)': ports[remote]! };
    const lat: Record<string, number[]> = {};
    const cpu: Record<string, Record<string, number[]>> = {};
    process.stderr.write(`l4-udp bench: session on ${cluster.replicas[holder]!.name}; ${ROUNDS} rounds of ${SAMPLES} round trips per path\n`);
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, port] of Object.entries(paths)) {
        const t0 = Object.fromEntries(Object.entries(who).map(([k, pid]) => [k, cpuTicks(pid)]));
        const l = await rtt(port, SAMPLES);
        (lat[name] ??= []).push(median(l));
        for (const [k, pid] of Object.entries(who)) ((cpu[name] ??= {})[k] ??= []).push(((cpuTicks(pid) - t0[k]!) * TICK_US) / (SAMPLES + 50));
      }
    }
    console.log(`\nUDP echo, 64-byte datagrams, ${SAMPLES} sequential round trips × ${ROUNDS} interleaved rounds; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    console.log('\n| path | RTT p50 ms (median of rounds) | range | vs direct | CPU-µs per round trip: holder / forwarder / agent (median) |');
    console.log('|---|---|---|---|---|');
    const d = median(lat.direct!);
    for (const name of Object.keys(paths)) {
      const c = cpu[name]!;
      console.log(`| ${name} | ${fmt(median(lat[name]!), 3)} | ${range(lat[name]!)} | +${fmt(median(lat[name]!) - d, 3)} ms | ${fmt(median(c.holder!), 0)} / ${fmt(median(c.forwarder!), 0)} / ${fmt(median(c.agent!), 0)} |`);
    }
  } finally {
    for (const p of procs) p.kill();
    await cluster.stop();
  }
}

await main().catch((e) => {
  for (const p of procs) p.kill();
  console.error(e);
  process.exit(1);
});
