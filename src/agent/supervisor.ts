// Runs one worker thread: starts it, routes its common messages (logs, metrics, readiness), restarts it with
// backoff when it dies unexpectedly, and stops it on shutdown. Restarts are counted and visible in /ready.
import type { Logger } from '../log/logger.ts';
import type { AgentMetrics } from './metrics.ts';
import type { AgentStatus } from './status.ts';
import type { CommonWorkerMessage, WorkerName } from '../threads/messages.ts';
import { backoffDelay } from '../timing/backoff.ts';
import { sleep } from '../timing/sleep.ts';

export interface SupervisorDeps<In, Out> {
  name: WorkerName;
  spawn(): Worker;
  /** The init message, rebuilt at every (re)start so a restarted worker gets the current state. */
  init(): In;
  onMessage(m: Exclude<Out, CommonWorkerMessage>): void;
  /** Called for every message from the worker (the main thread's QuietCollector). */
  activity?(): void;
  /** Where worker log lines go (the main thread's sink). */
  logLine(line: string): void;
  status: AgentStatus;
  metrics: AgentMetrics;
  log: Logger;
}

/** A worker that stays up this long resets the restart backoff. */
const STABLE_MS = 60_000;

export class WorkerSupervisor<In extends { kind: string }, Out extends { kind: string }> {
  #worker: Worker | null = null;
  #stopping = false;
  #restarts = 0;
  #startedAt = 0;
  #stopped: (() => void) | null = null;
  #restartTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly d: SupervisorDeps<In, Out>) {}

  /** Starts the worker; after stop() it starts afresh (leader election: a new term). */
  start(): void {
    this.#stopping = false;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    const d = this.d;
    const w = d.spawn();
    this.#worker = w;
    this.#startedAt = Date.now();
    w.addEventListener('message', (e: MessageEvent) => this.#onMessage(e.data as Out));
    w.addEventListener('error', (e: Event) => d.log.error({ worker: d.name, err: (e as ErrorEvent).message }, 'worker error'));
    w.addEventListener('close', (e: Event) => this.#onClose(w, (e as CloseEvent).code));
    d.status.update('worker', (s) => {
      s.workers[d.name] = { alive: true, restarts: this.#restarts, startedAt: this.#startedAt, lastExit: s.workers[d.name]?.lastExit };
    });
    d.metrics.set('pipeops_worker_up', 1, { worker: d.name });
    w.postMessage(d.init());
  }

  post(m: In, transfer?: Transferable[]): void {
    this.#worker?.postMessage(m, transfer ?? []);
  }

  /** Ask the worker to stop (it answers `stopped`), then terminate it; bounded by `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    const w = this.#worker;
    if (!w) return;
    const done = new Promise<void>((r) => {
      this.#stopped = r;
    });
    w.postMessage({ kind: 'shutdown' });
    await Promise.race([done, sleep(timeoutMs)]);
    w.terminate();
  }

  #onMessage(m: Out): void {
    this.d.activity?.();
    const c = m as unknown as CommonWorkerMessage;
    switch (c.kind) {
      case 'log':
        this.d.logLine(c.line);
        return;
      case 'metric': {
        const err = this.d.metrics.apply(c.update);
        if (err) this.d.log.warn({ worker: this.d.name, err }, 'bad metric update from worker');
        return;
      }
      case 'metrics':
        for (const u of c.updates) this.d.metrics.apply(u);
        return;
      case 'ready':
        return;
      case 'stopped':
        this.#stopped?.();
        return;
      default:
        this.d.onMessage(m as Exclude<Out, CommonWorkerMessage>);
    }
  }

  #onClose(w: Worker, code: number): void {
    if (w !== this.#worker) return;
    const d = this.d;
    this.#worker = null;
    d.metrics.set('pipeops_worker_up', 0, { worker: d.name });
    d.status.update('worker', (s) => {
      const cur = s.workers[d.name];
      if (cur) {
        cur.alive = false;
        cur.lastExit = `exit code ${code} at ${new Date().toISOString()}`;
      }
    });
    if (this.#stopping) {
      this.#stopped?.();
      return;
    }
    if (Date.now() - this.#startedAt > STABLE_MS) this.#restarts = 0;
    const delay = backoffDelay({ baseMs: 1000, maxMs: 30_000, jitter: { kind: 'within-cap', fraction: 0.25 } }, this.#restarts);
    this.#restarts++;
    d.metrics.inc('pipeops_worker_restarts_total', { worker: d.name });
    d.log.error({ worker: d.name, code, restart_in_ms: delay }, 'worker exited unexpectedly; restarting');
    this.#restartTimer = setTimeout(() => {
      if (!this.#stopping) this.start();
    }, delay);
  }

  /** Test and diagnostics hook: the running thread. */
  get worker(): Worker | null {
    return this.#worker;
  }
}
