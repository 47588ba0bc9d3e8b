// The legacy JSON L4 tunnel messages (protocol.md §5.4) on either socket when `tunnels.enabled`: TCP connections
// opened by `tcp_tunnel_start`, bytes as base64 in `tcp_tunnel_data`, `tcp_tunnel_close` with upstream's reasons
// (connection_failed, registration_failed, write_error, service_closed); UDP datagrams in `udp_tunnel_data`, one
// connected socket per tunnel id whose answers go to every session of that tunnel.
// Deviation T3: upstream dials `localhost:<gateway_port>` inside the agent pod; we dial the Service the message
// names, validated like the HTTP service proxy, so a control plane cannot reach the agent's own ports.
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from '../../log/logger.ts';
import type { MetricUpdate } from '../../threads/metric-update.ts';
import type { InboundMessage } from '../../protocol/envelope.ts';
import { checkStreamTarget } from '../../protocol/l4-stream-header.ts';
import type { SessionConnection } from '../session.ts';
import { l4Target, type L4Target } from './l4-target.ts';
import type { L4Config } from './yamux-tunnels.ts';

/** Queued bytes on the control socket above which backend reads pause (the JSON path has no credit). */
const HIGH_WATER = 4 << 20;

interface TcpConn {
  sock: net.Socket;
  started: number;
  sent: number;
  received: number;
  closed: boolean;
}

interface UdpTunnel {
  sock: dgram.Socket;
  sessions: Map<string, { addr: string; port: number; last: number }>;
  ready: boolean;
  pending: Buffer[];
}

export class LegacyTunnels {
  readonly #tcp = new Map<string, TcpConn>();
  readonly #udp = new Map<string, UdpTunnel>();
  #sweep: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly cfg: L4Config,
    private readonly log: Logger,
    private readonly metric: (u: MetricUpdate) => void,
  ) {}

  get counts(): { tcp: number; udp: number } {
    return { tcp: this.#tcp.size, udp: this.#udp.size };
  }

  handle(m: InboundMessage, conn: SessionConnection): void {
    switch (m.type) {
      case 'tcp_tunnel_start':
        return this.#start(m, conn);
      case 'tcp_tunnel_data':
        return this.#data(m, conn);
      case 'tcp_tunnel_close':
        return this.#remoteClose(m);
      case 'udp_tunnel_data':
        return this.#udpData(m, conn);
    }
  }

  closeAll(): void {
    for (const c of this.#tcp.values()) {
      c.closed = true;
      c.sock.destroy();
    }
    this.#tcp.clear();
    for (const t of this.#udp.values()) t.sock.close();
    this.#udp.clear();
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  #count(name: string, labels?: Record<string, string>, value = 1): void {
    this.metric({ name, op: 'inc', labels, value });
  }

  #target(p: Record<string, unknown>): L4Target | { error: string } {
    const ref = { serviceName: String(p.service_name ?? ''), serviceNamespace: String(p.service_namespace ?? ''), servicePort: Number(p.service_port ?? 0) };
    const bad = checkStreamTarget(ref);
    if (bad) return { error: bad };
    return l4Target({ namespace: ref.serviceNamespace, name: ref.serviceName, port: ref.servicePort }, this.cfg.target);
  }

  #close(id: string, conn: SessionConnection, reason: string, extra: { error?: string; bytes_sent?: number; bytes_received?: number; duration_ms?: number } = {}): void {
    const c = this.#tcp.get(id);
    if (c) {
      this.#tcp.delete(id);
      c.closed = true;
      c.sock.destroy();
      this.metric({ name: 'pipeops_agent_tcp_tunnel_active_connections', op: 'inc', value: -1 });
      Object.assign(extra, { bytes_sent: c.sent, bytes_received: c.received, duration_ms: Date.now() - c.started });
    }
    if (reason !== 'service_closed') this.#count('pipeops_agent_tcp_tunnel_errors_total', { error_type: reason });
    conn.send({ type: 'tcp_tunnel_close', payload: { reason, ...extra }, requestId: id });
  }

  #start(m: InboundMessage, conn: SessionConnection): void {
    const id = m.requestId;
    if (!id) {
      this.log.warn('tcp_tunnel_start without request_id; dropped');
      this.#count('pipeops_agent_tcp_tunnel_errors_total', { error_type: 'invalid_message' });
      return;
    }
    if (this.#tcp.has(id)) return this.#close(id, conn, 'registration_failed', { error: `connection ${id} already exists` });
    if (this.#tcp.size >= this.cfg.tcp.maxConnections) return this.#close(id, conn, 'registration_failed', { error: `tunnels.tcp.max_connections (${this.cfg.tcp.maxConnections}) reached` });
    const target = this.#target(m.payload);
    if ('error' in target) return this.#close(id, conn, 'connection_failed', { error: target.error });
    const sock = net.connect({ host: target.host, port: target.port, noDelay: true, keepAlive: this.cfg.tcp.keepalive, keepAliveInitialDelay: this.cfg.tcp.keepalivePeriodMs });
    const c: TcpConn = { sock, started: Date.now(), sent: 0, received: 0, closed: false };
    this.#tcp.set(id, c);
    this.#count('pipeops_agent_tcp_tunnel_connections_total');
    this.metric({ name: 'pipeops_agent_tcp_tunnel_active_connections', op: 'inc', value: 1 });
    let connected = false;
    const dialTimer = setTimeout(() => sock.destroy(new Error(`dial timed out after ${this.cfg.tcp.connectTimeoutMs} ms`)), this.cfg.tcp.connectTimeoutMs);
    sock.once('connect', () => {
      connected = true;
      clearTimeout(dialTimer);
      if (this.cfg.tcp.idleTimeoutMs > 0) sock.setTimeout(this.cfg.tcp.idleTimeoutMs, () => sock.destroy(new Error('idle timeout')));
    });
    sock.on('data', (d: Buffer) => {
      c.sent += d.length;
      // Upstream reads tunnels.tcp.buffer_size bytes at a time: no message carries more.
      const max = this.cfg.tcp.bufferSize;
      for (let o = 0; o < d.length; o += max) conn.send({ type: 'tcp_tunnel_data', payload: { data: d.subarray(o, o + max).toString('base64'), direction: 'agent_to_gateway' }, requestId: id });
      if (conn.bufferedAmount > HIGH_WATER) {
        sock.pause();
        const wait = setInterval(() => {
          if (c.closed || conn.bufferedAmount <= HIGH_WATER / 2) {
            clearInterval(wait);
            if (!c.closed) sock.resume();
          }
        }, 20);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(dialTimer);
      if (c.closed) return;
      this.#close(id, conn, connected ? 'service_closed' : 'connection_failed', { error: e.message });
    });
    sock.on('close', () => {
      clearTimeout(dialTimer);
      if (!c.closed) this.#close(id, conn, 'service_closed');
    });
  }

  #data(m: InboundMessage, conn: SessionConnection): void {
    const c = m.requestId ? this.#tcp.get(m.requestId) : undefined;
    if (!c) {
      this.#count('pipeops_late_arrivals_total', { kind: 'tcp_tunnel_data' });
      return;
    }
    const data = m.payload.data;
    if (typeof data !== 'string') return this.#close(m.requestId!, conn, 'write_error', { error: 'tcp_tunnel_data without base64 data' });
    const bytes = Buffer.from(data, 'base64');
    c.received += bytes.length;
    try {
      c.sock.write(bytes);
    } catch (e) {
      this.#close(m.requestId!, conn, 'write_error', { error: (e as Error).message });
    }
  }

  #remoteClose(m: InboundMessage): void {
    const c = m.requestId ? this.#tcp.get(m.requestId) : undefined;
    // Upstream echoes the close as service_closed when the forwarder notices the socket went away.
    if (c) c.sock.end();
  }

  #udpData(m: InboundMessage, conn: SessionConnection): void {
    const p = m.payload;
    const tunnelId = typeof p.tunnel_id === 'string' ? p.tunnel_id : '';
    const data = typeof p.data === 'string' ? Buffer.from(p.data, 'base64') : null;
    if (!tunnelId || !data) {
      this.#count('pipeops_agent_udp_tunnel_errors_total', { error_type: 'invalid_message' });
      return;
    }
    if (data.length > this.cfg.udp.bufferSize) {
      this.#count('pipeops_agent_udp_tunnel_errors_total', { error_type: 'dropped' });
      return;
    }
    let t = this.#udp.get(tunnelId);
    if (!t) {
      if (this.#udp.size >= this.cfg.udp.maxSessions) {
        this.#count('pipeops_agent_udp_tunnel_errors_total', { error_type: 'limit' });
        return;
      }
      const target = this.#target(p);
      if ('error' in target) {
        this.log.warn({ tunnel_id: tunnelId, reason: target.error }, 'udp_tunnel_data for an invalid target; dropped');
        this.#count('pipeops_agent_udp_tunnel_errors_total', { error_type: 'invalid_target' });
        return;
      }
      const sock = dgram.createSocket(net.isIPv6(target.host) ? 'udp6' : 'udp4');
      const tunnel: UdpTunnel = { sock, sessions: new Map(), ready: false, pending: [] };
      t = tunnel;
      this.#udp.set(tunnelId, tunnel);
      sock.on('error', (e) => {
        this.log.warn({ tunnel_id: tunnelId, err: e.message }, 'udp tunnel socket failed');
        this.#count('pipeops_agent_udp_tunnel_errors_total', { error_type: 'socket' });
        this.#udp.delete(tunnelId);
        sock.close();
      });
      sock.on('message', (msg: Buffer) => {
        this.#count('pipeops_agent_udp_tunnel_packets_total', { direction: 'to_gateway' });
        for (const s of tunnel.sessions.values())
          conn.send({ type: 'udp_tunnel_data', payload: { tunnel_id: tunnelId, data: msg.toString('base64'), client_addr: s.addr, client_port: s.port, direction: 'agent_to_gateway' } });
      });
      sock.connect(target.port, target.host, () => {
        tunnel.ready = true;
        for (const d of tunnel.pending.splice(0)) sock.send(d);
      });
      this.#sweep ??= setInterval(() => this.#purge(), Math.min(60_000, this.cfg.udp.sessionTimeoutMs));
    }
    const addr = String(p.client_addr ?? '');
    const port = Number(p.client_port ?? 0);
    t.sessions.set(`${addr}|${port}`, { addr, port, last: Date.now() });
    this.#count('pipeops_agent_udp_tunnel_packets_total', { direction: 'to_backend' });
    if (t.ready) t.sock.send(data);
    else t.pending.push(data);
  }

  #purge(): void {
    const cutoff = Date.now() - this.cfg.udp.sessionTimeoutMs;
    for (const [id, t] of this.#udp) {
      for (const [k, s] of t.sessions) if (s.last < cutoff) t.sessions.delete(k);
      if (!t.sessions.size) {
        t.sock.close();
        this.#udp.delete(id);
      }
    }
    if (!this.#udp.size) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }
}
