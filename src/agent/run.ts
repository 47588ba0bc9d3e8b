// The agent's main thread: resolves identity, state and Kubernetes access, serves the local HTTP API,
// supervises the workers (tunnel, with the heartbeat on its thread; ingress) and routes their messages, and shuts
// everything down cleanly.
import { readFileSync } from 'node:fs';
import type { AgentConfig } from '../config/schema.ts';
import { KubeClient } from '../kube/client.ts';
import { type KubeTarget, resolveKubeTarget } from '../kube/target.ts';
import { createLineLogger, REDACT_KEYS } from '../log/line-logger.ts';
import type { LogLevel } from '../log/log-api.ts';
import { LogRing } from '../log/log-ring.ts';
import { secrets } from '../log/secrets.ts';
import { prettyLine } from '../log/pretty.ts';
import { clusterDomainFromResolvConf } from '../tunnel/service-endpoint.ts';
import { runtime } from '#runtime';
import { gatherIdentityFacts, openStateStore, type PersistedState, resolveAgentId, resolveStateNamespace, type StateStore } from '../state/index.ts';
import { BUILD_INFO } from '../version.ts';
import { defaultIdentity, LeaderElector } from './leader-election.ts';
import { checkControlPlane, checkKubernetes, gatherRegisterFacts } from './startup-facts.ts';
import { startAgentServer } from './http-app.ts';
import { toKubeAccess } from '../threads/kube-access.ts';
import { AgentMetrics } from './metrics.ts';
import { AgentStatus } from './status.ts';
import { WorkerSupervisor } from './supervisor.ts';
import { collectAndShrink, QUIET_COLLECT_MS, QuietCollector } from '../threads/quiet-collector.ts';
import { sleep } from '../timing/sleep.ts';
import type {
  IngressToMain,
  KubeAccess,
  MainToIngress,
  MainToTunnel,
  TunnelToMain,
} from '../threads/messages.ts';

export interface RunningAgent {
  url: string;
  port: number;
  status: AgentStatus;
  metrics: AgentMetrics;
  /** Resolves with the process exit code once the agent has stopped (shutdown or fatal error). */
  done: Promise<number>;
  /** The worker threads (diagnostics and tests). */
  workers: Record<'tunnel' | 'ingress', { readonly worker: Worker | null }>;
  stop(): Promise<void>;
}

/** A startup problem an operator must fix; the CLI prints `message` and exits with `exitCode`. */
export class AgentStartupError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface RunOptions {
  env: Record<string, string | undefined>;
  /** Where log lines go besides the in-memory ring (default stdout). */
  logSink?: (line: string) => void;
}

export async function runAgent(cfg: AgentConfig, opts: RunOptions): Promise<RunningAgent> {
  const ring = new LogRing();
  const stream = cfg.logging.output === 'stderr' ? process.stderr : process.stdout;
  const out = opts.logSink ?? (cfg.logging.format === 'pretty' ? (line: string) => stream.write(prettyLine(line)) : (line: string) => stream.write(line));
  const logLine = (line: string) => {
    const l = secrets.scrub(line);
    out(l);
    ring.push(l);
  };
  secrets.add(cfg.pipeops.token);
  secrets.add(cfg.kubernetes.service_token);
  secrets.add(cfg.agent.api_token);
  // pino's lines without pino (src/log/line-logger.ts): the agent's main thread does not load it (≈ 1 MiB of heap).
  const log = createLineLogger({ level: cfg.logging.level as LogLevel, base: { pid: process.pid, component: 'agent' }, redactKeys: new Set(REDACT_KEYS), write: logLine });

  // ---- Kubernetes access ----
  let target: KubeTarget | null;
  try {
    target = resolveKubeTarget({
      kubeconfig: cfg.kubernetes.kubeconfig || undefined,
      inCluster: cfg.kubernetes.in_cluster,
      serviceAccountDir: cfg.kubernetes.service_account_dir,
      env: opts.env,
    });
  } catch (e) {
    throw new AgentStartupError(`cannot configure Kubernetes access: ${(e as Error).message}`, 2);
  }
  const kube = target ? new KubeClient(target, { userAgent: `pipeops-agent/${BUILD_INFO.version}`, defaultTimeoutMs: cfg.timeouts.k8s_operation }) : null;
  if (!kube) log.warn('no Kubernetes API configured (not in a cluster, no kubeconfig): relaying to the cluster is unavailable');
  else log.info({ server: target!.server, source: target!.source }, 'Kubernetes API configured');
  const inCluster = target?.source === 'in-cluster';

  // ---- state and identity ----
  let store: StateStore;
  let state: PersistedState;
  try {
    store = openStateStore({
      inCluster,
      kube: kube ?? undefined,
      filePath: cfg.agent.state_file || undefined,
      namespace: resolveStateNamespace({ configured: cfg.agent.state_namespace || undefined, serviceAccountNamespace: target?.namespace, env: opts.env }),
      configMapName: cfg.agent.state_configmap_name,
      secretName: cfg.agent.state_secret_name,
    });
    state = { ...(await store.load()) };
  } catch (e) {
    throw new AgentStartupError(`cannot load agent state: ${(e as Error).message}`, 1);
  }
  secrets.add(state.cluster_token);
  // Outside a Pod: cluster name, API server and state location tell agents on one host apart (issue 10 item 15).
  const instance = [cfg.agent.cluster_name, target?.server ?? '', store.describe()];
  const id = resolveAgentId({ configured: cfg.agent.id || undefined, persisted: state.agent_id || undefined, facts: gatherIdentityFacts(opts.env, instance) });
  log.info({ agent_id: id.id, source: id.source, state: store.describe() }, 'agent identity');

  // Persisting is serialised: every change is saved in order, and shutdown waits for the last save.
  let saving: Promise<void> = Promise.resolve();
  const persist = (p: Partial<PersistedState>) => {
    Object.assign(state, p);
    const snapshot = { ...state };
    saving = saving.then(() => store.save(snapshot)).catch((e) => log.error({ err: (e as Error).message, store: store.describe() }, 'saving agent state failed'));
    return saving;
  };
  // Under leader election only the leader writes the state (at the start of its term, see adoptPersistedState).
  const election = cfg.agent.leader_election.enabled && kube !== null ? cfg.agent.leader_election : null;
  if (cfg.agent.leader_election.enabled && !kube) log.warn('leader election needs a Kubernetes API for its Lease: running without it, as the only replica');
  let agentId = id.id;
  if (!election && state.agent_id !== id.id) await persist({ agent_id: id.id });

  // ---- register facts (cheap, bounded; failures degrade to "unknown") ----
  const facts = await gatherRegisterFacts(cfg, kube, state, log);
  let credentialsChanged = facts.serviceToken !== '' && facts.serviceToken !== state.cluster_token;
  if (facts.serviceToken) {
    secrets.add(facts.serviceToken);
    if (credentialsChanged && !election) await persist({ cluster_token: facts.serviceToken });
  }

  // ---- status, metrics, HTTP API ----
  const status = new AgentStatus({
    version: BUILD_INFO.version,
    agentId: id.id,
    clusterName: cfg.agent.cluster_name,
    heartbeatIntervalMs: cfg.agent.heartbeat_interval,
    ingressSync: cfg.agent.enable_ingress_sync,
    kubernetesConfigured: kube !== null,
  });
  const electionIdentity = election ? election.identity || defaultIdentity(opts.env) : '';
  const leaseNamespace = election
    ? election.lease_namespace || resolveStateNamespace({ configured: cfg.agent.state_namespace || undefined, serviceAccountNamespace: target?.namespace, env: opts.env })
    : '';
  if (election) {
    status.update('leadership', (s) => {
      s.leadership = { role: 'standby', identity: electionIdentity, holder: null, lease: `${leaseNamespace}/${election.lease_name}` };
    });
  }
  status.update('identity', (s) => {
    s.clusterId = state.cluster_id;
    s.kubernetes.version = facts.k8sVersion === 'unknown' ? null : facts.k8sVersion;
  });
  const metrics = new AgentMetrics();
  metrics.set('pipeops_agent_info', 1, { version: BUILD_INFO.version, bun_version: runtime.name === 'bun' ? runtime.version : 'none' });
  const server = startAgentServer({
    status,
    metrics,
    logs: ring,
    logger: log,
    version: BUILD_INFO,
    allowedOrigins: cfg.agent.allowed_ws_origins,
    apiToken: cfg.agent.api_token,
    truthfulReadiness: cfg.agent.truthful_readiness_probe,
    checks: { controlPlane: () => checkControlPlane(cfg.pipeops.api_url, status), kubernetes: () => checkKubernetes(kube) },
    port: cfg.agent.port,
    host: cfg.agent.host,
  });

  const clusterDomain = cfg.agent.cluster_domain || detectClusterDomain();

  // ---- workers ----
  const kubeAccess: KubeAccess | null = target ? toKubeAccess(target) : null;
  // The main thread collects its garbage a quiet second after the workers last reported (startup, a burst of relayed
  // requests' metrics); each worker does the same for itself (collectWhenQuiet in workers/*.ts). See quiet-collector.ts.
  const quiet = new QuietCollector({ quietMs: QUIET_COLLECT_MS, collect: collectAndShrink });
  const stopQuiet = quiet.start();
  const common = { status, metrics, log, logLine, activity: () => quiet.touch() };
  let ingressSup: WorkerSupervisor<MainToIngress, IngressToMain>;
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    resolveDone = r;
  });
  let stopping: Promise<void> | null = null;

  const tunnelSup = new WorkerSupervisor<MainToTunnel, TunnelToMain>({
    ...common,
    name: 'tunnel',
    spawn: () => runtime.spawnWorker('tunnel'),
    init: () => ({
      kind: 'init',
      logLevel: cfg.logging.level,
      kube: kubeAccess,
      config: {
        apiUrl: cfg.pipeops.api_url,
        token: cfg.pipeops.token,
        agentId,
        clusterName: cfg.agent.cluster_name,
        agentVersion: BUILD_INFO.version,
        labels: cfg.agent.labels,
        agentPort: server.port,
        state: { ...state },
        credentialsChanged,
        tls: {
          enabled: cfg.pipeops.tls.enabled,
          insecureSkipVerify: cfg.pipeops.tls.insecure_skip_verify,
          ca: readOptional(cfg.pipeops.tls.ca_file),
          cert: readOptional(cfg.pipeops.tls.cert_file),
          key: readOptional(cfg.pipeops.tls.key_file),
        },
        timeouts: {
          handshakeMs: cfg.timeouts.websocket_handshake,
          pingMs: cfg.timeouts.websocket_ping,
          readMs: cfg.timeouts.websocket_read,
          reconnectMs: cfg.timeouts.websocket_reconnect,
          reconnectMaxMs: cfg.timeouts.websocket_reconnect_max,
          registrationMs: cfg.timeouts.registration,
          registrationMaxWaitMs: cfg.timeouts.registration_max_wait,
          shutdownMs: cfg.timeouts.shutdown,
          heartbeatMs: cfg.timeouts.heartbeat,
        },
        reportPublicIp: cfg.agent.report_public_ip,
        facts,
        relay: {
          serviceProxy: cfg.kubernetes.service_proxy,
          serviceMap: cfg.kubernetes.service_map,
          clusterDomain,
          maxBufferedBodyBytes: cfg.proxy.max_buffered_body_bytes,
          maxRequestBodyBytes: cfg.proxy.max_request_body_bytes,
          bufferedTimeoutMs: cfg.timeouts.proxy_request,
          bodyIdleMs: cfg.timeouts.proxy_body_idle,
          dialTimeoutMs: cfg.timeouts.proxy_dial,
          idleMs: cfg.timeouts.proxy_idle,
          binaryThreshold: cfg.proxy.binary_threshold_bytes,
          gzipMinBytes: cfg.proxy.gzip_min_bytes,
          highWaterBytes: cfg.proxy.stream_high_water_bytes,
        },
        streams: {
          highWaterBytes: cfg.proxy.stream_high_water_bytes,
          maxBufferedBytes: cfg.proxy.ws_max_frame_bytes * cfg.proxy.ws_channel_capacity,
          serviceProxy: cfg.kubernetes.service_proxy,
          serviceMap: cfg.kubernetes.service_map,
          clusterDomain,
          pingMs: cfg.proxy.ws_ping_interval,
          pongTimeoutMs: cfg.proxy.ws_pong_timeout,
          dialTimeoutMs: cfg.timeouts.proxy_dial,
          idleMs: cfg.timeouts.stream_idle,
          maxFrameBytes: cfg.proxy.ws_max_frame_bytes,
        },
        l4: {
          enabled: cfg.tunnels.enabled,
          tcp: {
            bufferSize: cfg.tunnels.tcp.buffer_size,
            keepalive: cfg.tunnels.tcp.keepalive,
            keepalivePeriodMs: cfg.tunnels.tcp.keepalive_period,
            connectTimeoutMs: cfg.tunnels.tcp.connection_timeout,
            idleTimeoutMs: cfg.tunnels.tcp.idle_timeout,
            maxConnections: cfg.tunnels.tcp.max_connections,
          },
          udp: { bufferSize: cfg.tunnels.udp.buffer_size, sessionTimeoutMs: cfg.tunnels.udp.session_timeout, maxSessions: cfg.tunnels.udp.max_sessions },
          target: { mode: cfg.kubernetes.service_proxy, serviceMap: cfg.kubernetes.service_map, clusterDomain },
          yamux: { keepAliveMs: 30_000, writeTimeoutMs: 30_000, maxStreamWindow: 256 * 1024 },
        },
        // The heartbeat runs on the tunnel worker's thread (workers/tunnel.ts); a restarted tunnel worker restarts it.
        heartbeat: {
          config: {
            agentId,
            agentVersion: BUILD_INFO.version,
            intervalMs: cfg.agent.heartbeat_interval,
            intervals: {
              connected: cfg.agent.heartbeat_interval,
              reconnecting: cfg.agent.heartbeat_interval_reconnecting,
              disconnected: cfg.agent.heartbeat_interval_disconnected,
            },
            sendBudgetMs: cfg.timeouts.heartbeat,
            k8sTimeoutMs: cfg.timeouts.k8s_operation,
            retry: { maxAttempts: cfg.pipeops.reconnect.enabled ? cfg.pipeops.reconnect.max_attempts : 1, baseMs: cfg.pipeops.reconnect.interval, capMs: 30_000 },
            reportUsage: true,
          },
          gateway: (({ isPrivate, routes, routingMode }) => ({ isPrivate, routes, routingMode }))(status.snapshot().gateway),
        },
      },
    }),
    onMessage: (m) => {
      switch (m.kind) {
        case 'session':
          // Upstream's names (§8.1): every state change by target state; every wait before a redial.
          if (status.snapshot().connection.state !== m.state) metrics.inc('pipeops_agent_connection_state_changes_total', { state: m.state });
          if (m.state === 'reconnecting') metrics.inc('pipeops_agent_websocket_reconnections_total');
          status.update('session', (s) => {
            if (m.reconnect && m.state === 'connected' && s.connection.state !== 'connected') s.connection.reconnects++;
            if (s.connection.state !== m.state) s.connection.since = Date.now();
            s.connection.state = m.state;
            s.connection.registered = m.registered;
            s.connection.mode = m.mode;
            s.connection.endpoint = m.endpoint;
            s.connection.lastError = m.error;
            s.clusterId = m.clusterId;
          });
          ingressSup.post({ kind: 'session', registered: m.registered, clusterId: m.clusterId, state: m.state, reconnect: m.reconnect });
          return;
        case 'persist':
          void persist(m.state);
          if (m.state.cluster_token) secrets.add(m.state.cluster_token);
          return;
        case 'heartbeat_result':
          if (m.ok) metrics.inc('pipeops_heartbeat_total');
          else metrics.inc('pipeops_heartbeat_errors_total', { reason: m.error ?? 'unknown' });
          status.update('heartbeat', (s) => {
            if (m.ok) {
              s.heartbeat.last = Date.now();
              s.heartbeat.sent++;
              s.heartbeat.consecutiveFailures = 0;
            } else {
              s.heartbeat.errors++;
              s.heartbeat.consecutiveFailures++;
            }
          });
          return;
        case 'k8s_info':
          status.update('kubernetes', (s) => {
            s.kubernetes.reachable = m.reachable;
            s.kubernetes.version = m.version ?? s.kubernetes.version;
            s.kubernetes.error = m.error;
            s.kubernetes.lastCheck = Date.now();
          });
          return;
        case 'fatal':
          log.fatal({ code: m.code }, m.message);
          process.stderr.write(`pipeops-agent: ${m.message}\n`);
          void shutdown(3);
          return;
      }
    },
  });

  ingressSup = new WorkerSupervisor<MainToIngress, IngressToMain>({
    ...common,
    name: 'ingress',
    spawn: () => runtime.spawnWorker('ingress'),
    init: () => ({
      kind: 'init',
      logLevel: cfg.logging.level,
      kube: kubeAccess,
      config: {
        enabled: cfg.agent.enable_ingress_sync,
        scope: cfg.agent.ingress_sync_scope,
        apiUrl: cfg.pipeops.api_url,
        token: cfg.pipeops.token,
        tls: cfg.pipeops.tls.enabled
          ? {
              insecureSkipVerify: cfg.pipeops.tls.insecure_skip_verify,
              ca: readOptional(cfg.pipeops.tls.ca_file),
              cert: readOptional(cfg.pipeops.tls.cert_file),
              key: readOptional(cfg.pipeops.tls.key_file),
            }
          : { insecureSkipVerify: false },
        refreshIntervalMs: cfg.agent.gateway_route_refresh_interval,
        forceTunnelMode: cfg.tunnels.routing.force_tunnel_mode,
        directCidrs: cfg.tunnels.routing.direct_cidrs,
        detectionWaitMs: cfg.agent.gateway_detection_wait,
        exposure: cfg.gateway,
        discovery: {
          enabled: cfg.tunnels.enabled,
          tcp: { enabled: cfg.tunnels.discovery.tcp.enabled, selector: cfg.tunnels.discovery.tcp.gateway_label || 'pipeops.io/managed' },
          udp: { enabled: cfg.tunnels.discovery.udp.enabled, selector: cfg.tunnels.discovery.udp.gateway_label || 'pipeops.io/managed' },
          dualMode: cfg.tunnels.routing.dual_mode_enabled,
        },
        // A restarted worker learns the current session here (session messages only come on changes).
        session: { registered: status.snapshot().connection.registered, clusterId: status.snapshot().clusterId, state: status.snapshot().connection.state },
      },
    }),
    onMessage: (m) => {
      switch (m.kind) {
        case 'gateway_info':
          status.update('gateway', (s) => {
            s.gateway.isPrivate = m.isPrivate;
            s.gateway.routes = m.routes;
            s.gateway.routingMode = m.routingMode;
          });
          tunnelSup.post({ kind: 'gateway_info', isPrivate: m.isPrivate, routes: m.routes, routingMode: m.routingMode });
          return;
        case 'route_hints':
          tunnelSup.post({ kind: 'gateway_routes', routes: m.routes, ingressController: m.ingressController });
          return;
      }
    },
  });

  // The ingress worker has work only with ingress sync, Gateway discovery (tunnels.enabled) or exposure
  // (gateway.enabled); with all three off (the default) it is not started: one JS heap less, ≈ 5 MiB of RSS
  // (docs/benchmarks.md, Memory).
  const ingressWorkerNeeded = cfg.agent.enable_ingress_sync || cfg.tunnels.enabled || cfg.gateway.enabled;
  if (!ingressWorkerNeeded) log.info('ingress sync, Gateway discovery and exposure are off: the ingress worker is not started');

  // ---- leader-only work: the switch that starts and stops everything that faces the control plane ----
  let leaderWork: 'stopped' | 'running' = 'stopped';
  const startLeaderWork = async () => {
    if (leaderWork === 'running' || stopping) return;
    leaderWork = 'running';
    if (election) await adoptPersistedState();
    // The control-plane-facing workers: the session (tunnel: register, relay, L4 tunnels, and the heartbeat on its
    // thread) and ingress sync. A supervisor stopped at the end of a term starts afresh (new thread, new init) in the next one.
    if (ingressWorkerNeeded) ingressSup.start();
    tunnelSup.start();
  };
  const stopLeaderWork = async (budgetMs: number) => {
    if (leaderWork === 'stopped') return;
    leaderWork = 'stopped';
    // The tunnel closes its session with 1000 first (its heartbeat stops with it); the ingress worker only needs to stop.
    await tunnelSup.stop(Math.max(500, budgetMs - 1000));
    await ingressSup.stop(1000);
    if (election) {
      status.update('session', (s) => {
        for (const w of ['tunnel', 'ingress']) delete s.workers[w];
        s.connection.state = 'disconnected';
        s.connection.registered = false;
        s.connection.since = Date.now();
      });
    }
  };
  /**
   * A new leader continues the cluster identity the previous one persisted (agent id, cluster id, token) instead of
   * registering a second cluster; it writes the state only now, so a standby never does.
   */
  const adoptPersistedState = async () => {
    try {
      Object.assign(state, await store.load());
    } catch (e) {
      log.warn({ err: (e as Error).message, store: store.describe() }, 'reloading agent state for the new term failed; using what this replica read at startup');
    }
    agentId = state.agent_id || id.id;
    if (state.agent_id !== agentId) await persist({ agent_id: agentId });
    credentialsChanged = facts.serviceToken !== '' && facts.serviceToken !== state.cluster_token;
    if (credentialsChanged) await persist({ cluster_token: facts.serviceToken });
    if (state.cluster_token) secrets.add(state.cluster_token);
    status.update('identity', (s) => {
      s.agentId = agentId;
      s.clusterId = state.cluster_id;
    });
  };

  const elector = election
    ? new LeaderElector(
        kube as KubeClient,
        {
          namespace: leaseNamespace,
          name: election.lease_name,
          identity: electionIdentity,
          leaseDurationMs: election.lease_duration,
          renewDeadlineMs: election.renew_deadline,
          retryPeriodMs: election.retry_period,
          releaseOnCancel: election.release_on_cancel,
        },
        {
          onStartedLeading: async () => {
            status.update('leadership', (s) => {
              if (s.leadership) s.leadership.role = 'leader';
            });
            metrics.set('pipeops_agent_leader_election_leader', 1, { lease: `${leaseNamespace}/${election.lease_name}` });
            await startLeaderWork();
          },
          onStoppedLeading: async () => {
            status.update('leadership', (s) => {
              if (s.leadership) s.leadership.role = 'standby';
            });
            metrics.set('pipeops_agent_leader_election_leader', 0, { lease: `${leaseNamespace}/${election.lease_name}` });
            await stopLeaderWork(cfg.timeouts.shutdown);
          },
          onNewLeader: (holder) =>
            status.update('leadership', (s) => {
              if (s.leadership) s.leadership.holder = holder || null;
            }),
        },
        log,
      )
    : null;
  if (elector) {
    metrics.set('pipeops_agent_leader_election_leader', 0, { lease: elector.lease });
    log.info({ lease: elector.lease, identity: elector.identity }, 'leader election on: standing by until this replica holds the Lease');
    elector.start();
  } else await startLeaderWork();

  const shutdown = (code: number): Promise<void> => {
    stopping ??= (async () => {
      log.info({ exit_code: code }, 'agent shutting down');
      const budget = cfg.timeouts.shutdown;
      const t0 = Date.now();
      await server.stop();
      // A leader stops its work (closing the session) and then releases the Lease, so a standby registers only after
      // this replica's session is gone.
      if (elector) await elector.stop();
      await stopLeaderWork(Math.max(500, budget - 1000));
      await Promise.race([saving, sleep(Math.max(100, budget - (Date.now() - t0) - 200))]);
      stopQuiet();
      log.info({ took_ms: Date.now() - t0 }, 'agent stopped');
      resolveDone(code);
    })();
    return stopping;
  };

  return {
    url: server.url,
    port: server.port,
    status,
    metrics,
    done,
    workers: { tunnel: tunnelSup, ingress: ingressSup },
    stop: () => shutdown(0),
  };
}

function detectClusterDomain(): string {
  try {
    return clusterDomainFromResolvConf(readFileSync('/etc/resolv.conf', 'utf8'));
  } catch {
    return 'cluster.local';
  }
}

function readOptional(path: string): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new AgentStartupError(`cannot read ${path}: ${(e as Error).message}`, 2);
  }
}
