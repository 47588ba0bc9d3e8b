// `fetch` over node:http(s) for the requests Deno's own fetch cannot make as the relay needs them: Deno's fetch
// always decompresses (measured on 2.9.6: a gzip body arrives inflated with `content-encoding: gzip` still set),
// cannot skip certificate verification per request, and needs a special client to send a Host header. node:http
// passes bodies through untouched, takes TLS options per request and sends any Host, exactly like Bun's fetch with
// `decompress: false` and `tls`.
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { ClientTls, FetchInit } from '../types.ts';

/** Statuses whose response has no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export function nodeFetch(url: string | URL, init: FetchInit = {}): Promise<Response> {
  const u = new URL(String(url));
  const secure = u.protocol === 'https:';
  const method = (init.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((v, k) => {
    headers[k] = v;
  });
  const tls: ClientTls | undefined = init.tls;
  const signal = init.signal ?? undefined;
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new DOMException('aborted', 'AbortError'));
    const opts: https.RequestOptions = {
      method,
      headers,
      ...(signal ? { signal } : {}),
      ...(secure && tls
        ? { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized, ...(tls.serverName ? { servername: tls.serverName } : {}) }
        : {}),
    };
    const req = (secure ? https : http).request(u, opts, (res) => {
      const h = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
      const status = res.statusCode ?? 502;
      const body = NULL_BODY.has(status) || method === 'HEAD' ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
      if (!body) res.resume();
      resolve(new Response(body, { status: status < 200 ? 502 : status, statusText: res.statusMessage ?? '', headers: h }));
    });
    req.on('error', reject);
    const b = init.body;
    if (b === undefined || b === null) req.end();
    else if (typeof b === 'string' || b instanceof Uint8Array) req.end(b);
    else if (b instanceof ArrayBuffer) req.end(new Uint8Array(b));
    else if (b instanceof ReadableStream) Readable.fromWeb(b as never).on('error', (e) => req.destroy(e)).pipe(req);
    else {
      req.destroy();
      reject(new TypeError(`unsupported request body for the node:http fetch: ${Object.prototype.toString.call(b)}`));
    }
  });
}
