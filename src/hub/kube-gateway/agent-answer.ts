// Applies an agent's answer messages (protocol.md §3.5, §3.6) to the ProxyExchange of the request they belong
// to, and returns binary-chunk credit as the client drains. Shared by the gateways that send `proxy_request`s
// (Kubernetes API gateway, public gateway): the caller finds the exchange by request id.
import type { ServerResponse } from 'node:http';
import { decodeRequestBodyFrame } from '../../protocol/binary-frame.ts';
import type { InboundMessage } from '../../protocol/envelope.ts';
import { withoutRuntimeHints } from '../runtime-error-text.ts';
import { agentErrorStatus } from './kube-status.ts';
import { decodeBufferedResponse, decodeFrameResponse, decodeStreamChunk, decodeStreamHeader } from './inbound-response.ts';
import type { ProxyExchange } from './proxy-exchange.ts';

/** A JSON answer. `cancel` tells the agent to stop (sent when the answer is undecodable mid-exchange). */
export function applyAgentMessage(ex: ProxyExchange, m: InboundMessage, cancel: () => void): void {
  const name = `cluster "${ex.info.clusterId}"`;
  switch (m.type) {
    case 'proxy_response': {
      const d = decodeBufferedResponse(m.payload);
      return d.ok ? ex.respond(d.value) : ex.fail(502, `${name}: ${d.error}`);
    }
    case 'proxy_error': {
      const text = agentErrorText(m.payload);
      return ex.fail(agentErrorStatus(text), `${name}: ${text}`);
    }
    case 'proxy_response_header': {
      const d = decodeStreamHeader(m.payload);
      if (d.ok) return ex.streamHeader(d.value.status, d.value.headers);
      cancel();
      return ex.fail(502, `${name}: ${d.error}`);
    }
    case 'proxy_response_chunk': {
      const d = decodeStreamChunk(m.payload);
      if (d.ok) return ex.streamChunk(d.value);
      cancel();
      return ex.fail(502, `${name}: ${d.error}`);
    }
    case 'proxy_response_end':
      if (ex.state === 'waiting') return ex.fail(502, `${name}: the agent ended the response before sending a status`);
      return ex.streamEnd();
    case 'proxy_response_abort':
      return ex.fail(502, `${name}: ${agentErrorText(m.payload)}`);
    default:
      return;
  }
}

/**
 * A binary frame: a buffered response frame (§3.6) while waiting, a body chunk frame after a stream header
 * (negotiated `binary_chunks`, src/protocol/proxy-messages.ts). Returns the chunk bytes written (credit owed).
 */
export function applyAgentFrame(ex: ProxyExchange, frame: Uint8Array<ArrayBuffer>): number {
  const name = `cluster "${ex.info.clusterId}"`;
  if (ex.state === 'streaming') {
    const c = decodeRequestBodyFrame(frame);
    if (!c.ok) {
      ex.fail(502, `${name}: ${c.error}`);
      return 0;
    }
    ex.streamChunk(c.value.body);
    return c.value.body.length;
  }
  const d = decodeFrameResponse(frame);
  if (d.ok) ex.respond(d.value);
  else ex.fail(502, `${name}: ${d.error}`);
  return 0;
}

/**
 * Credit is returned in steps of this size as chunks arrive, while the client keeps up (its response buffer holds at
 * most MAX_CLIENT_BUFFER). Small steps keep the agent's window (1 MiB, src/tunnel/credit-window.ts) from running dry,
 * so the window, and with it what small answers queue behind, can stay small (issue 14).
 */
const WINDOW_STEP = 256 * 1024;
/** Above this many bytes unwritten to the client, credit waits for its 'drain': a slow client slows only its own response. */
const MAX_CLIENT_BUFFER = 1 << 20;

/** Per-request flow control of binary chunks: `proxy_window` credit goes back once the client drained the bytes. */
export class ChunkCredit {
  #owed = 0;
  #waitingDrain = false;

  constructor(
    private readonly res: ServerResponse,
    /** Send `proxy_window {increment}` for this request. */
    private readonly grant: (bytes: number) => void,
    /** False once the request is over (no credit for finished requests). */
    private readonly live: () => boolean,
  ) {}

  add(bytes: number): void {
    this.#owed += bytes;
    this.#flush();
  }

  #flush(): void {
    if (this.#owed < WINDOW_STEP || this.#waitingDrain) return;
    if (this.res.writableLength > MAX_CLIENT_BUFFER) {
      this.#waitingDrain = true;
      this.res.once('drain', () => {
        this.#waitingDrain = false;
        this.#flush();
      });
      return;
    }
    if (!this.live()) return;
    this.grant(this.#owed);
    this.#owed = 0;
  }
}

export function agentErrorText(payload: Record<string, unknown>): string {
  return typeof payload.error === 'string' && payload.error ? withoutRuntimeHints(payload.error) : 'the agent reported an error without a message';
}
