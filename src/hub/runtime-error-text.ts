// Error texts the hub puts into response bodies: what failed, in words a client can act on, without the runtime's
// advice to its own developer (Bun's fetch adds "For more information, pass `verbose: true` in the second
// argument to fetch()"). Applied to the hub's own backend errors and to agents' relayed ones. Pure.

const CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection closed unexpectedly',
  EPIPE: 'connection closed unexpectedly',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNABORTED: 'connection aborted',
};

const RUNTIME_HINTS = [/\s*For more information, pass `verbose: true` in the second argument to fetch\(\)\.?/g, /\s*Is the computer able to access the url\?/g];

/** A runtime's message without its hints, trimmed. */
export function withoutRuntimeHints(message: string): string {
  let out = message;
  for (const h of RUNTIME_HINTS) out = out.replace(h, '');
  return out.trim() || 'request failed';
}

/** What a failed connection or request to a backend was, from the thrown error (its `code` when it has one). */
export function backendErrorText(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? err.code : '';
  if (CODES[code]) return `${CODES[code]} (${code})`;
  if (/CERT|SELF_SIGNED|TLS|SSL/.test(code)) return `TLS handshake failed (${code})`;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  return withoutRuntimeHints(message);
}
