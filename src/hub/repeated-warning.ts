// One warning per key per interval, however often it happens: an outage must not flood the log (issue 11 item 8:
// 5,334 "cluster not connected" lines in 160 s while one agent was away). The first occurrence is logged at once;
// repeats within the interval are counted and logged as one line with `count` when it ends; the window stays open
// while repeats continue, and closes after a quiet interval.
import type { Logger } from '../log/logger.ts';

/** Default aggregation interval of the hub's repeated warnings. */
export const REPEAT_INTERVAL_MS = 10_000;

interface Window {
  count: number;
  msg: string;
  fields: Record<string, unknown>;
  timer: ReturnType<typeof setTimeout>;
}

export class RepeatedWarning {
  readonly #open = new Map<string, Window>();

  constructor(
    private readonly log: Logger,
    readonly intervalMs: number = REPEAT_INTERVAL_MS,
  ) {}

  /** Log `msg` now if `key` was quiet, else count it; `fields` of the last occurrence go into the summary line. */
  note(key: string, msg: string, fields: Record<string, unknown>): void {
    const w = this.#open.get(key);
    if (w) {
      w.count++;
      w.msg = msg;
      w.fields = fields;
      return;
    }
    this.log.warn({ ...fields, count: 1 }, msg);
    this.#arm(key, msg, fields);
  }

  /** Log what is still counted (hub shutdown) and stop the timers. */
  close(): void {
    for (const [key, w] of [...this.#open]) {
      clearTimeout(w.timer);
      this.#open.delete(key);
      this.#summary(w);
    }
  }

  #arm(key: string, msg: string, fields: Record<string, unknown>): void {
    const timer = setTimeout(() => this.#flush(key), this.intervalMs);
    timer.unref?.();
    this.#open.set(key, { count: 0, msg, fields, timer });
  }

  #flush(key: string): void {
    const w = this.#open.get(key);
    if (!w) return;
    this.#open.delete(key);
    if (w.count === 0) return;
    this.#summary(w);
    this.#arm(key, w.msg, w.fields);
  }

  #summary(w: Window): void {
    if (w.count > 0) this.log.warn({ ...w.fields, count: w.count, interval_ms: this.intervalMs }, w.msg);
  }
}
