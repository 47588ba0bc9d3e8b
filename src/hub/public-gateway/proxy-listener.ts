// The public gateway's plain listener when a TCP proxy in front of it (HAProxy `send-proxy-v2`) says whom each
// connection came from: on a connection from a trusted proxy a PROXY protocol header is read here before the HTTP
// server sees a byte; any other connection goes to the HTTP server untouched (a header there is garbage HTTP, so a
// client cannot claim an address). A trusted address that sends plain HTTP (a hub replica forwarding from the same
// address, a health check) is served as itself. Node's TLS server does not take handed-over sockets in Bun, so this
// is for the plain listener only.
import type http from 'node:http';
import net, { BlockList, isIP } from 'node:net';
import type { Logger } from '../../log/logger.ts';
import { canonicalAddress, parseCidr } from '../routes/endpoint-policy.ts';
import { looksLikeHeader, parseProxyHeader } from './proxy-protocol.ts';

/** How long a trusted proxy may take to send its header. */
const HEADER_TIMEOUT_MS = 5_000;

export function trustedProxies(cidrs: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const c of cidrs) {
    const p = parseCidr(c);
    if (!p) throw new Error(`gateway_proxy_protocol_from: ${JSON.stringify(c)} is not a CIDR`);
    list.addSubnet(p.address, p.prefix, p.family);
  }
  return (raw) => {
    const ip = canonicalAddress(raw);
    const v = isIP(ip);
    return v !== 0 && list.check(ip, v === 4 ? 'ipv4' : 'ipv6');
  };
}

/**
 * A net server in front of `inner`: `client(socket, address)` records the address a trusted proxy named before
 * the socket is handed over (LOCAL/UNKNOWN headers name none: the proxy's own address counts).
 */
export function proxyProtocolListener(inner: http.Server, trusted: (ip: string) => boolean, log: Logger, client: (s: net.Socket, address: string) => void): net.Server {
  return net.createServer((s) => {
    if (!trusted(s.remoteAddress ?? '')) {
      inner.emit('connection', s);
      return;
    }
    let got: Buffer = Buffer.alloc(0);
    const fail = (reason: string) => {
      log.warn({ remote: s.remoteAddress, err: reason }, 'public gateway: connection from a trusted proxy refused (PROXY protocol header)');
      const body = `400 Bad Request: ${reason}\n`;
      s.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    const timer = setTimeout(() => {
      s.off('data', onData);
      fail(`no PROXY protocol header within ${HEADER_TIMEOUT_MS} ms`);
    }, HEADER_TIMEOUT_MS);
    const onData = (d: Buffer) => {
      got = got.length ? Buffer.concat([got, d]) : d;
      const h = parseProxyHeader(got);
      if (h.kind === 'incomplete') return;
      clearTimeout(timer);
      s.off('data', onData);
      if (h.kind === 'error' && !looksLikeHeader(got)) {
        // Not a header at all: plain HTTP from the trusted address itself.
        s.pause();
        s.unshift(got);
        inner.emit('connection', s);
        s.resume();
        return;
      }
      if (h.kind === 'error') return fail(h.reason);
      s.pause();
      if (h.source) client(s, h.source);
      const rest = got.subarray(h.length);
      if (rest.length) s.unshift(rest);
      inner.emit('connection', s);
      s.resume();
    };
    s.on('data', onData);
    s.on('error', () => clearTimeout(timer));
    s.on('close', () => clearTimeout(timer));
  });
}
