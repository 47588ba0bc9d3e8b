// The ingress worker: watches Ingresses (when ingress sync is enabled) and reports the managed route count
// for heartbeats. Route registration with the control plane builds on this informer.
import type { Logger } from 'pino';
import { fromKubeAccess } from '../agent/kube-access.ts';
import type { IngressToMain, IngressWorkerConfig, MainToIngress, WorkerInit } from '../agent/thread-messages.ts';
import { KubeClient, type KubeObject } from '../kube/client.ts';
import { listWatch } from '../kube/watch.ts';
import { type WorkerPort, workerLogger } from '../runtime/worker-port.ts';
import { isManaged, routeCount } from './managed.ts';

export function runIngressWorker(port: WorkerPort<MainToIngress, IngressToMain>): void {
  let abort: AbortController | null = null;
  port.onMessage((m) => {
    switch (m.kind) {
      case 'init':
        abort = start(port, m);
        port.post({ kind: 'ready' });
        return;
      case 'session':
        return;
      case 'shutdown':
        abort?.abort();
        port.post({ kind: 'stopped' });
        return;
    }
  });
}

function start(port: WorkerPort<MainToIngress, IngressToMain>, init: WorkerInit<IngressWorkerConfig>): AbortController {
  const log: Logger = workerLogger(port as WorkerPort<unknown, { kind: 'log'; line: string }>, 'ingress', init.logLevel);
  const abort = new AbortController();
  if (!init.config.enabled) {
    log.info('ingress sync disabled (agent.enable_ingress_sync=false)');
    return abort;
  }
  if (!init.kube) {
    log.warn('ingress sync enabled but no Kubernetes API is configured; nothing to watch');
    return abort;
  }
  const kube = new KubeClient(fromKubeAccess(init.kube));
  const scope = init.config.scope;
  const report = () => {
    let routes = 0;
    for (const ing of informer.cache().values()) if (isManaged(ing, scope)) routes += routeCount(ing);
    port.post({ kind: 'gateway_info', isPrivate: null, routes, routingMode: null });
  };
  const informer = listWatch<KubeObject>(
    kube,
    '/apis/networking.k8s.io/v1/ingresses',
    { onAdd: report, onUpdate: report, onDelete: report, onSynced: report, onError: (e) => log.warn({ err: e.message }, 'ingress watch error') },
    { signal: abort.signal },
  );
  return abort;
}
