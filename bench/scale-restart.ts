// Scale figures of one hub (issue 15, item 8, the part without replicas): N lightweight simulated agents in this
// process, one WebSocket each, speaking the real protocol (register on the controller socket, hand-off to the
// gateway with our query, heartbeats, ping → pong, after a drop the agent's redial: resume on the gateway, after a
// failed resume a full registration, §2.1–§2.8, §7) against
// a hub process this script starts (`bun run src/cli.ts hub`, SQLite state file). Measured:
//   - registrations per second: all N register with bounded concurrency (a registration ends at the first
//     heartbeat_ack on the gateway socket: the session is bound);
//   - hub RSS idle before vs with N idle sessions → KiB per idle session (target ≤ 50 KiB);
//   - heartbeat cost: hub CPU (utime + stime from /proc/<pid>/stat) over a window where all N heartbeat at a set
//     interval, minus the same window with no heartbeats, divided by the heartbeats acknowledged;
//   - reconnect: SIGKILL the hub, restart it on the same port and state file; each agent redials with the agent's
//     own jittered backoff (src/timing/backoff.ts: the first redial after a lost session uniform in [0, base + 25 %),
//     later ones doubling, within-cap 25 %) → p50/p99/max from the kill until the agent's
//     session is acknowledged again (target all ≤ 30 s).
//   bun bench/scale-restart.ts [--agents 1000] [--concurrency 50] [--heartbeat-interval-ms 2000] [--window-ms 20000]
//                      [--down-ms 0] [--reconnect-base-ms 500] [--reconnect-max-ms 10000] [--hub-cmd "bun run src/cli.ts"]
//                      [--json FILE] [--docs] [--smoke]
// Hubs are started through `HubLauncher` (`--hub-cmd` runs another build, e.g. the compiled binary); replicas (issue 15,
// items 1–3) need a shared store and forwarding, which do not exist yet, so `--replicas` other than 1 is refused
// rather than faked. With them: one launcher per replica on a shared `state: postgres://…`, and each `SimAgent`'s
// `hubUrl()` naming the replica (or the HAProxy front) it dials; the kill step then kills one replica.
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { buildHeartbeat } from '../src/heartbeat/payload.ts';
import { decodeEnvelope, encodeEnvelope } from '../src/protocol/envelope.ts';
import { controllerUrl, gatewayUrl } from '../src/protocol/session-urls.ts';
import { type BackoffPolicy, backoffDelay, firstRedialDelay } from '../src/timing/backoff.ts';
import { buildRegisterPayload } from '../src/tunnel/register-payload.ts';
import { emptyDir, type Proc, watchLines } from '../scripts/binary-run.ts';

const ROOT = join(import.meta.dir, '..');
const AGENT_TOKEN = 'scale-bench-agent-token';
const ADMIN_TOKEN = 'scale-bench-admin-token';
const AGENT_VERSION = 'scale-bench-0.0.0';

// ---- options ----
export interface ScaleOptions {
  agents: number;
  concurrency: number;
  heartbeatIntervalMs: number;
  windowMs: number;
  /** How long the hub stays down after the SIGKILL before it is started again (a slow restart or fail-over). */
  downMs: number;
  reconnect: BackoffPolicy;
  hubCmd: string[];
  replicas: number;
  json?: string;
  /** Replace the section between the scale markers of docs/benchmarks.md with this run's table. */
  docs: boolean;
  smoke: boolean;
}

function parseOptions(argv: string[]): ScaleOptions {
  const known = new Set(['--agents', '--concurrency', '--heartbeat-interval-ms', '--window-ms', '--down-ms', '--reconnect-base-ms', '--reconnect-max-ms', '--hub-cmd', '--replicas', '--json']);
  const vals = new Map<string, string>();
  let smoke = false;
  let docs = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--smoke') smoke = true;
    else if (a === '--docs') docs = true;
    else if (known.has(a)) {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      vals.set(a, v);
    } else fail(`unknown argument ${a}`);
  }
  const int = (k: string, def: number, min: number): number => {
    const raw = vals.get(k);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) fail(`${k} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const o: ScaleOptions = {
    agents: int('--agents', smoke ? 20 : 1000, 1),
    concurrency: int('--concurrency', smoke ? 10 : 50, 1),
    heartbeatIntervalMs: int('--heartbeat-interval-ms', smoke ? 500 : 2000, 50),
    windowMs: int('--window-ms', smoke ? 2000 : 20_000, 100),
    downMs: int('--down-ms', 0, 0),
    reconnect: { baseMs: int('--reconnect-base-ms', 500, 1), maxMs: int('--reconnect-max-ms', smoke ? 2000 : 10_000, 1), jitter: { kind: 'within-cap', fraction: 0.25 } },
    hubCmd: (vals.get('--hub-cmd') ?? `${process.execPath} run ${join(ROOT, 'src/cli.ts')}`).split(/\s+/).filter(Boolean),
    replicas: int('--replicas', 1, 1),
    json: vals.get('--json'),
    docs,
    smoke,
  };
  if (o.reconnect.baseMs > o.reconnect.maxMs) fail('--reconnect-base-ms must not exceed --reconnect-max-ms');
  // One socket per agent here and one per session in the hub (which inherits this limit); a lower soft limit would
  // surface as unexplained connect failures midway.
  const nofile = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? Number.POSITIVE_INFINITY);
  if (o.agents + 256 > nofile) fail(`--agents ${o.agents} needs more than the open-file limit ${nofile}: raise it first (ulimit -n ${o.agents + 1024})`);
  if (o.docs && o.smoke) fail('--docs records a full run, not --smoke');
  if (o.replicas !== 1) fail('--replicas: hub replicas need the shared PostgreSQL store and forwarding (issue 15, items 1–3), which this hub does not have yet; only 1 is measured');
  return o;
}

function fail(msg: string): never {
  process.stderr.write(`bench/scale-restart.ts: ${msg}\n`);
  process.exit(2);
}

// ---- the hub process ----
type HubProc = Proc & { url: string; port: number };

class HubLauncher {
  constructor(
    readonly cmd: string[],
    readonly dir: string,
    readonly state: string,
  ) {}

  /** Starts `<cmd> hub` on `port` (0: ephemeral) and waits for its ready line. */
  async start(port = 0): Promise<HubProc> {
    const p = Bun.spawn(
      [...this.cmd, 'hub', '--host', '127.0.0.1', '--port', String(port), '--kube-port', '0', '--gateway-port', '0', '--state', this.state, '--log-level', 'warn'],
      {
        cwd: this.dir,
        // Tokens through the environment, never argv (house rule).
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: this.dir, PIPEOPS_HUB_AGENT_TOKEN: AGENT_TOKEN, PIPEOPS_HUB_ADMIN_TOKEN: ADMIN_TOKEN },
        stdin: 'ignore',
        stdout: 'pipe',
        stderr: 'pipe',
      },
    );
    const w = watchLines(p);
    const ready = JSON.parse(await w.next(/"event":"hub_ready"/, 60_000)) as { url: string };
    return { ...w, url: ready.url, port: Number(new URL(ready.url).port) };
  }
}

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

function rssKiB(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(s)?.[1] ?? Number.NaN);
}

const CLK_TCK = Number(Bun.spawnSync(['getconf', 'CLK_TCK']).stdout.toString().trim()) || 100;

// ---- a simulated agent ----
/** Resolves when `ws` opens; rejects on error or close first. */
function openSocket(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${AGENT_TOKEN}` }, perMessageDeflate: false } as unknown as string[]);
  return new Promise((resolve, reject) => {
    ws.addEventListener('open', () => resolve(ws), { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot connect to ${new URL(url).host}`)), { once: true });
    ws.addEventListener('close', (e) => reject(new Error(`closed before open (${e.code})`)), { once: true });
  });
}

class SimAgent {
  clusterId = '';
  gatewayWsUrl = '';
  acks = 0;
  pings = 0;
  /** How sessions came back after a drop: resumed on the gateway, or a full registration after a refusal. */
  resumed = 0;
  reregistered = 0;
  /** performance.now() of the first heartbeat_ack after the last (re)connect; null while not acknowledged. */
  ackedAt: number | null = null;
  #gw: WebSocket | null = null;
  #hb: ReturnType<typeof setInterval> | null = null;
  #ackWaiter: (() => void) | null = null;
  #stopped = false;
  readonly agentId: string;

  constructor(
    readonly index: number,
    readonly hubUrl: () => string,
    readonly policy: BackoffPolicy,
  ) {
    this.agentId = `agent-scale-${index.toString(16).padStart(8, '0')}`;
  }

  /** Full registration: controller socket, `register`, `register_success`, gateway dial, first heartbeat acknowledged. */
  async register(): Promise<void> {
    const ctl = await openSocket(controllerUrl(this.hubUrl()));
    const requestId = `req_${BigInt(Date.now()) * 1_000_000n}_${this.agentId}`;
    const success = new Promise<Record<string, unknown>>((resolve, reject) => {
      ctl.addEventListener('message', (e) => {
        const d = decodeEnvelope(String(e.data));
        if (!d.ok) return;
        if (d.message.type === 'register_success' && d.message.requestId === requestId) resolve(d.message.payload);
        else if (d.message.type === 'error') reject(new Error(`register refused: ${JSON.stringify(d.message.payload)}`));
      });
      ctl.addEventListener('close', (e) => reject(new Error(`controller closed during register (${e.code})`)));
    });
    const payload = buildRegisterPayload({
      agentId: this.agentId,
      clusterName: `scale-${this.index}`,
      agentVersion: AGENT_VERSION,
      agentPort: 8080,
      labels: {},
      facts: { hostname: `sim-${this.index}`, k8sVersion: 'v1.32.0', region: 'local', cloudProvider: 'bench', serverIp: '127.0.0.1', serverSpecs: { cpu_cores: 2, os: 'linux' }, serviceToken: '' },
      mode: this.clusterId ? 'resume' : 'fresh',
      clusterId: this.clusterId,
    });
    ctl.send(encodeEnvelope('register', payload as unknown as Record<string, unknown>, requestId));
    const p = await success;
    ctl.close(1000);
    this.clusterId = String(p.cluster_uuid || p.cluster_id);
    if (typeof p.gateway_ws_url !== 'string' || !p.gateway_ws_url) throw new Error('hub gave no gateway_ws_url (the bench models the hand-off)');
    this.gatewayWsUrl = p.gateway_ws_url;
    await this.#openGateway();
  }

  /** The gateway socket, then one heartbeat; resolves at its acknowledgement. */
  async #openGateway(): Promise<void> {
    const ws = await openSocket(gatewayUrl(this.gatewayWsUrl, this.clusterId, AGENT_VERSION, { yamux: false }));
    this.#gw = ws;
    this.ackedAt = null;
    const acked = new Promise<void>((resolve, reject) => {
      this.#ackWaiter = resolve;
      ws.addEventListener('close', (e) => reject(new Error(`gateway closed before the first heartbeat_ack (${e.code})`)), { once: true });
    });
    ws.addEventListener('message', (e) => this.#onMessage(ws, e.data));
    ws.addEventListener('close', () => this.#onClose(ws));
    this.heartbeat();
    await acked;
  }

  #onMessage(ws: WebSocket, data: unknown): void {
    if (typeof data !== 'string') return;
    const d = decodeEnvelope(data);
    if (!d.ok) return;
    const m = d.message;
    if (m.type === 'heartbeat_ack') {
      this.acks++;
      if (this.ackedAt === null) this.ackedAt = performance.now();
      this.#ackWaiter?.();
      this.#ackWaiter = null;
    } else if (m.type === 'ping') {
      this.pings++;
      ws.send(encodeEnvelope('pong', { timestamp: new Date().toISOString() }, m.requestId));
    }
  }

  heartbeat(): void {
    const ws = this.#gw;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const p = buildHeartbeat({
      clusterId: this.clusterId,
      agentId: this.agentId,
      agentVersion: AGENT_VERSION,
      state: 'connected',
      k8sVersion: 'v1.32.0',
      nodes: 1,
      pods: 10,
      usage: null,
      gateway: { isPrivate: true, routes: 0, routingMode: null },
      monitoring: {},
    });
    ws.send(encodeEnvelope('heartbeat', p));
  }

  /** Heartbeat every `ms` from a random phase (so N agents do not tick together); 0 stops. */
  heartbeatEvery(ms: number): void {
    if (this.#hb) clearInterval(this.#hb);
    this.#hb = null;
    if (ms > 0) {
      const t = setTimeout(() => {
        this.heartbeat();
        this.#hb = setInterval(() => this.heartbeat(), ms);
      }, Math.random() * ms);
      this.#hb = t as unknown as ReturnType<typeof setInterval>;
    }
  }

  /**
   * The agent's redial loop (src/tunnel/session.ts): after each backoff wait, resume on the gateway; once a gateway
   * attempt has failed, every later attempt is a full registration (which hands off to the gateway again).
   */
  #onClose(ws: WebSocket): void {
    if (ws !== this.#gw || this.#stopped) return;
    this.#gw = null;
    this.ackedAt = null;
    let preferController = false;
    void (async () => {
      for (let attempt = 0; !this.#stopped; attempt++) {
        await Bun.sleep(attempt === 0 ? firstRedialDelay(this.policy) : backoffDelay(this.policy, attempt)); // the agent's jittered backoff being measured
        if (this.#stopped) return;
        try {
          if (preferController) {
            await this.register();
            this.reregistered++;
          } else {
            await this.#openGateway();
            this.resumed++;
          }
          return;
        } catch {
          preferController = true;
        }
      }
    })();
  }

  stop(): void {
    this.#stopped = true;
    this.heartbeatEvery(0);
    this.#gw?.close(1000);
  }
}

// ---- the run ----
export interface ScaleResult {
  agents: number;
  concurrency: number;
  cores: number;
  load_avg_start: number[];
  load_avg_end: number[];
  registration: { seconds: number; per_second: number; failed_attempts: number };
  rss: { idle_kib: number; with_sessions_kib: number; per_session_kib: number; target_kib: number };
  heartbeat: { interval_ms: number; window_ms: number; acks: number; cpu_ms_with: number; cpu_ms_baseline: number; cpu_us_per_heartbeat: number };
  reconnect: { down_ms: number; hub_restart_ms: number; p50_ms: number; p99_ms: number; max_ms: number; all_reconnected: boolean; reconnected: number; resumed: number; reregistered: number; target_ms: number; backoff_base_ms: number; backoff_max_ms: number };
}

const RSS_TARGET_KIB = 50;
const RECONNECT_TARGET_MS = 30_000;

async function run(o: ScaleOptions): Promise<ScaleResult> {
  const loadStart = loadavg().map((x) => Number(x.toFixed(2)));
  const dir = emptyDir('pipeops-scale-');
  const launcher = new HubLauncher(o.hubCmd, dir, join(dir, 'hub.db'));
  let hub = await launcher.start();
  const agents = Array.from({ length: o.agents }, (_, i) => new SimAgent(i, () => hub.url, o.reconnect));
  try {
    await Bun.sleep(o.smoke ? 500 : 3000); // settle before the idle reading (a measured idle period)
    const idleKiB = rssKiB(hub.proc.pid);

    // Registrations, at most `concurrency` in flight; a failed attempt is retried (counted).
    let next = 0;
    let failed = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: Math.min(o.concurrency, o.agents) }, async () => {
        for (let i = next++; i < o.agents; i = next++) {
          for (let tries = 0; ; tries++) {
            try {
              await agents[i]!.register();
              break;
            } catch (e) {
              failed++;
              if (tries >= 5) throw new Error(`agent ${i} could not register: ${(e as Error).message}`);
              await Bun.sleep(backoffDelay(o.reconnect, tries));
            }
          }
        }
      }),
    );
    const regSeconds = (performance.now() - t0) / 1000;

    await Bun.sleep(o.smoke ? 500 : 3000); // idle sessions (measured period)
    const withKiB = rssKiB(hub.proc.pid);

    // Heartbeat cost: a baseline window without heartbeats, then one with all N heartbeating.
    const c0 = cpuTicks(hub.proc.pid);
    await Bun.sleep(o.windowMs);
    const baselineTicks = cpuTicks(hub.proc.pid) - c0;
    for (const a of agents) a.heartbeatEvery(o.heartbeatIntervalMs);
    await Bun.sleep(o.heartbeatIntervalMs); // every agent has started its phase
    const acks0 = agents.reduce((s, a) => s + a.acks, 0);
    const c1 = cpuTicks(hub.proc.pid);
    await Bun.sleep(o.windowMs);
    const withTicks = cpuTicks(hub.proc.pid) - c1;
    const acks = agents.reduce((s, a) => s + a.acks, 0) - acks0;
    for (const a of agents) a.heartbeatEvery(0);
    const tickMs = 1000 / CLK_TCK;
    const cpuWith = withTicks * tickMs;
    const cpuBase = baselineTicks * tickMs;

    // Kill and restart on the same port and state file; every agent redials on its own backoff.
    const port = hub.port;
    const kill = performance.now();
    hub.proc.kill('SIGKILL');
    await hub.proc.exited;
    if (o.downMs) await Bun.sleep(o.downMs); // the outage being modelled
    hub = await launcher.start(port);
    const restartMs = performance.now() - kill;
    const deadline = kill + RECONNECT_TARGET_MS * 3;
    while (agents.some((a) => a.ackedAt === null) && performance.now() < deadline) await Bun.sleep(100); // polling an observable condition
    const times = agents.filter((a) => a.ackedAt !== null).map((a) => a.ackedAt! - kill).sort((a, b) => a - b);
    const q = (p: number) => (times.length ? times[Math.min(times.length - 1, Math.ceil((p / 100) * times.length) - 1)]! : Number.NaN);

    return {
      agents: o.agents,
      concurrency: o.concurrency,
      cores: cpus().length,
      load_avg_start: loadStart,
      load_avg_end: loadavg().map((x) => Number(x.toFixed(2))),
      registration: { seconds: round(regSeconds, 3), per_second: round(o.agents / regSeconds, 1), failed_attempts: failed },
      rss: { idle_kib: idleKiB, with_sessions_kib: withKiB, per_session_kib: round((withKiB - idleKiB) / o.agents, 1), target_kib: RSS_TARGET_KIB },
      heartbeat: {
        interval_ms: o.heartbeatIntervalMs,
        window_ms: o.windowMs,
        acks,
        cpu_ms_with: round(cpuWith, 1),
        cpu_ms_baseline: round(cpuBase, 1),
        cpu_us_per_heartbeat: acks ? round((Math.max(0, cpuWith - cpuBase) * 1000) / acks, 1) : Number.NaN,
      },
      reconnect: {
        down_ms: o.downMs,
        hub_restart_ms: Math.round(restartMs),
        p50_ms: Math.round(q(50)),
        p99_ms: Math.round(q(99)),
        max_ms: Math.round(times.at(-1) ?? Number.NaN),
        all_reconnected: times.length === o.agents,
        reconnected: times.length,
        resumed: agents.reduce((n, a) => n + a.resumed, 0),
        reregistered: agents.reduce((n, a) => n + a.reregistered, 0),
        target_ms: RECONNECT_TARGET_MS,
        backoff_base_ms: o.reconnect.baseMs,
        backoff_max_ms: o.reconnect.maxMs,
      },
    };
  } finally {
    for (const a of agents) a.stop();
    await hub.stop();
  }
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

export function table(r: ScaleResult): string {
  const ok = (v: boolean) => (v ? 'yes' : '**no**');
  const loaded = Math.max(r.load_avg_start[0] ?? 0, r.load_avg_end[0] ?? 0) > r.cores;
  return [
    `${r.agents} simulated agents (one WebSocket each, one process) against one hub process (SQLite state file); ${r.cores} cores, load average ${r.load_avg_start.join(' ')} at start, ${r.load_avg_end.join(' ')} at end`,
    ...(loaded ? ['', '**The machine was loaded** (1-minute load average above the core count): CPU and latency figures are pessimistic.'] : []),
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| registrations per second (concurrency ${r.concurrency}, register → gateway → first heartbeat_ack) | ${r.registration.per_second} (${r.agents} in ${r.registration.seconds} s, ${r.registration.failed_attempts} failed attempts retried) | |`,
    `| hub RSS idle → with ${r.agents} idle sessions | ${(r.rss.idle_kib / 1024).toFixed(1)} MiB → ${(r.rss.with_sessions_kib / 1024).toFixed(1)} MiB | |`,
    `| hub RSS per idle session | ${r.rss.per_session_kib} KiB | ≤ ${r.rss.target_kib} KiB: ${ok(r.rss.per_session_kib <= r.rss.target_kib)} |`,
    `| heartbeat cost, hub CPU per heartbeat (every ${r.heartbeat.interval_ms} ms each, ${r.heartbeat.window_ms / 1000} s window, ${r.heartbeat.acks} acks; ${r.heartbeat.cpu_ms_with} ms CPU vs ${r.heartbeat.cpu_ms_baseline} ms idle) | ${r.heartbeat.cpu_us_per_heartbeat} µs | |`,
    `| hub SIGKILL → restarted and ready (same port, same state file${r.reconnect.down_ms ? `, held down ${r.reconnect.down_ms} ms` : ''}) | ${r.reconnect.hub_restart_ms} ms | |`,
    `| reconnect after SIGKILL + restart, p50 / p99 / max (backoff ${r.reconnect.backoff_base_ms} ms doubling to ${r.reconnect.backoff_max_ms} ms, +0–25 % within the cap) | ${r.reconnect.p50_ms} / ${r.reconnect.p99_ms} / ${r.reconnect.max_ms} ms (${r.reconnect.reconnected}/${r.agents}; ${r.reconnect.resumed} resumed on the gateway, ${r.reconnect.reregistered} registered again) | all ≤ ${r.reconnect.target_ms / 1000} s: ${ok(r.reconnect.all_reconnected && r.reconnect.max_ms <= r.reconnect.target_ms)} |`,
  ].join('\n');
}

export const SCALE_BEGIN = '<!-- scale-restart:begin -->';
export const SCALE_END = '<!-- scale-restart:end -->';

/** `doc` with the text between the scale markers replaced (the section appended when the markers are absent). */
export function withScaleSection(doc: string, r: ScaleResult): string {
  const section = [
    SCALE_BEGIN,
    '## One hub killed and restarted under simulated agents (`bench/scale-restart.ts`, issue 15 item 8)',
    '',
    'Regenerate with `bun bench/scale-restart.ts --docs` (or `--json FILE`). Simulated agents speak the real protocol (register,',
    'gateway hand-off, heartbeats, ping/pong, and the agent\'s redial: resume on the gateway, after a failed resume a full',
    'registration, each after its jittered backoff); the hub is',
    '`bun run src/cli.ts hub` with a SQLite state file. Hub replicas on PostgreSQL (items 1–3) are not measured here yet.',
    'RSS per idle session is (RSS with N idle sessions − RSS before) / N, after a few seconds of idling each. Heartbeat',
    'cost is the hub CPU of a window with every agent heartbeating, minus the same window idle, per acknowledged',
    'heartbeat. Reconnect time runs from the SIGKILL to the agent\'s first acknowledged heartbeat on the restarted hub:',
    'each agent redials first after a random wait in [0, base + 25 %) (the agent\'s full jitter on the first redial after a lost session), then at about 2·base, 4·base … more (+0–25 %), so it moves in steps with the restart time.',
    '',
    table(r),
    SCALE_END,
  ].join('\n');
  const b = doc.indexOf(SCALE_BEGIN);
  const e = doc.indexOf(SCALE_END);
  if (b >= 0 && e > b) return doc.slice(0, b) + section + doc.slice(e + SCALE_END.length);
  return `${doc.replace(/\n*$/, '')}\n\n${section}\n`;
}

if (import.meta.main) {
  const o = parseOptions(process.argv.slice(2));
  const r = await run(o);
  console.log(table(r));
  if (o.json) writeFileSync(o.json, `${JSON.stringify(r, null, 2)}\n`);
  if (o.docs) {
    const file = join(ROOT, 'docs/benchmarks.md');
    writeFileSync(file, withScaleSection(readFileSync(file, 'utf8'), r));
  }
  process.exit(0);
}
