// Notices about an agent's limits (the upstream Go agent's, mostly) that the hub logs once per cluster and topic
// per process: the first watch cut at 30 s matters to an operator, the thousandth is noise.
export class OncePerCluster {
  readonly #seen = new Set<string>();

  /** True the first time this cluster and topic are seen. */
  first(clusterId: string, topic: string): boolean {
    const key = `${clusterId}\u0000${topic}`;
    if (this.#seen.has(key)) return false;
    this.#seen.add(key);
    return true;
  }
}
