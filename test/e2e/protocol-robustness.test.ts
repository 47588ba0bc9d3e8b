// Every inbound type of protocol.md §2.6 is handled or answered; malformed input is logged and counted,
// never a crash (the worker keeps running, the session stays up, other traffic continues).
import { afterEach, describe, expect, test } from 'bun:test';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import { tempDir, testAgent, testHub } from '../support/hub-agent.ts';
import { waitFor } from '../support/wait.ts';
import { sendUntyped } from '../support/untyped-send.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const hub = await testHub();
  cleanups.push(() => hub.stop());
  const fromAgent: InboundMessage[] = [];
  hub.agents.tap((_id, m) => fromAgent.push(m));
  const agent = await testAgent(hub.url, tempDir());
  cleanups.push(() => agent.stop());
  await waitFor(async () => (await fetch(`${agent.url}/ready`)).status === 200, { what: 'agent ready' });
  const id = agent.status.snapshot().clusterId;
  const session = hub.agents.sessions.get(id)!;
  const metric = async (re: RegExp) => {
    const text = await (await fetch(`${agent.url}/metrics`)).text();
    const line = text.split('\n').find((l) => re.test(l));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  return { hub, agent, session, fromAgent, metric };
}

describe('inbound protocol robustness', () => {
  test('malformed JSON, wrong field types and a non-string timestamp are counted, not fatal', async () => {
    const { agent, session, fromAgent, metric } = await setup();
    session.sendRaw('{not json');
    session.sendRaw('[1,2,3]');
    session.sendRaw(JSON.stringify({ type: 5, payload: {} }));
    session.sendRaw(JSON.stringify({ type: 'ping', request_id: 42 }));
    session.sendRaw(JSON.stringify({ type: 'ping', payload: 'a string' }));
    session.sendRaw(JSON.stringify({ type: 'ping', request_id: 'ts-number', timestamp: 1732200000 }));
    session.sendRaw(JSON.stringify({ type: 'ping', request_id: 'ts-bad', timestamp: 'yesterday' }));
    session.sendRaw(JSON.stringify({ type: 'proxy_request', request_id: 'bad-proxy', payload: 7 }));
    // A valid message afterwards is still answered: the session survived all of the above.
    session.sendRaw(JSON.stringify({ type: 'ping', request_id: 'after', timestamp: '2026-11-21T10:00:00.123456789Z' }));
    await waitFor(() => fromAgent.some((m) => m.type === 'pong' && m.requestId === 'after'), { what: 'pong after garbage' });
    expect(fromAgent.some((m) => m.requestId === 'ts-number' || m.requestId === 'ts-bad')).toBe(false);
    // P1: a malformed proxy_request with a known id gets a proxy_error.
    expect(fromAgent.some((m) => m.type === 'proxy_error' && m.requestId === 'bad-proxy')).toBe(true);
    // Worker metrics arrive in batches: wait for the last of them.
    await waitFor(async () => (await metric(/pipeops_protocol_errors_total\{reason="invalid_timestamp"\}/)) === 2, { what: 'metrics flushed' });
    expect(await metric(/pipeops_protocol_errors_total\{reason="invalid_json"\}/)).toBe(1);
    expect(await metric(/pipeops_protocol_errors_total\{reason="not_an_object"\}/)).toBe(1);
    expect(await metric(/pipeops_protocol_errors_total\{reason="invalid_envelope"\}/)).toBe(4);
    expect(await metric(/pipeops_protocol_errors_total\{reason="invalid_timestamp"\}/)).toBe(2);
    const snap = agent.status.snapshot();
    expect(snap.workers.tunnel?.alive).toBe(true);
    expect(snap.workers.tunnel?.restarts).toBe(0);
    expect(snap.connection.state).toBe('connected');
  });

  test('unknown types get one protocol_fallback per type (as upstream); session types are handled', async () => {
    const { session, fromAgent } = await setup();
    sendUntyped(session, 'made_up_type', { x: 1 }, 'u1');
    sendUntyped(session, 'another_unknown', {}, 'u2');
    sendUntyped(session, 'ping', null, 'p1');
    sendUntyped(session, 'pong', {});
    sendUntyped(session, 'heartbeat_ack', {});
    sendUntyped(session, 'register_in_progress', {});
    sendUntyped(session, 'register_success', { cluster_id: 'stray' }, 'no-such-registration');
    sendUntyped(session, 'gateway_hello', { use_yamux: true });
    sendUntyped(session, 'error', { error: 'something unrelated went wrong' });
    sendUntyped(session, 'tcp_tunnel_start', { tunnel_id: 't', gateway_port: 1 }, 'tcp1');
    sendUntyped(session, 'udp_tunnel_data', { tunnel_id: 't', data: 'AA==' });
    sendUntyped(session, 'ping', null, 'final');
    await waitFor(() => fromAgent.some((m) => m.type === 'pong' && m.requestId === 'final'), { what: 'final pong' });
    const fallbacks = fromAgent.filter((m) => m.type === 'protocol_fallback');
    expect(fallbacks.map((f) => f.payload.unknown_type)).toEqual(['made_up_type', 'another_unknown']);
    expect(fallbacks[0]!.payload.original_request_id).toBe('u1');
    expect(fallbacks[0]!.payload.supported_types).toContain('proxy_request');
    expect(fromAgent.some((m) => m.type === 'pong' && m.requestId === 'p1')).toBe(true);
    // T1: tunnels disabled → an answer, not a crash.
    const close = fromAgent.find((m) => m.type === 'tcp_tunnel_close' && m.requestId === 'tcp1');
    expect(close?.payload.reason).toBe('tunnels_disabled');
    // Nothing else was mistaken for unknown.
    expect(fromAgent.filter((m) => m.type === 'protocol_fallback').length).toBe(2);
  });
});
