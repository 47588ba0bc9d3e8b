// The /ws dashboard protocol: origin policy and replies to client messages. Pure, so every branch is
// testable without a socket; routes/realtime.ts only moves strings in and out.
import type { AgentSnapshot } from './status.ts';

export interface WsEnvelope {
  type: string;
  timestamp: string;
  data: unknown;
}

/** Upstream policy: empty list or `*` allows all; a request without Origin (non-browser) is allowed. */
export function originAllowed(origin: string | undefined | null, allowed: readonly string[]): boolean {
  if (!origin) return true;
  if (allowed.length === 0 || allowed.includes('*')) return true;
  const o = origin.replace(/\/+$/, '').toLowerCase();
  return allowed.some((a) => a.replace(/\/+$/, '').toLowerCase() === o);
}

/**
 * CORS headers of the SSE event stream (issue 10 item 7). Upstream always sends `Access-Control-Allow-Origin: *`;
 * ours follows the /ws allow-list: `*` when it allows every origin, the caller's origin echoed (with
 * `Vary: Origin`) when it is listed, and nothing when it is not (the browser then refuses to read the stream).
 */
export function corsHeaders(origin: string | undefined | null, allowed: readonly string[]): Record<string, string> {
  if (allowed.length === 0 || allowed.includes('*')) return { 'Access-Control-Allow-Origin': '*' };
  if (origin && originAllowed(origin, allowed)) return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
  return { Vary: 'Origin' };
}

export function envelope(type: string, data: unknown, now: number): WsEnvelope {
  return { type, timestamp: new Date(now).toISOString(), data };
}

export function statusData(s: AgentSnapshot) {
  return { agent_id: s.agentId, status: s.connection.state, features: s.features };
}

/** The fuller picture for `get_status`. */
export function statusResponseData(s: AgentSnapshot, ready: boolean, now: number) {
  return {
    ...statusData(s),
    ready,
    registered: s.connection.registered,
    cluster_id: s.clusterId,
    cluster_name: s.clusterName,
    mode: s.connection.mode,
    uptime_seconds: Math.round((now - s.startedAt) / 1000),
    last_heartbeat: s.heartbeat.last === null ? null : new Date(s.heartbeat.last).toISOString(),
    workers: s.workers,
    gateway: s.gateway,
  };
}

export interface WsReplyContext {
  now: number;
  snapshot: () => AgentSnapshot;
  ready: () => boolean;
  metrics: () => unknown;
}

/** One reply per inbound frame. Bad input gets an `error` reply; the connection is never closed for it. */
export function replyTo(raw: string | ArrayBuffer, ctx: WsReplyContext): WsEnvelope {
  if (typeof raw !== 'string') return envelope('error', { message: 'binary frames are not supported; send JSON text' }, ctx.now);
  let msg: unknown;
  try {
    msg = JSON.parse(raw);
  } catch {
    return envelope('error', { message: 'malformed JSON' }, ctx.now);
  }
  const type = typeof msg === 'object' && msg !== null && 'type' in msg ? (msg as { type: unknown }).type : undefined;
  switch (type) {
    case 'ping':
      return envelope('pong', { timestamp: new Date(ctx.now).toISOString() }, ctx.now);
    case 'get_status':
      return envelope('status_response', statusResponseData(ctx.snapshot(), ctx.ready(), ctx.now), ctx.now);
    case 'get_metrics':
      return envelope('metrics_response', ctx.metrics(), ctx.now);
    default:
      return envelope(
        'error',
        { message: typeof type === 'string' ? `unknown message type: ${type.slice(0, 64)}` : 'message needs a string "type"' },
        ctx.now,
      );
  }
}
