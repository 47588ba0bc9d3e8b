// The JSON envelope every control message travels in, both directions (protocol.md §2.3).
// Decoding follows upstream's rules so a control plane sees the same acceptance, but every rejection is a
// value with a reason (the caller logs and counts it) instead of a silent drop.
import { z } from 'zod';

/**
 * `type`: message type. `request_id`: correlation or stream id, omitted when empty.
 * `payload`: object, or null when the sender has none. `timestamp`: RFC 3339 string; always present on our output.
 */
export const EnvelopeSchema = z.object({
  type: z.string().min(1),
  request_id: z.string().optional(),
  payload: z.record(z.string(), z.unknown()).nullable().optional(),
  timestamp: z.string().nullable().optional(),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;

/** An envelope after decoding: payload normalised to an object. */
export interface InboundMessage {
  type: string;
  requestId: string | undefined;
  payload: Record<string, unknown>;
  /** The envelope had no payload (absent or null); `payload` is then `{}`. A proxy_request needs one (P1). */
  payloadAbsent?: true;
}

export type DecodeResult =
  | { ok: true; message: InboundMessage }
  | { ok: false; reason: DecodeFailure; detail: string; requestId?: string; type?: string };

export type DecodeFailure = 'invalid_json' | 'not_an_object' | 'invalid_envelope' | 'invalid_timestamp';

// Go's time.Time JSON decoding accepts RFC 3339 with optional fractional seconds and a zone.
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * The last timestamp that passed RFC3339: a busy peer stamps many messages with the same millisecond (ours formats it
 * once per millisecond), and an equal string needs no second regex run (issue 14).
 */
let lastValidStamp: string | null = null;

export function decodeEnvelope(text: string): DecodeResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: 'invalid_json', detail: (e as Error).message };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { ok: false, reason: 'not_an_object', detail: 'message is not a JSON object' };
  const rec = raw as Record<string, unknown>;
  const requestId = typeof rec.request_id === 'string' ? rec.request_id : undefined;
  const type = typeof rec.type === 'string' ? rec.type : undefined;
  // Checked first so the reason is precise: upstream cannot decode a non-RFC-3339 timestamp at all.
  if ('timestamp' in rec && rec.timestamp !== null && rec.timestamp !== undefined && typeof rec.timestamp !== 'string')
    return { ok: false, reason: 'invalid_timestamp', detail: 'timestamp must be an RFC 3339 string', requestId, type };
  // Every message of the relay passes here (issue 14): the shape the schema accepts is checked by hand first, and
  // zod runs only for the rest, where it names what is wrong.
  const p = rec.payload;
  if (type && (rec.request_id === undefined || requestId !== undefined) && (p === undefined || p === null || (typeof p === 'object' && !Array.isArray(p)))) {
    const ts = rec.timestamp as string | null | undefined;
    if (ts !== undefined && ts !== null && ts !== lastValidStamp) {
      if (!RFC3339.test(ts)) return { ok: false, reason: 'invalid_timestamp', detail: `timestamp ${JSON.stringify(ts)} is not RFC 3339`, requestId, type };
      lastValidStamp = ts;
    }
    const message: InboundMessage = { type, requestId: requestId || undefined, payload: (p ?? {}) as Record<string, unknown> };
    if (p === undefined || p === null) message.payloadAbsent = true;
    return { ok: true, message };
  }
  const parsed = EnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'envelope';
    return { ok: false, reason: 'invalid_envelope', detail: `${where}: ${issue?.message ?? 'invalid'}`, requestId, type };
  }
  const ts = parsed.data.timestamp;
  // Upstream decodes `timestamp` into a time value: present-but-not-RFC-3339 makes the message undecodable.
  if (ts !== undefined && ts !== null && !RFC3339.test(ts))
    return { ok: false, reason: 'invalid_timestamp', detail: `timestamp ${JSON.stringify(ts)} is not RFC 3339`, requestId, type };
  // The payload is the object JSON.parse built (validated above), not zod's rebuilt copy: rebuilding by
  // assignment turns a key named `__proto__` into the object's prototype instead of keeping it as data.
  const payload = (rec.payload ?? {}) as Record<string, unknown>;
  const message: InboundMessage = { type: parsed.data.type, requestId: parsed.data.request_id || undefined, payload };
  if (rec.payload === undefined || rec.payload === null) message.payloadAbsent = true;
  return { ok: true, message };
}

/**
 * Legacy JSON-in-binary (§2.3): without yamux, a binary WebSocket message that nobody awaits as a request body
 * carries a JSON envelope. Returns its text when it looks like one (first non-blank byte `{`), else null.
 */
export function legacyJsonText(bytes: Uint8Array): string | null {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  if (bytes[i] !== 0x7b) return null;
  return new TextDecoder().decode(bytes);
}

/** Serialise an outbound message. `request_id` is omitted when empty, like upstream's `omitempty`. */
export function encodeEnvelope(type: string, payload: Record<string, unknown> | null, requestId?: string, now?: Date): string {
  const env: Envelope = { type };
  if (requestId) env.request_id = requestId;
  env.payload = payload;
  env.timestamp = now ? now.toISOString() : isoNow();
  return JSON.stringify(env);
}

/** The current time in RFC 3339, formatted once per millisecond: a busy relay stamps thousands of messages a second. */
let stampMs = -1;
let stamp = '';
export function isoNow(): string {
  const ms = Date.now();
  if (ms !== stampMs) {
    stampMs = ms;
    stamp = new Date(ms).toISOString();
  }
  return stamp;
}
