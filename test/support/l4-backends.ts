// Real L4 backends for tests and bench/l4.ts, all on loopback: a TCP echo server (node:net) that keeps half-close
// semantics, Debian's redis-server, and a UDP echo (socat). Each has a stop().
import { createHash } from 'node:crypto';
import net from 'node:net';
import { lineWatcher } from './wait.ts';

export interface Backend {
  port: number;
  stop(): Promise<void>;
}

/**
 * Echoes every byte; when the client half-closes, it ends its side after the echo (so the client sees every byte
 * and then EOF). `received` holds the sha256 of each finished connection's input.
 */
export async function tcpEcho(): Promise<Backend & { received: string[]; connections: () => number }> {
  const received: string[] = [];
  const socks = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    count++;
    socks.add(s);
    const h = createHash('sha256');
    s.on('data', (d) => {
      h.update(d);
      if (!s.write(d)) s.pause();
    });
    s.on('drain', () => s.resume());
    s.on('end', () => {
      received.push(h.digest('hex'));
      s.end();
    });
    s.on('error', () => {});
    s.on('close', () => socks.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    connections: () => count,
    stop: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        server.close(() => r());
      }),
  };
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Debian's redis-server on a free loopback port, nothing persisted. */
export async function redisServer(): Promise<Backend> {
  const port = await freePort();
  const p = Bun.spawn(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdout: 'pipe', stderr: 'pipe' });
  const out = lineWatcher(p.stdout);
  await out.next(/Ready to accept connections/, 15_000);
  return {
    port,
    stop: async () => {
      p.kill();
      await p.exited;
    },
  };
}

/** A UDP echo: socat answers each datagram with the same bytes, from the port it was sent to. */
export async function udpEcho(): Promise<Backend> {
  const port = await freePort();
  const p = Bun.spawn(['socat', '-d', '-d', '-b', '65536', `UDP4-RECVFROM:${port},bind=127.0.0.1,fork,reuseaddr`, 'SYSTEM:cat'], { stdout: 'ignore', stderr: 'pipe' });
  const err = lineWatcher(p.stderr);
  await err.next(/listening on|receiving on/i, 15_000);
  return {
    port,
    stop: async () => {
      p.kill();
      await p.exited;
    },
  };
}

/** Connect, send `payload`, half-close, collect everything until EOF; returns the sha256 of what came back. */
export function echoRoundTrip(port: number, payload: Uint8Array, host = '127.0.0.1'): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    const s = net.connect({ host, port, allowHalfOpen: true, noDelay: true }, () => {
      s.end(payload);
    });
    s.on('data', (d) => {
      h.update(d);
      bytes += d.length;
    });
    s.on('end', () => {
      s.end();
      resolve({ sha256: h.digest('hex'), bytes });
    });
    s.on('error', reject);
  });
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
