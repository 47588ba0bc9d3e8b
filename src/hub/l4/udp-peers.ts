// Where the hub sends one UDP client's datagrams (issue 13 items 6–7, issue 15 item 3): the agent's yamux stream,
// a direct-mode endpoint, or the link to the hub replica that holds the cluster's session; and, on that replica, the
// relay between such a link and the agent's stream. On the link, datagrams are length-prefixed (`[u16][bytes]`, as
// deviation T2) so that their boundaries survive a byte stream. Every queue is bounded: a datagram that does not
// fit is dropped (UDP may lose) and the caller counts it; nothing buffers without bound.
import type dgram from 'node:dgram';
import type { Duplex } from 'node:stream';
import { DatagramReader, encodeDatagram, MAX_DATAGRAM_BYTES } from '../../protocol/l4-stream-header.ts';
import type { YamuxStream } from '../../protocol/yamux-session.ts';

/** Bytes one UDP client may have waiting toward its peer (a stream without window, a link not open or not draining). */
export const UDP_QUEUE_BYTES = 256 * 1024;

/** Why a peer ended abnormally, as a failure reason of `pipeops_hub_l4_failures_total` and a detail. */
export interface UdpFailure {
  reason: string;
  detail: string;
}

export interface UdpPeer {
  /** Carry one datagram; false when it was dropped because its queue is full (or it cannot be carried at all). */
  send(d: Uint8Array): boolean;
  /** End it (idle expiry, listener stopped). No hook is called after this. */
  close(): void;
}

export interface UdpPeerHooks {
  /** A datagram for the client. */
  back(d: Uint8Array): void;
  /** The peer ended by itself: null when normally (FIN), else why. Called at most once, never after `close`. */
  ended(failure: UdpFailure | null): void;
}

/** A UDP client's hooks on the listening replica: its peer's, and the count of datagrams dropped for it. */
export type UdpClientHooks = UdpPeerHooks & { dropped(n: number): void };

/** Hand a pending peer its target; the queued datagrams the target cannot take are counted as dropped. */
export function attach(pending: PendingUdpPeer, target: UdpPeer, h: UdpClientHooks): void {
  const dropped = pending.attach(target);
  if (dropped) h.dropped(dropped);
}

/** Calls `ended` once, and never after `close`. */
function once(h: UdpPeerHooks): { end: (f: UdpFailure | null) => void; closed: () => boolean; close: () => void } {
  let done = false;
  return {
    end: (f) => {
      if (done) return;
      done = true;
      h.ended(f);
    },
    closed: () => done,
    close: () => void (done = true),
  };
}

/** A peer whose target is still being found (a cluster name looked up, a replica link opening, a socket connecting). */
export class PendingUdpPeer implements UdpPeer {
  #queue: Uint8Array[] = [];
  #bytes = 0;
  #target: UdpPeer | null = null;
  #closed = false;

  constructor(private readonly limit = UDP_QUEUE_BYTES) {}

  get closed(): boolean {
    return this.#closed;
  }

  send(d: Uint8Array): boolean {
    if (this.#closed) return true;
    if (this.#target) return this.#target.send(d);
    if (this.#bytes + d.length > this.limit) return false;
    this.#queue.push(d);
    this.#bytes += d.length;
    return true;
  }

  /** The target is known: the queued datagrams go first, in order. Returns how many it dropped. */
  attach(target: UdpPeer): number {
    if (this.#closed) {
      target.close();
      return 0;
    }
    this.#target = target;
    let dropped = 0;
    for (const d of this.#queue) if (!target.send(d)) dropped++;
    this.#queue = [];
    this.#bytes = 0;
    return dropped;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#target?.close();
  }
}

/** The agent's UDP stream (header already written): raw, or length-prefixed when negotiated (T2). */
export function streamPeer(stream: YamuxStream, framed: boolean, h: UdpPeerHooks): UdpPeer {
  const o = once(h);
  const reader = framed ? new DatagramReader() : null;
  stream.on.data = (piece) => {
    if (reader) for (const d of reader.push(piece)) h.back(d);
    else h.back(piece);
  };
  stream.on.end = () => o.end(null);
  stream.on.close = (err) => {
    if (!err || err.includes('session ended')) o.end(null);
    else o.end({ reason: err.includes('reset by peer') ? 'stream_reset' : 'connection_error', detail: err });
  };
  return {
    send: (d) => {
      if (!carries(framed, d) || stream.queuedBytes + d.length > UDP_QUEUE_BYTES) return false;
      stream.write(framed ? encodeDatagram(d) : d);
      return true;
    },
    close: () => {
      o.close();
      stream.end();
    },
  };
}

/** Whether the agent's stream can carry a datagram: raw mode has no way to say "empty", a prefix no way past 64 KiB. */
const carries = (framed: boolean, d: Uint8Array) => (framed ? d.length <= MAX_DATAGRAM_BYTES : d.length > 0);

/** A connected UDP socket to a direct-mode endpoint (it only hears that endpoint's answers). */
export function socketPeer(sock: dgram.Socket, h: UdpPeerHooks): UdpPeer {
  const o = once(h);
  sock.on('message', (m: Buffer) => h.back(m));
  sock.on('error', (err) => {
    o.end({ reason: 'direct_dial', detail: err.message });
    closeQuietly(sock);
  });
  return {
    send: (d) => {
      if (o.closed()) return true;
      sock.send(d);
      return true;
    },
    close: () => {
      o.close();
      closeQuietly(sock);
    },
  };
}

function closeQuietly(sock: dgram.Socket): void {
  try {
    sock.close();
  } catch {
    // already closed
  }
}

/** Bytes of one datagram on the link (prefix included). */
const framedLength = (d: Uint8Array) => 2 + d.length;

/** The link to the replica holding the session (after its 101): length-prefixed datagrams both ways. */
export function linkPeer(sock: Duplex, rest: Uint8Array, h: UdpPeerHooks): UdpPeer {
  const o = once(h);
  const reader = new DatagramReader();
  const onData = (chunk: Uint8Array) => {
    for (const d of reader.push(chunk)) h.back(d);
  };
  if (rest.length) onData(rest);
  sock.on('data', onData);
  sock.on('error', (err: Error) => o.end({ reason: 'replica_link', detail: `replica link socket error: ${err.message}` }));
  sock.on('end', () => {
    o.end(null);
    sock.end();
  });
  sock.on('close', () => o.end({ reason: 'replica_link', detail: 'the replica link closed without FIN' }));
  sock.resume();
  return {
    send: (d) => {
      if (o.closed()) return true;
      if (d.length > MAX_DATAGRAM_BYTES || sock.writableLength + framedLength(d) > UDP_QUEUE_BYTES) return false;
      sock.write(encodeDatagram(d));
      return true;
    },
    close: () => {
      o.close();
      sock.end();
      // The holding replica answers our FIN with its own; one that does not is cut off.
      setTimeout(() => sock.destroy(), 5_000).unref?.();
    },
  };
}

export interface LinkRelayResult {
  /** Why it ended abnormally; null when either side ended it normally. */
  error: string | null;
  datagramsToService: number;
  datagramsToLink: number;
}

/**
 * On the replica that holds the session: datagrams from a link (length-prefixed) go to the agent's UDP stream
 * (raw or length-prefixed, as negotiated) and its answers back onto the link. Either side ending ends both.
 * `dropped` is called for each datagram a full queue refused.
 */
export function relayLinkToStream(link: Duplex, head: Uint8Array, stream: YamuxStream, framed: boolean, hooks: { dropped(toward: 'service' | 'link'): void; done(r: LinkRelayResult): void }): void {
  const r: LinkRelayResult = { error: null, datagramsToService: 0, datagramsToLink: 0 };
  let finished = false;
  const finish = (error: string | null) => {
    if (finished) return;
    finished = true;
    r.error = error;
    if (error) {
      stream.reset(error);
      link.destroy();
    } else {
      stream.end();
      link.end();
      setTimeout(() => link.destroy(), 5_000).unref?.();
    }
    hooks.done(r);
  };
  const fromLink = new DatagramReader();
  const toService = (chunk: Uint8Array) => {
    for (const d of fromLink.push(chunk)) {
      if (!carries(framed, d) || stream.queuedBytes + d.length > UDP_QUEUE_BYTES) {
        hooks.dropped('service');
        continue;
      }
      r.datagramsToService++;
      stream.write(framed ? encodeDatagram(d) : d);
    }
  };
  const toLink = (d: Uint8Array) => {
    if (link.writableLength + framedLength(d) > UDP_QUEUE_BYTES || d.length > MAX_DATAGRAM_BYTES) {
      hooks.dropped('link');
      return;
    }
    r.datagramsToLink++;
    link.write(encodeDatagram(d));
  };
  const fromStream = framed ? new DatagramReader() : null;
  stream.on.data = (piece) => {
    if (fromStream) for (const d of fromStream.push(piece)) toLink(d);
    else toLink(piece);
  };
  stream.on.end = () => finish(null);
  stream.on.close = (err) => finish(err);
  link.on('data', toService);
  link.on('end', () => finish(null));
  link.on('error', (e: Error) => finish(`replica link socket error: ${e.message}`));
  link.on('close', () => finish('the replica link closed without FIN'));
  if (head.length) toService(head);
  link.resume();
}
