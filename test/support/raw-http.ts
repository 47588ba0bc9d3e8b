// One HTTP/1.1 request over a raw socket, with the request target sent byte for byte: fetch() and node:http
// normalise `/a/../b` before sending, which is exactly what path-handling tests must not let happen.
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

export function rawRequest(url: string, target: string, opts: { host: string; headers?: Record<string, string>; method?: string }): Promise<RawAnswer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port) });
    const parts: Buffer[] = [];
    s.on('connect', () => {
      const extra = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      s.write(`${opts.method ?? 'GET'} ${target} HTTP/1.1\r\nHost: ${opts.host}\r\n${extra}Connection: close\r\n\r\n`);
    });
    s.on('data', (c: Buffer) => parts.push(c));
    s.on('error', reject);
    s.on('close', () => {
      const text = Buffer.concat(parts).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      const head = end >= 0 ? text.slice(0, end) : text;
      const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (!m) return reject(new Error(`no HTTP status in ${JSON.stringify(text.slice(0, 200))}`));
      resolve({ status: Number(m[1]), head, body: end >= 0 ? text.slice(end + 4) : '' });
    });
  });
}
