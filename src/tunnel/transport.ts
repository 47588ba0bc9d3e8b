// The transports carried on the session's one WebSocket, and the router that hands each inbound frame to its owner
// (protocol.md §2.3, §5.1). This is the seam under ControlSession: the session keeps the socket's life (dial,
// liveness, registration, reconnect); what the frames *mean* belongs to a transport.
//
// Ownership rules:
// - Text frames are JSON envelopes, always, on every socket: the envelope transport owns them for the socket's life.
// - Binary frames belong to exactly one transport at a time. The envelope transport owns them first (id-prefixed HTTP
//   frames §3.2/§3.6, legacy JSON-in-binary §2.3). After `gateway_hello{use_yamux}` → `gateway_hello_ack` (§5.1) a
//   second transport (yamux) claims them for the rest of the socket's life; from then on the envelope path's binary
//   writes are refused (binary bodies and responses are disabled while yamux is active, §5.1).
// - A claim is one-way and per socket: a new socket (reconnect) starts with the envelope transport again.
//
// Writes: every transport writes through a writer the router hands out, and every writer writes to one FrameSink per
// socket (SessionOptions.frameSink; default the socket itself), so a scheduler in front of the socket sees all frames.
// Plugging in a second transport: SessionOptions.binaryTransport (a BinaryTransportFactory, below).
import type { z } from 'zod';
import type { GatewayHelloSchema } from '../protocol/control-messages.ts';

/** A parsed `gateway_hello` payload (§5.1). */
export type GatewayHello = z.infer<typeof GatewayHelloSchema>;

/** A protocol spoken over the session's socket. */
export interface SessionTransport {
  /** Short name for logs ("envelope", "yamux"). */
  readonly name: string;
  /**
   * An inbound text message. Only the envelope transport receives these (text frames are never claimed), so a
   * binary-only transport leaves this out.
   */
  onText?(text: string): void;
  /**
   * An inbound binary message, delivered only while this transport owns binary frames. For a byte-stream transport
   * (yamux) messages are an arbitrary chunking of the stream: one frame may span several messages (§5.2).
   * Called inside the session's message isolation: a throw is logged and counted, the session goes on.
   */
  onBinary(data: ArrayBuffer): void;
  /** The socket closed or the session let it go: release everything. Called at most once; nothing is delivered after. */
  close(reason: string): void;
  /** Fields added to `gateway_hello_ack` beside `use_yamux` (what this transport accepted, src/protocol/yamux-hello.ts). */
  readonly ack?: Record<string, unknown>;
  /**
   * A shared claim (our tagged yamux framing): only the binary messages this accepts are delivered here; the others,
   * and the envelope transport's binary writes, keep working. Absent: the claim takes every binary message (§5.1).
   */
  accepts?(data: ArrayBuffer): boolean;
}

/**
 * Where every frame written on a socket goes, whichever transport wrote it: the socket itself (`socketSink`), or a
 * scheduler in front of it (fairness between transports and streams) that forwards to the socket.
 */
export interface FrameSink {
  /** Sends or copies `data` before returning (a WebSocket's `send` copies): writers may reuse their buffers. */
  send(data: string | Uint8Array<ArrayBuffer> | ArrayBuffer): void;
  /** Bytes accepted and not yet written to the network. */
  readonly bufferedAmount: number;
  readonly open: boolean;
}

/** The socket as its own sink. */
export function socketSink(ws: WebSocket): FrameSink {
  return {
    send: (data) => ws.send(data),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    get open() {
      return ws.readyState === WebSocket.OPEN;
    },
  };
}

/**
 * The socket as a transport writes to it. It is also a `Drainable` (src/timing/drain.ts): a transport pauses its
 * producers with `drained(writer, threshold)`.
 */
export interface TransportWriter {
  /**
   * False when the socket is not open, or when this writer's transport does not own binary frames. `data` is sent
   * or copied before this returns (see FrameSink.send).
   */
  sendBinary(data: Uint8Array<ArrayBuffer> | ArrayBuffer): boolean;
  /** Bytes queued in the socket and not yet written (the socket's, shared by every transport on it). */
  readonly bufferedAmount: number;
  readonly open: boolean;
}

/** The envelope transport also writes text frames (JSON envelopes); they are never claimed. */
export interface EnvelopeWriter extends TransportWriter {
  /** False when the socket is not open; a throw of the socket's send propagates. */
  sendText(text: string): boolean;
}

/**
 * How a second transport plugs in: the session calls it when a gateway offers yamux (`gateway_hello` with
 * `use_yamux: true`, gateway sockets only). Return the transport, or null to decline (the JSON protocol continues
 * and no ack is sent). The transport must not write before it owns the binary frames, which happens right after
 * the session sent `gateway_hello_ack`; if the ack cannot be sent, the transport is closed unused (§5.1).
 * `writer` writes binary frames once the transport owns them; text (control messages) stays with the session.
 */
export type BinaryTransportFactory = (offer: GatewayHello, writer: TransportWriter) => SessionTransport | null;

/** Routes one socket's inbound frames to their transports and hands out writers that respect binary ownership. */
export class TransportRouter {
  readonly #sink: FrameSink;
  #text: SessionTransport | null = null;
  /** The transport that claimed binary frames, or null while the envelope (text) transport owns them. */
  #claimed: SessionTransport | null = null;
  #closed = false;
  /** Writer for the envelope transport: its binary writes stop once another transport claims binary frames. */
  readonly envelopeWriter: EnvelopeWriter;
  /** Writer for the transport that claims binary frames: it writes nothing until the claim. */
  readonly claimWriter: TransportWriter;

  constructor(sink: FrameSink) {
    this.#sink = sink;
    const sinkRef = sink;
    // A shared (tagged) claim leaves the envelope transport its binary writes.
    this.envelopeWriter = Object.assign(this.#writer(() => this.#claimed === null || this.#claimed.accepts !== undefined), {
      sendText(text: string) {
        if (!sinkRef.open) return false;
        sinkRef.send(text);
        return true;
      },
    });
    this.claimWriter = this.#writer(() => this.#claimed !== null);
  }

  /** The transport that owns text frames (and binary ones until a claim). Set once, before any delivery. */
  start(envelope: SessionTransport): void {
    if (this.#text) throw new Error('transport router already started');
    this.#text = envelope;
  }

  /** Which transport owns binary frames now. */
  get binaryOwner(): string {
    return (this.#claimed ?? this.#text)?.name ?? 'none';
  }

  /** Hand binary frames to `t` for the rest of this socket's life (one claim per socket). */
  claimBinary(t: SessionTransport): void {
    if (this.#closed) throw new Error('transport router is closed');
    if (this.#claimed) throw new Error(`binary frames already claimed by ${this.#claimed.name}`);
    this.#claimed = t;
  }

  /** One inbound WebSocket message. */
  deliver(data: string | ArrayBuffer): void {
    if (this.#closed || !this.#text) return;
    if (typeof data === 'string') this.#text.onText?.(data);
    else {
      const c = this.#claimed;
      (c && (!c.accepts || c.accepts(data)) ? c : this.#text).onBinary(data);
    }
  }

  /** The socket is done: close every transport once. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const all = [this.#claimed, this.#text].filter((t): t is SessionTransport => t !== null);
    for (const t of all) t.close(reason);
  }

  #writer(owns: () => boolean): TransportWriter {
    const sink = this.#sink;
    return {
      sendBinary(data) {
        if (!sink.open || !owns()) return false;
        sink.send(data);
        return true;
      },
      get bufferedAmount() {
        return sink.bufferedAmount;
      },
      get open() {
        return sink.open;
      },
    };
  }
}
