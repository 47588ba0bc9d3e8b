// The agent's yamux L4 tunnels (protocol.md §5.1–§5.3, deviations T2, T3): answers `gateway_hello`, runs the yamux
// client session over the gateway socket, and for each stream the gateway opens reads the stream header, checks
// the target and the limits, then dials the Service over TCP or UDP and relays.
import type { Logger } from '../../log/logger.ts';
import type { MetricUpdate } from '../../threads/metric-update.ts';
import { decodeStreamHeader, type StreamHeader } from '../../protocol/l4-stream-header.ts';
import { HELLO_FRAMING_KEY, HELLO_UDP_KEY, LENGTH_PREFIXED_DATAGRAMS, TAGGED_FRAMING, YAMUX_TAG_BYTES } from '../../protocol/yamux-hello.ts';
import { YamuxSession, type YamuxStream } from '../../protocol/yamux-session.ts';
import { pipeSocketStream } from '../../protocol/yamux-socket-pipe.ts';
import { connectTcp } from '../../runtime/tcp.ts';
import type { L4Config } from '../../threads/tunnel-config.ts';
import { l4Target } from './l4-target.ts';
import type { GatewayHello, SessionTransport, TransportWriter } from '../transport.ts';
import { relayUdp } from './udp-relay.ts';


export type { L4Config };

export interface YamuxTunnelDeps {
  config: L4Config;
  log: Logger;
  metric(u: MetricUpdate): void;
}

/** Upper bound on the per-stream receive window a gateway may ask for. */
const MAX_STREAM_WINDOW = 16 << 20;

const MAX_HEADER_BYTES = 4 + 3 * 2 + 253 + 253 + 512;

export class YamuxTunnels {
  readonly #d: YamuxTunnelDeps;
  #session: YamuxSession | null = null;
  #framedUdp = false;
  #tcp = 0;
  #udp = 0;

  constructor(deps: YamuxTunnelDeps) {
    this.#d = deps;
  }

  /**
   * The session's binary transport factory (src/tunnel/transport.ts): on `gateway_hello{use_yamux}` (§5.1) build
   * the yamux client session; the session sends the ack (with `ack`) and then routes binary messages here.
   * Tagged framing shares the socket's binary messages with the HTTP relays (only `[0,0]`-tagged ones are yamux).
   */
  transport(offer: GatewayHello, writer: TransportWriter): SessionTransport | null {
    if (!this.#d.config.enabled) {
      this.#d.log.warn('gateway offered yamux, but L4 tunnels are disabled (tunnels.enabled=false)');
      return null;
    }
    const yc = offer.yamux_config ?? {};
    const num = (k: string, scale: number, dflt: number) => {
      const v = yc[k];
      return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v * scale : dflt;
    };
    const y = this.#d.config.yamux;
    const tagged = offer[HELLO_FRAMING_KEY] === TAGGED_FRAMING;
    this.#framedUdp = offer[HELLO_UDP_KEY] === LENGTH_PREFIXED_DATAGRAMS;
    this.#session?.close('replaced by a new gateway_hello', false);
    const session = new YamuxSession(
      'client',
      {
        keepAliveMs: num('keep_alive_interval_seconds', 1000, y.keepAliveMs),
        writeTimeoutMs: num('connection_timeout_seconds', 1000, y.writeTimeoutMs),
        // A gateway may widen the window, but not without bound: it is what one stream can make us buffer.
        maxStreamWindow: Math.min(num('max_stream_window_size', 1, y.maxStreamWindow), MAX_STREAM_WINDOW),
      },
      {
        out: (frame) => void writer.sendBinary(frame),
        outCopies: true,
        stream: (s) => this.#accept(s),
        closed: (reason) => this.#d.log.info({ reason }, 'yamux session ended'),
      },
      tagged ? YAMUX_TAG_BYTES : 0,
    );
    this.#session = session;
    const ack: Record<string, unknown> = {};
    if (tagged) ack[HELLO_FRAMING_KEY] = TAGGED_FRAMING;
    if (this.#framedUdp) ack[HELLO_UDP_KEY] = LENGTH_PREFIXED_DATAGRAMS;
    this.#d.log.info({ tagged, udp_datagrams: this.#framedUdp ? 'length_prefixed' : 'raw' }, 'yamux session started on the gateway socket');
    const isTagged = (d: ArrayBuffer) => {
      if (d.byteLength < YAMUX_TAG_BYTES) return false;
      const b = new Uint8Array(d, 0, YAMUX_TAG_BYTES);
      return b[0] === 0 && b[1] === 0;
    };
    return {
      name: tagged ? 'yamux (tagged)' : 'yamux',
      ack,
      ...(tagged ? { accepts: isTagged } : {}),
      onBinary: (d) => session.input(new Uint8Array(d, tagged ? YAMUX_TAG_BYTES : 0)),
      close: (reason) => {
        session.close(reason, false);
        if (this.#session === session) this.#session = null;
      },
    };
  }

  #count(name: string, labels?: Record<string, string>, value = 1): void {
    this.#d.metric({ name, op: 'inc', labels, value });
  }

  #accept(stream: YamuxStream): void {
    this.#count('pipeops_agent_yamux_streams_accepted_total');
    const started = Date.now();
    let buf = new Uint8Array(0);
    const timer = setTimeout(() => this.#reject(stream, 'header_error', 'no complete stream header in time'), this.#d.config.tcp.connectTimeoutMs);
    stream.on.close = () => clearTimeout(timer);
    stream.on.data = (piece) => {
      const next = new Uint8Array(buf.length + piece.length);
      next.set(buf);
      next.set(piece, buf.length);
      buf = next;
      const h = decodeStreamHeader(buf);
      if (h.kind === 'partial') {
        if (buf.length > MAX_HEADER_BYTES) this.#reject(stream, 'header_error', 'stream header too long');
        return;
      }
      clearTimeout(timer);
      // Hold what follows until the target is connected.
      stream.pause();
      if (h.kind === 'error') return this.#reject(stream, 'header_error', h.error);
      this.#start(stream, h.header, h.rest.slice(), started);
    };
  }

  #reject(stream: YamuxStream, type: 'header_error' | 'dial_error' | 'limit', why: string, h?: StreamHeader): void {
    this.#count('pipeops_agent_yamux_stream_errors_total', { type });
    this.#d.log.warn({ stream: stream.id, reason: why, tunnel_id: h?.tunnelId, service: h ? `${h.serviceNamespace}/${h.serviceName}:${h.servicePort}` : undefined }, 'L4 stream refused');
    stream.reset(why);
  }

  #start(stream: YamuxStream, h: StreamHeader, rest: Uint8Array, started: number): void {
    const target = l4Target({ namespace: h.serviceNamespace, name: h.serviceName, port: h.servicePort }, this.#d.config.target);
    if ('error' in target) return this.#reject(stream, 'dial_error', target.error, h);
    const cfg = this.#d.config;
    if (h.protocol === 'udp') {
      if (this.#udp >= cfg.udp.maxSessions) return this.#reject(stream, 'limit', `tunnels.udp.max_sessions (${cfg.udp.maxSessions}) reached`, h);
      this.#udp++;
      this.#active(+1);
      relayUdp(stream, rest, target, { framed: this.#framedUdp, maxDatagram: cfg.udp.bufferSize, idleMs: cfg.udp.sessionTimeoutMs, maxQueuedBytes: 1 << 20 }, (r) => {
        this.#udp--;
        this.#active(-1);
        this.#count('pipeops_agent_udp_tunnel_packets_total', { direction: 'to_backend' }, r.datagramsToBackend);
        this.#count('pipeops_agent_udp_tunnel_packets_total', { direction: 'to_gateway' }, r.datagramsToGateway);
        if (r.dropped) this.#count('pipeops_agent_udp_tunnel_errors_total', { error_type: 'dropped' }, r.dropped);
        if (r.error && !r.error.startsWith('idle')) this.#count('pipeops_agent_udp_tunnel_errors_total', { error_type: 'socket' });
        this.#finished(started);
      });
      return;
    }
    if (this.#tcp >= cfg.tcp.maxConnections) return this.#reject(stream, 'limit', `tunnels.tcp.max_connections (${cfg.tcp.maxConnections}) reached`, h);
    this.#tcp++;
    this.#active(+1);
    const release = () => {
      this.#tcp--;
      this.#active(-1);
      this.#finished(started);
    };
    let gaveUp = false;
    // The gateway gave up while we were dialing.
    stream.on.close = () => (gaveUp = true);
    connectTcp(target.host, target.port, cfg.tcp.connectTimeoutMs, cfg.tcp.keepalive ? cfg.tcp.keepalivePeriodMs : 0).then(
      (sock) => {
        if (gaveUp) {
          sock.destroy();
          release();
          return;
        }
        pipeSocketStream(sock, stream, { idleMs: cfg.tcp.idleTimeoutMs, initial: rest }, (r) => {
          release();
          this.#count('pipeops_agent_yamux_bytes_total', { direction: 'in' }, r.bytesToSocket);
          this.#count('pipeops_agent_yamux_bytes_total', { direction: 'out' }, r.bytesToStream);
          if (r.error) this.#d.log.debug({ stream: stream.id, reason: r.error }, 'L4 stream ended abnormally');
        });
      },
      (e: Error) => {
        release();
        this.#reject(stream, 'dial_error', `dial ${target.host}:${target.port}: ${e.message}`, h);
      },
    );
  }

  #active(delta: number): void {
    this.#d.metric({ name: 'pipeops_agent_yamux_active_streams', op: 'inc', value: delta });
  }

  #finished(started: number): void {
    this.#d.metric({ name: 'pipeops_agent_yamux_stream_duration_seconds', op: 'observe', value: (Date.now() - started) / 1000 });
  }
}
