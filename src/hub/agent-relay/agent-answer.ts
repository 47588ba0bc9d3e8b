// Applies an agent's answer messages (protocol.md §3.5, §3.6) to the ProxyExchange of the request they belong
// to (binary-chunk credit: src/protocol/flow-control.ts). Shared by the gateways that send `proxy_request`s
// (Kubernetes API gateway, public gateway): the caller finds the exchange by request id.
import { decodeIdFrame } from '../../protocol/binary-frame.ts';
import type { InboundMessage } from '../../protocol/envelope.ts';
import { type AnswerType, isAnswerType } from '../../protocol/message-table.ts';
import { withoutRuntimeHints } from '../runtime-error-text.ts';
import { agentErrorStatus } from '../kube-gateway/kube-status.ts';
import { decodeBufferedResponse, decodeFrameResponse, decodeStreamChunk, decodeStreamHeader } from '../../protocol/response-decoders.ts';
import type { ProxyExchange } from './proxy-exchange.ts';

/**
 * A JSON answer. `cancel` tells the agent to stop (sent when the answer is undecodable mid-exchange). Other types
 * are not for the exchange; every answer type of the message table has its case (a missing one does not compile).
 */
export function applyAgentMessage(ex: ProxyExchange, m: InboundMessage, cancel: () => void): void {
  if (!isAnswerType(m.type)) return;
  const type: AnswerType = m.type;
  const name = `cluster "${ex.info.clusterId}"`; // an error's prefix (answers are mostly binary frames)
  switch (type) {
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
    default: {
      const unhandled: never = type;
      return unhandled;
    }
  }
}

/**
 * A binary frame: a buffered response frame (§3.6) while waiting, a body chunk frame after a stream header
 * (negotiated `binary_chunks`, src/protocol/proxy-messages.ts). Returns the chunk bytes written (credit owed).
 */
export function applyAgentFrame(ex: ProxyExchange, frame: Uint8Array<ArrayBuffer>): number {
  if (ex.state === 'streaming') {
    const c = decodeIdFrame(frame);
    if (!c.ok) {
      ex.fail(502, `cluster "${ex.info.clusterId}": ${c.error}`);
      return 0;
    }
    ex.streamChunk(c.value.body);
    return c.value.body.length;
  }
  // The table found the exchange by the frame's id: not decoded a second time.
  const d = decodeFrameResponse(frame, ex.info.requestId);
  if (d.ok) ex.respond(d.value);
  else ex.fail(502, `cluster "${ex.info.clusterId}": ${d.error}`);
  return 0;
}

export function agentErrorText(payload: Record<string, unknown>): string {
  return typeof payload.error === 'string' && payload.error ? withoutRuntimeHints(payload.error) : 'the agent reported an error without a message';
}
