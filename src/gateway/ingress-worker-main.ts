// The ingress worker: runs IngressSync (informers → route registry) once the cluster id is known, re-syncs after
// reconnects, and reports gateway_info (heartbeat metadata) and route_hints (tunnel Host fallback) to the main thread.
import type { Logger } from '../log/logger.ts';
import { fromKubeAccess } from '../threads/kube-access.ts';
import { MetricBatch } from '../threads/metric-batch.ts';
import type { IngressToMain, IngressWorkerConfig, MainToIngress, WorkerInit } from '../threads/messages.ts';
import { KubeClient } from '../kube/client.ts';
import { type WorkerPort, workerLogger } from '../runtime/worker-port.ts';
import { DEFAULT_DETECTION_WAIT_MS } from './cluster-detection.ts';
import { Exposure } from './exposure.ts';
import { GatewayDiscovery } from './gateway-discovery.ts';
import { TunnelRegistryClient } from './tunnel-registry-client.ts';
import { IngressSync } from './ingress-sync.ts';
import { RouteRegistryClient } from './route-registry-client.ts';

export function runIngressWorker(port: WorkerPort<MainToIngress, IngressToMain>): void {
  let worker: IngressWorker | null = null;
  port.onMessage((m) => {
    switch (m.kind) {
      case 'init':
        worker = new IngressWorker(port, m);
        port.post({ kind: 'ready' });
        return;
      case 'session':
        worker?.session(m);
        return;
      case 'shutdown':
        void (async () => {
          await worker?.stop();
          port.post({ kind: 'stopped' });
        })();
        return;
    }
  });
}

class IngressWorker {
  readonly #port: WorkerPort<MainToIngress, IngressToMain>;
  readonly #cfg: IngressWorkerConfig;
  readonly #log: Logger;
  readonly #metrics: MetricBatch;
  #sync: IngressSync | null = null;
  #connected = false;
  #clusterId = '';
  readonly #kube: KubeClient | null = null;
  #exposure: Exposure | null = null;
  #discovery: GatewayDiscovery | null = null;

  constructor(port: WorkerPort<MainToIngress, IngressToMain>, init: WorkerInit<IngressWorkerConfig>) {
    this.#port = port;
    this.#cfg = init.config;
    this.#log = workerLogger(port as WorkerPort<unknown, { kind: 'log'; line: string }>, 'ingress', init.logLevel);
    this.#metrics = new MetricBatch((updates) => port.post({ kind: 'metrics', updates }));
    // Exposure (gateway.*) needs only the Kubernetes API: it runs whether or not ingress sync does.
    if (this.#cfg.exposure?.enabled) {
      if (init.kube) {
        this.#exposure = new Exposure({ kube: new KubeClient(fromKubeAccess(init.kube)), config: this.#cfg.exposure, log: this.#log, metric: this.#metrics.add });
        this.#exposure.start();
      } else this.#log.warn('gateway.enabled but no Kubernetes API is configured; no exposure objects are kept');
    }
    const discovery = this.#cfg.discovery?.enabled === true;
    if (!this.#cfg.enabled) this.#log.info('ingress sync disabled (agent.enable_ingress_sync=false)');
    if (!this.#cfg.enabled && !discovery) return;
    if (!init.kube) {
      this.#log.warn('ingress sync or Gateway discovery enabled but no Kubernetes API is configured; nothing to watch');
      return;
    }
    this.#kube = new KubeClient(fromKubeAccess(init.kube));
    if (this.#cfg.session) this.session({ kind: 'session', ...this.#cfg.session, reconnect: false });
  }

  session(m: Extract<MainToIngress, { kind: 'session' }>): void {
    if (!this.#kube) return;
    const usable = m.registered && m.clusterId !== '' && (m.state === undefined || m.state === 'connected');
    const cameBack = usable && !this.#connected && m.reconnect === true;
    this.#connected = usable;
    if (!usable) return;
    this.#sessionForDiscovery(m.clusterId, cameBack);
    if (!this.#cfg.enabled) return;
    if (!this.#sync) {
      this.#start(m.clusterId);
      return;
    }
    if (m.clusterId !== this.#clusterId) {
      this.#clusterId = m.clusterId;
      this.#sync.setClusterId(m.clusterId);
    } else if (cameBack) this.#sync.reconnected();
  }

  #start(clusterId: string): void {
    this.#clusterId = clusterId;
    const metric = this.#metrics.add;
    const registry = new RouteRegistryClient({
      apiUrl: this.#cfg.apiUrl,
      token: this.#cfg.token,
      tls: this.#cfg.tls,
      observe: (o) => {
        const labels = { operation: o.operation };
        metric({ name: o.ok ? 'gateway_route_sync_success_total' : 'gateway_route_sync_failures_total', op: 'inc', labels });
        if (o.retries > 0) metric({ name: 'gateway_route_sync_retries_total', op: 'inc', value: o.retries, labels });
        metric({ name: 'gateway_route_sync_duration_seconds', op: 'observe', value: o.seconds, labels });
      },
    });
    this.#log.info({ scope: this.#cfg.scope, force_tunnel_mode: this.#cfg.forceTunnelMode }, 'ingress sync starting');
    this.#sync = new IngressSync({
      kube: this.#kube!,
      registry,
      scope: this.#cfg.scope,
      forceTunnel: this.#cfg.forceTunnelMode,
      directCidrs: this.#cfg.directCidrs ?? [],
      detectionWaitMs: this.#cfg.detectionWaitMs ?? DEFAULT_DETECTION_WAIT_MS,
      refreshIntervalMs: this.#cfg.refreshIntervalMs,
      log: this.#log,
      metric,
      clusterId,
      onInfo: (i) => {
        this.#port.post({ kind: 'gateway_info', isPrivate: i.isPrivate, routes: i.routes, routingMode: i.routingMode });
        this.#port.post({ kind: 'route_hints', routes: i.hints, ingressController: i.ingressController });
      },
    });
  }

  /** Gateway discovery (tunnels.enabled, §5.5): started once the cluster id is known. */
  #sessionForDiscovery(clusterId: string, cameBack: boolean): void {
    const d = this.#cfg.discovery;
    if (!d?.enabled || !this.#kube) return;
    if (this.#discovery) {
      if (clusterId !== this.#discovery.clusterId) this.#discovery.setClusterId(clusterId);
      else if (cameBack) this.#discovery.reconnected();
      return;
    }
    const registry = new TunnelRegistryClient({
      apiUrl: this.#cfg.apiUrl,
      token: this.#cfg.token,
      tls: this.#cfg.tls,
    });
    this.#log.info({ tcp: d.tcp, udp: d.udp, force_tunnel_mode: this.#cfg.forceTunnelMode }, 'gateway discovery starting');
    this.#discovery = new GatewayDiscovery({
      kube: this.#kube,
      registry,
      clusterId,
      tcp: d.tcp,
      udp: d.udp,
      forceTunnel: this.#cfg.forceTunnelMode,
      dualMode: d.dualMode,
      directCidrs: this.#cfg.directCidrs ?? [],
      log: this.#log,
      metric: this.#metrics.add,
    });
  }

  async stop(): Promise<void> {
    await this.#discovery?.stop();
    await this.#exposure?.stop();
    await this.#sync?.stop();
    this.#metrics.flush();
  }
}
