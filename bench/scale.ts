// Scale benchmark (issue 15 item 8): N lightweight simulated agents speaking the real protocol (register on the
// controller socket, hand-off to the gateway socket, heartbeats; the same envelopes as the agent) against two hub
// replicas on PostgreSQL behind HAProxy, and, as the baseline in the same run, against one hub on SQLite.
// Measured: registrations/s, hub RSS per idle session, heartbeat cost (hub CPU per heartbeat, round time), and
// the time for every agent to be back after the replica holding most sessions is SIGKILLed (jittered backoff).
//   bun bench/scale.ts [--agents N]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startHubCluster } from '../src/devstack/hub-cluster.ts';
import { freeLoopbackPort } from '../src/devstack/postgres-server.ts';
import { decodeEnvelope, encodeEnvelope } from '../src/protocol/envelope.ts';

const N = Number(process.argv[process.argv.indexOf('--agents') + 1]) || 1000;
const CONCURRENCY = 100;
const RECONNECT_FIRST_MS = 250;
const RECONNECT_MAX_MS = 8_000;

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}
function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};

const registerPayload = (i: number, clusterId?: string) => ({
  agent_id: `sim-agent-${i}`,
  name: `sim-${i}`,
  ...(clusterId ? { cluster_id: clusterId } : {}),
  k8s_version: 'v1.32.0',
  hostname: `node-${i}`,
  agent_version: 'sim',
  server_ip: '127.0.0.1',
  region: 'bench',
  cloud_provider: 'none',
  tunnel_port_config: { kubernetes_api: 0, kubelet: 0, agent_http: 0 },
  labels: {},
  server_specs: {},
  features: {},
  k8s_service_token: `sim-sa-token-${i}-0123456789`,
});

/** One simulated agent: what the real one does on the wire, without a cluster behind it. */
class SimAgent {
  clusterId: string | undefined;
  gw: WebSocket | null = null;
  connected = false;
  lostAt = 0;
  backAfterMs = -1;
  #seq = 0;
  #acks = new Map<string, () => void>();
  #closing = false;

  constructor(
    readonly i: number,
    readonly hubWs: string,
    readonly token: string,
  ) {}

  #open(url: string): Promise<WebSocket> {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${this.token}` } } as unknown as string[]);
    return new Promise((resolve, reject) => {
      ws.addEventListener('open', () => resolve(ws), { once: true });
      ws.addEventListener('error', () => reject(new Error('connect failed')), { once: true });
      ws.addEventListener('close', () => reject(new Error('closed before open')), { once: true });
    });
  }

  /** register → register_success → gateway socket; throws on any failure. */
  async connect(): Promise<void> {
    const ctl = await this.#open(`${this.hubWs}/api/v1/clusters/agent/ws`);
    const ok = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no register_success')), 20_000);
      ctl.addEventListener('message', (e) => {
        const d = decodeEnvelope(String(e.data));
        if (d.ok && d.message.type === 'register_success') {
          clearTimeout(t);
          resolve(d.message.payload);
        } else if (d.ok && d.message.type === 'error') {
          clearTimeout(t);
          reject(new Error(String(d.message.payload.error)));
        }
      });
      ctl.addEventListener('close', () => reject(new Error('controller closed')), { once: true });
      ctl.send(encodeEnvelope('register', registerPayload(this.i, this.clusterId), `reg-${this.i}-${++this.#seq}`));
    });
    ctl.close();
    this.clusterId = String(ok.cluster_id);
    const gw = await this.#open(`${String(ok.gateway_ws_url)}?cluster_uuid=${encodeURIComponent(this.clusterId)}`);
    gw.addEventListener('message', (e) => {
      if (typeof e.data !== 'string') return;
      const d = decodeEnvelope(e.data);
      if (d.ok && d.message.type === 'heartbeat_ack' && d.message.requestId) this.#acks.get(d.message.requestId)?.();
    });
    gw.addEventListener('close', () => {
      if (this.gw !== gw || this.#closing) return;
      this.connected = false;
      this.lostAt = performance.now();
      void this.#reconnect();
    });
    this.gw = gw;
    this.connected = true;
  }

  /** Exponential backoff with full jitter in [d/2, d], as the agent's (no thundering herd on the database). */
  async #reconnect(): Promise<void> {
    let delay = RECONNECT_FIRST_MS;
    for (;;) {
      await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * (delay / 2)));
      try {
        await this.connect();
        this.backAfterMs = performance.now() - this.lostAt;
        return;
      } catch {
        delay = Math.min(RECONNECT_MAX_MS, delay * 2);
      }
    }
  }

  heartbeat(): Promise<void> {
    const id = `hb-${this.i}-${++this.#seq}`;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no heartbeat_ack')), 30_000);
      this.#acks.set(id, () => {
        clearTimeout(t);
        this.#acks.delete(id);
        resolve();
      });
      this.gw!.send(encodeEnvelope('heartbeat', { cluster_id: this.clusterId, status: 'healthy', metadata: { k8s_nodes: 1, k8s_pods: 12 } }, id));
    });
  }

  close(): void {
    this.#closing = true;
    this.gw?.close();
  }
}

async function inBatches<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

interface Row {
  setup: string;
  regsPerS: number;
  rssPerSessionKiB: number;
  hbRoundMs: number;
  hbCpuUs: number;
  reconnect?: { lost: number; p50: number; p99: number; max: number; allBackMs: number };
}

async function measure(setup: string, hubWs: string, token: string, pids: () => number[], kill?: () => Promise<{ at: number; held: number }>): Promise<Row> {
  const agents = Array.from({ length: N }, (_, i) => new SimAgent(i, hubWs, token));
  // Warm-up: one agent, so that the baseline RSS includes the code paths.
  const rss0 = pids().reduce((s, p) => s + rssKiB(p), 0);
  const t0 = performance.now();
  await inBatches(agents, CONCURRENCY, (a) => a.connect());
  const regsPerS = N / ((performance.now() - t0) / 1000);
  const rss1 = pids().reduce((s, p) => s + rssKiB(p), 0);

  const cpu0 = pids().reduce((s, p) => s + cpuTicks(p), 0);
  const h0 = performance.now();
  await Promise.all(agents.map((a) => a.heartbeat()));
  const hbRoundMs = performance.now() - h0;
  const cpu1 = pids().reduce((s, p) => s + cpuTicks(p), 0);
  const row: Row = { setup, regsPerS, rssPerSessionKiB: (rss1 - rss0) / N, hbRoundMs, hbCpuUs: ((cpu1 - cpu0) * 10_000) / N };

  if (kill) {
    const { at, held } = await kill();
    const deadline = at + 120_000;
    // First every session the dead replica held is seen lost, then every agent is back.
    while (agents.filter((a) => a.lostAt >= at).length < held && performance.now() < at + 20_000) await new Promise((r) => setTimeout(r, 20));
    while (agents.some((a) => !a.connected) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const lost = agents.filter((a) => a.lostAt >= at);
    const back = lost.filter((a) => a.backAfterMs >= 0).map((a) => a.backAfterMs);
    row.reconnect = { lost: lost.length, p50: pct(back, 50), p99: pct(back, 99), max: Math.max(...back), allBackMs: agents.every((a) => a.connected) ? performance.now() - at : NaN };
  }
  for (const a of agents) a.close();
  return row;
}

const dir = mkdtempSync(join(tmpdir(), 'pipeops-bench-scale-'));
const rows: Row[] = [];

// Two replicas on PostgreSQL behind HAProxy.
const cluster = await startHubCluster({ dir: join(dir, 'ha'), replicas: 2, lease: '10s' });
try {
  const pidsNow = () => [...cluster.pids().values()];
  rows.push(
    await measure(`2 replicas, PostgreSQL, HAProxy (${N} agents)`, cluster.frontUrl.replace(/^http/, 'ws'), cluster.tokens.agent, pidsNow, async () => {
      // The replica holding more sessions dies.
      const counts = await Promise.all(
        cluster.replicas.map(async (r) => {
          const m = await (await fetch(`http://${r.host}:${r.port}/metrics`)).text();
          return { r, n: Number(/pipeops_hub_agent_sockets\{kind="gateway",state="bound"\} (\d+)/.exec(m)?.[1] ?? 0) };
        }),
      );
      const victim = counts.sort((x, y) => y.n - x.n)[0]!;
      const at = performance.now();
      process.kill(cluster.pids().get(victim.r.name)!, 'SIGKILL');
      console.error(`killed ${victim.r.name} holding ${victim.n} sessions`);
      return { at, held: victim.n };
    }),
  );
} finally {
  await cluster.stop();
}

// Baseline: one hub process on SQLite.
const port = await freeLoopbackPort();
const cfg = join(dir, 'single.yaml');
writeFileSync(cfg, stringify({ host: '127.0.0.1', port, kube_port: 0, gateway_port: 0, agent_tokens: ['bench-agent-token-0123'], state: join(dir, 'single', 'hub.db') }));
const single = spawn(process.execPath, [join(import.meta.dir, '..', 'src', 'cli.ts'), 'hub', '--config', cfg], { stdio: 'ignore' });
try {
  for (;;) {
    if ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  rows.push(await measure(`1 hub, SQLite (${N} agents)`, `ws://127.0.0.1:${port}`, 'bench-agent-token-0123', () => [single.pid!]));
} finally {
  single.kill('SIGTERM');
}

const base = rows[1]!;
const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(`\n| setup | registrations/s | hub RSS per idle session | heartbeat round (${N}) | hub CPU per heartbeat | after SIGKILL of a replica: sessions lost, back p50 / p99 / all |`);
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const rc = r.reconnect ? `${r.reconnect.lost}, ${f(r.reconnect.p50)} / ${f(r.reconnect.p99)} ms / ${f(r.reconnect.allBackMs / 1000, 1)} s` : '-';
  console.log(
    `| ${r.setup} | ${f(r.regsPerS)} (${f(r.regsPerS / base.regsPerS, 2)}×) | ${f(r.rssPerSessionKiB, 1)} KiB | ${f(r.hbRoundMs)} ms | ${f(r.hbCpuUs)} µs | ${rc} |`,
  );
}
process.exit(0);
