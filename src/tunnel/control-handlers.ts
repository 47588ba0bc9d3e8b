// Session-level control messages (protocol.md §2.5–2.7, §5.1): one small handler per type, and the dispatch that
// counts every inbound message and sends what is not session-level to the relays (or answers protocol_fallback).
import type { Logger } from '../log/logger.ts';
import type { MetricUpdate } from '../threads/metric-update.ts';
import {
  ErrorPayloadSchema,
  GatewayHelloSchema,
  RegisterSuccessSchema,
  needsReregistration,
  type RegisterSuccess,
} from '../protocol/control-messages.ts';
import type { InboundMessage } from '../protocol/envelope.ts';
import { AGENT_INBOUND_TYPES, type SessionType, SUPPORTED_INBOUND_TYPES } from '../protocol/message-table.ts';
import type { ProtocolFallbackPayload } from '../protocol/wire-messages.ts';
import type { SessionConnection } from './envelope-transport.ts';
import type { RegistrationWaiter } from './registration-waiter.ts';
import { FatalSessionError } from './session-errors.ts';
import type { GatewayHello } from './transport.ts';

/** What a control handler may touch: one socket's connection and registration, and the session's decisions. */
export interface ControlContext {
  conn: SessionConnection;
  log: Logger;
  metric(u: MetricUpdate): void;
  registration: RegistrationWaiter<RegisterSuccess>;
  /** The control plane does not know this cluster: pending registrations fail and the socket closes to register anew. */
  reregister(detail: string): void;
  /** A gateway offered (or declined) yamux. */
  gatewayHello(hello: GatewayHello): void;
  /** The control plane accepts frame batches on this socket (src/protocol/frame-batch.ts). */
  frameBatches(): void;
  /** Not a session message: the relays' turn. False if they do not know the type either. */
  other(m: InboundMessage): boolean;
  /** Unknown types already answered with protocol_fallback on this session (upstream: one answer per type). */
  fallbackSent: Set<string>;
}

type ControlHandler = (m: InboundMessage, ctx: ControlContext) => void;

function onPing(m: InboundMessage, ctx: ControlContext): void {
  ctx.conn.send({ type: 'pong', payload: { timestamp: new Date().toISOString() }, requestId: m.requestId });
}

function onQuietAck(m: InboundMessage, ctx: ControlContext): void {
  ctx.log.debug({ type: m.type }, 'control message');
}

function onRegisterSuccess(m: InboundMessage, ctx: ControlContext): void {
  const p = RegisterSuccessSchema.safeParse(m.payload);
  const result = p.success
    ? p.data
    : new FatalSessionError(
        'invalid_register_success',
        `control plane sent an invalid register_success: ${p.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ')}`,
      );
  if (!ctx.registration.settle(m.requestId, result)) ctx.log.debug({ request_id: m.requestId }, 'register_success for no pending registration; ignored');
}

function onRegisterInProgress(_m: InboundMessage, ctx: ControlContext): void {
  ctx.registration.extendAll();
  ctx.log.info('control plane reports registration in progress; waiting longer');
}

function onError(m: InboundMessage, ctx: ControlContext): void {
  const p = ErrorPayloadSchema.safeParse(m.payload);
  const text = (p.success ? (p.data.error ?? p.data.message) : undefined) ?? JSON.stringify(m.payload);
  ctx.log.warn({ error: text, request_id: m.requestId }, 'control plane reported an error');
  if (needsReregistration(text)) ctx.reregister(text);
  else if (ctx.registration.size && /unauthori[sz]ed|forbidden|invalid token/i.test(text))
    ctx.registration.rejectAll(new FatalSessionError('registration_rejected', `the control plane rejected registration: ${text}`));
}

function onGatewayHello(m: InboundMessage, ctx: ControlContext): void {
  const p = GatewayHelloSchema.safeParse(m.payload);
  if (p.success) ctx.gatewayHello(p.data);
}

function onFrameBatches(_m: InboundMessage, ctx: ControlContext): void {
  ctx.frameBatches();
}

/** An unknown type (neither session nor relay): counted, logged, and answered once per type with protocol_fallback. */
function onUnknown(m: InboundMessage, ctx: ControlContext): void {
  ctx.metric({ name: 'pipeops_protocol_errors_total', op: 'inc', labels: { reason: 'unknown_type' } });
  ctx.log.warn({ type: m.type, request_id: m.requestId }, 'unknown control message type');
  if (ctx.fallbackSent.has(m.type) || ctx.fallbackSent.size >= MAX_FALLBACK_TYPES) return;
  ctx.fallbackSent.add(m.type);
  const payload: ProtocolFallbackPayload = {
    agent_version: 'pipeops-k8-agent',
    unknown_type: m.type,
    supported_types: [...SUPPORTED_INBOUND_TYPES],
    fallback_mode: 'legacy_proxy',
    protocol_version: '1.0',
    timestamp: new Date().toISOString(),
  };
  if (m.requestId) payload.original_request_id = m.requestId;
  ctx.conn.send({ type: 'protocol_fallback', payload });
}

/** One handler per type the message table gives the session (`agent: 'session'`): a missing one does not compile. */
const SESSION_HANDLERS: Record<SessionType, ControlHandler> = {
  ping: onPing,
  pong: onQuietAck,
  heartbeat_ack: onQuietAck,
  register_success: onRegisterSuccess,
  register_in_progress: onRegisterInProgress,
  error: onError,
  gateway_hello: onGatewayHello,
  frame_batches: onFrameBatches,
};

/** A Map, so a type named `constructor` or `__proto__` finds nothing. */
const CONTROL_HANDLERS = new Map<string, ControlHandler>(Object.entries(SESSION_HANDLERS));

/**
 * The counter's update per inbound type, labels included, made once (every message passes here: no object per
 * message, and the metric batch finds the same labels at once, issue 14). Bounded: unknown types share `other`.
 * Never mutated (MetricBatch.add and the main thread only read an update).
 */
const INBOUND_COUNTS = new Map<string, MetricUpdate>();
function inboundCount(type: string): MetricUpdate {
  const known = AGENT_INBOUND_TYPES.has(type) ? type : 'other';
  let u = INBOUND_COUNTS.get(known);
  if (!u) INBOUND_COUNTS.set(known, (u = { name: 'pipeops_tunnel_messages_total', op: 'inc', labels: { direction: 'in', type: known } }));
  return u;
}

/** One decoded inbound envelope: count it, then the session's handler, else the relays, else protocol_fallback. */
export function dispatchControl(m: InboundMessage, ctx: ControlContext): void {
  ctx.metric(inboundCount(m.type));
  const handler = CONTROL_HANDLERS.get(m.type);
  if (handler) handler(m, ctx);
  else if (!ctx.other(m)) onUnknown(m, ctx);
}

/** Bound on remembered unknown types: a control plane inventing types cannot grow the set without limit. */
const MAX_FALLBACK_TYPES = 256;
