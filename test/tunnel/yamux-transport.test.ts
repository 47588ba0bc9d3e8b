// The yamux transport on the session's router (src/tunnel/transport.ts): upstream's claim takes every binary
// message and refuses the HTTP relays' binary writes (§5.1); our tagged claim takes only `[0,0]`-tagged messages
// and leaves the HTTP binary frames to the envelope transport, both ways.
import { describe, expect, test } from 'bun:test';
import { encodeIdFrame } from '../../src/protocol/binary-frame.ts';
import { encodeHeader, Flag, FrameType } from '../../src/protocol/yamux-frame.ts';
import { YamuxTunnels } from '../../src/tunnel/l4/yamux-tunnels.ts';
import { type FrameSink, TransportRouter, type SessionTransport } from '../../src/tunnel/transport.ts';
import { quietLog } from '../support/hub-agent.ts';

function fakeSocket() {
  const sent: (string | ArrayBuffer | Uint8Array)[] = [];
  return { ws: { open: true, bufferedAmount: 0, send: (d: string | Uint8Array | ArrayBuffer) => void sent.push(d) } satisfies FrameSink, sent };
}

function tunnels(enabled = true) {
  return new YamuxTunnels({
    config: {
      enabled,
      tcp: { bufferSize: 32768, keepalive: true, keepalivePeriodMs: 30_000, connectTimeoutMs: 5000, idleTimeoutMs: 60_000, maxConnections: 10 },
      udp: { bufferSize: 65507, sessionTimeoutMs: 60_000, maxSessions: 10 },
      target: { mode: 'map', clusterDomain: 'cluster.local', serviceMap: {} },
      yamux: { keepAliveMs: 0, writeTimeoutMs: 30_000, maxStreamWindow: 256 * 1024 },
    },
    log: quietLog,
    metric: () => {},
  });
}

function envelope(): SessionTransport & { binaries: number } {
  const t = { name: 'envelope', binaries: 0, onText() {}, onBinary() { t.binaries++; }, close() {} };
  return t;
}

const open = (id: number) => encodeHeader({ type: FrameType.WindowUpdate, flags: Flag.SYN, streamId: id, length: 0 });
const tag = (b: Uint8Array) => {
  const out = new Uint8Array(2 + b.length);
  out.set(b, 2);
  return out.buffer;
};

describe('yamux binary transport', () => {
  test('tagged: only tagged messages reach yamux; HTTP binary frames go both ways as before; the ack says tagged', () => {
    const { ws, sent } = fakeSocket();
    const router = new TransportRouter(ws);
    const env = envelope();
    router.start(env);
    const t = tunnels().transport({ use_yamux: true, pipeops_yamux_framing: 'tagged', pipeops_udp_datagrams: 'length_prefixed' }, router.claimWriter)!;
    expect(t.ack).toEqual({ pipeops_yamux_framing: 'tagged', pipeops_udp_datagrams: 'length_prefixed' });
    router.claimBinary(t);
    router.deliver(encodeIdFrame('req-1', new Uint8Array([1, 2, 3])).buffer as ArrayBuffer);
    expect(env.binaries).toBe(1);
    router.deliver(tag(open(2)));
    expect(env.binaries).toBe(1);
    // The accept's ACK went out tagged.
    const ack = sent.at(-1) as Uint8Array;
    expect([...ack.subarray(0, 2)]).toEqual([0, 0]);
    expect(ack[3]).toBe(FrameType.WindowUpdate);
    expect(router.envelopeWriter.sendBinary(new Uint8Array([0, 3, 1, 2, 3]))).toBe(true);
  });

  test('untagged (upstream gateway): every binary message is yamux and HTTP binary writes are refused', () => {
    const { ws, sent } = fakeSocket();
    const router = new TransportRouter(ws);
    const env = envelope();
    router.start(env);
    const t = tunnels().transport({ use_yamux: true }, router.claimWriter)!;
    expect(t.ack).toEqual({});
    router.claimBinary(t);
    router.deliver(open(2).buffer as ArrayBuffer);
    expect(env.binaries).toBe(0);
    expect((sent.at(-1) as Uint8Array)[1]).toBe(FrameType.WindowUpdate);
    expect(router.envelopeWriter.sendBinary(new Uint8Array([0, 1, 65]))).toBe(false);
  });

  test('tunnels disabled: the offer is declined', () => {
    const { ws } = fakeSocket();
    expect(tunnels(false).transport({ use_yamux: true }, new TransportRouter(ws).claimWriter)).toBeNull();
  });
});
