// In-process UDP helpers for L4 tests: an echo (node:dgram, one answer per datagram, so boundaries are exact) on a
// chosen loopback address, and a client that collects answers in order and waits for a count of them.
import dgram from 'node:dgram';

export interface UdpEcho {
  port: number;
  /** Datagrams received so far. */
  received(): number;
  /** Distinct source addresses (`host:port`) seen so far. */
  sources(): string[];
  stop(): Promise<void>;
}

export async function udpEchoOn(host = '127.0.0.1'): Promise<UdpEcho> {
  const sock = dgram.createSocket('udp4');
  let n = 0;
  const sources = new Set<string>();
  sock.on('message', (msg, rinfo) => {
    n++;
    sources.add(`${rinfo.address}:${rinfo.port}`);
    sock.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, host, r));
  return { port: sock.address().port, received: () => n, sources: () => [...sources], stop: () => new Promise<void>((r) => sock.close(() => r())) };
}

export interface UdpClient {
  port: number;
  send(d: Uint8Array, port: number, host?: string): void;
  /** The next `count` datagrams received (in arrival order); rejects after `timeoutMs`. */
  next(count: number, timeoutMs?: number): Promise<Buffer[]>;
  received(): number;
  close(): void;
}

export async function udpClient(host = '127.0.0.1'): Promise<UdpClient> {
  const sock = dgram.createSocket('udp4');
  const inbox: Buffer[] = [];
  let total = 0;
  let waiter: (() => void) | null = null;
  sock.on('message', (msg: Buffer) => {
    total++;
    inbox.push(Buffer.from(msg));
    waiter?.();
  });
  await new Promise<void>((r) => sock.bind(0, host, r));
  return {
    port: sock.address().port,
    send: (d, port, to = '127.0.0.1') => sock.send(d, port, to),
    next: (count, timeoutMs = 15_000) =>
      new Promise<Buffer[]>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = null;
          reject(new Error(`${inbox.length} of ${count} datagrams within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (inbox.length < count) return;
          clearTimeout(timer);
          waiter = null;
          resolve(inbox.splice(0, count));
        };
        waiter = check;
        check();
      }),
    received: () => total,
    close: () => sock.close(),
  };
}
