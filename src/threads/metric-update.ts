// The metric contract of every worker: a change posted to the main thread, which owns the Prometheus registry
// (src/agent/metrics.ts declares the names and applies the updates).

/** A metric change as it crosses from a worker to the main thread. */
export interface MetricUpdate {
  name: string;
  op: 'inc' | 'set' | 'observe';
  value?: number;
  /** `observe` only: several observations of this series at once (a worker's batch, src/threads/metric-batch.ts); `value` is then not used. */
  values?: number[];
  labels?: Record<string, string>;
}
