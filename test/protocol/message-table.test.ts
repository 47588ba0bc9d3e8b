// The one table of message types (src/protocol/message-table.ts): the generated doc is fresh, the advertised list
// is upstream's, and the typed send side refuses misspelt types and fields (checked by `npm run check`, since an
// unused ts-expect-error directive is itself a compile error).
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeEnvelope } from '../../src/protocol/envelope.ts';
import { renderMessageDocs } from '../../src/protocol/message-docs.ts';
import { AGENT_INBOUND_TYPES, AGENT_TO_HUB, HUB_TO_AGENT, isAgentToHubType, isAnswerType, isHubToAgentType, isRelayType, SUPPORTED_INBOUND_TYPES } from '../../src/protocol/message-table.ts';
import { type AgentToHub, encodeMessage, type HubToAgent } from '../../src/protocol/wire-messages.ts';

describe('message table', () => {
  test('docs/protocol-messages.md is up to date (run: npm run docs)', () => {
    const committed = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'protocol-messages.md'), 'utf8');
    expect(committed).toBe(renderMessageDocs());
  });

  test("supported_types is upstream's list in upstream's order (protocol.md §2.5.8)", () => {
    expect([...SUPPORTED_INBOUND_TYPES]).toEqual([
      'register_success',
      'register_in_progress',
      'heartbeat_ack',
      'pong',
      'ping',
      'proxy_request',
      'proxy_request_chunk',
      'proxy_request_stream_end',
      'proxy_cancel',
      'proxy_stream_data',
      'proxy_websocket_start',
      'proxy_websocket_data',
      'proxy_websocket_close',
      'ws_start',
      'ws_data',
      'ws_close',
      'error',
    ]);
  });

  test("every type of upstream's dispatch table (§2.6) is known to the agent; our extensions too", () => {
    const upstream = [...SUPPORTED_INBOUND_TYPES, 'gateway_hello', 'tcp_tunnel_start', 'tcp_tunnel_data', 'tcp_tunnel_close', 'udp_tunnel_data'];
    for (const t of upstream) expect(AGENT_INBOUND_TYPES.has(t), t).toBe(true);
    expect(AGENT_INBOUND_TYPES.has('proxy_window')).toBe(true);
    expect(AGENT_INBOUND_TYPES.has('frame_batches')).toBe(true);
    expect(AGENT_INBOUND_TYPES.size).toBe(upstream.length + 2);
  });

  test('an alias is handled like the type it names', () => {
    const aliases = Object.entries(HUB_TO_AGENT).filter(([, i]) => 'aliasOf' in i);
    expect(aliases.map(([t]) => t).sort()).toEqual(['ws_close', 'ws_data', 'ws_start']);
    for (const [t, i] of aliases) {
      const target = HUB_TO_AGENT[(i as { aliasOf: keyof typeof HUB_TO_AGENT }).aliasOf];
      expect(i.agent, t).toBe(target.agent);
      expect(i.spec, t).toBe(target.spec);
    }
  });

  test('the answers to a proxy_request (§3.5) are the six the hub applies to its exchange', () => {
    expect(Object.keys(AGENT_TO_HUB).filter(isAnswerType).sort()).toEqual(['proxy_error', 'proxy_response', 'proxy_response_abort', 'proxy_response_chunk', 'proxy_response_end', 'proxy_response_header']);
    expect(isAnswerType('proxy_websocket_data')).toBe(false);
  });

  test('lookups are own keys only: `constructor`, `__proto__` and `toString` are not types', () => {
    for (const t of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(isHubToAgentType(t)).toBe(false);
      expect(isAgentToHubType(t)).toBe(false);
      expect(isRelayType(t)).toBe(false);
    }
    expect(isRelayType('proxy_request')).toBe(true);
    expect(isRelayType('ping')).toBe(false);
    expect(isAgentToHubType('proxy_response')).toBe(true);
    expect(Object.keys(AGENT_TO_HUB)).toContain('backpressure');
  });

  test('property: encodeMessage → decodeEnvelope keeps type, request id and payload', () => {
    const msg = fc.record({
      requestId: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
      increment: fc.integer({ min: 1, max: 2 ** 31 }),
      error: fc.string({ maxLength: 40 }),
    });
    fc.assert(
      fc.property(msg, ({ requestId, increment, error }) => {
        const w: HubToAgent = { type: 'proxy_window', payload: { increment }, requestId };
        const a: AgentToHub = { type: 'proxy_error', payload: { error }, requestId };
        for (const m of [w, a]) {
          const d = decodeEnvelope(encodeMessage(m));
          expect(d.ok).toBe(true);
          if (d.ok) expect(d.message).toEqual({ type: m.type, requestId, payload: m.payload as Record<string, unknown> });
        }
      }),
      { seed: 17, numRuns: 200 },
    );
  });

  test('the send side is typed: misspelt types and fields do not compile (npm run check)', () => {
    const sent: (HubToAgent | AgentToHub)[] = [];
    const toAgent = (m: HubToAgent) => sent.push(m);
    const toHub = (m: AgentToHub) => sent.push(m);
    toAgent({ type: 'proxy_window', payload: { increment: 1 }, requestId: 'r' });
    // @ts-expect-error misspelt field
    toAgent({ type: 'proxy_window', payload: { incremnt: 1 }, requestId: 'r' });
    // @ts-expect-error misspelt type
    toAgent({ type: 'proxy_windo', payload: { increment: 1 } });
    // @ts-expect-error a type the agent sends, not the hub
    toAgent({ type: 'proxy_response', payload: { status: 200, headers: null } });
    toHub({ type: 'proxy_response_abort', payload: { error: 'x' }, requestId: 'r' });
    // @ts-expect-error misspelt field
    toHub({ type: 'proxy_response_abort', payload: { eror: 'x' }, requestId: 'r' });
    // @ts-expect-error wrong field type
    toHub({ type: 'proxy_response', payload: { status: '200', headers: null } });
    expect(sent.map((m) => m.type)).toContain('proxy_response_abort');
  });
});
