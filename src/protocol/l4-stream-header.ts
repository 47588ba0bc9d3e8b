// The header at the start of every L4 yamux stream (gateway → agent, protocol.md §5.3) and the length-prefixed
// UDP datagram framing of deviation T2. Pure codecs; the agent validates targets as strictly as the HTTP service
// proxy (deviation T3) before dialing anything.
import { validName } from '../tunnel/routing.ts';

export const STREAM_HEADER_VERSION = 1;
export const L4Protocol = { tcp: 1, udp: 2 } as const;

export interface StreamHeader {
  version: number;
  protocol: 'tcp' | 'udp';
  serviceName: string;
  serviceNamespace: string;
  servicePort: number;
  tunnelId: string;
}

/** Longest tunnel id accepted (upstream ids are `<proto>-<cluster uuid>-<gateway>-<port>`, well below this). */
export const MAX_TUNNEL_ID_BYTES = 512;

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function encodeStreamHeader(h: Omit<StreamHeader, 'version'> & { version?: number }): Uint8Array<ArrayBuffer> {
  const parts = [h.serviceName, h.serviceNamespace, h.tunnelId].map((s) => enc.encode(s));
  for (const p of parts) if (p.length > 0xffff) throw new RangeError('stream header field longer than 65535 bytes');
  const out = new Uint8Array(4 + parts.reduce((n, p) => n + 2 + p.length, 0));
  const v = new DataView(out.buffer);
  v.setUint8(0, h.version ?? STREAM_HEADER_VERSION);
  v.setUint8(1, L4Protocol[h.protocol]);
  v.setUint16(2, h.servicePort);
  let o = 4;
  for (const p of parts) {
    v.setUint16(o, p.length);
    out.set(p, o + 2);
    o += 2 + p.length;
  }
  return out;
}

export type HeaderDecode = { kind: 'partial' } | { kind: 'ok'; header: StreamHeader; rest: Uint8Array } | { kind: 'error'; error: string };

/**
 * Decode a stream header from the bytes received so far. `partial`: wait for more; `error`: close the stream.
 * Lengths are checked as soon as they arrive, so a bad header never makes the agent buffer more than it needs.
 */
export function decodeStreamHeader(buf: Uint8Array): HeaderDecode {
  if (buf.length < 4) return { kind: 'partial' };
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const version = v.getUint8(0);
  // Upstream treats every protocol byte other than 2 as TCP (§5.3); so do we.
  const protocol = v.getUint8(1) === L4Protocol.udp ? 'udp' : 'tcp';
  const servicePort = v.getUint16(2);
  const fields: string[] = [];
  const limits = [253, 253, MAX_TUNNEL_ID_BYTES];
  const names = ['service name', 'service namespace', 'tunnel id'];
  let o = 4;
  for (let i = 0; i < 3; i++) {
    if (buf.length < o + 2) return { kind: 'partial' };
    const n = v.getUint16(o);
    if (n > limits[i]!) return { kind: 'error', error: `${names[i]} is ${n} bytes (at most ${limits[i]})` };
    if (buf.length < o + 2 + n) return { kind: 'partial' };
    try {
      fields.push(dec.decode(buf.subarray(o + 2, o + 2 + n)));
    } catch {
      return { kind: 'error', error: `${names[i]} is not UTF-8` };
    }
    o += 2 + n;
  }
  const [serviceName, serviceNamespace, tunnelId] = fields as [string, string, string];
  const header: StreamHeader = { version, protocol, serviceName, serviceNamespace, servicePort, tunnelId };
  const bad = checkStreamTarget(header);
  if (bad) return { kind: 'error', error: bad };
  return { kind: 'ok', header, rest: buf.subarray(o) };
}

/** T3: the same rules as the HTTP service proxy (DNS-label-ish names, port 1–65535). */
export function checkStreamTarget(h: Pick<StreamHeader, 'serviceName' | 'serviceNamespace' | 'servicePort'>): string | null {
  if (!validName(h.serviceName)) return `invalid service name ${JSON.stringify(h.serviceName)}`;
  if (!validName(h.serviceNamespace)) return `invalid service namespace ${JSON.stringify(h.serviceNamespace)}`;
  if (h.servicePort < 1 || h.servicePort > 65535) return `invalid service port ${h.servicePort}`;
  return null;
}

// ---- T2: length-prefixed datagrams ([u16 length][datagram], negotiated in gateway_hello) ----

export const MAX_DATAGRAM_BYTES = 0xffff;

export function encodeDatagram(d: Uint8Array): Uint8Array<ArrayBuffer> {
  if (d.length > MAX_DATAGRAM_BYTES) throw new RangeError(`datagram of ${d.length} bytes does not fit a 16-bit length`);
  const out = new Uint8Array(2 + d.length);
  out[0] = d.length >> 8;
  out[1] = d.length & 0xff;
  out.set(d, 2);
  return out;
}

/** Reassembles length-prefixed datagrams from an arbitrarily chunked byte stream. */
export class DatagramReader {
  #pending: Uint8Array = new Uint8Array(0);

  /** Every complete datagram in `chunk` (with what was pending), in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    let buf = chunk;
    if (this.#pending.length) {
      buf = new Uint8Array(this.#pending.length + chunk.length);
      buf.set(this.#pending);
      buf.set(chunk, this.#pending.length);
    }
    const out: Uint8Array[] = [];
    let o = 0;
    while (buf.length - o >= 2) {
      const n = (buf[o]! << 8) | buf[o + 1]!;
      if (buf.length - o - 2 < n) break;
      out.push(buf.subarray(o + 2, o + 2 + n));
      o += 2 + n;
    }
    this.#pending = o === buf.length ? new Uint8Array(0) : buf.slice(o);
    return out;
  }
}
