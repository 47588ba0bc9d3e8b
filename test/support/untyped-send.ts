// Tests that probe the agent with what our hub never sends (unknown types, null payloads, malformed fields) go
// around the hub's typed `send` (src/protocol/wire-messages.ts): the envelope is built here and sent as text.
import type { AgentSession } from '../../src/hub/agent-endpoint.ts';
import { encodeEnvelope } from '../../src/protocol/envelope.ts';

export function sendUntyped(s: Pick<AgentSession, 'sendRaw'>, type: string, payload: Record<string, unknown> | null, requestId?: string): void {
  s.sendRaw(encodeEnvelope(type, payload, requestId));
}
