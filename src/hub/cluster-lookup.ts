// Cluster records by the id or name a gateway request names, cached briefly: one database lookup per cluster and
// second instead of one per request (issue 14: it was 6.5 % of the hub's CPU at 64 concurrent small requests).
// A session change of the cluster (registration, reconnect, loss) drops the entry at once, so a new ServiceAccount
// token from a re-registration is used from the next request; misses are never cached.
import type { AgentEndpoint } from './agent-endpoint.ts';
import type { ClusterRecord } from './store/types.ts';

/** How long a found record is reused without asking the database again. */
export const CLUSTER_LOOKUP_TTL_MS = 1000;
/** Bound on cached names (a client cycling through names cannot grow it without limit). */
const MAX_ENTRIES = 1024;

export class ClusterLookup {
  readonly #byKey = new Map<string, { rec: ClusterRecord; at: number }>();
  readonly #off: () => unknown;

  readonly #lookup: (idOrName: string) => Promise<ClusterRecord | null>;

  /**
   * `lookup` asks the store (its errors reach the caller). A session change seen by this replica drops the entry at
   * once; a change on another replica is seen within `ttlMs`.
   */
  constructor(
    agents: Pick<AgentEndpoint, 'onSession'>,
    lookup: (idOrName: string) => Promise<ClusterRecord | null>,
    private readonly ttlMs = CLUSTER_LOOKUP_TTL_MS,
  ) {
    this.#lookup = lookup;
    this.#off = agents.onSession((clusterId) => this.forget(clusterId));
  }

  /** The cached record when it is fresh, without a promise (the gateways' common case); else undefined. */
  cached(idOrName: string): ClusterRecord | undefined {
    const hit = this.#byKey.get(idOrName);
    return hit && Date.now() - hit.at < this.ttlMs ? hit.rec : undefined;
  }

  async find(idOrName: string): Promise<ClusterRecord | null> {
    const hit = this.cached(idOrName);
    if (hit) return hit;
    const rec = await this.#lookup(idOrName);
    const now = Date.now();
    if (!rec) {
      this.#byKey.delete(idOrName);
      return null;
    }
    if (this.#byKey.size >= MAX_ENTRIES) this.#byKey.clear();
    this.#byKey.set(idOrName, { rec, at: now });
    return rec;
  }

  /** Drop every entry of this cluster (by id or by name). */
  forget(clusterId: string): void {
    for (const [k, v] of this.#byKey) if (v.rec.cluster_id === clusterId) this.#byKey.delete(k);
  }

  close(): void {
    this.#off();
    this.#byKey.clear();
  }
}
