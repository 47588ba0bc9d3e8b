// The heartbeat: first heartbeat right after (re)registration, then one per interval while connected. It builds
// payloads from cheap Kubernetes reads; the session sends them. It runs on the tunnel worker's thread and speaks
// MainToHeartbeat/HeartbeatToMain over an in-thread channel (workers/tunnel.ts), as it would over a worker's port.
import type { Logger } from '../log/logger.ts';
import { backoffDelay, NO_JITTER } from '../timing/backoff.ts';
import { sleep } from '../timing/sleep.ts';
import { fromKubeAccess } from '../threads/kube-access.ts';
import type { ConnectionState } from '../threads/connection-state.ts';
import type { HeartbeatToMain, HeartbeatWorkerConfig, MainToHeartbeat } from '../threads/messages.ts';
import { KubeClient } from '../kube/client.ts';
import { countNodes, countPods } from '../kube/cluster-info.ts';
import { type WorkerPort, workerLogger } from '../runtime/worker-port.ts';
import { MonitoringDiscovery, type MonitoringEndpoints } from './monitoring.ts';
import { buildHeartbeat } from './payload.ts';
import { clusterUsage } from './usage.ts';

const K8S_BUDGET_MS = 5000;
const TUNNEL_ANSWER_MARGIN_MS = 2000;

export function runHeartbeatWorker(port: WorkerPort<MainToHeartbeat, HeartbeatToMain>): void {
  let hb: Heartbeater | null = null;
  port.onMessage((m) => {
    switch (m.kind) {
      case 'init': {
        const log = workerLogger(port as WorkerPort<unknown, { kind: 'log'; line: string }>, 'heartbeat', m.logLevel);
        const kube = m.kube ? new KubeClient(fromKubeAccess(m.kube), { defaultTimeoutMs: Math.min(K8S_BUDGET_MS, m.config.k8sTimeoutMs) }) : null;
        hb = new Heartbeater(m.config, kube, port, log);
        port.post({ kind: 'ready' });
        return;
      }
      case 'session':
        hb?.session(m.state, m.registered, m.clusterId);
        return;
      case 'gateway_info':
        hb?.gateway({ isPrivate: m.isPrivate, routes: m.routes, routingMode: m.routingMode });
        return;
      case 'heartbeat_result':
        hb?.result(m.seq, m.ok, m.error);
        return;
      case 'shutdown':
        hb?.stop();
        port.post({ kind: 'stopped' });
        return;
    }
  });
}

class Heartbeater {
  #state: ConnectionState = 'connecting';
  #registered = false;
  #clusterId = '';
  #gateway = { isPrivate: null as boolean | null, routes: 0, routingMode: null as string | null };
  #timer: ReturnType<typeof setTimeout> | null = null;
  #seq = 0;
  #pending = new Map<number, (r: { ok: boolean; error?: string }) => void>();
  #inTick = false;
  #k8sVersion = 'unknown';
  #monitoring: MonitoringDiscovery | null;
  #stopped = false;

  constructor(
    private readonly cfg: HeartbeatWorkerConfig,
    private readonly kube: KubeClient | null,
    private readonly port: WorkerPort<MainToHeartbeat, HeartbeatToMain>,
    private readonly log: Logger,
  ) {
    this.#monitoring = kube ? new MonitoringDiscovery(kube, 'cluster.local') : null;
  }

  session(state: ConnectionState, registered: boolean, clusterId: string): void {
    const wasUp = this.#state === 'connected' && this.#registered;
    this.#state = state;
    this.#registered = registered;
    this.#clusterId = clusterId;
    const up = state === 'connected' && registered;
    // First heartbeat immediately after registration and after every reconnect (upstream onReconnect).
    if (up && !wasUp) this.#schedule(0);
  }

  gateway(g: { isPrivate: boolean | null; routes: number; routingMode: string | null }): void {
    this.#gateway = g;
  }

  result(seq: number, ok: boolean, error?: string): void {
    const r = this.#pending.get(seq);
    if (r) {
      this.#pending.delete(seq);
      r({ ok, error });
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    if (this.#inTick) return;
    this.#inTick = true;
    try {
      if (this.#state !== 'connected' || !this.#registered) {
        this.#metric('pipeops_heartbeat_errors_total', { reason: 'not_connected' });
        return;
      }
      const { maxAttempts, baseMs, capMs } = this.cfg.retry;
      for (let attempt = 1; attempt <= maxAttempts && !this.#stopped; attempt++) {
        const t0 = performance.now();
        const payload = await this.#payload();
        const r = await this.#send(payload);
        if (r.ok) {
          this.port.post({ kind: 'metric', update: { name: 'pipeops_heartbeat_duration_seconds', op: 'observe', value: (performance.now() - t0) / 1000 } });
          return;
        }
        this.log.warn({ attempt, err: r.error }, 'heartbeat not sent');
        if (this.#state !== 'connected') return; // the next (re)connection sends one immediately
        await sleep(backoffDelay({ baseMs, maxMs: capMs, jitter: NO_JITTER }, attempt - 1));
      }
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'heartbeat tick failed');
    } finally {
      this.#inTick = false;
      this.#schedule(this.#interval());
    }
  }

  /** The tick period for the current connection state (re-evaluated at every tick, as upstream). */
  #interval(): number {
    const i = this.cfg.intervals;
    if (this.#state === 'connected') return i.connected;
    if (this.#state === 'disconnected') return i.disconnected;
    return i.reconnecting;
  }

  #send(payload: Record<string, unknown>): Promise<{ ok: boolean; error?: string }> {
    const seq = ++this.#seq;
    // The tunnel worker answers within the budget itself (confirmed or not); the margin covers the thread hops.
    const waitMs = this.cfg.sendBudgetMs + TUNNEL_ANSWER_MARGIN_MS;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#pending.delete(seq);
        resolve({ ok: false, error: `no answer from tunnel worker within ${waitMs} ms` });
      }, waitMs);
      this.#pending.set(seq, (r) => {
        clearTimeout(t);
        resolve(r);
      });
      this.port.post({ kind: 'heartbeat', seq, payload });
    });
  }

  async #payload(): Promise<Record<string, unknown>> {
    let nodes = 0;
    let pods = 0;
    let usage: { cpuPercent: number; memoryPercent: number } | null = null;
    let monitoring: MonitoringEndpoints = {};
    if (this.kube) {
      const kube = this.kube;
      const [v, n, p, u, mon] = await Promise.allSettled([
        kube.version(),
        countNodes(kube),
        countPods(kube),
        this.cfg.reportUsage ? clusterUsage(kube) : Promise.resolve(null),
        this.#monitoring ? this.#monitoring.get() : Promise.resolve({}),
      ]);
      if (v.status === 'fulfilled') this.#k8sVersion = v.value;
      this.port.post({
        kind: 'k8s_info',
        version: v.status === 'fulfilled' ? v.value : null,
        reachable: v.status === 'fulfilled',
        error: v.status === 'rejected' ? String((v.reason as Error)?.message ?? v.reason) : null,
      });
      if (n.status === 'fulfilled') nodes = n.value;
      if (p.status === 'fulfilled') pods = p.value;
      if (u.status === 'fulfilled') usage = u.value;
      if (mon.status === 'fulfilled') monitoring = mon.value;
    }
    return buildHeartbeat({
      clusterId: this.#clusterId,
      agentId: this.cfg.agentId,
      agentVersion: this.cfg.agentVersion,
      state: this.#state,
      k8sVersion: this.#k8sVersion,
      nodes,
      pods,
      usage,
      gateway: this.#gateway,
      monitoring,
    });
  }

  #metric(name: string, labels?: Record<string, string>): void {
    this.port.post({ kind: 'metric', update: { name, op: 'inc', labels } });
  }
}
