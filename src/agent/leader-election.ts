// Leader election on a coordination.k8s.io/v1 Lease with client-go's leaderelection semantics: a candidate
// acquires the Lease when it is free, released (holder empty) or not renewed for leaseDuration as measured on the
// candidate's own clock since it last saw the record change (never by comparing its clock with the holder's
// renewTime); the leader renews every retryPeriod and steps down when it could not renew for renewDeadline; every
// write carries the resourceVersion it read, so two candidates racing for the Lease get one 200 and one 409.
// On stop the leader releases the Lease (ReleaseOnCancel): holder cleared, leaseDurationSeconds 1.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log/logger.ts';
import { LEADER_ELECTION_JITTER } from '../config/schema.ts';
import type { KubeClient } from '../kube/client.ts';

export interface LeaderElectionSettings {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  releaseOnCancel: boolean;
}

export interface LeaderCallbacks {
  /** This candidate became the leader: start the leader-only work. */
  onStartedLeading(): void | Promise<void>;
  /** Leadership ended (lost, or stop()): stop the leader-only work. Awaited before the Lease is released. */
  onStoppedLeading(): void | Promise<void>;
  /** The observed holder changed (empty string: nobody holds it). */
  onNewLeader?(identity: string): void;
}

/** The LeaderElectionRecord as the Lease spec carries it. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; [k: string]: unknown };
  spec: LeaseSpec;
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits (the apiserver refuses other precisions). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** client-go's default identity: `<hostname>_<uuid>`; in a Pod the chart passes the Pod name. */
export function defaultIdentity(env: Record<string, string | undefined>): string {
  return env.POD_NAME || `${hostname()}_${randomUUID()}`;
}

export type ElectionRole = 'leader' | 'standby';

export class LeaderElector {
  readonly #kube: KubeClient;
  readonly #s: LeaderElectionSettings;
  readonly #cb: LeaderCallbacks;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #path: string;
  #stopped = false;
  #leader = false;
  /** The last record read or written, its raw form, and when (our clock) it last changed. */
  #observed: Lease | null = null;
  #observedRaw = '';
  #observedAt = 0;
  #holder = '';
  #wake: (() => void) | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #loop: Promise<void> | null = null;
  #transition: Promise<void> = Promise.resolve();

  constructor(kube: KubeClient, settings: LeaderElectionSettings, cb: LeaderCallbacks, log: Logger, now: () => number = Date.now) {
    this.#kube = kube;
    this.#s = settings;
    this.#cb = cb;
    this.#log = log;
    this.#now = now;
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(settings.namespace)}/leases`;
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /** The holder last observed ('' when free or released). */
  get holder(): string {
    return this.#holder;
  }

  get identity(): string {
    return this.#s.identity;
  }

  get lease(): string {
    return `${this.#s.namespace}/${this.#s.name}`;
  }

  /** Starts campaigning: acquire, lead, and campaign again after a lost term, until stop(). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops campaigning; a leader stops its work (awaited) and then releases the Lease when configured to. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#wake?.();
    await this.#loop;
    await this.#transition;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      // Acquire: jittered attempts (client-go wait.JitterUntil with JitterFactor 1.2).
      while (!this.#stopped && !(await this.#tryAcquireOrRenew())) {
        await this.#sleep(this.#s.retryPeriodMs * (1 + Math.random() * LEADER_ELECTION_JITTER));
      }
      if (this.#stopped) break;
      this.#leader = true;
      this.#log.info({ lease: this.lease, identity: this.#s.identity }, 'leader election: acquired the Lease; starting the leader-only work');
      this.#transition = this.#transition.then(() => this.#cb.onStartedLeading());
      // Renew every retryPeriod; a renewal that keeps failing for renewDeadline ends the term.
      let lastRenew = this.#now();
      while (!this.#stopped) {
        await this.#sleep(this.#s.retryPeriodMs);
        if (this.#stopped) break;
        if (await this.#tryAcquireOrRenew()) {
          lastRenew = this.#now();
          continue;
        }
        if (this.#now() - lastRenew >= this.#s.renewDeadlineMs) {
          this.#log.error({ lease: this.lease, identity: this.#s.identity, holder: this.#holder }, 'leader election: could not renew the Lease within the renew deadline; stepping down');
          break;
        }
      }
      this.#leader = false;
      this.#transition = this.#transition.then(() => this.#cb.onStoppedLeading());
      if (this.#stopped) {
        await this.#transition;
        if (this.#s.releaseOnCancel) await this.#release();
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
  }

  /** One bounded API call; failures are answers (status 0 for transport errors), never exceptions. */
  async #call(method: string, path: string, body?: unknown): Promise<{ status: number; lease?: Lease; text?: string }> {
    try {
      const res = await this.#kube.request(path, {
        method,
        timeoutMs: Math.max(500, Math.min(this.#s.renewDeadlineMs, this.#s.retryPeriodMs * 2)),
        headers: { accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (!res.ok) return { status: res.status, text: text.slice(0, 300) };
      return { status: res.status, lease: JSON.parse(text) as Lease };
    } catch (e) {
      return { status: 0, text: (e as Error).message };
    }
  }

  #observe(lease: Lease): void {
    const raw = JSON.stringify(lease.spec ?? {});
    if (raw !== this.#observedRaw) {
      this.#observedRaw = raw;
      this.#observedAt = this.#now();
    }
    this.#observed = lease;
    const holder = lease.spec?.holderIdentity ?? '';
    if (holder !== this.#holder) {
      this.#holder = holder;
      this.#log.info({ lease: this.lease, holder: holder || null }, 'leader election: new holder observed');
      this.#cb.onNewLeader?.(holder);
    }
  }

  /** client-go tryAcquireOrRenew: true when this candidate holds the Lease afterwards. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = this.#now();
    const id = this.#s.identity;
    const durationSeconds = Math.max(1, Math.round(this.#s.leaseDurationMs / 1000));
    const got = await this.#call('GET', `${this.#path}/${encodeURIComponent(this.#s.name)}`);
    if (got.status === 404) {
      const created = await this.#call('POST', this.#path, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.#s.name, namespace: this.#s.namespace },
        spec: { holderIdentity: id, leaseDurationSeconds: durationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      });
      if (!created.lease) {
        if (created.status !== 409) this.#log.warn({ lease: this.lease, status: created.status, err: created.text }, 'leader election: creating the Lease failed');
        return false;
      }
      this.#observe(created.lease);
      return true;
    }
    if (!got.lease) {
      this.#log.warn({ lease: this.lease, status: got.status, err: got.text }, 'leader election: reading the Lease failed');
      return false;
    }
    this.#observe(got.lease);
    const spec = got.lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const observedDurationMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder !== '' && holder !== id && this.#observedAt + observedDurationMs > now) return false;
    const mine = holder === id;
    const next: Lease = {
      ...got.lease,
      spec: {
        ...spec,
        holderIdentity: id,
        leaseDurationSeconds: durationSeconds,
        acquireTime: mine && spec.acquireTime ? spec.acquireTime : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: mine ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    const put = await this.#call('PUT', `${this.#path}/${encodeURIComponent(this.#s.name)}`, next);
    if (!put.lease) {
      // 409: someone else wrote it since our read; the next attempt reads again.
      if (put.status !== 409) this.#log.warn({ lease: this.lease, status: put.status, err: put.text }, 'leader election: updating the Lease failed');
      return false;
    }
    this.#observe(put.lease);
    return true;
  }

  /** client-go release(): holder cleared, leaseDurationSeconds 1, transitions kept; only while we still hold it. */
  async #release(): Promise<void> {
    const cur = this.#observed;
    if (!cur || cur.spec?.holderIdentity !== this.#s.identity) return;
    const now = this.#now();
    const put = await this.#call('PUT', `${this.#path}/${encodeURIComponent(this.#s.name)}`, {
      ...cur,
      spec: { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: cur.spec?.leaseTransitions ?? 0 },
    });
    if (put.lease) {
      this.#observe(put.lease);
      this.#log.info({ lease: this.lease, identity: this.#s.identity }, 'leader election: released the Lease');
    } else this.#log.warn({ lease: this.lease, status: put.status, err: put.text }, 'leader election: releasing the Lease failed; a standby takes over once it expires');
  }
}
