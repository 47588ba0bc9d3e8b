// The tunnel worker: owns the control-plane session and everything relayed over it, and hosts the heartbeat on its
// thread. The main thread sends configuration; the worker reports session state, heartbeat results, metrics and logs.
import { markThreadBusy, markThreadRelayed } from '../threads/quiet-collector.ts';
import type { Logger } from '../log/logger.ts';
import type { HeartbeatToMain, MainToHeartbeat, MainToTunnel, TunnelToMain, TunnelWorkerConfig, WorkerInit } from '../threads/messages.ts';
import { inThreadChannel } from '../threads/in-thread-port.ts';
import type { WorkerPort } from '../runtime/worker-port.ts';
import { workerLogger } from '../runtime/worker-port.ts';
import { TunnelDispatcher } from './dispatch.ts';
import { YamuxTunnels } from './l4/yamux-tunnels.ts';
import { buildRegisterPayload } from './register-payload.ts';
import { ControlSession } from './session.ts';
import { fromKubeAccess } from '../threads/kube-access.ts';
import { KubeClient } from '../kube/client.ts';
import { MetricBatch } from '../threads/metric-batch.ts';
import type { SessionStatus } from '../threads/connection-state.ts';

/** Runs the heartbeat's logic (src/heartbeat/worker-main.ts's runHeartbeatWorker) on a port of this thread. */
export type HeartbeatRunner = (port: WorkerPort<MainToHeartbeat, HeartbeatToMain>) => void;

/** How long shutdown waits for the heartbeat to say it stopped (it only clears a timer). */
const HEARTBEAT_STOP_MS = 1000;

export function runTunnelWorker(port: WorkerPort<MainToTunnel, TunnelToMain>, runHeartbeat: HeartbeatRunner): void {
  let session: ControlSession | null = null;
  let dispatcher: TunnelDispatcher | null = null;
  let log: Logger | null = null;
  const hb = hostHeartbeat(port, runHeartbeat, () => session);

  port.onMessage((m) => {
    switch (m.kind) {
      case 'init':
        hb.post({ kind: 'init', config: m.config.heartbeat.config, kube: m.kube, logLevel: m.logLevel });
        hb.post({ kind: 'gateway_info', ...m.config.heartbeat.gateway });
        ({ session, dispatcher, log } = start(port, m, (s) => hb.post({ kind: 'session', state: s.state, registered: s.registered, clusterId: s.clusterId })));
        return;
      case 'gateway_info':
        hb.post(m);
        return;
      case 'gateway_routes':
        dispatcher?.setRouteHints(m.routes, m.ingressController);
        return;
      case 'shutdown':
        void (async () => {
          log?.info('tunnel worker stopping');
          await hb.stop(HEARTBEAT_STOP_MS);
          dispatcher?.closeAll('agent shutting down');
          await session?.stop();
          port.post({ kind: 'stopped' });
        })();
        return;
    }
  });
}

/**
 * The heartbeat on this thread: it speaks MainToHeartbeat/HeartbeatToMain over an in-thread channel, as it did to the
 * main thread when it had a worker of its own. Its heartbeats are sent on the session here (the result goes to it and,
 * for metrics and /ready, to the main thread); its logs, metrics and k8s_info go on to the main thread.
 */
function hostHeartbeat(port: WorkerPort<MainToTunnel, TunnelToMain>, runHeartbeat: HeartbeatRunner, session: () => ControlSession | null) {
  const ch = inThreadChannel<MainToHeartbeat, HeartbeatToMain>();
  let stopped: (() => void) | null = null;
  ch.a.onMessage((m) => {
    switch (m.kind) {
      case 'heartbeat': {
        const t0 = performance.now();
        const s = session();
        void (s ? s.sendHeartbeat(m.payload) : Promise.resolve({ ok: false, error: 'session not started' })).then((r) => {
          port.post({ kind: 'heartbeat_result', seq: m.seq, ok: r.ok, error: r.error, durationMs: performance.now() - t0 });
          ch.a.post({ kind: 'heartbeat_result', seq: m.seq, ok: r.ok, error: r.error });
        });
        return;
      }
      case 'ready':
        return;
      case 'stopped':
        stopped?.();
        return;
      default:
        port.post(m); // log, metric(s), k8s_info
    }
  });
  runHeartbeat(ch.b);
  return {
    post: (m: MainToHeartbeat) => ch.a.post(m),
    stop: (timeoutMs: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        stopped = () => {
          clearTimeout(t);
          resolve();
        };
        ch.a.post({ kind: 'shutdown' });
      }),
  };
}

function start(port: WorkerPort<MainToTunnel, TunnelToMain>, init: WorkerInit<TunnelWorkerConfig>, onSession: (s: SessionStatus) => void) {
  const c = init.config;
  const log = workerLogger(port as WorkerPort<unknown, { kind: 'log'; line: string }>, 'tunnel', init.logLevel);
  const kube = init.kube ? new KubeClient(fromKubeAccess(init.kube), { userAgent: `pipeops-agent/${c.agentVersion}`, relayPool: { connectTimeoutMs: c.relay.dialTimeoutMs, idleMs: c.relay.idleMs } }) : null;
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
      status: (s) => {
        port.post({ kind: 'session', ...s });
        onSession(s);
      },
      persist: (p) => port.post({ kind: 'persist', state: p }),
      fatal: (code, message) => port.post({ kind: 'fatal', code, message }),
      metric,
      message: (m, conn) => dispatcher.handle(m, conn),
      binary: (data, conn) => dispatcher.handleBinary(data, conn),
      beforeText: () => dispatcher.beforeText(),
      connected: (conn, reconnect) => dispatcher.attach(conn, reconnect),
      disconnected: () => dispatcher.detach(),
      activity: markThreadBusy,
      relayed: markThreadRelayed,
    },
    log,
  );
  void session.start();
  port.post({ kind: 'ready' });
  return { session, dispatcher, log };
}
