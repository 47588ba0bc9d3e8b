// The hub's durable state as the rest of the hub sees it: clusters, the route registry and (for replicas) which
// replica holds which agent session. Every method is asynchronous so that a networked database (PostgreSQL) can
// sit behind the same interface as the embedded one (SQLite); the SQL and its dialect live in the implementations.
import type { PathType } from '../routes/route-validation.ts';
import type { TunnelStore } from '../tunnels/tunnel-store.ts';

export interface ClusterRecord {
  cluster_id: string;
  name: string;
  agent_id: string;
  k8s_version: string;
  agent_version: string;
  /** Secret: the ServiceAccount token the agent handed over. Never logged, never returned by the admin API. */
  k8s_service_token: string;
  metadata: Record<string, unknown>;
  registration: Record<string, unknown>;
  registered_at: string;
  last_heartbeat: string | null;
  last_heartbeat_payload: Record<string, unknown> | null;
  /** sha256 (hex) of the agent token the cluster registered with; '' when unknown. Binds route registry calls. */
  token_sha256: string;
}

export interface RegisterCluster {
  agentId: string;
  name: string;
  /** An id the agent persisted; adopted when the hub does not know it. */
  requestedId?: string;
  k8sVersion: string;
  agentVersion: string;
  serviceToken?: string;
  /** sha256 hex of the agent token used (tokenDigest in auth.ts); never the token itself. */
  tokenDigest?: string;
  metadata: Record<string, unknown>;
  registration: Record<string, unknown>;
}

export interface ClusterStore {
  get(clusterId: string): Promise<ClusterRecord | null>;
  list(): Promise<ClusterRecord[]>;
  /** By id or by name (names are unique per agent, not globally: the first registered wins). */
  find(idOrName: string): Promise<ClusterRecord | null>;
  /** The cluster id is stable per (agent_id, name); resolves once the record and its credential are stored. */
  register(p: RegisterCluster): Promise<ClusterRecord>;
  recordHeartbeat(clusterId: string, payload: Record<string, unknown>, at?: Date): Promise<boolean>;
}

export interface RouteRecord {
  cluster_id: string;
  hostname: string;
  path: string;
  path_type: PathType;
  /** The ingress controller Service (or the app's Service when the cluster has no controller). */
  namespace: string;
  service_name: string;
  service_port: number;
  ingress_namespace: string;
  ingress_name: string;
  tls: boolean;
  annotations: Record<string, string>;
  public_endpoint: string;
  routing_mode: 'tunnel' | 'direct';
  deployment_id: string;
  deployment_name: string;
  updated_at: string;
}

export type NewRoute = Omit<RouteRecord, 'updated_at'>;

/** Another cluster owns one of the hosts: nothing was changed. */
export interface HostConflict {
  conflict: { hostname: string; owner: string };
}

export type RegisterResult = { change: 'created' | 'updated' | 'unchanged' } | HostConflict;
export type SyncResult = { added: number; removed: number; updated: number; total: number } | HostConflict;
export type UnregisterResult = { removed: number } | HostConflict;

/** The route registry (protocol.md §1.1): "a hostname belongs to one cluster"; every operation is one transaction. */
export interface RouteStore {
  list(clusterId?: string): Promise<RouteRecord[]>;
  ownerOf(hostname: string): Promise<string | null>;
  /** One route: created or replaced by (hostname, path). */
  register(r: NewRoute): Promise<RegisterResult>;
  /** The cluster's complete route set: everything else of this cluster is removed (an empty set clears it). */
  sync(clusterId: string, routes: readonly NewRoute[]): Promise<SyncResult>;
  /** Every route of a host, when `mayAct(owner)`; an unknown host removes nothing. */
  unregister(hostname: string, mayAct: (owner: string) => boolean | Promise<boolean>): Promise<UnregisterResult>;
  /**
   * Called after every committed change, whichever replica made it (the public gateway rebuilds its table).
   * A change made here resolves its call once the listeners' promises have; another replica's change arrives
   * a moment after its commit (LISTEN/NOTIFY on PostgreSQL).
   */
  onChange(l: () => void | Promise<void>): () => void;
}

/** A replica of the hub, as it advertised itself in the shared store. */
export interface ReplicaRecord {
  replica_id: string;
  /** Where other replicas reach its Kubernetes API gateway and its public gateway (forwarded requests). */
  kube_url: string;
  public_url: string;
  /** Lease expiry, ms since the epoch. */
  expires_at: number;
}

/**
 * Which replica holds which cluster's agent session. A session lives as long as its replica's lease, which the
 * replica renews (`heartbeatReplica`); a replica that dies stops renewing, and its sessions count as gone once
 * its lease ran out, whatever it held.
 */
export interface SessionLeases {
  /** Record this replica or renew its lease. */
  heartbeatReplica(r: ReplicaRecord): Promise<void>;
  /** This replica now holds the cluster's session (the latest claim wins: an agent has one session). */
  claim(clusterId: string, replicaId: string): Promise<void>;
  /** `claim` for many clusters in as few statements as the database allows (a burst of sessions arriving). */
  claimMany(clusterIds: readonly string[], replicaId: string): Promise<void>;
  /** The session ended here (a claim by another replica since then is left alone). */
  release(clusterId: string, replicaId: string): Promise<void>;
  /** `release` for many clusters at once. */
  releaseMany(clusterIds: readonly string[], replicaId: string): Promise<void>;
  /** The clusters whose sessions the store names this replica for. */
  held(replicaId: string): Promise<string[]>;
  /** The replica holding a cluster's session, if its lease has not run out at `now`. */
  holder(clusterId: string, now: number): Promise<ReplicaRecord | null>;
  /** Every replica whose lease has not run out at `now`. */
  replicas(now: number): Promise<ReplicaRecord[]>;
  /** Forget replicas whose lease ran out before `now`, with their sessions; returns how many sessions went. */
  expire(now: number): Promise<number>;
  /** A replica shutting down cleanly: its row and its sessions go at once. */
  leave(replicaId: string): Promise<void>;
}

/** One database: clusters, routes and session leases share it (one file, or one PostgreSQL database). */
export interface HubStore {
  readonly kind: 'sqlite' | 'postgres';
  readonly clusters: ClusterStore;
  readonly routes: RouteStore;
  /** The L4 tunnel registry (protocol.md §1.2). */
  readonly tunnels: TunnelStore;
  readonly leases: SessionLeases;
  /** Throws with the driver's reason when the database does not answer (/readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
