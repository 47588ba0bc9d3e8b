// The demo's L4 services (issue 13 item 8): the pods behind `demo/redis:6379` (a Redis-protocol stand-in) and
// `demo/udp-echo:7` (a UDP echo), exposed through the hub's L4 listeners and reached by the agent over yamux.
// Each answers what a client sends it.
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

/**
 * A Redis-protocol stand-in (RESP2: PING, ECHO, SET, GET, DEL) behind `demo/redis:6379`: `redis-cli` and any Redis
 * client can talk to it. (The image runs no other programs, so the demo does not start a real redis-server.)
 */
export async function startDemoTcp(): Promise<DemoL4Service> {
  const data = new Map<string, string>();
  const server = net.createServer((s) => {
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const r = parseCommand(buf);
        if (!r) break;
        if ('error' in r) {
          s.end(`-ERR ${r.error}\r\n`);
          return;
        }
        buf = buf.subarray(r.used);
        s.write(answer(r.args, data));
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    name: 'redis',
    protocol: 'tcp',
    service: 'redis',
    port: 6379,
    backendPort: (server.address() as net.AddressInfo).port,
    describe: 'Redis protocol (PING, ECHO, SET, GET, DEL)',
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const bulk = (v: string | undefined) => (v === undefined ? '$-1\r\n' : `$${Buffer.byteLength(v)}\r\n${v}\r\n`);

function answer(args: string[], data: Map<string, string>): string {
  const [cmd = '', ...rest] = args;
  switch (cmd.toUpperCase()) {
    case 'PING':
      return rest.length ? bulk(rest[0]) : '+PONG\r\n';
    case 'ECHO':
      return bulk(rest[0] ?? '');
    case 'SET':
      if (rest.length < 2) return "-ERR wrong number of arguments for 'set' command\r\n";
      data.set(rest[0]!, rest[1]!);
      return '+OK\r\n';
    case 'GET':
      return bulk(data.get(rest[0] ?? ''));
    case 'DEL':
      return `:${rest.filter((k) => data.delete(k)).length}\r\n`;
    default:
      return `-ERR unknown command '${cmd.slice(0, 40)}' (this demo service knows PING, ECHO, SET, GET, DEL)\r\n`;
  }
}

/** One command: a RESP array of bulk strings, or an inline command line. Null: incomplete. */
function parseCommand(b: Buffer): { args: string[]; used: number } | { error: string } | null {
  const eol = b.indexOf('\r\n');
  if (eol < 0) return b.length > 65536 ? { error: 'line too long' } : null;
  if (b[0] !== 0x2a) return { args: b.subarray(0, eol).toString().trim().split(/\s+/).filter(Boolean), used: eol + 2 };
  const n = Number(b.subarray(1, eol).toString());
  if (!Number.isInteger(n) || n < 0 || n > 1024) return { error: 'invalid multibulk length' };
  const args: string[] = [];
  let o = eol + 2;
  for (let i = 0; i < n; i++) {
    const e = b.indexOf('\r\n', o);
    if (e < 0) return null;
    if (b[o] !== 0x24) return { error: "expected '$'" };
    const len = Number(b.subarray(o + 1, e).toString());
    if (!Number.isInteger(len) || len < 0 || len > 1 << 20) return { error: 'invalid bulk length' };
    if (b.length < e + 2 + len + 2) return null;
    args.push(b.subarray(e + 2, e + 2 + len).toString());
    o = e + 2 + len + 2;
  }
  return { args, used: o };
}

export async function startDemoUdp(): Promise<DemoL4Service> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (m, rinfo) => sock.send(m, rinfo.port, rinfo.address));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  return { name: 'udp-echo', protocol: 'udp', service: 'udp-echo', port: 7, backendPort: sock.address().port, describe: 'UDP echo', stop: async () => void sock.close() };
}
