// The session's control messages, one handler each (control-handlers.ts), driven with a recording context.
import { describe, expect, test } from 'bun:test';
import type { MetricUpdate } from '../../src/threads/metric-update.ts';
import type { RegisterSuccess } from '../../src/protocol/control-messages.ts';
import type { InboundMessage } from '../../src/protocol/envelope.ts';
import { type ControlContext, dispatchControl } from '../../src/tunnel/control-handlers.ts';
import { RegistrationWaiter } from '../../src/tunnel/registration-waiter.ts';
import { FatalSessionError } from '../../src/tunnel/session-errors.ts';
import type { GatewayHello } from '../../src/tunnel/transport.ts';
import { quietLog } from '../support/hub-agent.ts';

function context(relayKnows: string[] = []) {
  const sent: { type: string; payload: Record<string, unknown> | null; id?: string }[] = [];
  const metrics: MetricUpdate[] = [];
  const reregistered: string[] = [];
  const hellos: GatewayHello[] = [];
  const relayed: string[] = [];
  let batches = 0;
  const ctx: ControlContext = {
    conn: { send: (m) => (sent.push({ type: m.type, payload: m.payload as Record<string, unknown> | null, id: m.requestId }), true), sendBinary: () => true, bufferedAmount: 0, open: true },
    log: quietLog,
    metric: (u) => metrics.push(u),
    registration: new RegistrationWaiter<RegisterSuccess>({ waitMs: 60_000, maxWaitMs: 120_000 }),
    reregister: (d) => void reregistered.push(d),
    gatewayHello: (h) => void hellos.push(h),
    frameBatches: () => void batches++,
    other: (m) => relayKnows.includes(m.type) && (relayed.push(m.type), true),
    fallbackSent: new Set(),
  };
  return { ctx, sent, metrics, reregistered, hellos, relayed, batches: () => batches };
}

const msg = (type: string, payload: Record<string, unknown> = {}, requestId?: string): InboundMessage => ({ type, requestId, payload });

describe('dispatchControl', () => {
  test('frame_batches turns batching on for the socket, and is neither relayed nor answered', () => {
    const c = context(['frame_batches']);
    dispatchControl(msg('frame_batches'), c.ctx);
    expect(c.batches()).toBe(1);
    expect(c.relayed).toEqual([]);
    expect(c.sent).toEqual([]);
  });

  test('ping is answered with pong under the same id; every message is counted by type', () => {
    const c = context();
    dispatchControl(msg('ping', {}, 'p1'), c.ctx);
    expect(c.sent.map((s) => [s.type, s.id])).toEqual([['pong', 'p1']]);
    expect(c.metrics[0]).toEqual({ name: 'pipeops_tunnel_messages_total', op: 'inc', labels: { direction: 'in', type: 'ping' } });
  });

  test('register_success settles its waiter; an invalid one fails it as fatal; one for nobody is ignored', async () => {
    const c = context();
    const ok = c.ctx.registration.wait('r1');
    dispatchControl(msg('register_success', { cluster_id: 'c-1' }, 'r1'), c.ctx);
    expect((await ok).cluster_id).toBe('c-1');
    const bad = c.ctx.registration.wait('r2');
    dispatchControl(msg('register_success', { cluster_id: 42 }, 'r2'), c.ctx);
    const err = await bad.catch((e: Error) => e);
    expect(err).toBeInstanceOf(FatalSessionError);
    expect((err as FatalSessionError).code).toBe('invalid_register_success');
    dispatchControl(msg('register_success', { cluster_id: 'c-1' }, 'nobody'), c.ctx);
    expect(c.sent).toEqual([]);
  });

  test('error: "cluster not found" re-registers; an auth error during registration is fatal; others are only logged', async () => {
    const c = context();
    dispatchControl(msg('error', { error: 'cluster not found' }), c.ctx);
    expect(c.reregistered).toEqual(['cluster not found']);
    const w = c.ctx.registration.wait('r1');
    dispatchControl(msg('error', { message: 'Unauthorized' }), c.ctx);
    expect(((await w.catch((e: Error) => e)) as FatalSessionError).code).toBe('registration_rejected');
    dispatchControl(msg('error', { error: 'something else' }), c.ctx);
    expect(c.reregistered).toEqual(['cluster not found']);
  });

  test('gateway_hello reaches the session parsed; a malformed one does not', () => {
    const c = context();
    dispatchControl(msg('gateway_hello', { use_yamux: true, yamux_config: { max_stream_window_size: 1024 } }), c.ctx);
    dispatchControl(msg('gateway_hello', { use_yamux: 'yes' }), c.ctx);
    expect(c.hellos).toEqual([{ use_yamux: true, yamux_config: { max_stream_window_size: 1024 } }]);
  });

  test('relay types go to the relays; unknown ones get protocol_fallback once per type, `constructor` and `__proto__` included', () => {
    const c = context(['proxy_request']);
    dispatchControl(msg('proxy_request', {}, 'x'), c.ctx);
    for (const t of ['mystery', 'mystery', 'constructor', '__proto__']) dispatchControl(msg(t, {}, `id-${t}`), c.ctx);
    expect(c.relayed).toEqual(['proxy_request']);
    const fallbacks = c.sent.filter((s) => s.type === 'protocol_fallback').map((s) => [s.payload?.unknown_type, s.payload?.original_request_id]);
    expect(fallbacks).toEqual([
      ['mystery', 'id-mystery'],
      ['constructor', 'id-constructor'],
      ['__proto__', 'id-__proto__'],
    ]);
    expect(c.metrics.filter((m) => m.name === 'pipeops_protocol_errors_total').length).toBe(4);
  });
});
