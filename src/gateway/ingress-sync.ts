// Wires the Kubernetes side to the sync engine: informers on Ingresses and Services, managed-Ingress filter, route
// extraction, ingress controller and routing-mode detection (re-evaluated on Service events instead of polling).
// Everything that decides lives in the pure modules; this file only keeps caches and calls them.
import type { MetricUpdate } from '../threads/metric-update.ts';
import type { RouteHint, ServiceTarget } from '../threads/messages.ts';
import type { KubeClient } from '../kube/client.ts';
import { type Informer, listWatch, objectKey } from '../kube/watch.ts';
import { decideRouting, type RoutingDecision } from './cluster-detection.ts';
import { detectController, type IngressController } from './controller-detection.ts';
import { type KubeIngress, type KubeService, serviceKey } from './kube-shapes.ts';
import { type IngressScope, isManaged } from './managed.ts';
import { extractRoutes, referencedServices } from './route-extraction.ts';
import type { RouteRegistry } from './route-registry-client.ts';
import { RouteSync } from './route-sync.ts';
import { realTimers, type Timers } from './convergence-loop.ts';

export const INGRESS_PATH = '/apis/networking.k8s.io/v1/ingresses';
export const SERVICE_PATH = '/api/v1/services';
/** Namespaces whose Services can change the controller or cluster-type detection (§6.1, §6.2). */
const DETECTION_NAMESPACES = new Set(['pipeops-system', 'ingress-nginx', 'kube-system', 'traefik', 'default']);

export interface GatewayInfo {
  /** null until the routing decision is made. */
  isPrivate: boolean | null;
  routingMode: string | null;
  /** Managed routes (deviation L9). */
  routes: number;
  hints: RouteHint[];
  ingressController: ServiceTarget | null;
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface IngressSyncOptions {
  kube: KubeClient;
  registry: RouteRegistry;
  scope: IngressScope;
  /** tunnels.routing.force_tunnel_mode */
  forceTunnel: boolean;
  /** tunnels.routing.direct_cidrs: private LoadBalancer addresses the control plane reaches directly. */
  directCidrs?: readonly string[];
  /** How long a LoadBalancer without address is waited for before the cluster counts as private (default 2 min). */
  detectionWaitMs: number;
  refreshIntervalMs: number;
  repair?: { baseMs: number; maxMs: number };
  timers?: Timers;
  watchBackoff?: { initialMs?: number; maxMs?: number };
  log?: Log;
  metric?: (u: MetricUpdate) => void;
  /** Called (coalesced) when the managed routes, the controller or the routing decision change. */
  onInfo?: (info: GatewayInfo) => void;
  /** Cluster id when already known (otherwise setClusterId). */
  clusterId?: string;
}

export class IngressSync {
  readonly engine: RouteSync;
  /** Deletions inferred from a relist (the watch missed them). */
  readonly stats = { tombstones: 0 };
  readonly #o: IngressSyncOptions;
  readonly #abort = new AbortController();
  readonly #ingresses: Informer<KubeIngress>;
  readonly #services: Informer<KubeService>;
  /** Service key → managed Ingress keys that route to it. */
  readonly #bySvc = new Map<string, Set<string>>();
  readonly #svcOf = new Map<string, string[]>();
  #clusterId: string;
  #controller: IngressController | null = null;
  #routing: RoutingDecision | null = null;
  #waitExpired = false;
  #waitTimer: unknown;
  #infoTimer: ReturnType<typeof setTimeout> | null = null;
  #synced = { ingresses: false, services: false };
  readonly #timers: Timers;

  constructor(o: IngressSyncOptions) {
    this.#o = o;
    this.#clusterId = o.clusterId ?? '';
    this.#timers = o.timers ?? realTimers;
    this.engine = new RouteSync({
      registry: o.registry,
      refreshIntervalMs: o.refreshIntervalMs,
      ...(o.repair ? { repair: o.repair } : {}),
      timers: this.#timers,
      ...(o.log ? { log: o.log } : {}),
      ...(o.metric ? { metric: o.metric } : {}),
    });
    this.#waitTimer = this.#timers.set(() => {
      this.#waitExpired = true;
      this.#detect();
    }, o.detectionWaitMs);
    const signal = this.#abort.signal;
    const onError = (what: string) => (e: Error) => o.log?.warn({ err: e.message }, `${what} watch error`);
    this.#services = listWatch<KubeService>(
      o.kube,
      SERVICE_PATH,
      {
        onAdd: (s) => this.#serviceChanged(s),
        onUpdate: (s) => this.#serviceChanged(s),
        onDelete: (s) => this.#serviceChanged(s),
        onSynced: () => this.#informerSynced('services'),
        onError: onError('service'),
      },
      { signal, ...(o.watchBackoff ? { backoff: o.watchBackoff } : {}) },
    );
    this.#ingresses = listWatch<KubeIngress>(
      o.kube,
      INGRESS_PATH,
      {
        onAdd: (i) => this.#ingressChanged(i),
        onUpdate: (i) => this.#ingressChanged(i),
        onDelete: (i, { tombstone }) => {
          if (tombstone) this.stats.tombstones++;
          this.#ingressGone(objectKey(i));
        },
        onSynced: () => this.#informerSynced('ingresses'),
        onError: onError('ingress'),
      },
      { signal, ...(o.watchBackoff ? { backoff: o.watchBackoff } : {}) },
    );
  }

  /** The cluster id from registration; nothing is sent before it is known. A change re-syncs in bulk. */
  setClusterId(id: string): void {
    if (id === this.#clusterId) return;
    this.#clusterId = id;
    this.#updateTarget();
  }

  /** The control-plane session came back: re-sync in bulk (G1). */
  reconnected(): void {
    this.engine.resync('reconnect');
  }

  get routing(): RoutingDecision | null {
    return this.#routing;
  }

  get controller(): IngressController | null {
    return this.#controller;
  }

  /** The informer caches (tests compare them with the API server to know the agent has caught up). */
  caches(): { ingresses: ReadonlyMap<string, KubeIngress>; services: ReadonlyMap<string, KubeService> } {
    return { ingresses: this.#ingresses.cache(), services: this.#services.cache() };
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.engine.stop();
    this.#timers.clear(this.#waitTimer);
    if (this.#infoTimer) clearTimeout(this.#infoTimer);
    await Promise.all([this.#ingresses.done, this.#services.done]);
  }

  // ---- informer callbacks ----

  #lookup = (namespace: string, name: string): KubeService | undefined => this.#services.cache().get(serviceKey(namespace, name));

  #ingressChanged(ing: KubeIngress): void {
    const key = objectKey(ing);
    if (!isManaged(ing, this.#o.scope)) {
      this.#ingressGone(key);
      return;
    }
    this.#index(key, referencedServices(ing));
    // Before the Services are listed every backend would look missing; the first Service sync extracts them all.
    if (this.#synced.services) this.engine.setIngress(extractRoutes(ing, this.#lookup));
    this.#infoSoon();
  }

  #ingressGone(key: string): void {
    this.#index(key, []);
    this.engine.removeIngress(key);
    this.#infoSoon();
  }

  #serviceChanged(svc: KubeService): void {
    if (!this.#synced.services) return;
    const key = objectKey(svc);
    for (const ik of this.#bySvc.get(key) ?? []) {
      const ing = this.#ingresses.cache().get(ik);
      if (ing && isManaged(ing, this.#o.scope)) this.engine.setIngress(extractRoutes(ing, this.#lookup));
    }
    if (DETECTION_NAMESPACES.has(svc.metadata?.namespace ?? '')) this.#detect();
    this.#infoSoon();
  }

  #informerSynced(which: 'ingresses' | 'services'): void {
    const first = !this.#synced[which];
    this.#synced[which] = true;
    if (which === 'services' && first) {
      // Extract what arrived before the Services were known.
      for (const ing of this.#ingresses.cache().values()) if (isManaged(ing, this.#o.scope)) this.engine.setIngress(extractRoutes(ing, this.#lookup));
      this.#detect();
    }
    if (this.#synced.ingresses && this.#synced.services) this.engine.start();
    this.#infoSoon();
  }

  #index(key: string, svcs: string[]): void {
    for (const s of this.#svcOf.get(key) ?? []) {
      const set = this.#bySvc.get(s);
      set?.delete(key);
      if (set?.size === 0) this.#bySvc.delete(s);
    }
    if (svcs.length === 0) this.#svcOf.delete(key);
    else this.#svcOf.set(key, svcs);
    for (const s of svcs) {
      const set = this.#bySvc.get(s) ?? new Set<string>();
      this.#bySvc.set(s, set);
      set.add(key);
    }
  }

  // ---- detection ----

  #detect(): void {
    if (!this.#synced.services) return;
    const controller = detectController(this.#lookup, this.#services.cache().values());
    const routing = decideRouting({ forceTunnel: this.#o.forceTunnel, lookup: this.#lookup, waitExpired: this.#waitExpired, directCidrs: this.#o.directCidrs ?? [] });
    if (JSON.stringify(controller) !== JSON.stringify(this.#controller)) {
      this.#o.log?.info({ controller }, controller ? 'ingress controller detected' : 'no ingress controller Service found');
      this.#controller = controller;
    }
    if (routing && JSON.stringify(routing) !== JSON.stringify(this.#routing)) {
      this.#o.log?.info({ is_private: routing.isPrivate, routing_mode: routing.routingMode, public_endpoint: routing.publicEndpoint, reason: routing.reason }, 'routing mode decided');
      this.#routing = routing;
      this.#o.metric?.({ name: 'gateway_cluster_type', op: 'set', value: routing.isPrivate ? 1 : 0, labels: { type: 'private' } });
      this.#o.metric?.({ name: 'gateway_cluster_type', op: 'set', value: routing.isPrivate ? 0 : 1, labels: { type: 'public' } });
    }
    this.#updateTarget();
    this.#infoSoon();
  }

  #updateTarget(): void {
    this.engine.setTarget(this.#clusterId && this.#routing ? { clusterId: this.#clusterId, controller: this.#controller, routing: this.#routing } : null);
  }

  // ---- reporting ----

  #infoSoon(): void {
    if (!this.#o.onInfo || this.#infoTimer) return;
    this.#infoTimer = setTimeout(() => {
      this.#infoTimer = null;
      this.#o.onInfo?.(this.info());
    }, 20);
  }

  info(): GatewayInfo {
    const hints = new Map<string, RouteHint>();
    for (const r of this.engine.routes()) if (!hints.has(r.host) && r.host) hints.set(r.host, { host: r.host, namespace: r.backend.namespace, service: r.backend.name, port: r.backend.port });
    const c = this.#controller;
    return {
      isPrivate: this.#routing?.isPrivate ?? null,
      routingMode: this.#routing?.routingMode ?? null,
      routes: this.engine.routeCount,
      hints: [...hints.values()],
      ingressController: c ? { namespace: c.namespace, name: c.name, port: c.port } : null,
    };
  }
}
