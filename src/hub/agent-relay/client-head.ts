// The header fields of an answer for node's `writeHead`, in one pass over the agent's header map (issue 14: the
// sanitised copy, the client copy and the flattened copy were three objects and two lower-casings per name on
// every answer). Same result as `flat(clientHeaders(status, headers, body))` (src/protocol/response-decoders.ts):
// hop-by-hop and Connection-listed names dropped (Connection/Upgrade kept on a 101), Content-Length dropped (the
// caller sets the real one, or streams chunked), a gzip Content-Encoding dropped when the bytes are not gzip.
import { isGzip } from '../../protocol/binary-frame.ts';
import { connectionListed, HOP_BY_HOP, type HeaderMap } from '../../protocol/http-headers.ts';

export type NodeHeaders = Record<string, string | string[]>;

export function clientHead(status: number, h: HeaderMap, body?: Uint8Array): NodeHeaders {
  const listed = connectionListed(h);
  const out: NodeHeaders = {};
  for (const k in h) {
    const vs = h[k]!;
    const l = k.toLowerCase();
    if (!(status === 101 && (l === 'connection' || l === 'upgrade')) && (HOP_BY_HOP.has(l) || listed?.has(l))) continue;
    if (l === 'content-length') continue;
    if (l === 'content-encoding' && body && !isGzip(body) && vs.some((v) => v.toLowerCase().includes('gzip'))) continue;
    out[k] = vs.length === 1 ? vs[0]! : vs;
  }
  return out;
}
