// Keeps the hub's L4 listeners equal to the tunnel registry (§1.2): every registered tunnel with a backend (tunnel
// and dual mode: a Service; direct mode: a public endpoint) gets a listener, from `l4_port_range` or the port it
// had; removed tunnels lose theirs. The registry answers `tunnel_port`/`tunnel_endpoint` through `endpoint`.
import type { Logger } from '../../log/logger.ts';
import type { TunnelRecord, TunnelRegistryStore } from '../tunnels/tunnel-store.ts';
import type { L4Exposure, L4Gateway } from './l4-gateway.ts';

/** Listener name of a registered tunnel: cluster-scoped, so one cluster's ids never touch another's listeners. */
export function registeredName(t: Pick<TunnelRecord, 'cluster_id' | 'tunnel_id'>): string {
  return `${t.cluster_id}/${t.tunnel_id}`;
}

export function exposureOf(t: TunnelRecord): L4Exposure | null {
  const direct = t.routing_mode === 'direct';
  if (direct ? !t.public_endpoint : !t.service_name || !t.service_namespace || !t.service_port) return null;
  return {
    name: registeredName(t),
    protocol: t.protocol,
    listenPort: t.tunnel_port,
    cluster: t.cluster_id,
    namespace: t.service_namespace,
    service: t.service_name,
    port: t.service_port,
    tunnelId: t.tunnel_id,
    mode: direct ? 'direct' : 'tunnel',
    ...(direct ? { publicEndpoint: t.public_endpoint } : {}),
    source: 'registry',
  };
}

export class RegisteredTunnels {
  #chain: Promise<void> = Promise.resolve();
  #dirty = true;
  readonly #off: () => void;

  constructor(
    private readonly store: TunnelRegistryStore,
    private readonly gateway: L4Gateway,
    private readonly log: Logger,
  ) {
    this.#off = store.onChange(() => {
      this.#dirty = true;
      void this.reconcile();
    });
  }

  /** Bring the listeners in line with the registry (serialised; a call while one runs waits for the next pass). */
  reconcile(): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      if (!this.#dirty) return;
      this.#dirty = false;
      try {
        await this.#pass();
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'L4 listeners could not follow the tunnel registry');
      }
    });
    return this.#chain;
  }

  async #pass(): Promise<void> {
    const wanted = new Map<string, { e: L4Exposure; t: TunnelRecord }>();
    for (const t of await this.store.list()) {
      const e = exposureOf(t);
      if (e) wanted.set(e.name, { e, t });
    }
    for (const name of this.gateway.names('registry')) if (!wanted.has(name)) await this.gateway.remove(name);
    for (const { e, t } of wanted.values()) {
      try {
        const port = await this.gateway.expose(e);
        if (port !== t.tunnel_port) await this.store.setTunnelPort(t.cluster_id, t.tunnel_id, port);
      } catch (err) {
        this.log.warn({ tunnel: e.name, err: (err as Error).message }, 'no L4 listener for a registered tunnel');
      }
    }
  }

  /** The hub side of a registered tunnel, after the listeners caught up with the registry. */
  async endpoint(t: TunnelRecord): Promise<{ tunnel_port: number; tunnel_endpoint: string } | null> {
    this.#dirty = true;
    await this.reconcile();
    const name = registeredName(t);
    const port = this.gateway.port(name);
    const address = this.gateway.address(name);
    return port !== null && address ? { tunnel_port: port, tunnel_endpoint: address } : null;
  }

  stop(): void {
    this.#off();
  }
}
