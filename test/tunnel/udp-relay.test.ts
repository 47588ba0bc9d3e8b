// The agent's UDP relay (§5.3, T2) against a real UDP socket: upstream's raw mode (each stream piece is one datagram,
// answers come back as bare bytes) and the negotiated length-prefixed mode (boundaries kept both ways).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import dgram from 'node:dgram';
import { DatagramReader, encodeDatagram } from '../../src/protocol/l4-stream-header.ts';
import { YamuxSession, type YamuxStream } from '../../src/protocol/yamux-session.ts';
import { relayUdp } from '../../src/tunnel/l4/udp-relay.ts';
import { waitFor } from '../support/wait.ts';

let echo: dgram.Socket;
let seen: number[] = [];
beforeAll(async () => {
  echo = dgram.createSocket('udp4');
  echo.on('message', (m, r) => {
    seen.push(m.length);
    echo.send(m, r.port, r.address);
  });
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
});
afterAll(() => echo.close());

/** A gateway-side stream whose agent side is relayed to the echo. */
function pair(framed: boolean) {
  let agent!: YamuxSession;
  const gw = new YamuxSession('server', { keepAliveMs: 0 }, { out: (f) => agent.input(f) });
  agent = new YamuxSession('client', { keepAliveMs: 0 }, {
    out: (f) => gw.input(f),
    stream: (s: YamuxStream) => relayUdp(s, new Uint8Array(0), { host: '127.0.0.1', port: echo.address().port }, { framed, maxDatagram: 65507, idleMs: 5000, maxQueuedBytes: 1 << 20 }, () => {}),
  });
  const stream = gw.open();
  const got: Uint8Array[] = [];
  stream.on.data = (d) => got.push(d.slice());
  return { stream, got };
}

describe('UDP relay', () => {
  test('raw mode (upstream): each stream piece is one datagram; answers come back as bare bytes', async () => {
    seen = [];
    const { stream, got } = pair(false);
    stream.write(new TextEncoder().encode('hello'));
    stream.write(new TextEncoder().encode('world!'));
    await waitFor(() => got.reduce((n, g) => n + g.length, 0) >= 11, { what: 'both answers' });
    expect(seen).toEqual([5, 6]);
    expect(new TextDecoder().decode(Buffer.concat(got))).toBe('helloworld!');
    stream.end();
  });

  test('length-prefixed mode: two datagrams in one stream write stay two datagrams, both ways', async () => {
    seen = [];
    const { stream, got } = pair(true);
    stream.write(Buffer.concat([encodeDatagram(new Uint8Array(3).fill(1)), encodeDatagram(new Uint8Array(700).fill(2))]));
    const reader = new DatagramReader();
    const back: number[] = [];
    await waitFor(
      () => {
        for (const g of got.splice(0)) for (const d of reader.push(g)) back.push(d.length);
        return back.length >= 2;
      },
      { what: 'both framed answers' },
    );
    expect(seen).toEqual([3, 700]);
    expect(back).toEqual([3, 700]);
    stream.end();
  });
});
