// Where a cluster's agent session is: held by this process, by another hub replica, or nowhere. Both gateways
// ask here instead of reading the endpoint's session map, so that "the agent is on another replica" has one
// place to be answered. With a shared store (PostgreSQL) this replica records the sessions it holds and renews
// its lease; a replica that dies stops renewing, and its sessions stop counting within `leaseMs`.
import type { Logger } from '../log/logger.ts';
import type { AgentEndpoint, AgentSession } from './agent-endpoint.ts';
import type { ReplicaRecord, SessionLeases } from './store/types.ts';

export type SessionLocation = { kind: 'local'; session: AgentSession } | { kind: 'remote'; replica: ReplicaRecord } | { kind: 'none' };

export interface ReplicaIdentity {
  id: string;
  /** Where other replicas reach this one's gateways ('' before they listen). */
  kube_url: string;
  public_url: string;
}

export interface SessionDirectoryOptions {
  /** Absent: one hub, every session is local or nowhere. */
  leases?: SessionLeases;
  replica?: ReplicaIdentity;
  /** A replica's sessions count this long after its last renewal (default 15 s). */
  leaseMs?: number;
  /** Renewal period (default leaseMs / 3). */
  renewMs?: number;
  log?: Logger;
  /** The time source (tests). */
  now?: () => number;
}

export const DEFAULT_LEASE_MS = 15_000;

export class SessionDirectory {
  readonly #agents: AgentEndpoint;
  readonly #o: SessionDirectoryOptions;
  readonly #now: () => number;
  readonly #offs: (() => unknown)[] = [];
  #timer: ReturnType<typeof setInterval> | null = null;
  /**
   * Claims and releases not yet written: the latest state of each cluster (true: held here). One writer drains it,
   * a batch per round trip, so a burst of sessions (the agents of a replica that died) costs a few statements, not
   * one per agent, and a claim never overtakes the release before it.
   */
  readonly #pending = new Map<string, boolean>();
  #writer: Promise<void> | null = null;
  /** Sessions whose claim the store took (a later claim by another replica means the agent moved). */
  readonly #claimed = new Set<string>();

  constructor(agents: AgentEndpoint, o: SessionDirectoryOptions = {}) {
    this.#agents = agents;
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  /** This replica's id among hub replicas; null on a single hub. */
  get replicaId(): string | null {
    return this.#o.replica?.id ?? null;
  }

  get leaseMs(): number {
    return this.#o.leaseMs ?? DEFAULT_LEASE_MS;
  }

  /** The session this process holds for the cluster. */
  local(clusterId: string): AgentSession | undefined {
    return this.#agents.sessions.get(clusterId);
  }

  /** Held here, by a live replica, or nowhere. A store that does not answer counts as nowhere, with the error thrown. */
  async locate(clusterId: string): Promise<SessionLocation> {
    const session = this.local(clusterId);
    if (session) return { kind: 'local', session };
    const leases = this.#o.leases;
    if (!leases) return { kind: 'none' };
    const replica = await leases.holder(clusterId, this.#now());
    if (!replica || replica.replica_id === this.#o.replica?.id) return { kind: 'none' };
    return { kind: 'remote', replica };
  }

  /** Connected anywhere (this process, or a replica with a live lease). */
  async isConnected(clusterId: string): Promise<boolean> {
    return (await this.locate(clusterId)).kind !== 'none';
  }

  /** A local session came or went (replaced sessions count as came). */
  onSession(l: (clusterId: string, connected: boolean) => void): () => void {
    return this.#agents.onSession(l);
  }

  /** Record this replica and its sessions in the shared store and keep the lease renewed. */
  async start(): Promise<void> {
    const { leases, replica } = this.#o;
    if (!leases || !replica) return;
    await this.renew();
    this.#offs.push(
      this.#agents.onSession((clusterId, connected) => {
        this.#pending.set(clusterId, connected);
        this.#writer ??= this.#drain(leases, replica.id).finally(() => (this.#writer = null));
      }),
    );
    const period = this.#o.renewMs ?? Math.max(250, Math.floor(this.leaseMs / 3));
    this.#timer = setInterval(() => void this.renew().catch((e: Error) => this.#o.log?.warn({ err: e.message }, 'session directory: lease not renewed')), period);
    this.#timer.unref?.();
  }

  /** Renew this replica's lease and reconcile its sessions with the store (every `renewMs`; tests call it). */
  async renew(): Promise<void> {
    const { leases, replica } = this.#o;
    if (!leases || !replica) return;
    const now = this.#now();
    await leases.heartbeatReplica({ replica_id: replica.id, kube_url: replica.kube_url, public_url: replica.public_url, expires_at: now + this.leaseMs });
    const recorded = new Set(await leases.held(replica.id));
    const claims: string[] = [];
    for (const [clusterId, session] of [...this.#agents.sessions]) {
      if (recorded.has(clusterId) || this.#pending.has(clusterId)) continue;
      const holder = this.#claimed.has(clusterId) ? await leases.holder(clusterId, now) : null;
      if (holder && holder.replica_id !== replica.id) {
        // The agent registered on another replica since: this socket is a leftover (as a reconnect replaces one
        // on a single hub), and keeping it would answer for a cluster whose session is elsewhere.
        this.#claimed.delete(clusterId);
        this.#o.log?.info({ cluster_id: clusterId, replica: holder.replica_id }, 'session directory: the agent moved to another replica; closing the session here');
        session.close(1000, 'session replaced on another hub replica');
        continue;
      }
      // The claim never reached the store (it was down), or this replica's entries expired: claim again.
      claims.push(clusterId);
    }
    if (claims.length) {
      await leases.claimMany(claims, replica.id);
      for (const id of claims) this.#claimed.add(id);
    }
    const dropped = await leases.expire(now);
    if (dropped) this.#o.log?.info({ sessions: dropped }, 'session directory: sessions of replicas whose lease ran out dropped');
  }

  /** Write what is pending, a batch at a time, until nothing is; a failed batch is left to the next renewal. */
  async #drain(leases: SessionLeases, replicaId: string): Promise<void> {
    while (this.#pending.size) {
      const batch = [...this.#pending];
      this.#pending.clear();
      const claims = batch.filter(([, held]) => held).map(([id]) => id);
      const releases = batch.filter(([, held]) => !held).map(([id]) => id);
      try {
        for (const id of releases) this.#claimed.delete(id);
        if (releases.length) await leases.releaseMany(releases, replicaId);
        if (claims.length) await leases.claimMany(claims, replicaId);
        for (const id of claims) this.#claimed.add(id);
      } catch (e) {
        this.#o.log?.warn({ err: (e as Error).message, sessions: batch.length, cluster_id: batch[0]![0] }, 'session directory: lease not recorded; the next renewal retries');
      }
    }
  }

  /** Stop renewing; `leave` removes this replica's entries at once (clean shutdown). */
  async stop(leave = true): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const off of this.#offs.splice(0)) off();
    while (this.#writer) await this.#writer;
    const { leases, replica } = this.#o;
    if (leave && leases && replica) await leases.leave(replica.id).catch(() => {});
  }
}
