// The L4 listeners' view of cluster names: a connection arrives on a socket callback that opens its yamux stream at
// once, so the name → id lookup must not wait for the (asynchronous) store. The table is filled from the store at
// start-up and refreshed whenever an agent session connects; a miss also starts a refresh, so a cluster registered
// by another replica is found by the next connection.
import type { Logger } from '../../log/logger.ts';
import type { ClusterRecord, ClusterStore } from '../store/types.ts';

export class ClusterNames {
  readonly #store: Pick<ClusterStore, 'list' | 'get'>;
  readonly #log: Logger;
  readonly #ids = new Map<string, string>();
  #refreshing: Promise<void> | null = null;

  constructor(store: Pick<ClusterStore, 'list' | 'get'>, log: Logger) {
    this.#store = store;
    this.#log = log;
  }

  /** The cluster id for an id or a name (the first registered wins for a shared name, as ClusterStore.find). */
  resolve(idOrName: string): string | null {
    const id = this.#ids.get(idOrName);
    if (id) return id;
    void this.refresh();
    return null;
  }

  /** Re-read every cluster (start-up, and after a miss). */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#store
      .list()
      .then((all) => {
        for (const r of all) this.#learn(r);
      })
      .catch((e: Error) => this.#log.warn({ err: e.message }, 'L4: cannot read the cluster list; names resolve from the previous table'))
      .finally(() => {
        this.#refreshing = null;
      });
    return this.#refreshing;
  }

  /** One cluster whose agent just connected. */
  async learn(clusterId: string): Promise<void> {
    this.#ids.set(clusterId, clusterId);
    const r = await this.#store.get(clusterId).catch(() => null);
    if (r) this.#learn(r);
  }

  #learn(r: ClusterRecord): void {
    this.#ids.set(r.cluster_id, r.cluster_id);
    if (!this.#ids.has(r.name)) this.#ids.set(r.name, r.cluster_id);
  }
}
