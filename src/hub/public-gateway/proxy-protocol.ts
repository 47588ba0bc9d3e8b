// The PROXY protocol header (HAProxy's `send-proxy` / `send-proxy-v2`, versions 1 and 2) that a TCP load balancer
// puts in front of a connection to say whom it came from. The public gateway reads it only on connections from
// the proxies it trusts (`gateway_proxy_protocol_from`). Pure: bytes in, the client's address (or why not) out.
import { isIP } from 'node:net';

/** v2's fixed 12-byte signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** v1's longest line, CRLF included (the specification's bound). */
const V1_MAX = 107;
/** Our bound on v2's address block (addresses and TLVs); the format allows 64 KiB, HAProxy sends far less. */
const V2_MAX_BLOCK = 4096;

export type ProxyHeader =
  /** More bytes are needed. */
  | { kind: 'incomplete' }
  | { kind: 'error'; reason: string }
  /** `source`: the client's address; null for LOCAL/UNKNOWN (the proxy's own connection, e.g. a health check). */
  | { kind: 'ok'; source: string | null; length: number };

/** Parse the header at the start of `b` (what has arrived so far). */
export function parseProxyHeader(b: Uint8Array): ProxyHeader {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const sig = Math.min(buf.length, V2_SIGNATURE.length);
  if (sig > 0 && buf.subarray(0, sig).equals(V2_SIGNATURE.subarray(0, sig))) return sig < V2_SIGNATURE.length ? { kind: 'incomplete' } : parseV2(buf);
  const v1 = 'PROXY ';
  const head = buf.subarray(0, Math.min(buf.length, v1.length)).toString('latin1');
  if (!v1.startsWith(head)) return { kind: 'error', reason: 'the connection does not start with a PROXY protocol header' };
  return parseV1(buf);
}

/** Whether `b` starts as a PROXY header does (v1's `PROXY ` or v2's whole signature), however malformed the rest. */
export function looksLikeHeader(b: Uint8Array): boolean {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return buf.subarray(0, 6).toString('latin1') === 'PROXY ' || (buf.length >= V2_SIGNATURE.length && buf.subarray(0, V2_SIGNATURE.length).equals(V2_SIGNATURE));
}

function parseV1(buf: Buffer): ProxyHeader {
  const end = buf.subarray(0, V1_MAX).indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX ? { kind: 'error', reason: 'PROXY v1 line longer than 107 bytes' } : { kind: 'incomplete' };
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', source: null, length };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return { kind: 'error', reason: 'malformed PROXY v1 line' };
  const [, family, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const want = family === 'TCP4' ? 4 : 6;
  if (isIP(src) !== want || isIP(dst) !== want) return { kind: 'error', reason: `PROXY v1 addresses are not ${family}` };
  if (!port(sport) || !port(dport)) return { kind: 'error', reason: 'PROXY v1 port out of range' };
  return { kind: 'ok', source: src, length };
}

const port = (s: string) => /^(0|[1-9]\d{0,4})$/.test(s) && Number(s) <= 65535;

function parseV2(buf: Buffer): ProxyHeader {
  if (buf.length < 16) return { kind: 'incomplete' };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { kind: 'error', reason: `PROXY v2 header with version ${verCmd >> 4}` };
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return { kind: 'error', reason: `PROXY v2 header with command ${cmd}` };
  const famProto = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (len > V2_MAX_BLOCK) return { kind: 'error', reason: `PROXY v2 address block of ${len} bytes` };
  if (buf.length < 16 + len) return { kind: 'incomplete' };
  const length = 16 + len;
  // LOCAL: the proxy speaks for itself (health checks); the connection's own address counts.
  if (cmd === 0) return { kind: 'ok', source: null, length };
  const family = famProto >> 4;
  if (family === 1) {
    if (len < 12) return { kind: 'error', reason: 'PROXY v2 IPv4 block too short' };
    return { kind: 'ok', source: [...buf.subarray(16, 20)].join('.'), length };
  }
  if (family === 2) {
    if (len < 36) return { kind: 'error', reason: 'PROXY v2 IPv6 block too short' };
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(16 + 2 * i).toString(16));
    return { kind: 'ok', source: compactV6(words), length };
  }
  // AF_UNSPEC or AF_UNIX: no client IP to tell.
  return { kind: 'ok', source: null, length };
}

/** Eight hex words → the usual text form (longest run of zero words as `::`). */
function compactV6(words: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

/** A v1 line or a v2 header for `source` (tests; and what a proxy in front of us sends). */
export function encodeProxyHeader(version: 1 | 2, source: string, dest: string, sport: number, dport: number): Buffer {
  const v6 = isIP(source) === 6;
  if (version === 1) return Buffer.from(`PROXY ${v6 ? 'TCP6' : 'TCP4'} ${source} ${dest} ${sport} ${dport}\r\n`, 'latin1');
  const addr = v6 ? Buffer.concat([v6Bytes(source), v6Bytes(dest)]) : Buffer.from([...source.split('.'), ...dest.split('.')].map(Number));
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  const head = Buffer.from([0x21, v6 ? 0x21 : 0x11, 0, 0]);
  head.writeUInt16BE(addr.length + 4, 2);
  return Buffer.concat([V2_SIGNATURE, head, addr, ports]);
}

function v6Bytes(ip: string): Buffer {
  const [l, r] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  const words = r === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w || '0', 16), 2 * i));
  return out;
}
