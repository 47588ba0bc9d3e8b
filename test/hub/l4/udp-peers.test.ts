// The UDP peers of the hub's L4 gateway without sockets: two yamux sessions back to back stand for the hub and the
// agent, `duplexPair` for the replica link. Proves that datagram boundaries survive the link in both of the agent's
// modes (raw and length-prefixed), however the link's bytes are chunked, and that every queue is bounded: what does
// not fit is dropped and reported, never buffered.
import { describe, expect, test } from 'bun:test';
import { Duplex, duplexPair } from 'node:stream';
import { DatagramReader, encodeDatagram } from '../../../src/protocol/l4-stream-header.ts';
import { YamuxSession, type YamuxStream } from '../../../src/protocol/yamux-session.ts';
import { linkPeer, PendingUdpPeer, relayLinkToStream, UDP_QUEUE_BYTES, type UdpPeer } from '../../../src/hub/l4/udp-peers.ts';

/** The hub's stream to an agent, and what the agent's end receives (pieces as delivered). */
function agentStream(): { hub: YamuxStream; agent: () => YamuxStream; pieces: Uint8Array[] } {
  let agentSide!: YamuxSession;
  const pieces: Uint8Array[] = [];
  let accepted: YamuxStream | null = null;
  const hubSide = new YamuxSession('server', { keepAliveMs: 0 }, { out: (f) => agentSide.input(f) });
  agentSide = new YamuxSession('client', { keepAliveMs: 0 }, {
    out: (f) => hubSide.input(f),
    stream: (s) => {
      accepted = s;
      s.on.data = (d) => pieces.push(d.slice());
    },
  });
  return { hub: hubSide.open(), agent: () => accepted!, pieces };
}

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const tick = () => new Promise((r) => setImmediate(r));

describe('relayLinkToStream (the replica holding the session)', () => {
  for (const framed of [false, true]) {
    test(`${framed ? 'length-prefixed' : 'raw'} agent: datagrams keep their boundaries both ways, one byte of link at a time`, async () => {
      const s = agentStream();
      const [link, far] = duplexPair();
      const fromLink: Uint8Array[] = [];
      const reader = new DatagramReader();
      far.on('data', (c: Buffer) => fromLink.push(...reader.push(c).map((d) => d.slice())));
      const results: unknown[] = [];
      relayLinkToStream(link, new Uint8Array(0), s.hub, framed, { dropped: (toward) => results.push(`dropped toward ${toward}`), done: (r) => results.push(r) });
      const sizes = [1, 300, 0, 1400, 5];
      const wire = Buffer.concat(sizes.map((n, i) => encodeDatagram(bytes(n, i + 1))));
      for (const b of wire) far.write(Buffer.from([b]));
      await tick();
      // Raw: one yamux write per datagram (the agent sends each piece as a datagram; an empty one cannot be carried:
      // it is dropped and reported).
      if (framed) expect(new DatagramReader().push(Buffer.concat(s.pieces)).map((d) => d.length)).toEqual(sizes);
      else expect(s.pieces.map((p) => p.length)).toEqual(sizes.filter((n) => n > 0));
      // The agent answers: each piece (raw) or each length-prefixed datagram becomes one datagram on the link.
      const answers = [bytes(7, 9), bytes(1000, 8)];
      for (const d of answers) s.agent().write(framed ? encodeDatagram(d) : d);
      await tick();
      expect(fromLink.map((d) => d.length)).toEqual([7, 1000]);
      far.end();
      await tick();
      const delivered = framed ? sizes.length : sizes.length - 1;
      expect(results).toEqual([...(framed ? [] : ['dropped toward service']), { error: null, datagramsToService: delivered, datagramsToLink: 2 }]);
    });
  }

  test('an agent that stops reading: datagrams beyond the bound are dropped and reported, the queue stays bounded', async () => {
    const s = agentStream();
    const [link, far] = duplexPair();
    let dropped = 0;
    relayLinkToStream(link, new Uint8Array(0), s.hub, true, { dropped: () => dropped++, done: () => {} });
    far.write(encodeDatagram(bytes(1, 1)));
    await tick();
    // Held by the agent: its receive window (256 KiB) fills, then the hub's send queue, then datagrams drop.
    s.agent().pause();
    const n = 40;
    for (let i = 0; i < n; i++) far.write(encodeDatagram(bytes(30_000, 2)));
    await tick();
    expect(dropped).toBeGreaterThan(0);
    expect(s.hub.queuedBytes).toBeLessThanOrEqual(UDP_QUEUE_BYTES);
    expect(dropped).toBeLessThan(n);
  });
});

describe('linkPeer (the replica that forwards)', () => {
  test('answers from the link are split into datagrams however they are chunked; a link that does not drain drops', async () => {
    const got: number[] = [];
    const written: Uint8Array[] = [];
    // A link whose writes never complete: its writable buffer only grows.
    const stuck = new Duplex({ read() {}, write(chunk, _enc, _cb) { written.push(chunk); } });
    const ended: unknown[] = [];
    const peer = linkPeer(stuck, encodeDatagram(bytes(3, 1)).subarray(0, 2), { back: (d) => got.push(d.length), ended: (f) => ended.push(f) });
    stuck.push(Buffer.from([1, 1, 1, 0]));
    stuck.push(Buffer.from([4, 5, 5, 5, 5]));
    await tick();
    expect(got).toEqual([3, 4]);
    let sent = 0;
    let refused = 0;
    for (let i = 0; i < 20; i++) (peer.send(bytes(30_000, 3)) ? sent++ : refused++);
    expect(refused).toBeGreaterThan(0);
    expect(stuck.writableLength).toBeLessThanOrEqual(UDP_QUEUE_BYTES);
    expect(sent * 30_002).toBeLessThanOrEqual(UDP_QUEUE_BYTES + 30_002);
    peer.close();
    stuck.push(null);
    await tick();
    // Closed by us: no hook afterwards.
    expect(ended).toEqual([]);
  });
});

describe('PendingUdpPeer (while the target is found)', () => {
  test('queues up to its bound, then hands the queue to the target in order; closed first, the target is closed', () => {
    const p = new PendingUdpPeer(1000);
    expect(p.send(bytes(600, 1))).toBe(true);
    expect(p.send(bytes(500, 2))).toBe(false);
    expect(p.send(bytes(400, 3))).toBe(true);
    const seen: number[] = [];
    const target: UdpPeer = { send: (d) => (seen.push(d[0]!), d[0] !== 3), close: () => {} };
    expect(p.attach(target)).toBe(1);
    expect(seen).toEqual([1, 3]);
    p.send(bytes(1, 4));
    expect(seen).toEqual([1, 3, 4]);
    const q = new PendingUdpPeer();
    q.close();
    let closed = false;
    q.attach({ send: () => true, close: () => (closed = true) });
    expect(closed).toBe(true);
  });
});
