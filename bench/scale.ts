// Scale benchmark (issue 15 item 8): N lightweight simulated agents speaking the real protocol (register on the
// controller socket, hand-off to the gateway socket, heartbeats; the same envelopes as the agent) against two hub
// replicas on PostgreSQL behind HAProxy, and, as the baseline in the same run, against one hub on SQLite.
// Measured: registrations/s, hub RSS per idle session (the hubs' summed RSS once idle and settled — sampled every
// 250 ms until it moved < 1 % over a second and, for hubs that collect when quiet and export it in /metrics, until
// each has collected — with N sessions minus the same before the burst, / N; also the figure read right after the
// last agent connected, which counts the burst's uncollected garbage, and the JS heap's share from /metrics),
// heartbeat cost (hub CPU per heartbeat, round time; warm right after the burst and once more after the idle
// period), and
// the time for every agent to be back after the replica holding most sessions is SIGKILLed (the agent's own
// redial: resume on the gateway after its jittered backoff, a full registration after a failed resume), and what
// that burst does to PostgreSQL: pg_stat_activity (connections, active, waiting on locks) and write transactions
// (xid advance) every 100 ms, pg_stat_database commits/rollbacks, and the hubs' resume latency (gateway socket
// open → first heartbeat_ack) and errors, against the same figures in the steady state before the kill.
//   bun bench/scale.ts [--agents N] [--first-redial full|additive] [--durable] [--no-baseline] [--json FILE]
// --durable: PostgreSQL flushes every commit to disk (fsync, full-page writes) as in production; by default the
// bench's server runs without (as the tests' does).
// --first-redial additive: the first redial after the lost session waits base + 0–25 % like the later ones (the
// agent before it spread that first wait over [0, base + 25 %); upstream's Go agent still does), for comparison.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startHubCluster } from '../src/devstack/hub-cluster.ts';
import { freeLoopbackPort } from '../src/devstack/postgres-server.ts';
import { decodeEnvelope, encodeEnvelope } from '../src/protocol/envelope.ts';
import { connectPostgres, type PgClient } from '../src/runtime/postgres.ts';
import { type BackoffPolicy, backoffDelay, firstRedialDelay } from '../src/timing/backoff.ts';

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const N = Number(arg('--agents')) || 1000;
const CONCURRENCY = 100;
/** The agent's reconnect policy with its defaults (timeouts.websocket_reconnect 500 ms, _max 60 s; src/tunnel/session.ts). */
const FIRST_REDIAL = arg('--first-redial') ?? 'full';
if (FIRST_REDIAL !== 'full' && FIRST_REDIAL !== 'additive') throw new Error('--first-redial full|additive');
const RECONNECT: BackoffPolicy = { baseMs: 500, maxMs: 60_000, jitter: { kind: 'within-cap', fraction: 0.25 } };
const WITH_BASELINE = !process.argv.includes('--no-baseline');
const DURABLE = process.argv.includes('--durable');
const JSON_OUT = arg('--json');
/** The agent's heartbeat period (agent.heartbeat_interval default). */
const HEARTBEAT_PERIOD_MS = 30_000;

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}
function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}
/** One series from every hub's /metrics, or null when a hub does not export it. */
async function metricEach(urls: string[], series: string): Promise<number[] | null> {
  const out: number[] = [];
  for (const u of urls) {
    const text = await (await fetch(u)).text();
    const m = new RegExp(`^${series.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
    if (!m) return null;
    out.push(Number(m[1]));
  }
  return out;
}
/** The sum of one series over the hubs, or null when a hub does not export it. */
const metricSum = async (urls: string[], series: string) => (await metricEach(urls, series))?.reduce((a, b) => a + b, 0) ?? null;
const QUIET = 'pipeops_hub_quiet_collections_total';
const HEAP = 'pipeops_hub_js_heap_bytes{kind="size"}';
const HEAP_EXTRA = 'pipeops_hub_js_heap_bytes{kind="extra"}';

interface Settled {
  kib: number;
  /** From the call until the RSS was stable (or the bound). */
  waitedMs: number;
  stable: boolean;
  /** The hubs' JS heap (size + extra) as of their last collection, when they export it. */
  heapKiB: number | null;
}

/**
 * Waits, with no traffic from the bench, until the hubs' summed RSS is stable: sampled every 250 ms, stable once it
 * moved by < 1 % over the last second, and (for hubs that collect when quiet and say so in /metrics) once every hub
 * has collected since the call (or, with `collections`, that many times in all). Bounded by `boundMs`.
 */
async function settle(pids: () => number[], metrics: string[], o: { collections?: number; boundMs?: number } = {}): Promise<Settled> {
  const t0 = performance.now();
  // Each hub's collections: one more than now, or (before any traffic of the bench) o.collections.
  const want = (await metricEach(metrics, QUIET))?.map((n) => (o.collections === undefined ? n + 1 : Math.max(o.collections, n))) ?? null;
  const samples: number[] = [];
  for (;;) {
    samples.push(pids().reduce((s, p) => s + rssKiB(p), 0));
    const now = samples.at(-1)!;
    const secondAgo = samples.at(-5);
    const steady = secondAgo !== undefined && Math.abs(now - secondAgo) < 0.01 * now;
    const collected = want === null || ((await metricEach(metrics, QUIET)) ?? []).every((n, i) => n >= want[i]!);
    const waitedMs = performance.now() - t0;
    if ((steady && collected) || waitedMs > (o.boundMs ?? 20_000)) {
      const n = await metricSum(metrics, QUIET);
      const secs = await metricSum(metrics, 'pipeops_hub_quiet_collection_seconds_total');
      if (n !== null && secs !== null) console.error(`  hubs' quiet collections so far: ${n}, ${((secs * 1000) / Math.max(1, n)).toFixed(1)} ms each on average`);
      const size = await metricSum(metrics, HEAP);
      const extra = await metricSum(metrics, HEAP_EXTRA);
      return { kib: now, waitedMs, stable: steady && collected, heapKiB: size === null || extra === null ? null : (size + extra) / 1024 };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
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

/** A resume or registration attempt after the kill: when it started, how long it took, how it ended. */
interface Attempt {
  at: number;
  ms: number;
  kind: 'resume' | 'register';
  error?: string;
}

/** One simulated agent: what the real one does on the wire, without a cluster behind it. */
class SimAgent {
  clusterId: string | undefined;
  gatewayWsUrl = '';
  gw: WebSocket | null = null;
  connected = false;
  lostAt = 0;
  backAfterMs = -1;
  readonly attempts: Attempt[] = [];
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
      ws.addEventListener('close', (e) => reject(new Error(`closed before open (${e.code})`)), { once: true });
    });
  }

  /** register → register_success → gateway socket → first heartbeat_ack; throws on any failure. */
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
    this.gatewayWsUrl = String(ok.gateway_ws_url);
    await this.resume();
  }

  /** The gateway socket for the known cluster (the agent's resume), bound once its first heartbeat is acknowledged. */
  async resume(): Promise<void> {
    const gw = await this.#open(`${this.gatewayWsUrl}?cluster_uuid=${encodeURIComponent(this.clusterId!)}`);
    gw.addEventListener('message', (e) => {
      if (typeof e.data !== 'string') return;
      const d = decodeEnvelope(e.data);
      if (d.ok && d.message.type === 'heartbeat_ack' && d.message.requestId) this.#acks.get(d.message.requestId)?.();
    });
    const closed = new Promise<never>((_, reject) => gw.addEventListener('close', (e) => reject(new Error(`gateway closed (${e.code} ${e.reason})`)), { once: true }));
    closed.catch(() => {});
    const previous = this.gw;
    this.gw = gw;
    try {
      await Promise.race([this.heartbeat(), closed]);
    } catch (e) {
      this.gw = previous;
      gw.close();
      throw e;
    }
    gw.addEventListener('close', () => {
      if (this.gw !== gw || this.#closing) return;
      this.connected = false;
      this.lostAt = performance.now();
      void this.#reconnect();
    });
    this.connected = true;
  }

  /**
   * The agent's redial (src/tunnel/session.ts): after each backoff wait resume on the gateway; once a gateway
   * attempt has failed, every later attempt is a full registration.
   */
  async #reconnect(): Promise<void> {
    let viaController = false;
    for (let attempt = 0; !this.#closing; attempt++) {
      const wait = attempt === 0 && FIRST_REDIAL === 'full' ? firstRedialDelay(RECONNECT) : backoffDelay(RECONNECT, attempt);
      await new Promise((r) => setTimeout(r, wait));
      const t0 = performance.now();
      const kind = viaController ? 'register' : 'resume';
      try {
        await (viaController ? this.connect() : this.resume());
        this.attempts.push({ at: t0, ms: performance.now() - t0, kind });
        this.backAfterMs = performance.now() - this.lostAt;
        return;
      } catch (e) {
        this.attempts.push({ at: t0, ms: performance.now() - t0, kind, error: (e as Error).message });
        viaController = true;
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

/** One 100 ms sample of the database: its backends (not the sampler's) and its transaction counters. */
interface PgSample {
  t: number;
  conns: number;
  active: number;
  lockWaits: number;
  /** Next transaction id: advances by one per writing transaction, at once (pg_stat_database lags up to 1 s). */
  nextXid: number;
  commits: number;
  rollbacks: number;
}

const PG_SAMPLE = `SELECT
  (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid())::int AS conns,
  (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active')::int AS active,
  (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock')::int AS lock_waits,
  pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid,
  xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()`;

/** Samples the database every 100 ms until stopped. */
function samplePostgres(pg: PgClient): { samples: PgSample[]; stop(): Promise<void> } {
  const samples: PgSample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      const { rows } = await pg.query<Record<string, number | string>>(PG_SAMPLE, []);
      const r = rows[0]!;
      samples.push({ t, conns: Number(r.conns), active: Number(r.active), lockWaits: Number(r.lock_waits), nextXid: Number(r.next_xid), commits: Number(r.xact_commit), rollbacks: Number(r.xact_rollback) });
      await new Promise((res) => setTimeout(res, Math.max(0, 100 - (performance.now() - t))));
    }
  })();
  return {
    samples,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

interface PgWindow {
  seconds: number;
  peakConns: number;
  peakActive: number;
  peakLockWaits: number;
  /** Writing transactions per 100 ms: peak and mean. */
  peakWritesPer100ms: number;
  meanWritesPer100ms: number;
  /** Writing transactions in the window. */
  writes: number;
  /** Commits + rollbacks per second (pg_stat_database, flushed by each backend at most once a second). */
  xactsPerS: number;
  rollbacks: number;
}

function summarise(s: PgSample[]): PgWindow {
  // Rates over spans of at least 100 ms (a sample that came early would inflate a per-100 ms rate).
  const per100: number[] = [];
  for (let i = 0, j = 1; j < s.length; j++) {
    if (s[j]!.t - s[i]!.t < 100) continue;
    per100.push((s[j]!.nextXid - s[i]!.nextXid) / ((s[j]!.t - s[i]!.t) / 100));
    i = j;
  }
  const seconds = (s.at(-1)!.t - s[0]!.t) / 1000;
  return {
    seconds,
    peakConns: Math.max(...s.map((x) => x.conns)),
    peakActive: Math.max(...s.map((x) => x.active)),
    peakLockWaits: Math.max(...s.map((x) => x.lockWaits)),
    peakWritesPer100ms: Math.max(...per100),
    meanWritesPer100ms: per100.reduce((a, b) => a + b, 0) / Math.max(1, per100.length),
    writes: s.at(-1)!.nextXid - s[0]!.nextXid,
    xactsPerS: (s.at(-1)!.commits + s.at(-1)!.rollbacks - s[0]!.commits - s[0]!.rollbacks) / seconds,
    rollbacks: s.at(-1)!.rollbacks - s[0]!.rollbacks,
  };
}

async function inBatches<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

interface Latency {
  n: number;
  p50: number;
  p99: number;
  errors: number;
  errorKinds: Record<string, number>;
}

interface Row {
  setup: string;
  regsPerS: number;
  /** (RSS with N idle sessions, settled − RSS before, settled) / N. */
  rssPerSessionKiB: number;
  /** The same with RSS read right after the last agent connected (the burst's garbage included). */
  rssBurstPerSessionKiB: number;
  /** How long the hubs took to settle after the burst; whether they did within the bound. */
  idleWaitMs: number;
  idleStable: boolean;
  /** JS heap (size + extra, as of the hubs' last collection) per session, when the hubs export it. */
  heapPerSessionKiB: number | null;
  /** Load average (1 min) when the idle RSS was read. */
  load1: number;
  hbRoundMs: number;
  hbCpuUs: number;
  /** The first heartbeat round after the idle period (the hubs' code possibly dropped by a quiet collection). */
  hbAfterIdle: { ms: number; cpuUs: number };
  reconnect?: { lost: number; p50: number; p99: number; max: number; allBackMs: number };
  /** Before the kill: the database idle plus serial resumes; after: from the kill until every agent is back. */
  steady?: { pg: PgWindow; resume: Latency };
  herd?: { pg: PgWindow; resume: Latency; register: Latency; directoryMs: number };
}

function latency(xs: Attempt[]): Latency {
  const ok = xs.filter((x) => !x.error).map((x) => x.ms);
  const errorKinds: Record<string, number> = {};
  for (const x of xs) if (x.error) errorKinds[x.error] = (errorKinds[x.error] ?? 0) + 1;
  return { n: ok.length, p50: pct(ok, 50), p99: pct(ok, 99), errors: xs.length - ok.length, errorKinds };
}

async function measure(setup: string, hubWs: string, token: string, pids: () => number[], metrics: string[], kill?: { pg: PgClient; pg2: PgClient; run: () => Promise<{ at: number; held: number; victim: string }> }): Promise<Row> {
  const agents = Array.from({ length: N }, (_, i) => new SimAgent(i, hubWs, token));
  // The hubs idle before the burst: settled (their start-up's garbage collected, if they collect when quiet).
  const before = await settle(pids, metrics, { collections: 1 });
  const t0 = performance.now();
  await inBatches(agents, CONCURRENCY, (a) => a.connect());
  const regsPerS = N / ((performance.now() - t0) / 1000);
  const rss1 = pids().reduce((s, p) => s + rssKiB(p), 0);

  /** One heartbeat from every agent: the round's time and the hubs' CPU per heartbeat. */
  const heartbeatRound = async () => {
    const cpu0 = pids().reduce((s, p) => s + cpuTicks(p), 0);
    const h0 = performance.now();
    await Promise.all(agents.map((a) => a.heartbeat()));
    const ms = performance.now() - h0;
    return { ms, cpuUs: ((pids().reduce((s, p) => s + cpuTicks(p), 0) - cpu0) * 10_000) / N };
  };
  // Right after the burst, the hubs' code warm (as in the steady state: 1,000 agents' heartbeats never leave a quiet second).
  const warm = await heartbeatRound();
  const idle = await settle(pids, metrics);
  const load1 = loadavg()[0]!;
  console.error(`${setup}: RSS ${before.kib} KiB idle, ${rss1} KiB right after the burst, ${idle.kib} KiB idle after ${Math.round(idle.waitedMs)} ms${idle.stable ? '' : ' (not stable)'}; JS heap ${before.heapKiB?.toFixed(0) ?? '-'} → ${idle.heapKiB?.toFixed(0) ?? '-'} KiB; load ${load1}`);
  // The first round after the idle period: what a hub that collected and shrank (dropped its compiled code) pays.
  const cold = await heartbeatRound();
  console.error(`${setup}: heartbeat round warm ${warm.ms.toFixed(0)} ms, ${warm.cpuUs.toFixed(0)} µs CPU each; after idling ${cold.ms.toFixed(0)} ms, ${cold.cpuUs.toFixed(0)} µs`);
  const row: Row = {
    setup,
    regsPerS,
    rssPerSessionKiB: (idle.kib - before.kib) / N,
    rssBurstPerSessionKiB: (rss1 - before.kib) / N,
    idleWaitMs: idle.waitedMs,
    idleStable: idle.stable,
    heapPerSessionKiB: idle.heapKiB === null || before.heapKiB === null ? null : (idle.heapKiB - before.heapKiB) / N,
    load1,
    hbRoundMs: warm.ms,
    hbCpuUs: warm.cpuUs,
    hbAfterIdle: cold,
  };

  if (kill) {
    // Steady state: 3 s of the agents' heartbeats at their default period (every agent once per
    // HEARTBEAT_PERIOD_MS, spread evenly), then resumes one at a time (what a lone reconnecting agent costs).
    await new Promise((r) => setTimeout(r, 1_500)); // pg_stat_database shows the registrations up to 1 s late
    const steady = samplePostgres(kill.pg);
    const beat = Math.max(1, Math.round((N * 100) / HEARTBEAT_PERIOD_MS));
    let next = 0;
    const ticker = setInterval(() => {
      for (let k = 0; k < beat; k++) void agents[next++ % N]!.heartbeat().catch(() => {});
    }, 100);
    await new Promise((r) => setTimeout(r, 3_000));
    clearInterval(ticker);
    await steady.stop();
    const probes: Attempt[] = [];
    for (const a of agents.slice(0, 50)) {
      const p0 = performance.now();
      await a.resume().then(
        () => probes.push({ at: p0, ms: performance.now() - p0, kind: 'resume' }),
        (e: Error) => probes.push({ at: p0, ms: performance.now() - p0, kind: 'resume', error: e.message }),
      );
      await new Promise((r) => setTimeout(r, 20));
    }
    row.steady = { pg: summarise(steady.samples), resume: latency(probes) };
    // Sessions a probe moved to the other replica are closed on the first one at its next renewal: let that pass.
    await new Promise((r) => setTimeout(r, 4_000));
    while (agents.some((a) => !a.connected)) await new Promise((r) => setTimeout(r, 50));

    const herd = samplePostgres(kill.pg);
    const { at, held, victim } = await kill.run();
    const deadline = at + 120_000;
    // The session directory is right again once no session names the dead replica (claimed by the survivor).
    const directory = (async () => {
      while (performance.now() < at + 30_000) {
        const { rows } = await kill.pg2.query<{ n: number }>('SELECT count(*)::int AS n FROM agent_sessions WHERE replica_id = $1', [victim]);
        if (Number(rows[0]!.n) === 0) return performance.now() - at;
        await new Promise((r) => setTimeout(r, 20));
      }
      return NaN;
    })();
    // First every session the dead replica held is seen lost, then every agent is back.
    while (agents.filter((a) => a.lostAt >= at).length < held && performance.now() < at + 20_000) await new Promise((r) => setTimeout(r, 20));
    while (agents.some((a) => !a.connected) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const allBackMs = agents.every((a) => a.connected) ? performance.now() - at : NaN;
    // The window ends one second after the later of: every agent back, the directory right again.
    const directoryMs = await directory;
    await new Promise((r) => setTimeout(r, 1_000));
    await herd.stop();
    const lost = agents.filter((a) => a.lostAt >= at);
    const back = lost.filter((a) => a.backAfterMs >= 0).map((a) => a.backAfterMs);
    row.reconnect = { lost: lost.length, p50: pct(back, 50), p99: pct(back, 99), max: Math.max(...back), allBackMs };
    const after = agents.flatMap((a) => a.attempts.filter((x) => x.at >= at));
    row.herd = { pg: summarise(herd.samples.filter((x) => x.t >= at)), resume: latency(after.filter((x) => x.kind === 'resume')), register: latency(after.filter((x) => x.kind === 'register')), directoryMs };
  }
  for (const a of agents) a.close();
  return row;
}

const dir = mkdtempSync(join(tmpdir(), 'pipeops-bench-scale-'));
const rows: Row[] = [];

const loadStart = loadavg().map((x) => x.toFixed(2));

// Two replicas on PostgreSQL behind HAProxy.
const cluster = await startHubCluster({ dir: join(dir, 'ha'), replicas: 2, lease: '10s', durablePostgres: DURABLE });
const sampler = connectPostgres(cluster.database, { max: 1 });
const sampler2 = connectPostgres(cluster.database, { max: 1 });
try {
  const pidsNow = () => [...cluster.pids().values()];
  rows.push(
    await measure(`2 replicas, PostgreSQL, HAProxy (${N} agents)`, cluster.frontUrl.replace(/^http/, 'ws'), cluster.tokens.agent, pidsNow, cluster.replicas.map((r) => `http://${r.host}:${r.port}/metrics`), {
      pg: sampler,
      pg2: sampler2,
      run: async () => {
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
        return { at, held: victim.n, victim: victim.r.name };
      },
    }),
  );
} finally {
  await sampler.close();
  await sampler2.close();
  await cluster.stop();
}

// Baseline: one hub process on SQLite.
if (WITH_BASELINE) {
  const port = await freeLoopbackPort();
  const cfg = join(dir, 'single.yaml');
  writeFileSync(cfg, stringify({ host: '127.0.0.1', port, kube_port: 0, gateway_port: 0, agent_tokens: ['bench-agent-token-0123'], state: join(dir, 'single', 'hub.db') }));
  const single = spawn(process.execPath, [join(import.meta.dir, '..', 'src', 'cli.ts'), 'hub', '--config', cfg], { stdio: 'ignore' });
  try {
    for (;;) {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    rows.push(await measure(`1 hub, SQLite (${N} agents)`, `ws://127.0.0.1:${port}`, 'bench-agent-token-0123', () => [single.pid!], [`http://127.0.0.1:${port}/metrics`]));
  } finally {
    single.kill('SIGTERM');
  }
}
const loadEnd = loadavg().map((x) => x.toFixed(2));

const base = rows[1] ?? rows[0]!;
const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log(`\nload average ${loadStart.join(' ')} at start, ${loadEnd.join(' ')} at end; first redial: ${FIRST_REDIAL}; PostgreSQL ${DURABLE ? 'durable (fsync on)' : 'fsync off'}`);
console.log(`\n| setup | registrations/s | hub RSS per idle session: idle (settled after) / right after the burst; of it JS heap | heartbeat round (${N}) | hub CPU per heartbeat | after SIGKILL of a replica: sessions lost, back p50 / p99 / all |`);
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  const rc = r.reconnect ? `${r.reconnect.lost}, ${f(r.reconnect.p50)} / ${f(r.reconnect.p99)} ms / ${f(r.reconnect.allBackMs / 1000, 1)} s` : '-';
  console.log(
    `| ${r.setup} | ${f(r.regsPerS)} (${f(r.regsPerS / base.regsPerS, 2)}×) | ${f(r.rssPerSessionKiB, 1)} KiB (${f(r.idleWaitMs / 1000, 1)} s${r.idleStable ? '' : ', not stable'}, load ${f(r.load1, 1)}) / ${f(r.rssBurstPerSessionKiB, 1)} KiB; ${r.heapPerSessionKiB === null ? '-' : `${f(r.heapPerSessionKiB, 1)} KiB`} | ${f(r.hbRoundMs)} ms; after idling ${f(r.hbAfterIdle.ms)} ms | ${f(r.hbCpuUs)} µs; after idling ${f(r.hbAfterIdle.cpuUs)} µs | ${rc} |`,
  );
}
const ha = rows[0]!;
if (ha.steady && ha.herd && ha.reconnect) {
  const w = (p: PgWindow) => `${p.peakConns} / ${p.peakActive} / ${p.peakLockWaits}`;
  const l = (x: Latency) => `${f(x.p50)} / ${f(x.p99)} ms (${x.n})`;
  console.log('\n| PostgreSQL and the hubs | steady state (heartbeats at the default period; resumes: 50 one at a time) | reconnect burst (kill → all back and the directory right, + 1 s) |');
  console.log('|---|---|---|');
  console.log(`| window | ${f(ha.steady.pg.seconds, 1)} s | ${f(ha.herd.pg.seconds, 1)} s |`);
  console.log(`| backends: peak connections / active / waiting on a lock | ${w(ha.steady.pg)} | ${w(ha.herd.pg)} |`);
  console.log(`| writing transactions per 100 ms: peak / mean; in all | ${f(ha.steady.pg.peakWritesPer100ms)} / ${f(ha.steady.pg.meanWritesPer100ms, 1)}; ${ha.steady.pg.writes} | ${f(ha.herd.pg.peakWritesPer100ms)} / ${f(ha.herd.pg.meanWritesPer100ms, 1)}; ${ha.herd.pg.writes} |`);
  console.log(`| commits + rollbacks per second (pg_stat_database); rollbacks | ${f(ha.steady.pg.xactsPerS)}; ${ha.steady.pg.rollbacks} | ${f(ha.herd.pg.xactsPerS)}; ${ha.herd.pg.rollbacks} |`);
  console.log(`| resume (gateway open → first heartbeat_ack) p50 / p99 | ${l(ha.steady.resume)} | ${l(ha.herd.resume)} |`);
  console.log(`| full registrations after a failed resume p50 / p99 | - | ${l(ha.herd.register)} |`);
  console.log(`| failed attempts | ${ha.steady.resume.errors} | ${ha.herd.resume.errors + ha.herd.register.errors} ${JSON.stringify({ ...ha.herd.resume.errorKinds, ...ha.herd.register.errorKinds })} |`);
  console.log(`| all back after the SIGKILL: p50 / p99 / max / all | | ${f(ha.reconnect.p50)} / ${f(ha.reconnect.p99)} / ${f(ha.reconnect.max)} ms / ${f(ha.reconnect.allBackMs)} ms (${ha.reconnect.lost} lost) |`);
  console.log(`| session directory right again (no session names the dead replica) | | ${f(ha.herd.directoryMs)} ms after the SIGKILL |`);
}
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ agents: N, first_redial: FIRST_REDIAL, durable: DURABLE, load_start: loadStart, load_end: loadEnd, rows }, null, 2));
process.exit(0);
