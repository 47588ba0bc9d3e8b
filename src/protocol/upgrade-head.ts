// The HTTP/1.1 heads of a replayed upgrade (negotiated `raw_upgrade`, see stream-messages.ts): the request head the
// agent writes to its target (and the hub to a direct backend), and the response head read back. Pure.
import type { HeaderMap } from './http-headers.ts';

/**
 * The request head for an upgrade replay: `Host` is the given one, a client's `Host`/`Content-Length` are
 * dropped (the request has no body: `Content-Length: 0`), and a name or value with CR or LF is left out
 * rather than allowed to split the head.
 */
export function requestHead(method: string, pathAndQuery: string, hostHeader: string, headers: HeaderMap): string {
  const lines = [`${method} ${pathAndQuery} HTTP/1.1`, `Host: ${hostHeader}`];
  for (const [k, vs] of Object.entries(headers)) {
    if (k.toLowerCase() === 'host' || k.toLowerCase() === 'content-length') continue;
    for (const v of vs) if (!/[\r\n]/.test(k + v)) lines.push(`${k}: ${v}`);
  }
  return `${lines.join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
}

/** A response head without its final CRLFCRLF: status and headers (repeated names gathered), or null if no status line. */
export function parseResponseHead(head: string): { status: number; headers: HeaderMap } | null {
  const [statusLine, ...rest] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!m) return null;
  const headers: HeaderMap = {};
  for (const line of rest) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim();
    (headers[k] ??= []).push(line.slice(i + 1).trim());
  }
  return { status: Number(m[1]), headers };
}
