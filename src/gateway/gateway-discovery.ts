// Wires Gateway API discovery (§5.5) to the tunnel registry engine: informers on Gateways, TCPRoutes, UDPRoutes
// (all namespaces) and — unless force_tunnel_mode — Services (is any LoadBalancer publicly reachable); every change
// recomputes the desired tunnel set (tunnel-discovery.ts) and hands it to TunnelSync. A kind the API server does
// not serve (Gateway API CRDs absent: 404) counts as synced and empty.
import type { MetricUpdate } from '../threads/metric-update.ts';
import { isKubeError, type KubeClient } from '../kube/client.ts';
import { type Informer, listWatch } from '../kube/watch.ts';
import { inCidrs, isPrivateAddress, loadBalancerAddress } from './cluster-detection.ts';
import type { KubeService } from './kube-shapes.ts';
import type { Timers } from './convergence-loop.ts';
import { type DiscoveryOptions, discoverTunnels, type GatewayObject, type L4RouteObject } from './tunnel-discovery.ts';
import type { TunnelRegistry } from './tunnel-registry-client.ts';
import type { TunnelRegistrationBody } from '../protocol/tunnel-registry-messages.ts';
import { TunnelSync } from './tunnel-sync.ts';

export const GATEWAYS_PATH = '/apis/gateway.networking.k8s.io/v1/gateways';
export const TCPROUTES_PATH = '/apis/gateway.networking.k8s.io/v1alpha2/tcproutes';
export const UDPROUTES_PATH = '/apis/gateway.networking.k8s.io/v1alpha2/udproutes';
const SERVICES_PATH = '/api/v1/services';

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface GatewayDiscoveryOptions extends Omit<DiscoveryOptions, 'clusterId' | 'clusterPublic'> {
  kube: KubeClient;
  registry: TunnelRegistry;
  clusterId?: string;
  /** tunnels.routing.direct_cidrs: private LoadBalancer addresses the control plane reaches directly. */
  directCidrs?: readonly string[];
  refreshIntervalMs?: number;
  repair?: { baseMs: number; maxMs: number };
  timers?: Timers;
  watchBackoff?: { initialMs?: number; maxMs?: number };
  log?: Log;
  metric?: (u: MetricUpdate) => void;
}

type Name = 'gateways' | 'tcproutes' | 'udproutes' | 'services';

export class GatewayDiscovery {
  readonly engine: TunnelSync;
  readonly #o: GatewayDiscoveryOptions;
  readonly #abort = new AbortController();
  readonly #informers = new Map<Name, Informer<GatewayObject | L4RouteObject | KubeService>>();
  readonly #synced = new Set<Name>();
  readonly #unserved = new Set<Name>();
  #clusterId: string;
  #pending = false;
  #duplicatesShown = '';

  constructor(o: GatewayDiscoveryOptions) {
    this.#o = o;
    this.#clusterId = o.clusterId ?? '';
    this.engine = new TunnelSync({
      registry: o.registry,
      ...(o.refreshIntervalMs !== undefined ? { refreshIntervalMs: o.refreshIntervalMs } : {}),
      ...(o.repair ? { repair: o.repair } : {}),
      ...(o.timers ? { timers: o.timers } : {}),
      ...(o.log ? { log: o.log } : {}),
      ...(o.metric ? { metric: o.metric } : {}),
    });
    if (this.#clusterId) this.engine.setClusterId(this.#clusterId);
    const watch = (name: Name, path: string) => {
      const changed = () => this.#recompute();
      const inf = listWatch<GatewayObject>(
        o.kube,
        path,
        {
          onAdd: changed,
          onUpdate: changed,
          onDelete: changed,
          onSynced: () => {
            this.#unserved.delete(name);
            this.#markSynced(name);
          },
          onError: (e) => {
            if (isKubeError(e, 404)) {
              if (!this.#unserved.has(name)) o.log?.info({ kind: name }, 'gateway discovery: kind not served (Gateway API CRDs not installed?); treated as empty');
              this.#unserved.add(name);
              this.#markSynced(name);
              return;
            }
            o.log?.warn({ kind: name, err: e.message }, 'gateway discovery watch error');
          },
        },
        { signal: this.#abort.signal, ...(o.watchBackoff ? { backoff: o.watchBackoff } : {}) },
      );
      this.#informers.set(name, inf);
    };
    watch('gateways', GATEWAYS_PATH);
    watch('tcproutes', TCPROUTES_PATH);
    watch('udproutes', UDPROUTES_PATH);
    if (!o.forceTunnel) watch('services', SERVICES_PATH);
  }

  get clusterId(): string {
    return this.#clusterId;
  }

  setClusterId(id: string): void {
    if (id === this.#clusterId) return;
    this.#clusterId = id;
    this.engine.setClusterId(id);
    this.#recompute();
  }

  /** The control-plane session came back: sync in bulk. */
  reconnected(): void {
    this.engine.resync('reconnect');
  }

  /** The informer caches (tests compare them with the API server to know discovery has caught up). */
  cache(name: Name): ReadonlyMap<string, unknown> {
    return this.#unserved.has(name) ? new Map() : (this.#informers.get(name)?.cache() ?? new Map());
  }

  /** The tunnels discovery wants now. */
  desired(): TunnelRegistrationBody[] {
    const list = <T>(n: Name) => [...(this.cache(n).values() as Iterable<T>)];
    const r = discoverTunnels(list<GatewayObject>('gateways'), { tcp: list<L4RouteObject>('tcproutes'), udp: list<L4RouteObject>('udproutes') }, {
      clusterId: this.#clusterId,
      tcp: this.#o.tcp,
      udp: this.#o.udp,
      forceTunnel: this.#o.forceTunnel,
      dualMode: this.#o.dualMode,
      clusterPublic: this.#clusterPublic(),
    });
    const shown = r.duplicates.join(',');
    if (shown && shown !== this.#duplicatesShown) this.#o.log?.warn({ listeners: r.duplicates }, 'gateway discovery: Gateways of the same name in several namespaces share tunnel ids; only the first namespace\'s are registered');
    this.#duplicatesShown = shown;
    return r.tunnels;
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.engine.stop();
    await Promise.all([...this.#informers.values()].map((i) => i.done));
  }

  #clusterPublic(): boolean {
    if (this.#o.forceTunnel) return false;
    for (const s of this.cache('services').values() as Iterable<KubeService>) {
      if (s.spec?.type !== 'LoadBalancer') continue;
      const a = loadBalancerAddress(s);
      if (a && (!isPrivateAddress(a) || inCidrs(a, this.#o.directCidrs ?? []))) return true;
    }
    return false;
  }

  #markSynced(name: Name): void {
    this.#synced.add(name);
    if (![...this.#informers.keys()].every((n) => this.#synced.has(n))) return;
    // Everything listed: the engine starts from the complete set.
    if (this.#clusterId) this.engine.setDesired(this.desired());
    this.engine.start();
  }

  /** Coalesced: one recomputation per burst of events. */
  #recompute(): void {
    if (this.#pending) return;
    this.#pending = true;
    queueMicrotask(() => {
      this.#pending = false;
      if (!this.#clusterId) return;
      this.engine.setDesired(this.desired());
    });
  }
}
