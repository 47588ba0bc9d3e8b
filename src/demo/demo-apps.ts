// The demo's apps: small local HTTP servers standing in for the pods behind the sandbox's Services.
// They say which way a request came (through the ingress controller stand-in, i.e. the tunnel, or directly)
// and echo the request facts a user wants to see when trying the public gateway with curl.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { VIA } from '../sandbox/ingress-controller.ts';

export interface DemoApp {
  port: number;
  stop(): Promise<void>;
}

/** `label` names the way in when the request did not pass the ingress controller (direct mode). */
export async function startDemoApp(o: { directLabel: string }): Promise<DemoApp> {
  const server = http.createServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    const tunnel = String(req.headers.via ?? '').includes(VIA);
    const lines = [
      `Hello from ${host} (${tunnel ? 'through the tunnel' : o.directLabel})`,
      '',
      `${req.method} ${req.url}`,
      ...['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via', 'user-agent'].filter((h) => req.headers[h]).map((h) => `${h}: ${req.headers[h]}`),
      '',
    ];
    const body = lines.join('\n');
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
