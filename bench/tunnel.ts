// Tunnel relay benchmark (issue 4): the same backend reached directly and through hub → agent → backend, in
// one run. Backend, hub and agent run as separate processes so the load generator does not share their CPU.
//   bun bench/tunnel.ts [--quick]
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeResponseFrame } from '../src/protocol/binary-frame.ts';
import { connectedClusterId, fmt, lineOf, load } from './support/load.ts';

const ROOT = join(import.meta.dir, '..');
const BUN = process.execPath;
const quick = process.argv.includes('--quick');
/** `--binary PATH`: run the agent from the compiled binary (what ships) instead of `bun run` from source. */
/** `--tls-backend`: the stand-in API server speaks HTTPS (as a real one does) for both the direct and the tunnel path. */
const tlsBackend = process.argv.includes('--tls-backend');
const agentBinary = process.argv.includes('--binary') ? process.argv[process.argv.indexOf('--binary') + 1] : undefined;
/** `--deno`: run the agent from source under Deno (npm run agent:deno) instead of Bun (issue 16). */
const agentDeno = process.argv.includes('--deno');
const DENO = join(ROOT, 'node_modules/.bin/deno');
const dir = mkdtempSync(join(tmpdir(), 'pipeops-bench-'));
const procs: ReturnType<typeof Bun.spawn>[] = [];
const AGENT_TOKEN = 'bench-agent-token-0123456789';
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const USER_TOKEN = 'bench-user-token-0123456789';

/** user + system clock ticks (1/100 s) of a process. */
function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function main() {
  // ---- backend: a stand-in API server with fixed payloads ----
  const backend = Bun.spawn([BUN, join(ROOT, 'bench/support/backend.ts'), ...(tlsBackend ? ['--tls'] : [])], { stdout: 'pipe', stderr: 'inherit' });
  procs.push(backend);
  const backendUrl = JSON.parse(await lineOf(backend, /"backend_ready"/)).url as string;

  // ---- hub ----
  const hub = Bun.spawn(
    [BUN, join(ROOT, 'src/cli.ts'), 'hub', '--port', '0', '--kube-port', '0', '--state', join(dir, 'hub.db'), '--log-level', 'warn'],
    { stdout: 'pipe', stderr: 'inherit', env: { ...process.env, PIPEOPS_HUB_AGENT_TOKENS: AGENT_TOKEN, PIPEOPS_HUB_ADMIN_TOKENS: ADMIN_TOKEN, PIPEOPS_HUB_USER_TOKENS: USER_TOKEN } },
  );
  procs.push(hub);
  const ready = JSON.parse(await lineOf(hub, /"hub_ready"/));
  const ca = readFileSync(join(dir, 'hub.db.tls', 'ca.crt'), 'utf8');

  // ---- agent: its "API server" is the backend ----
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: b, cluster: {server: "${backendUrl}", ${tlsBackend ? `certificate-authority: "${join(ROOT, 'test/fixtures/tls/ca.crt')}"` : 'insecure-skip-tls-verify: true'}}}]\nusers: [{name: b, user: {token: bench-sa}}]\ncontexts: [{name: b, context: {cluster: b, user: b}}]\ncurrent-context: b\n`,
  );
  const agentCmd = agentBinary ? [agentBinary, 'agent'] : agentDeno ? [DENO, 'run', '--allow-all', '--config', join(ROOT, 'deno.json'), join(ROOT, 'src/cli.ts'), 'agent'] : [BUN, join(ROOT, 'src/cli.ts'), 'agent'];
  const agent = Bun.spawn(agentCmd, {
    stdout: 'pipe',
    stderr: 'inherit',
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      ...(agentDeno && process.env.HOME ? { DENO_DIR: process.env.DENO_DIR ?? join(process.env.HOME, '.cache/deno') } : {}),
      PIPEOPS_API_URL: ready.url,
      PIPEOPS_TOKEN: AGENT_TOKEN,
      PIPEOPS_CLUSTER_NAME: 'bench',
      PIPEOPS_PORT: '0',
      PIPEOPS_STATE_FILE: join(dir, 'agent-state.yaml'),
      PIPEOPS_LOG_LEVEL: 'warn',
      KUBERNETES_IN_CLUSTER: 'false',
      KUBERNETES_KUBECONFIG: kubeconfig,
      ...(process.env.BENCH_HIGH_WATER ? { PROXY_STREAM_HIGH_WATER_BYTES: process.env.BENCH_HIGH_WATER } : {}),
    },
  });
  procs.push(agent);
  const clusterId = await connectedClusterId(ready.url, ADMIN_TOKEN);
  const via = `${ready.kube_url}/clusters/${clusterId}/k8s`;
  const tls = { ca };
  const hdr = { authorization: `Bearer ${USER_TOKEN}` };
  const tunnel = (path: string) => () => fetch(`${via}${path}`, { headers: hdr, tls } as RequestInit);
  const backendTls = tlsBackend ? { tls: { ca: readFileSync(join(ROOT, 'test/fixtures/tls/ca.crt'), 'utf8') } } : {};
  const direct = (path: string) => () => fetch(`${backendUrl}${path}`, backendTls as RequestInit);

  let peakRss = rssMiB(agent.pid);
  const rssTimer = setInterval(() => {
    peakRss = Math.max(peakRss, rssMiB(agent.pid));
  }, 100);

  // warm-up
  await load(tunnel('/bench/small'), 8, { count: 400 });
  await load(direct('/bench/small'), 8, { count: 400 });

  const rows: string[] = [];
  const dur = quick ? 2000 : 5000;
  // 1. small GET, concurrency 1 and 64
  const d1 = await load(direct('/bench/small'), 1, { count: quick ? 500 : 2000 });
  const t1 = await load(tunnel('/bench/small'), 1, { count: quick ? 500 : 2000 });
  const d64 = await load(direct('/bench/small'), 64, { durationMs: dur });
  const t64 = await load(tunnel('/bench/small'), 64, { durationMs: dur });
  rows.push(`| small GET 1 KiB, c=1: p50 ms | ${fmt(d1.p50)} | ${fmt(t1.p50)} | +${fmt(t1.p50 - d1.p50)} ms | overhead ≤ 1 ms |`);
  rows.push(`| small GET 1 KiB, c=1: p99 ms | ${fmt(d1.p99)} | ${fmt(t1.p99)} | ${fmt(t1.p99 / d1.p99)}× | |`);
  rows.push(`| small GET 1 KiB, c=64: p50 ms | ${fmt(d64.p50)} | ${fmt(t64.p50)} | ${fmt(t64.p50 / d64.p50)}× | |`);
  rows.push(`| small GET 1 KiB, c=64: p99 ms | ${fmt(d64.p99)} | ${fmt(t64.p99)} | ${fmt(t64.p99 / d64.p99)}× | |`);
  rows.push(`| small GET 1 KiB, c=64: requests/s | ${fmt(d64.rps, 0)} | ${fmt(t64.rps, 0)} | ${fmt(t64.rps / d64.rps)}× | ≥ 5,000 /s |`);

  // 2. 64 MiB body throughput
  const big = async (get: () => Promise<Response>) => {
    const s = performance.now();
    const r = await get();
    const n = (await r.arrayBuffer()).byteLength;
    if (n !== 64 << 20) throw new Error(`big body was ${n} bytes (status ${r.status})`);
    return n / (1 << 20) / ((performance.now() - s) / 1000);
  };
  const bigRuns = quick ? 1 : 3;
  let dBig = 0;
  let tBig = 0;
  for (let i = 0; i < bigRuns; i++) {
    dBig = Math.max(dBig, await big(direct('/bench/big')));
    tBig = Math.max(tBig, await big(tunnel('/bench/big')));
  }
  // Where the CPU goes while 64 MiB bodies cross the tunnel (100 % = one core).
  const who = { client: process.pid, hub: hub.pid, agent: agent.pid, backend: backend.pid };
  const t0 = Object.fromEntries(Object.entries(who).map(([k, pid]) => [k, cpuTicks(pid)]));
  const w0 = performance.now();
  for (let i = 0; i < bigRuns; i++) await big(tunnel('/bench/big'));
  const secs = (performance.now() - w0) / 1000;
  const cpu = Object.entries(who).map(([k, pid]) => `${k} ${fmt((cpuTicks(pid) - (t0[k] ?? 0)) / secs, 0)} %`).join(', ');
  rows.push(`| 64 MiB body: throughput MiB/s (best of ${bigRuns}) | ${fmt(dBig, 0)} | ${fmt(tBig, 0)} | ${fmt((100 * tBig) / dBig, 0)} % | ≥ 50 % of direct |`);

  // 3. bytes on the WebSocket for a 1 MiB JSON pod list
  const list = new Uint8Array(await (await direct('/api/v1/pods')()).arrayBuffer());
  const headers = { 'Content-Type': ['application/json'] };
  const b64Json = JSON.stringify({ type: 'proxy_response', request_id: 'k8s-1-abcdef', payload: { status: 200, headers, body: Buffer.from(list).toString('base64'), encoding: 'base64' } }).length;
  const binary = encodeResponseFrame('k8s-1-abcdef', 200, headers, list).length;
  const gz = Bun.gzipSync(list, { level: 6 });
  const binaryGzip = encodeResponseFrame('k8s-1-abcdef', 200, headers, gz).length;
  const metricsBefore = await agentWireBytes(agent);
  const viaList = await tunnel('/api/v1/pods')();
  const got = new Uint8Array(await viaList.arrayBuffer());
  if (Buffer.compare(Buffer.from(got), Buffer.from(list)) !== 0) throw new Error('pod list differs through the tunnel');
  const metricsAfter = await agentWireBytes(agent);
  const measured = metricsAfter - metricsBefore;
  rows.push(`| 1 MiB pod list on the wire: base64 JSON | ${list.length} raw | ${b64Json} | ${fmt((100 * b64Json) / list.length, 1)} % | |`);
  rows.push(`| 1 MiB pod list on the wire: binary frame | ${list.length} raw | ${binary} | ${fmt((100 * binary) / list.length, 1)} % | |`);
  rows.push(`| 1 MiB pod list on the wire: binary + gzip (computed / measured by the agent) | ${list.length} raw | ${binaryGzip} / ${measured} | ${fmt((100 * measured) / list.length, 1)} % | ≤ 15 % |`);

  // 4. head-of-line blocking: small requests while a 64 MiB transfer runs
  const baseline = await load(tunnel('/bench/small'), 4, { count: quick ? 400 : 1000 });
  let bigDone = false;
  const bigLoop = (async () => {
    while (!bigDone) await (await tunnel('/bench/big')()).arrayBuffer();
  })();
  const during = await load(tunnel('/bench/small'), 4, { count: quick ? 400 : 1000 });
  bigDone = true;
  await bigLoop;
  rows.push(`| small GET p99 ms through the tunnel, c=4: idle / during 64 MiB tunnel transfers | ${fmt(baseline.p99)} | ${fmt(during.p99)} | ${fmt(during.p99 / baseline.p99)}× | ≤ 10 ms |`);
  // Control: the same measurement with no tunnel at all, to separate CPU contention on this machine from
  // head-of-line blocking in the tunnel.
  const dBase = await load(direct('/bench/small'), 4, { count: quick ? 400 : 1000 });
  let dDone = false;
  const dLoop = (async () => {
    while (!dDone) await (await direct('/bench/big')()).arrayBuffer();
  })();
  const dDuring = await load(direct('/bench/small'), 4, { count: quick ? 400 : 1000 });
  dDone = true;
  await dLoop;
  rows.push(`| control, direct only: small GET p99 ms, c=4: idle / during 64 MiB direct transfers | ${fmt(dBase.p99)} | ${fmt(dDuring.p99)} | ${fmt(dDuring.p99 / dBase.p99)}× | |`);

  clearInterval(rssTimer);
  peakRss = Math.max(peakRss, rssMiB(agent.pid));
  rows.push(`| agent RSS, peak during the run (MiB) | | ${fmt(peakRss, 0)} | | ≤ 150 MiB |`);
  const errors = [d1, t1, d64, t64, baseline, during].reduce((a, r) => a + r.errors, 0);

  const table = [
    `Bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, loopback; backend, hub and agent are separate processes; client → hub over HTTPS; backend over ${tlsBackend ? "HTTPS (--tls-backend)" : "plain HTTP"}; agent ${agentBinary ? "compiled binary" : agentDeno ? `deno run from source (Deno ${Bun.spawnSync([DENO, '--version']).stdout.toString().split(' ')[1]})` : "bun run from source"}.`,
    '',
    '| measurement | direct | through the tunnel | ratio | target |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `Requests with errors: ${errors}.`,
    `CPU during 64 MiB tunnel transfers (100 % = one core of ${navigator.hardwareConcurrency}): ${cpu}.`,
  ].join('\n');
  console.log(table);
}

async function agentWireBytes(agent: ReturnType<typeof Bun.spawn>): Promise<number> {
  // The agent's local port is not known to us from env (0 = ephemeral); read it from its /proc listening socket is
  // overkill: ask the OS via ss.
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
function agentPort(pid: number): number {
  if (cachedPort) return cachedPort;
  const out = Bun.spawnSync(['ss', '-ltnpH']).stdout.toString();
  const line = out.split('\n').find((l) => l.includes(`pid=${pid},`) && /0\.0\.0\.0:\d+/.test(l));
  cachedPort = Number(/0\.0\.0\.0:(\d+)/.exec(line ?? '')?.[1] ?? 0);
  if (!cachedPort) throw new Error('agent port not found');
  return cachedPort;
}

try {
  await main();
} finally {
  for (const p of procs) p.kill('SIGTERM');
}
process.exit(0);
