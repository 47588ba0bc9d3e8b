// A TunnelDispatcher with no Kubernetes client whose service proxy maps demo/app:80 to a local backend: what the
// dispatcher unit tests (deadlines, late chunks, isolation, small binary answers) relay through.
import type { MetricUpdate } from '../../src/threads/metric-update.ts';
import { TunnelDispatcher } from '../../src/tunnel/dispatch.ts';
import { quietLog } from './hub-agent.ts';

export function mappedDispatcher(backendPort: number | undefined, metric: (u: MetricUpdate) => void = () => {}): TunnelDispatcher {
  const serviceMap = { 'demo/app:80': `http://127.0.0.1:${backendPort}` };
  return new TunnelDispatcher({
    kube: null,
    log: quietLog,
    metric,
    relay: { serviceProxy: 'map', serviceMap, clusterDomain: 'cluster.local', maxBufferedBodyBytes: 1 << 20, maxRequestBodyBytes: 1 << 20, bufferedTimeoutMs: 30_000, binaryThreshold: 10_240, gzipMinBytes: 1024, highWaterBytes: 1 << 20 },
    streams: { highWaterBytes: 1 << 20, maxBufferedBytes: 1 << 20, serviceProxy: 'map', serviceMap, clusterDomain: 'cluster.local', pingMs: 30_000, pongTimeoutMs: 60_000, dialTimeoutMs: 5_000 },
  });
}
