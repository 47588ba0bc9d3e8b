// What the in-process agent drivers (bench/relay-inprocess.ts, bench/support/session-agent.ts) give the relay: a
// quiet logger, metric batches posted over a MessageChannel as the tunnel worker posts them to the main thread, and
// the dispatcher's limits as the agent's defaults set them. The classes come from the tree under test.

/** A logger that drops debug and info (warnings and errors still show). */
export const benchLog = {
  debug() {},
  info() {},
  warn: (...a: unknown[]) => console.error('warn', ...a),
  error: (...a: unknown[]) => console.error('error', ...a),
  child: () => benchLog,
};

/** The tunnel dispatcher's relay and stream limits for the benches. */
export const BENCH_RELAY = {
  relay: { serviceProxy: 'apiserver', serviceMap: {}, clusterDomain: 'cluster.local', maxBufferedBodyBytes: 64 << 20, maxRequestBodyBytes: 64 << 20, bufferedTimeoutMs: 60_000, bodyIdleMs: 30_000, binaryThreshold: 10_240, gzipMinBytes: 1024, highWaterBytes: 4 << 20 },
  streams: { highWaterBytes: 4 << 20, maxBufferedBytes: 16 << 20, serviceProxy: 'apiserver', serviceMap: {}, clusterDomain: 'cluster.local', pingMs: 30_000 },
};

/** A metric sink that batches as the tunnel worker does and posts each batch over a MessageChannel. */
export function benchMetric<M>(MetricBatch: new (flush: (updates: unknown[]) => void) => { add: M }): M {
  const ch = new MessageChannel();
  ch.port2.onmessage = () => {};
  return new MetricBatch((updates: unknown[]) => ch.port1.postMessage({ kind: 'metrics', updates })).add;
}
