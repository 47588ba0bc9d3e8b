// pipeSockets (src/hub/l4/socket-pipe.ts), the byte pipe a hub replica puts between an L4 client and the replica
// link, on real loopback sockets: backpressure (a client that does not read pauses the far side), half-close both
// ways, and a side that vanishes without FIN taking the other down with a reason.
import { afterEach, expect, test } from 'bun:test';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { pipeSockets, type SocketPipeResult } from '../../src/hub/l4/socket-pipe.ts';
import type { PipeSocket } from '../../src/runtime/tcp.ts';
import { waitFor } from '../support/wait.ts';

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function listen(onConn: (s: net.Socket) => void): Promise<number> {
  const s = net.createServer({ allowHalfOpen: true }, onConn);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

/** A relay on loopback: each connection is piped to `backendPort`. The peer socket's pause() calls are counted. */
async function relay(backendPort: number, done: (r: SocketPipeResult) => void, seen: { pauses: number }) {
  return listen((client) => {
    const peer = net.connect({ host: '127.0.0.1', port: backendPort, allowHalfOpen: true }, () => {
      const pause = peer.pause.bind(peer);
      peer.pause = () => {
        seen.pauses++;
        return pause();
      };
      pipeSockets(client as unknown as PipeSocket, peer as unknown as PipeSocket, { idleMs: 0 }, done);
    });
  });
}

test('a client that does not read pauses the far side; once it reads, every byte arrives intact', async () => {
  const payload = randomBytes(48 * 1024 * 1024);
  const backend = await listen((s) => s.end(payload));
  const seen = { pauses: 0 };
  let result: SocketPipeResult | null = null;
  const port = await relay(backend, (r) => (result = r), seen);
  const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  c.pause();
  await waitFor(() => seen.pauses > 0, { what: 'the relay pausing the backend side', timeoutMs: 20_000 });
  const h = createHash('sha256');
  let n = 0;
  await new Promise<void>((resolve, reject) => {
    c.on('data', (d: Buffer) => (h.update(d), (n += d.length)));
    c.on('end', () => (c.end(), resolve()));
    c.on('error', reject);
    c.resume();
  });
  expect(n).toBe(payload.length);
  expect(h.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
  await waitFor(() => result, { what: 'the pipe finishing' });
  expect(result!).toEqual({ error: null, clientToPeer: 0, peerToClient: payload.length });
}, 60_000);

test("half-close: the backend answers after the client's FIN", async () => {
  const backend = await listen((s) => {
    let got = 0;
    s.on('data', (d) => (got += d.length));
    s.on('end', () => s.end(`got ${got}`));
  });
  const seen = { pauses: 0 };
  const port = await relay(backend, () => {}, seen);
  const text = await new Promise<string>((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => c.end(Buffer.alloc(12345)));
    let t = '';
    c.on('data', (d: Buffer) => (t += d.toString()));
    c.on('end', () => (c.end(), resolve(t)));
    c.on('error', reject);
  });
  expect(text).toBe('got 12345');
});

test('a backend that resets takes the client down and the pipe says why', async () => {
  const backend = await listen((s) => s.once('data', () => s.resetAndDestroy()));
  let result: SocketPipeResult | null = null;
  const port = await relay(backend, (r) => (result = r), { pauses: 0 });
  const ended = await new Promise<string>((resolve) => {
    const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => c.write('x'));
    // The relay's destroy() reaches the client as a FIN (end), or a reset (error).
    c.on('error', (e) => resolve(`error: ${e.message}`));
    c.on('end', () => (c.destroy(), resolve('ended')));
  });
  expect(ended).toMatch(/ended|error/);
  await waitFor(() => result, { what: 'the pipe finishing' });
  expect(result!.error).toMatch(/replica link/);
});
