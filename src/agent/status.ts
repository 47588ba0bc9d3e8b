// The agent's live state as the main thread knows it: fed by worker messages, read by the HTTP API and /ready.
// One object, one 'change' event; routes never reach into workers.

import type { ConnectionState, SessionMode } from '../threads/connection-state.ts';

export interface WorkerStatus {
  alive: boolean;
  restarts: number;
  startedAt: number;
  lastExit?: string;
}

export interface AgentSnapshot {
  version: string;
  agentId: string;
  clusterName: string;
  clusterId: string;
  startedAt: number;
  connection: {
    state: ConnectionState;
    registered: boolean;
    mode: SessionMode | null;
    /** Host of the control-plane endpoint in use (never a URL with credentials). */
    endpoint: string | null;
    since: number;
    lastError: string | null;
    reconnects: number;
  };
  heartbeat: {
    last: number | null;
    intervalMs: number;
    consecutiveFailures: number;
    sent: number;
    errors: number;
  };
  workers: Record<string, WorkerStatus>;
  gateway: { enabled: boolean; isPrivate: boolean | null; routingMode: string | null; routes: number };
  /** `configured` false: no in-cluster credentials and no kubeconfig, so nothing can be relayed (not ready). */
  kubernetes: { configured: boolean; reachable: boolean | null; version: string | null; lastCheck: number | null; error: string | null };
  features: Record<string, boolean>;
  /** Leader election (agent.leader_election): null when off. A standby is ready but passive: no session. */
  leadership: { role: 'leader' | 'standby'; identity: string; holder: string | null; lease: string } | null;
}

export interface Readiness {
  ready: boolean;
  reasons: string[];
}

/** Heartbeats older than this make the agent not ready (upstream's 90 s "healthy" threshold). */
export const HEARTBEAT_STALE_MS = 90_000;

/** The /ready reason of an agent started without a cluster (every relayed request would fail). */
export const NO_KUBERNETES_REASON =
  'no Kubernetes API configured (not in a cluster, no kubeconfig): set kubernetes.kubeconfig (KUBECONFIG, --kubeconfig) or run in a pod';

export class AgentStatus extends EventTarget {
  #s: AgentSnapshot;

  constructor(init: { version: string; agentId: string; clusterName: string; heartbeatIntervalMs: number; ingressSync: boolean; kubernetesConfigured: boolean }) {
    super();
    const now = Date.now();
    this.#s = {
      version: init.version,
      agentId: init.agentId,
      clusterName: init.clusterName,
      clusterId: '',
      startedAt: now,
      connection: { state: 'connecting', registered: false, mode: null, endpoint: null, since: now, lastError: null, reconnects: 0 },
      heartbeat: { last: null, intervalMs: init.heartbeatIntervalMs, consecutiveFailures: 0, sent: 0, errors: 0 },
      workers: {},
      gateway: { enabled: init.ingressSync, isPrivate: null, routingMode: null, routes: 0 },
      kubernetes: { configured: init.kubernetesConfigured, reachable: null, version: null, lastCheck: null, error: null },
      features: {
        tunnel: true,
        kubernetes_proxy: true,
        streaming: true,
        binary_protocol: true,
        compression: true,
        websocket_proxy: true,
        ingress_sync: init.ingressSync,
        metrics: true,
        realtime_events: true,
      },
      leadership: null,
    };
  }

  /** A deep copy: callers may keep or serialise it freely. */
  snapshot(): AgentSnapshot {
    return structuredClone(this.#s);
  }

  /** Apply a mutation and announce it. `kind` names what changed, for SSE consumers. */
  update(kind: string, mutate: (s: AgentSnapshot) => void): void {
    mutate(this.#s);
    this.dispatchEvent(new CustomEvent('change', { detail: { kind, at: Date.now() } }));
  }

  /** Truthful readiness: a Kubernetes API configured, registered, session connected, heartbeat fresh, every worker alive. */
  readiness(now = Date.now()): Readiness {
    const s = this.#s;
    const reasons: string[] = [];
    if (!s.kubernetes.configured) reasons.push(NO_KUBERNETES_REASON);
    // A standby holds no session on purpose: ready (it can take over), and its /ready body says it is passive.
    if (s.leadership?.role === 'standby') return { ready: reasons.length === 0, reasons };
    if (!s.connection.registered) reasons.push('not registered with the control plane');
    if (s.connection.state !== 'connected') reasons.push(`control-plane session ${s.connection.state}`);
    if (s.connection.state === 'connected' && s.heartbeat.last !== null && now - s.heartbeat.last > HEARTBEAT_STALE_MS)
      reasons.push(`last heartbeat ${Math.round((now - s.heartbeat.last) / 1000)}s ago`);
    for (const [name, w] of Object.entries(s.workers)) if (!w.alive) reasons.push(`worker ${name} not running`);
    return { ready: reasons.length === 0, reasons };
  }
}
