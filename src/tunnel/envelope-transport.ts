// The JSON-envelope transport (protocol.md §2.3): text frames are envelopes; binary frames, while this transport owns
// them, are id-prefixed HTTP frames (request bodies) or legacy JSON-in-binary envelopes. Also the send side the relays
// use (`SessionConnection`).
import type { Logger } from '../log/logger.ts';
import type { MetricUpdate } from '../threads/metric-update.ts';
import { decodeEnvelope, type InboundMessage } from '../protocol/envelope.ts';
import { type AgentToHub, encodeMessage } from '../protocol/wire-messages.ts';
import type { EnvelopeWriter, SessionTransport } from './transport.ts';

/** The live socket as the relays see it. */
export interface SessionConnection {
  /** One typed message (src/protocol/wire-messages.ts); false when the socket is not open or the write failed. */
  send(m: AgentToHub): boolean;
  /** A binary frame; false when the socket is closed or another transport (yamux) owns binary frames. */
  sendBinary(data: Uint8Array<ArrayBuffer> | ArrayBuffer): boolean;
  readonly bufferedAmount: number;
  readonly open: boolean;
}

/** The counter's update per outbound type (our own message types, a fixed set), labels included: made once, never mutated. */
const OUTBOUND_COUNTS = new Map<string, MetricUpdate>();
function outboundCount(type: string): MetricUpdate {
  let u = OUTBOUND_COUNTS.get(type);
  if (!u) OUTBOUND_COUNTS.set(type, (u = { name: 'pipeops_tunnel_messages_total', op: 'inc', labels: { direction: 'out', type } }));
  return u;
}

/** The relays' send side, written through the envelope transport's writer. */
export function envelopeConnection(writer: EnvelopeWriter, metric: (u: MetricUpdate) => void, log: Logger): SessionConnection {
  return {
    send(m) {
      if (!writer.open) return false;
      try {
        writer.sendText(encodeMessage(m));
        metric(outboundCount(m.type));
        return true;
      } catch (e) {
        log.warn({ type: m.type, err: (e as Error).message }, 'send failed');
        return false;
      }
    },
    sendBinary: (data) => writer.sendBinary(data),
    get bufferedAmount() {
      return writer.bufferedAmount;
    },
    get open() {
      return writer.open;
    },
  };
}

export interface EnvelopeTransportDeps {
  conn: SessionConnection;
  metric(u: MetricUpdate): void;
  log: Logger;
  /** A binary message: returns the text of a legacy JSON envelope to decode, else null (consumed or dropped). */
  binary(data: ArrayBuffer, conn: SessionConnection): string | null;
  /** Every inbound text message, before it is decoded. */
  beforeText(): void;
  /** A well-formed envelope. */
  dispatch(m: InboundMessage): void;
}

export class EnvelopeTransport implements SessionTransport {
  readonly name = 'envelope';
  readonly #d: EnvelopeTransportDeps;

  constructor(deps: EnvelopeTransportDeps) {
    this.#d = deps;
  }

  onBinary(data: ArrayBuffer): void {
    const text = this.#d.binary(data, this.#d.conn);
    if (text !== null) this.onText(text);
  }

  onText(text: string): void {
    const d = this.#d;
    d.beforeText();
    const r = decodeEnvelope(text);
    if (r.ok) {
      d.dispatch(r.message);
      return;
    }
    d.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: r.reason } });
    d.log.warn({ reason: r.reason, detail: r.detail, type: r.type, request_id: r.requestId }, 'dropped malformed control message');
    // P1: a proxy request with a known id gets an answer instead of a silent drop.
    if (r.requestId && r.type?.startsWith('proxy_request')) d.conn.send({ type: 'proxy_error', payload: { request_id: r.requestId, error: `malformed message: ${r.detail}` }, requestId: r.requestId });
  }

  close(): void {
    // Nothing of its own to release: in-flight requests and streams end through SessionHandlers.disconnected.
  }
}
