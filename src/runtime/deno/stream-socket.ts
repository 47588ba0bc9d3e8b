// node:net and node:tls behind the runtime's StreamSocket (src/runtime/types.ts): what Deno offers for the relay's
// HTTP/1.1 client (src/kube/http1.ts). Verification is node:tls's own (chain, and the name: SNI for a host name,
// the certificate's IP SANs for an address).
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { StreamConnectOptions, StreamSocket } from '../types.ts';

export function connectStream(o: StreamConnectOptions): StreamSocket {
  const t = o.tls;
  const s = t
    ? tls.connect({
        host: o.host,
        port: o.port,
        ...(t.ca ? { ca: t.ca } : {}),
        ...(t.cert ? { cert: t.cert } : {}),
        ...(t.key ? { key: t.key } : {}),
        rejectUnauthorized: t.rejectUnauthorized !== false,
        // SNI only for names (RFC 6066): an IP literal is checked against the certificate's IP SANs.
        ...(t.serverName ? { servername: t.serverName } : net.isIP(o.host) ? {} : { servername: o.host }),
        ALPNProtocols: ['http/1.1'],
      })
    : net.connect({ host: o.host, port: o.port });
  s.setNoDelay(true);
  const timer = setTimeout(() => s.destroy(o.timeoutError()), o.timeoutMs);
  s.once(t ? 'secureConnect' : 'connect', () => clearTimeout(timer));
  s.once('close', () => clearTimeout(timer));
  return s as unknown as StreamSocket;
}
