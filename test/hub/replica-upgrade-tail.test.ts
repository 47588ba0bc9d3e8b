// An upgrade carried from replica B to the replica A that holds the session (kubectl exec, attach, port-forward
// through B), over B's own TLS listener: when A ends its side cleanly after its last bytes, the client must be able
// to read all of them. B destroyed the client's connection as soon as its link to A closed, which on the listener
// is an abortive close (a reset): the answer's tail still unread by the client was discarded with it, and
// `kubectl exec -i` through B failed now and then with "connection reset by peer" after the command had run
// (test/e2e/hub-replicas.test.ts). This test's client (Bun's node:tls, paused until A has closed) saw neither its
// bytes nor an end nor an error then. A that goes away without ending its side still cuts the client at once.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import net from 'node:net';
import tls from 'node:tls';
import type { Hub } from '../../src/hub/server.ts';
import type { KubeGateway } from '../../src/hub/kube-gateway/kube-gateway.ts';
import { ReplicaLink } from '../../src/hub/replica-link.ts';
import type { SessionDirectory } from '../../src/hub/session-directory.ts';
import { quietLog, testHub, USER_TOKEN } from '../support/hub-agent.ts';
import { connectFakeAgent, type FakeAgent } from './fake-agent.ts';
import { FrontGateways } from './front-gateway.ts';

const ANSWER_HEAD = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
let hub: Hub;
let agent: FakeAgent;
let ca: string;
const gateways = new FrontGateways(() => ({ hub }));
const servers: net.Server[] = [];

beforeAll(async () => {
  hub = await testHub({ proxy_timeout: 30_000 });
  ca = hub.kubeCaPem!;
  agent = await connectFakeAgent(hub, 'replica-upgrade-tail', 'replica-upgrade-tail-sa-token-0123456');
});
afterAll(async () => {
  await gateways.stopAll();
  for (const s of servers) s.close();
  await agent?.close();
  await hub?.stop();
});

/** Replica A: answers the forwarded upgrade with 101 and `bytes` bytes, then ends its side (or resets it). */
async function replicaA(bytes: number, o: { reset?: boolean } = {}) {
  let closedResolve: () => void = () => {};
  const closed = new Promise<void>((r) => (closedResolve = r));
  const server = net.createServer((s) => {
    let head = '';
    s.on('data', (d) => {
      if (head.includes('\r\n\r\n')) return;
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.write(ANSWER_HEAD);
      if (o.reset) s.write(Buffer.alloc(bytes, 0x62), () => s.resetAndDestroy());
      else s.end(Buffer.alloc(bytes, 0x61));
    });
    s.on('error', () => {});
    s.on('close', () => closedResolve());
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, closed };
}

/** Replica B: holds no session, so every request for the cluster goes to `aUrl`. */
async function replicaB(aUrl: string): Promise<KubeGateway> {
  const directory = { local: () => undefined, locate: async () => ({ kind: 'remote', replica: { kube_url: aUrl } }), onSession: () => () => {} } as unknown as SessionDirectory;
  return gateways.start({ directory, link: new ReplicaLink({ replicaId: 'b', secret: 'replica-secret-upgrade-tail', kubeCaPem: ca, log: quietLog }) });
}

/** An exec upgrade through B; the client reads nothing until `readAfter` settles, then everything until the end. */
async function upgradeThrough(b: KubeGateway, readAfter: Promise<void>) {
  const s = tls.connect({ host: '127.0.0.1', port: b.port, ca, servername: 'localhost' });
  await new Promise<void>((r, j) => s.once('secureConnect', r).once('error', j));
  s.pause();
  s.write(
    `GET /clusters/${agent.clusterId}/k8s/api/v1/namespaces/demo/pods/p/exec?command=cat&stdin=true&stdout=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${USER_TOKEN}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
  );
  await readAfter;
  const chunks: Buffer[] = [];
  const ended = new Promise<string>((r) => {
    s.on('data', (d: Buffer) => chunks.push(d));
    s.once('end', () => r('end'));
    s.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? e.message));
    s.resume();
  });
  // Bounded: a connection left open with its answer undelivered fails here, not at the test's timeout.
  const outcome = await Promise.race([ended, Bun.sleep(10_000).then(() => 'neither an end nor an error within 10 s')]);
  s.destroy();
  return { outcome, bytes: Buffer.concat(chunks) };
}

describe('an upgrade forwarded to the replica holding the session', () => {
  test('A ends its side: the client reads every byte A sent, then a clean end', async () => {
    const a = await replicaA(32 * 1024);
    const b = await replicaB(a.url);
    // The client reads only once A's side is closed: by then B has all of A's bytes (a few dozen KiB fit in the
    // sockets' buffers toward a client that does not read) and its link to A is gone.
    const { outcome, bytes } = await upgradeThrough(b, a.closed);
    expect({ outcome, length: bytes.length }).toEqual({ outcome: 'end', length: ANSWER_HEAD.length + 32 * 1024 });
    expect(bytes.subarray(0, ANSWER_HEAD.length).toString('latin1')).toBe(ANSWER_HEAD);
  });

  test('A resets its side: the client is cut too, not left open', async () => {
    const a = await replicaA(16 * 1024, { reset: true });
    const b = await replicaB(a.url);
    const { outcome } = await upgradeThrough(b, a.closed);
    expect(['ECONNRESET', 'end']).toContain(outcome);
    expect(b.connections).toBeLessThanOrEqual(1);
  });
});
