// One yamux stream ↔ one connected UDP socket to a Service (protocol.md §5.3, deviation T2). Raw mode (upstream):
// each piece read from the stream is one datagram and backend datagrams are written as bare bytes. Length-prefixed
// mode (negotiated in gateway_hello): `[u16 length][datagram]` both ways, so boundaries survive.
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { DatagramReader, encodeDatagram } from '../../protocol/l4-stream-header.ts';
import type { YamuxStream } from '../../protocol/yamux-session.ts';
import { IdleTimer } from '../../timing/idle-timer.ts';
import type { L4Target } from './l4-target.ts';

export interface UdpRelayOptions {
  framed: boolean;
  /** Largest datagram relayed (tunnels.udp.buffer_size); larger ones are dropped and counted. */
  maxDatagram: number;
  /** Close after this long without a datagram either way (tunnels.udp.session_timeout). */
  idleMs: number;
  /** Stream bytes queued toward the gateway beyond which backend datagrams are dropped (UDP may lose). */
  maxQueuedBytes: number;
}

export interface UdpRelayResult {
  error: string | null;
  datagramsToBackend: number;
  datagramsToGateway: number;
  dropped: number;
}

export function relayUdp(stream: YamuxStream, initial: Uint8Array, target: L4Target, o: UdpRelayOptions, done: (r: UdpRelayResult) => void): void {
  const r: UdpRelayResult = { error: null, datagramsToBackend: 0, datagramsToGateway: 0, dropped: 0 };
  const sock = dgram.createSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
  const reader = o.framed ? new DatagramReader() : null;
  let closed = false;
  const finish = (error: string | null) => {
    if (closed) return;
    closed = true;
    r.error = error;
    idle.stop();
    try {
      sock.close();
    } catch {
      // already closed by an error
    }
    if (error) stream.reset(error);
    else stream.end();
    done(r);
  };
  // Every datagram either way pushes the deadline out (a time stored, not a timer re-armed per datagram).
  const idle = new IdleTimer(o.idleMs, () => finish(`idle for ${Math.round(o.idleMs / 1000)} s`));
  const touch = () => idle.touch();
  const pending: Uint8Array[] = [];
  let connected = false;
  const toBackend = (d: Uint8Array) => {
    if (d.length > o.maxDatagram) {
      r.dropped++;
      return;
    }
    if (!connected) {
      pending.push(d.slice());
      return;
    }
    r.datagramsToBackend++;
    sock.send(d);
  };
  const fromGateway = (piece: Uint8Array) => {
    touch();
    if (reader) for (const d of reader.push(piece)) toBackend(d);
    else toBackend(piece);
  };
  sock.on('error', (e) => finish(`udp socket error: ${e.message}`));
  sock.on('message', (msg: Buffer) => {
    touch();
    if (stream.queuedBytes > o.maxQueuedBytes || msg.length > o.maxDatagram || (reader && msg.length > 0xffff)) {
      r.dropped++;
      return;
    }
    r.datagramsToGateway++;
    stream.write(reader ? encodeDatagram(msg) : msg);
  });
  stream.on.data = fromGateway;
  stream.on.end = () => finish(null);
  stream.on.close = (err) => {
    if (err) finish(err);
  };
  sock.connect(target.port, target.host, () => {
    connected = true;
    for (const d of pending.splice(0)) toBackend(d);
  });
  if (initial.length) fromGateway(initial);
  stream.resume();
}
