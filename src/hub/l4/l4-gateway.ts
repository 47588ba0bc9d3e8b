// Public L4 listeners of the hub (issue 13 items 6, 7): one TCP listener or UDP socket per exposure (static
// `l4_exposures`, or a tunnel an agent registered). Tunnel mode: each TCP connection, and each UDP client address,
// becomes a yamux stream to the cluster's agent, opened with the §5.3 header. Direct mode: forwarded to the
// tunnel's public endpoint without the agent, under the same EndpointPolicy as direct HTTP routes.
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
import { DatagramReader, encodeDatagram, encodeStreamHeader } from '../../protocol/l4-stream-header.ts';
import type { YamuxStream } from '../../protocol/yamux-session.ts';
import { pipeSocketStream } from '../../protocol/yamux-socket-pipe.ts';
import { listenTcp, type PipeSocket } from '../../runtime/tcp.ts';
import type { ClusterStore } from '../cluster-store.ts';
import type { HubMetrics } from '../hub-metrics.ts';
import type { EndpointPolicy } from '../routes/endpoint-policy.ts';
import { type LookupFn, resolveEndpoint } from '../routes/endpoint-resolve.ts';
import type { AgentYamux } from './agent-yamux.ts';

export interface L4Exposure {
  /** Unique: a config name, or a registered tunnel id. */
  name: string;
  protocol: 'tcp' | 'udp';
  /** 0: ephemeral (or from the port range, for registered tunnels). */
  listenPort: number;
  /** Cluster id or name. */
  cluster: string;
  namespace: string;
  service: string;
  port: number;
  /** The tunnel id in the stream header (the name for static exposures). */
  tunnelId: string;
  mode: 'tunnel' | 'direct';
  /** Direct mode: host:port reached without the agent. */
  publicEndpoint?: string;
  source: 'config' | 'registry';
}

interface Stats {
  connections: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
  failures: Record<string, number>;
}

interface Listener {
  exposure: L4Exposure;
  port: number;
  stats: Stats;
  close(): Promise<void>;
}

export interface L4GatewayDeps {
  host: string;
  /** Host part of `hub_address` / `tunnel_endpoint` (the address clients use). */
  publicHost: string;
  portRange: { min: number; max: number } | null;
  agents: AgentYamux;
  clusters: ClusterStore;
  policy: EndpointPolicy;
  lookup?: LookupFn;
  idleMs: number;
  udpIdleMs: number;
  log: Logger;
  metrics: HubMetrics;
}

export interface L4TunnelView {
  name: string;
  protocol: 'tcp' | 'udp';
  source: 'config' | 'registry';
  mode: 'tunnel' | 'direct';
  hub_address: string;
  cluster: string;
  target: string;
  tunnel_id: string;
  connections_total: number;
  connections_active: number;
  bytes_in: number;
  bytes_out: number;
  failures: Record<string, number>;
}

export class L4Gateway {
  readonly #listeners = new Map<string, Listener>();
  readonly #d: L4GatewayDeps;

  constructor(deps: L4GatewayDeps) {
    this.#d = deps;
  }

  /** Names of the exposures from one source. */
  names(source: L4Exposure['source']): string[] {
    return [...this.#listeners.values()].filter((l) => l.exposure.source === source).map((l) => l.exposure.name);
  }

  list(): L4TunnelView[] {
    return [...this.#listeners.values()].map((l) => ({
      name: l.exposure.name,
      protocol: l.exposure.protocol,
      source: l.exposure.source,
      mode: l.exposure.mode,
      hub_address: this.address(l.exposure.name)!,
      cluster: l.exposure.cluster,
      target: `${l.exposure.namespace}/${l.exposure.service}:${l.exposure.port}`,
      tunnel_id: l.exposure.tunnelId,
      connections_total: l.stats.connections,
      connections_active: l.stats.active,
      bytes_in: l.stats.bytesIn,
      bytes_out: l.stats.bytesOut,
      failures: { ...l.stats.failures },
    }));
  }

  /** `host:port` clients use for an exposure. */
  address(name: string): string | null {
    const l = this.#listeners.get(name);
    if (!l) return null;
    const h = this.#d.publicHost;
    return `${h.includes(':') ? `[${h}]` : h}:${l.port}`;
  }

  port(name: string): number | null {
    return this.#listeners.get(name)?.port ?? null;
  }

  /** Start (or restart, when it changed) the listener of an exposure. Returns its port. */
  async expose(e: L4Exposure): Promise<number> {
    const cur = this.#listeners.get(e.name);
    // Same exposure on the port it already has (a registered tunnel comes back with its assigned port): keep it.
    const samePort = cur && (e.listenPort === 0 || e.listenPort === cur.port);
    if (cur && samePort && JSON.stringify({ ...cur.exposure, listenPort: 0 }) === JSON.stringify({ ...e, listenPort: 0 })) return cur.port;
    if (cur) await this.remove(e.name);
    const stats: Stats = { connections: 0, active: 0, bytesIn: 0, bytesOut: 0, failures: {} };
    const l = e.protocol === 'tcp' ? await this.#listenTcp(e, stats) : await this.#listenUdp(e, stats);
    this.#listeners.set(e.name, l);
    // A direct route or tunnel must never be aimed at the hub's own L4 ports (a loop through the hub).
    this.#d.policy.listeners.push({ host: this.#d.host, port: l.port });
    this.#d.log.info({ tunnel: e.name, protocol: e.protocol, port: l.port, mode: e.mode, target: `${e.namespace}/${e.service}:${e.port}`, cluster: e.cluster }, 'L4 listener started');
    return l.port;
  }

  async remove(name: string): Promise<void> {
    const l = this.#listeners.get(name);
    if (!l) return;
    this.#listeners.delete(name);
    const i = this.#d.policy.listeners.findIndex((x) => x.host === this.#d.host && x.port === l.port);
    if (i >= 0) this.#d.policy.listeners.splice(i, 1);
    await l.close();
    this.#d.log.info({ tunnel: name }, 'L4 listener stopped');
  }

  async stop(): Promise<void> {
    for (const name of [...this.#listeners.keys()]) await this.remove(name);
  }

  // ---- listeners ----

  async #bindPort<T>(e: L4Exposure, bind: (port: number) => Promise<T>): Promise<T> {
    const range = e.listenPort === 0 && e.source === 'registry' ? this.#d.portRange : null;
    if (!range) return bind(e.listenPort);
    const used = new Set([...this.#listeners.values()].map((l) => l.port));
    let last: Error | null = null;
    for (let p = range.min; p <= range.max; p++) {
      if (used.has(p)) continue;
      try {
        return await bind(p);
      } catch (err) {
        last = err as Error;
      }
    }
    throw new Error(`no free port in l4_port_range ${range.min}-${range.max}${last ? ` (last error: ${last.message})` : ''}`);
  }

  #fail(e: L4Exposure, stats: Stats, reason: string, detail: string): void {
    stats.failures[reason] = (stats.failures[reason] ?? 0) + 1;
    this.#d.metrics.inc('pipeops_hub_l4_failures_total', { tunnel: e.name, reason });
    this.#d.log.warn({ tunnel: e.name, reason, detail }, 'L4 connection failed');
  }

  #opened(e: L4Exposure, stats: Stats): void {
    stats.connections++;
    stats.active++;
    this.#d.metrics.inc('pipeops_hub_l4_connections_total', { tunnel: e.name, protocol: e.protocol });
  }

  #ended(e: L4Exposure, stats: Stats, bytesIn: number, bytesOut: number): void {
    stats.active--;
    stats.bytesIn += bytesIn;
    stats.bytesOut += bytesOut;
    if (bytesIn) this.#d.metrics.inc('pipeops_hub_l4_bytes_total', { tunnel: e.name, direction: 'to_service' }, bytesIn);
    if (bytesOut) this.#d.metrics.inc('pipeops_hub_l4_bytes_total', { tunnel: e.name, direction: 'to_client' }, bytesOut);
  }

  /** A yamux stream to the exposure's Service, header written. */
  #openStream(e: L4Exposure, stats: Stats): { stream: YamuxStream; udpFramed: boolean } | null {
    const rec = this.#d.clusters.find(e.cluster);
    if (!rec) {
      this.#fail(e, stats, 'cluster_not_found', `cluster ${e.cluster} is not registered`);
      return null;
    }
    const o = this.#d.agents.open(rec.cluster_id);
    if (!o.ok) {
      this.#fail(e, stats, o.reason, o.detail);
      return null;
    }
    o.stream.write(encodeStreamHeader({ protocol: e.protocol, serviceName: e.service, serviceNamespace: e.namespace, servicePort: e.port, tunnelId: e.tunnelId }));
    return o;
  }

  async #listenTcp(e: L4Exposure, stats: Stats): Promise<Listener> {
    if (e.mode === 'direct') return this.#listenTcpDirect(e, stats);
    // Tunnel mode: Bun's native sockets (src/runtime/tcp.ts), the relay's hot path.
    const sockets = new Set<PipeSocket>();
    const listener = await this.#bindPort(e, async (p) =>
      listenTcp(this.#d.host, p, (sock) => {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        this.#opened(e, stats);
        const o = this.#openStream(e, stats);
        if (!o) {
          stats.active--;
          sock.destroy();
          return;
        }
        pipeSocketStream(sock, o.stream, { idleMs: this.#d.idleMs }, (r) => {
          this.#ended(e, stats, r.bytesToStream, r.bytesToSocket);
          if (r.error) this.#fail(e, stats, r.error.includes('reset by peer') ? 'stream_reset' : r.error.startsWith('idle') ? 'idle_timeout' : 'connection_error', r.error);
        });
      }),
    );
    return {
      exposure: e,
      port: listener.port,
      stats,
      close: async () => {
        for (const s of sockets) s.destroy();
        listener.stop();
      },
    };
  }

  async #listenTcpDirect(e: L4Exposure, stats: Stats): Promise<Listener> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (sock) => {
      sockets.add(sock);
      sock.once('close', () => sockets.delete(sock));
      this.#opened(e, stats);
      void this.#direct(e, stats, sock);
    });
    const port = await this.#bindPort(
      e,
      (p) =>
        new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port: p, host: this.#d.host, exclusive: true }, () => {
            server.off('error', reject);
            resolve((server.address() as net.AddressInfo).port);
          });
        }),
    );
    return {
      exposure: e,
      port,
      stats,
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    };
  }

  /** Direct mode: the public endpoint, checked and resolved per connection (no DNS rebinding in between). */
  async #direct(e: L4Exposure, stats: Stats, sock: net.Socket): Promise<void> {
    sock.pause();
    const r = await resolveEndpoint(e.publicEndpoint ?? '', this.#d.policy, this.#d.lookup);
    if (!r.ok) {
      this.#fail(e, stats, 'direct_refused', r.reason);
      stats.active--;
      sock.destroy();
      return;
    }
    const up = net.connect({ host: r.address, port: r.port, allowHalfOpen: true, noDelay: true });
    let bytesIn = 0;
    let bytesOut = 0;
    let done = 0;
    const finish = () => {
      if (++done === 2) this.#ended(e, stats, bytesIn, bytesOut);
    };
    sock.on('data', (d: Buffer) => (bytesIn += d.length));
    up.on('data', (d: Buffer) => (bytesOut += d.length));
    up.once('error', (err) => {
      this.#fail(e, stats, 'direct_dial', err.message);
      sock.destroy();
    });
    sock.once('error', () => up.destroy());
    sock.pipe(up);
    up.pipe(sock);
    sock.once('close', finish);
    up.once('close', finish);
    if (this.#d.idleMs > 0) sock.setTimeout(this.#d.idleMs, () => (sock.destroy(), up.destroy()));
    sock.resume();
  }

  async #listenUdp(e: L4Exposure, stats: Stats): Promise<Listener> {
    const sock = dgram.createSocket(net.isIPv6(this.#d.host) ? 'udp6' : 'udp4');
    type Client = { stream: YamuxStream | null; framed: boolean; up: dgram.Socket | null; idle: ReturnType<typeof setTimeout> | undefined; bytesIn: number; bytesOut: number };
    const clients = new Map<string, Client>();
    const touch = (key: string, c: Client) => {
      clearTimeout(c.idle);
      c.idle = setTimeout(() => end(key, c), this.#d.udpIdleMs);
    };
    const end = (key: string, c: Client) => {
      if (clients.get(key) !== c) return;
      clients.delete(key);
      clearTimeout(c.idle);
      c.stream?.end();
      c.up?.close();
      this.#ended(e, stats, c.bytesIn, c.bytesOut);
    };
    sock.on('message', (msg: Buffer, rinfo) => {
      const key = `${rinfo.address}|${rinfo.port}`;
      let c = clients.get(key);
      if (!c) {
        this.#opened(e, stats);
        const client: Client = { stream: null, framed: false, up: null, idle: undefined, bytesIn: 0, bytesOut: 0 };
        c = client;
        clients.set(key, client);
        const back = (d: Uint8Array) => {
          client.bytesOut += d.length;
          touch(key, client);
          sock.send(d, rinfo.port, rinfo.address);
        };
        if (e.mode === 'direct') {
          client.up = this.#directUdp(e, stats, back, () => end(key, client));
        } else {
          const o = this.#openStream(e, stats);
          if (!o) {
            clients.delete(key);
            stats.active--;
            return;
          }
          client.stream = o.stream;
          const reader = o.udpFramed ? new DatagramReader() : null;
          o.stream.on.data = (piece) => {
            if (reader) for (const d of reader.push(piece)) back(d);
            else back(piece);
          };
          o.stream.on.end = () => end(key, client);
          o.stream.on.close = (err) => {
            if (err && !err.includes('session ended')) this.#fail(e, stats, err.includes('reset by peer') ? 'stream_reset' : 'connection_error', err);
            end(key, client);
          };
          client.framed = o.udpFramed;
        }
      }
      c.bytesIn += msg.length;
      touch(key, c);
      if (c.up) c.up.send(msg);
      else if (c.stream) c.stream.write(c.framed ? encodeDatagram(msg) : msg);
    });
    const port = await this.#bindPort(
      e,
      (p) =>
        new Promise<number>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind({ port: p, address: this.#d.host, exclusive: true }, () => {
            sock.off('error', reject);
            resolve(sock.address().port);
          });
        }),
    );
    sock.on('error', (err) => this.#d.log.warn({ tunnel: e.name, err: err.message }, 'L4 UDP socket error'));
    return {
      exposure: e,
      port,
      stats,
      close: async () => {
        for (const [k, c] of [...clients]) end(k, c);
        sock.close();
      },
    };
  }

  #directUdp(e: L4Exposure, stats: Stats, back: (d: Uint8Array) => void, closed: () => void): dgram.Socket | null {
    const up = dgram.createSocket('udp4');
    const pending: Buffer[] = [];
    let ready = false;
    const send = up.send.bind(up);
    up.send = ((msg: Buffer) => {
      if (ready) send(msg);
      else pending.push(Buffer.from(msg));
    }) as typeof up.send;
    void resolveEndpoint(e.publicEndpoint ?? '', this.#d.policy, this.#d.lookup).then((r) => {
      if (!r.ok) {
        this.#fail(e, stats, 'direct_refused', r.reason);
        up.close();
        closed();
        return;
      }
      up.connect(r.port, r.address, () => {
        ready = true;
        for (const m of pending.splice(0)) send(m);
      });
    });
    up.on('message', (m: Buffer) => back(m));
    up.on('error', (err) => {
      this.#fail(e, stats, 'direct_dial', err.message);
      closed();
    });
    return up;
  }
}
