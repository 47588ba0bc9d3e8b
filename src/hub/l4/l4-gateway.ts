// Public L4 listeners of the hub (issue 13 items 6, 7): one TCP listener or UDP socket per exposure (static
// `l4_exposures`, or a tunnel an agent registered). Tunnel mode: each TCP connection, and each UDP client address,
// becomes a yamux stream to the cluster's agent, opened with the §5.3 header. Direct mode: forwarded to the
// tunnel's public endpoint without the agent, under the same EndpointPolicy as direct HTTP routes.
//
// Hub replicas (issue 15): a TCP connection for a cluster whose agent session another replica holds is carried
// to that replica over the authenticated replica link (`ReplicaLink.openL4`: a signed upgrade of /internal/l4 on
// its Kubernetes API gateway), which opens the agent stream (`acceptForwarded`) and pipes bytes. A UDP client
// address is carried the same way (`protocol=udp`): one link per client address, ended by the same idle expiry,
// with length-prefixed datagrams on it (src/hub/l4/udp-peers.ts).
import dgram from 'node:dgram';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Logger } from '../../log/logger.ts';
import { encodeStreamHeader } from '../../protocol/l4-stream-header.ts';
import { IdleTimer } from '../../timing/idle-timer.ts';
import type { YamuxStream } from '../../protocol/yamux-session.ts';
import { pipeSocketStream } from '../../protocol/yamux-socket-pipe.ts';
import { listenTcp, type PipeSocket } from '../../runtime/tcp.ts';
import type { ClusterNames } from './cluster-names.ts';
import type { HubMetrics } from '../hub-metrics.ts';
import type { EndpointPolicy } from '../routes/endpoint-policy.ts';
import { type LookupFn, resolveEndpoint } from '../routes/endpoint-resolve.ts';
import type { AgentYamux } from './agent-yamux.ts';
import { L4_UDP_UPGRADE, type L4ForwardTarget, parseL4Target, type ReplicaLink } from '../replica-link.ts';
import { pipeSockets } from './socket-pipe.ts';
import { attach, linkPeer, PendingUdpPeer, relayLinkToStream, socketPeer, streamPeer, type UdpClientHooks, type UdpPeer } from './udp-peers.ts';
import type { Duplex } from 'node:stream';

/** Reaching the replica that holds a cluster's session (absent: one hub). */
export interface L4Remote {
  /** The holding replica's Kubernetes API gateway URL, or null when no other replica holds it. */
  locate(clusterId: string): Promise<string | null>;
  link: Pick<ReplicaLink, 'openL4' | 'check'>;
}

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
  clusters: Pick<ClusterNames, 'resolve' | 'refresh'>;
  policy: EndpointPolicy;
  lookup?: LookupFn;
  idleMs: number;
  udpIdleMs: number;
  log: Logger;
  metrics: HubMetrics;
  remote?: L4Remote;
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

/** A yamux stream to an exposure's Service, or why there is none. */
type StreamAttempt = { ok: true; stream: YamuxStream; udpFramed: boolean } | { ok: false; reason: string; detail: string; clusterId: string | null };

export class L4Gateway {
  readonly #listeners = new Map<string, Listener>();
  /** Links from other replicas relayed to an agent here now: TCP connections, UDP client addresses. */
  readonly #forwardedActive = { tcp: 0, udp: 0 };
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

  /** Links from other replicas this replica relays to its agents now, by protocol. */
  forwardedActive(): { tcp: number; udp: number } {
    return { ...this.#forwardedActive };
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

  /** A yamux stream to the exposure's Service, header written; or why not (not counted yet). */
  #tryStream(e: L4Exposure): StreamAttempt {
    const clusterId = this.#d.clusters.resolve(e.cluster);
    if (!clusterId) return { ok: false, reason: 'cluster_not_found', detail: `cluster ${e.cluster} is not registered`, clusterId: null };
    const o = this.#d.agents.open(clusterId);
    if (!o.ok) return { ...o, clusterId };
    o.stream.write(encodeStreamHeader({ protocol: e.protocol, serviceName: e.service, serviceNamespace: e.namespace, servicePort: e.port, tunnelId: e.tunnelId }));
    return o;
  }

  /** A TCP client connection onto its stream, or to the replica holding the session; true when piped here. */
  #connectTcp(e: L4Exposure, stats: Stats, sock: PipeSocket, o: StreamAttempt): boolean {
    if (!o.ok) {
      if (o.reason === 'agent_offline' && o.clusterId && this.#d.remote) {
        void this.#forward(e, stats, sock, o.clusterId, o);
        return false;
      }
      this.#fail(e, stats, o.reason, o.detail);
      stats.active--;
      sock.destroy();
      return false;
    }
    pipeSocketStream(sock, o.stream, { idleMs: this.#d.idleMs }, (r) => {
      this.#ended(e, stats, r.bytesToStream, r.bytesToSocket);
      if (r.error) this.#fail(e, stats, r.error.includes('reset by peer') ? 'stream_reset' : r.error.startsWith('idle') ? 'idle_timeout' : 'connection_error', r.error);
    });
    return true;
  }

  /** Carry a TCP client connection to the replica holding the cluster's session (the local agent is not here). */
  async #forward(e: L4Exposure, stats: Stats, sock: PipeSocket, clusterId: string, local: { reason: string; detail: string }): Promise<void> {
    const remote = this.#d.remote!;
    sock.pause();
    const gone = (reason: string, detail: string) => {
      this.#fail(e, stats, reason, detail);
      stats.active--;
      sock.destroy();
    };
    let base: string | null;
    try {
      base = await remote.locate(clusterId);
    } catch (err) {
      return gone('replica_link', `session directory did not answer: ${(err as Error).message}`);
    }
    if (!base) return gone(local.reason, local.detail);
    if (sock.destroyed) return gone('client_gone', 'the client left before the replica link was open');
    const t: L4ForwardTarget = { protocol: 'tcp', cluster: clusterId, tunnel: e.name, namespace: e.namespace, service: e.service, port: e.port, tunnelId: e.tunnelId };
    let peer: Awaited<ReturnType<L4Remote['link']['openL4']>>;
    try {
      peer = await remote.link.openL4(base, t);
    } catch (err) {
      return gone('replica_link', (err as Error).message);
    }
    if (sock.destroyed) {
      peer.socket.destroy();
      return gone('client_gone', 'the client left before the replica link was open');
    }
    this.#d.metrics.inc('pipeops_hub_forwarded_total', { gateway: 'l4', kind: 'tcp' });
    pipeSockets(sock, peer.socket as unknown as PipeSocket, { idleMs: this.#d.idleMs, initial: peer.rest }, (r) => {
      this.#ended(e, stats, r.clientToPeer, r.peerToClient);
      if (r.error) this.#fail(e, stats, r.error.startsWith('idle') ? 'idle_timeout' : r.error.includes('replica link') ? 'replica_link' : 'connection_error', r.error);
    });
  }

  /**
   * A TCP connection or UDP client another replica forwards (the upgrade of /internal/l4 on the Kubernetes API
   * gateway): the link signature is checked (403 otherwise), the agent stream opened with the forwarded header,
   * then 101 and bytes (TCP) or length-prefixed datagrams (UDP, answered `Upgrade: pipeops-l4-udp`).
   */
  acceptForwarded(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const answer = (code: number, message: string) => {
      socket.end(`HTTP/1.1 ${code} ${code === 403 ? 'Forbidden' : 'Refused'}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`);
    };
    const refuse = (tunnel: string, reason: string, code: number, detail: string) => {
      this.#d.metrics.inc('pipeops_hub_l4_failures_total', { tunnel, reason });
      this.#d.log.warn({ tunnel, reason, detail, from: req.socket.remoteAddress }, 'L4 forward from another replica refused');
      answer(code, detail);
    };
    socket.on('error', () => socket.destroy());
    const via = this.#d.remote?.link.check(req) ?? { kind: 'forged' as const, reason: 'this hub has no replica link' };
    if (via.kind !== 'replica') return refuse('internal', 'forward_refused', 403, via.kind === 'client' ? 'unsigned request' : via.reason);
    const t = parseL4Target(req.url ?? '/');
    if (typeof t === 'string') return refuse('internal', 'forward_refused', 400, t);
    const o = this.#d.agents.open(t.cluster);
    if (!o.ok) return refuse(t.tunnel, o.reason, 502, o.detail);
    o.stream.write(encodeStreamHeader({ protocol: t.protocol, serviceName: t.service, serviceNamespace: t.namespace, servicePort: t.port, tunnelId: t.tunnelId }));
    this.#forwardedActive[t.protocol]++;
    const failed = (detail: string) => {
      this.#d.metrics.inc('pipeops_hub_l4_failures_total', { tunnel: t.tunnel, reason: 'forwarded_connection_error' });
      this.#d.log.warn({ tunnel: t.tunnel, protocol: t.protocol, detail }, 'L4 connection forwarded by another replica failed');
    };
    if (t.protocol === 'udp') {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${L4_UDP_UPGRADE}\r\n\r\n`);
      this.#d.log.debug({ tunnel: t.tunnel, cluster_id: t.cluster, from: via.from }, 'L4 UDP client forwarded by another replica');
      relayLinkToStream(socket, head, o.stream, o.udpFramed, {
        dropped: () => this.#d.metrics.inc('pipeops_hub_l4_failures_total', { tunnel: t.tunnel, reason: 'udp_dropped' }),
        done: (r) => {
          this.#forwardedActive.udp--;
          if (r.error && !r.error.includes('session ended')) failed(r.error);
        },
      });
      return;
    }
    // The stream's FIN must not close our write side: the service may still answer after the client's FIN.
    (socket as { allowHalfOpen?: boolean }).allowHalfOpen = true;
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: pipeops-l4\r\n\r\n`);
    if (head.length) o.stream.write(head);
    this.#d.log.debug({ tunnel: t.tunnel, cluster_id: t.cluster, from: via.from }, 'L4 connection forwarded by another replica');
    // A stream that fails here (the agent refused it, reset, idle) is counted here: the link is closed, and the
    // forwarding replica sees the close without a reason (Bun cannot reset an upgraded TLS socket).
    pipeSocketStream(socket as unknown as PipeSocket, o.stream, { idleMs: this.#d.idleMs }, (r) => {
      this.#forwardedActive.tcp--;
      if (r.error) failed(r.error);
    });
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
        const o = this.#tryStream(e);
        if (!o.ok && o.reason === 'cluster_not_found') {
          // A name this replica has not seen (the agent registered with another replica, or a moment ago): read
          // the cluster list once, with the client's bytes held in the kernel meanwhile, then decide.
          sock.pause();
          void this.#d.clusters.refresh().then(() => {
            if (sock.destroyed) {
              this.#fail(e, stats, 'client_gone', 'the client left while the cluster name was looked up');
              stats.active--;
              return;
            }
            if (this.#connectTcp(e, stats, sock, this.#tryStream(e))) sock.resume();
          });
          return;
        }
        this.#connectTcp(e, stats, sock, o);
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
    type Client = { peer: UdpPeer | null; hooks: UdpClientHooks; idle: IdleTimer; bytesIn: number; bytesOut: number; dropped: number };
    const clients = new Map<string, Client>();
    const end = (key: string, c: Client) => {
      if (clients.get(key) !== c) return;
      clients.delete(key);
      c.idle.stop();
      c.peer?.close();
      this.#ended(e, stats, c.bytesIn, c.bytesOut);
    };
    sock.on('message', (msg: Buffer, rinfo) => {
      const key = `${rinfo.address}|${rinfo.port}`;
      let c = clients.get(key);
      if (!c) {
        this.#opened(e, stats);
        // Every datagram either way pushes the client's expiry out (a time stored, not a timer re-armed per datagram).
        const client: Client = { peer: null, hooks: null!, idle: new IdleTimer(this.#d.udpIdleMs, () => end(key, client)), bytesIn: 0, bytesOut: 0, dropped: 0 };
        c = client;
        clients.set(key, client);
        const hooks: UdpClientHooks = {
          back: (d) => {
            // An answer still in flight after the session ended (its peer closes gracefully) is not delivered.
            if (clients.get(key) !== client) return;
            client.bytesOut += d.length;
            client.idle.touch();
            sock.send(d, rinfo.port, rinfo.address);
          },
          ended: (f) => {
            if (f) this.#fail(e, stats, f.reason, f.detail);
            end(key, client);
          },
          dropped: (n) => {
            // UDP may lose: a datagram its queue cannot take is dropped, counted, and logged once per client address.
            this.#d.metrics.inc('pipeops_hub_l4_failures_total', { tunnel: e.name, reason: 'udp_dropped' }, n);
            stats.failures.udp_dropped = (stats.failures.udp_dropped ?? 0) + n;
            if (client.dropped === 0) this.#d.log.warn({ tunnel: e.name, client: `${rinfo.address}:${rinfo.port}` }, 'L4 UDP datagram dropped: its queue toward the service is full');
            client.dropped += n;
          },
        };
        client.hooks = hooks;
        client.peer = e.mode === 'direct' ? this.#directUdp(e, hooks) : this.#tunnelUdp(e, hooks);
        // Refused at once (counted): the next datagram from this address tries again.
        if (clients.get(key) !== client) return;
      }
      c.bytesIn += msg.length;
      c.idle.touch();
      if (!c.peer!.send(msg)) c.hooks.dropped(1);
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

  /**
   * Tunnel mode: the agent's UDP stream; or, when this replica has not seen the cluster's name yet, the stream after
   * one read of the cluster list; or, when another replica holds the session, the link to it. Datagrams that come
   * meanwhile wait in a bounded queue. Null when refused at once (counted).
   */
  #tunnelUdp(e: L4Exposure, h: UdpClientHooks): UdpPeer | null {
    const o = this.#tryStream(e);
    if (o.ok) return streamPeer(o.stream, o.udpFramed, h);
    if (o.reason !== 'cluster_not_found' && !(o.reason === 'agent_offline' && o.clusterId && this.#d.remote)) {
      h.ended({ reason: o.reason, detail: o.detail });
      return null;
    }
    const pending = new PendingUdpPeer();
    void (async () => {
      let attempt: StreamAttempt = o;
      if (!attempt.ok && attempt.reason === 'cluster_not_found') {
        await this.#d.clusters.refresh();
        if (pending.closed) return;
        attempt = this.#tryStream(e);
      }
      if (attempt.ok) return attach(pending, streamPeer(attempt.stream, attempt.udpFramed, h), h);
      if (attempt.reason === 'agent_offline' && attempt.clusterId && this.#d.remote) return this.#forwardUdp(e, pending, attempt.clusterId, attempt, h);
      h.ended({ reason: attempt.reason, detail: attempt.detail });
    })();
    return pending;
  }

  /** Carry a UDP client to the replica holding the cluster's session (a signed upgrade of /internal/l4, protocol=udp). */
  async #forwardUdp(e: L4Exposure, pending: PendingUdpPeer, clusterId: string, local: { reason: string; detail: string }, h: UdpClientHooks): Promise<void> {
    const remote = this.#d.remote!;
    let base: string | null;
    try {
      base = await remote.locate(clusterId);
    } catch (err) {
      return h.ended({ reason: 'replica_link', detail: `session directory did not answer: ${(err as Error).message}` });
    }
    // No replica holds the session: the agent is offline, as for a local client.
    if (!base) return h.ended(local);
    if (pending.closed) return;
    const t: L4ForwardTarget = { protocol: 'udp', cluster: clusterId, tunnel: e.name, namespace: e.namespace, service: e.service, port: e.port, tunnelId: e.tunnelId };
    let peer: Awaited<ReturnType<L4Remote['link']['openL4']>>;
    try {
      peer = await remote.link.openL4(base, t);
    } catch (err) {
      return h.ended({ reason: 'replica_link', detail: (err as Error).message });
    }
    if (pending.closed) {
      // Expired while the link opened: end it cleanly (the holder ends the agent stream without counting a failure).
      peer.socket.end();
      setTimeout(() => peer.socket.destroy(), 5_000).unref?.();
      return;
    }
    this.#d.metrics.inc('pipeops_hub_forwarded_total', { gateway: 'l4', kind: 'udp' });
    attach(pending, linkPeer(peer.socket, peer.rest, h), h);
  }

  /** Direct mode: the public endpoint, checked and resolved per client address (no DNS rebinding in between). */
  #directUdp(e: L4Exposure, h: UdpClientHooks): UdpPeer {
    const pending = new PendingUdpPeer();
    void resolveEndpoint(e.publicEndpoint ?? '', this.#d.policy, this.#d.lookup).then((r) => {
      if (pending.closed) return;
      if (!r.ok) return h.ended({ reason: 'direct_refused', detail: r.reason });
      const up = dgram.createSocket(net.isIPv6(r.address) ? 'udp6' : 'udp4');
      const refused = (err: Error) => {
        up.close();
        h.ended({ reason: 'direct_dial', detail: err.message });
      };
      up.once('error', refused);
      up.connect(r.port, r.address, () => {
        up.off('error', refused);
        if (pending.closed) up.close();
        else attach(pending, socketPeer(up, h), h);
      });
    });
    return pending;
  }
}
