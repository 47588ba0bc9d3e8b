// The tunnel worker: owns the control-plane session and everything relayed over it.
// The main thread sends configuration and heartbeats; the worker reports session state, metrics and logs.
import { markThreadBusy } from '../threads/quiet-collector.ts';
import type { Logger } from '../log/logger.ts';
import type { MainToTunnel, TunnelToMain, TunnelWorkerConfig, WorkerInit } from '../threads/messages.ts';
import type { WorkerPort } from '../runtime/worker-port.ts';
import { workerLogger } from '../runtime/worker-port.ts';
import { TunnelDispatcher } from './dispatch.ts';
import { YamuxTunnels } from './l4/yamux-tunnels.ts';
import { buildRegisterPayload } from './register-payload.ts';
import { ControlSession } from './session.ts';
import { fromKubeAccess } from '../threads/kube-access.ts';
import { KubeClient } from '../kube/client.ts';
import { MetricBatch } from '../threads/metric-batch.ts';

export function runTunnelWorker(port: WorkerPort<MainToTunnel, TunnelToMain>): void {
  let session: ControlSession | null = null;
  let dispatcher: TunnelDispatcher | null = null;
  let log: Logger | null = null;

  port.onMessage((m) => {
    switch (m.kind) {
      case 'init':
        ({ session, dispatcher, log } = start(port, m));
        return;
      case 'send_heartbeat': {
        const t0 = performance.now();
        const s = session;
        void (s ? s.sendHeartbeat(m.payload) : Promise.resolve({ ok: false, error: 'session not started' })).then((r) =>
          port.post({ kind: 'heartbeat_result', seq: m.seq, ok: r.ok, error: r.error, durationMs: performance.now() - t0 }),
        );
        return;
      }
      case 'gateway_routes':
        dispatcher?.setRouteHints(m.routes, m.ingressController);
        return;
      case 'shutdown':
        void (async () => {
          log?.info('tunnel worker stopping');
          dispatcher?.closeAll('agent shutting down');
          await session?.stop();
          port.post({ kind: 'stopped' });
        })();
        return;
    }
  });
}

function start(port: WorkerPort<MainToTunnel, TunnelToMain>, init: WorkerInit<TunnelWorkerConfig>) {
  const c = init.config;
  const log = workerLogger(port as WorkerPort<unknown, { kind: 'log'; line: string }>, 'tunnel', init.logLevel);
  const kube = init.kube ? new KubeClient(fromKubeAccess(init.kube), { userAgent: `pipeops-agent/${c.agentVersion}` }) : null;
  const metric = new MetricBatch((updates) => port.post({ kind: 'metrics', updates })).add;
  const dispatcher = new TunnelDispatcher({ kube, log, metric, relay: c.relay, streams: c.streams, l4: c.l4 });
  const yamux = new YamuxTunnels({ config: c.l4, log, metric });
  const session = new ControlSession(
    {
      apiUrl: c.apiUrl,
      token: c.token,
      agentVersion: c.agentVersion,
      state: c.state,
      credentialsChanged: c.credentialsChanged,
      tls: c.tls,
      timeouts: c.timeouts,
      // supports_yamux and gateway_hello only with L4 tunnels enabled (§2.1, §5.1).
      ...(c.l4.enabled ? { binaryTransport: (offer, writer) => yamux.transport(offer, writer) } : {}),
      buildRegisterPayload: (mode, clusterId) =>
        buildRegisterPayload({
          agentId: c.agentId,
          clusterName: c.clusterName,
          agentVersion: c.agentVersion,
          agentPort: c.agentPort,
          labels: c.labels,
          facts: c.facts,
          mode,
          clusterId,
        }),
    },
    {
      status: (s) => port.post({ kind: 'session', ...s }),
      persist: (p) => port.post({ kind: 'persist', state: p }),
      fatal: (code, message) => port.post({ kind: 'fatal', code, message }),
      metric,
      message: (m, conn) => dispatcher.handle(m, conn),
      binary: (data, conn) => dispatcher.handleBinary(data, conn),
      beforeText: () => dispatcher.beforeText(),
      connected: (conn, reconnect) => dispatcher.attach(conn, reconnect),
      disconnected: () => dispatcher.detach(),
      activity: markThreadBusy,
    },
    log,
  );
  void session.start();
  port.post({ kind: 'ready' });
  return { session, dispatcher, log };
}
