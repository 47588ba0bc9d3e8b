// The gzip heuristic of buffered responses (protocol.md §3.7). Pure.

export const GZIP_MIN_BYTES = 1024;
export const BINARY_FRAME_MIN_BYTES = 10_240;

const NEVER = ['gzip', 'compress', 'zip', 'image/', 'video/', 'audio/'];
const TEXTUAL = ['text/', 'json', 'javascript', 'xml', 'html', 'yaml'];

/**
 * Compress iff the body is at least `minBytes`, its content type (first value, case-sensitive substring
 * match as upstream) is textual and not already compressed or media. A `Content-Encoding` other than
 * identity also rules it out: re-gzipping an encoded body would only burn CPU.
 */
export function shouldCompress(contentType: string | undefined, contentEncoding: string | undefined, size: number, minBytes = GZIP_MIN_BYTES): boolean {
  if (size < minBytes || !contentType) return false;
  if (contentEncoding && contentEncoding !== 'identity') return false;
  if (NEVER.some((n) => contentType.includes(n))) return false;
  return TEXTUAL.some((t) => contentType.includes(t));
}
