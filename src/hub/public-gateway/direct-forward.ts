// Direct mode: a public cluster's route is served by its load balancer (`public_endpoint`), not through the
// tunnel. HTTP (HTTPS for port 443) with the client's Host and X-Forwarded-*, bodies streamed both ways. The
// caller resolved and checked the endpoint (routes/endpoint-resolve.ts): we connect to that address only.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Duplex } from 'node:stream';
import { headersToMap, mapToHeaders, sanitizeResponseHeaders, type HeaderMap } from '../../protocol/http-headers.ts';
import { requestHead } from '../../protocol/upgrade-head.ts';
import { backendErrorText } from '../runtime-error-text.ts';

export interface DirectOutcome {
  status: number;
  bytes: number;
  error?: string;
}

/** Where the checked endpoint is: its name (for TLS) and the address it resolved to (what we connect to). */
export interface DirectAddress {
  host: string;
  port: number;
  address: string;
}

export function endpointUrl(ep: DirectAddress, pathAndQuery: string): string {
  const a = ep.address.includes(':') ? `[${ep.address}]` : ep.address;
  return `${ep.port === 443 ? 'https' : 'http'}://${a}:${ep.port}${pathAndQuery}`;
}

/** Forward one request; answers 502/504 itself when the backend fails before its status. */
export async function forwardDirect(
  req: IncomingMessage,
  res: ServerResponse,
  t: { endpoint: string; connect: DirectAddress; pathAndQuery: string; headers: HeaderMap; hasBody: boolean; timeoutMs: number },
  fail: (res: ServerResponse, code: number, reason: string) => void,
): Promise<DirectOutcome> {
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort(new Error('client disconnected'));
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort(new Error('timeout'));
  }, t.timeoutMs);
  let up: Response;
  try {
    up = await fetch(endpointUrl(t.connect, t.pathAndQuery), {
      method: req.method,
      headers: mapToHeaders(t.headers),
      body: t.hasBody ? (Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>) : undefined,
      duplex: 'half',
      redirect: 'manual',
      decompress: false,
      signal: abort.signal,
      // The certificate is checked against the endpoint's name, not the address we pinned.
      ...(t.connect.port === 443 ? { tls: { serverName: t.connect.host } } : {}),
    } as RequestInit);
  } catch (e) {
    clearTimeout(timer);
    const reason = timedOut ? `backend ${t.endpoint} did not answer within ${t.timeoutMs} ms` : `backend ${t.endpoint} failed: ${backendErrorText(e)}`;
    const code = timedOut ? 504 : 502;
    if (!res.headersSent && !res.destroyed) fail(res, code, reason);
    return { status: code, bytes: 0, error: reason };
  }
  clearTimeout(timer);
  const headers = sanitizeResponseHeaders(up.status, headersToMap(up.headers)) ?? {};
  res.writeHead(up.status, headers);
  let bytes = 0;
  try {
    if (up.body && req.method !== 'HEAD') {
      for await (const chunk of up.body) {
        bytes += chunk.length;
        if (!res.write(chunk)) await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
        if (res.destroyed) throw new Error('client disconnected');
      }
    }
    res.end();
    return { status: up.status, bytes };
  } catch (e) {
    // Mid-body: the client must see a broken response, never a truncated success.
    res.destroy();
    return { status: up.status, bytes, error: backendErrorText(e) };
  }
}

/** Direct-mode WebSocket (any upgrade): replay the request head to the endpoint and pipe the bytes. */
export function relayDirectUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, t: { endpoint: string; connect: DirectAddress; pathAndQuery: string; headers: HeaderMap; host: string }, onError: (reason: string) => void): void {
  const backend: Socket = connect({ host: t.connect.address, port: t.connect.port });
  backend.setNoDelay(true);
  let connected = false;
  backend.once('connect', () => {
    connected = true;
    backend.write(requestHead(req.method ?? 'GET', t.pathAndQuery, t.host, t.headers));
    if (head.length) backend.write(head);
    backend.pipe(socket);
    socket.pipe(backend);
  });
  backend.on('error', (e) => {
    if (!connected) onError(`backend ${t.endpoint} failed: ${backendErrorText(e)}`);
    else socket.destroy();
  });
  socket.on('error', () => backend.destroy());
  socket.on('close', () => backend.destroy());
  backend.on('close', () => socket.destroy());
}
