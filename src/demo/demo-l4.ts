// The demo's L4 services (issue 13 item 8): the pods behind `demo/redis:6379` (Debian's redis-server when it is
// installed, else a TCP echo) and `demo/udp-echo:7` (a UDP echo), exposed through the hub's L4 listeners and
// reached by the agent over yamux. Each answers what a client sends it.
import dgram from 'node:dgram';
import net from 'node:net';

export interface DemoL4Service {
  name: string;
  protocol: 'tcp' | 'udp';
  service: string;
  port: number;
  /** Where the "pod" listens on loopback. */
  backendPort: number;
  /** How a person reaches it, shown with the hub address. */
  describe: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** Debian's redis-server if it is on PATH (nothing persisted), else a TCP echo. */
export async function startDemoTcp(): Promise<DemoL4Service> {
  if (Bun.which('redis-server')) {
    const port = await freePort();
    const p = Bun.spawn(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdout: 'pipe', stderr: 'pipe' });
    const reader = p.stdout.getReader();
    let out = '';
    const deadline = Date.now() + 10_000;
    while (!out.includes('Ready to accept connections') && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      out += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    void p.stdout.pipeTo(new WritableStream());
    return { name: 'redis', protocol: 'tcp', service: 'redis', port: 6379, backendPort: port, describe: 'redis-cli PING → PONG', stop: async () => (p.kill(), void (await p.exited)) };
  }
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.pipe(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    name: 'redis',
    protocol: 'tcp',
    service: 'redis',
    port: 6379,
    backendPort: (server.address() as net.AddressInfo).port,
    describe: 'TCP echo (redis-server is not installed)',
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export async function startDemoUdp(): Promise<DemoL4Service> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (m, rinfo) => sock.send(m, rinfo.port, rinfo.address));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return { name: 'udp-echo', protocol: 'udp', service: 'udp-echo', port: 7, backendPort: sock.address().port, describe: 'UDP echo', stop: async () => void sock.close() };
}
