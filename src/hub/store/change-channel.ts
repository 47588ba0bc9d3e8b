// One registry's change announcements: listeners in this process run at once, and every other process on the same
// database hears of it on the driver's change channel (PostgreSQL NOTIFY; SQLite: this process only). After a lost
// subscription the listeners run too, because announcements made meanwhile were missed and they re-read everything.
import type { SqlDriver } from './sql-driver.ts';

export class ChangeChannel {
  readonly #db: SqlDriver;
  readonly #channel: string;
  /** Tells this process's own announcements from other replicas'. */
  readonly #origin: string;
  readonly #listeners = new Set<() => void | Promise<void>>();
  #unlisten: (() => Promise<void>) | null = null;

  constructor(db: SqlDriver, channel: string, origin: string) {
    this.#db = db;
    this.#channel = channel;
    this.#origin = origin;
  }

  /** Subscribe to other replicas' changes. */
  async start(): Promise<void> {
    this.#unlisten = await this.#db.listen(
      this.#channel,
      (from) => {
        if (from !== this.#origin) void this.#fire();
      },
      () => void this.#fire(),
    );
  }

  async stop(): Promise<void> {
    await this.#unlisten?.();
    this.#unlisten = null;
  }

  onChange(l: () => void | Promise<void>): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** A committed change here: run the listeners and tell the other replicas. */
  async changed(): Promise<void> {
    await Promise.all([this.#fire(), this.#db.notify(this.#channel, this.#origin)]);
  }

  /** Listeners report their own failures (the public gateway logs one and keeps its previous table). */
  async #fire(): Promise<void> {
    await Promise.allSettled([...this.#listeners].map(async (l) => l()));
  }
}
