// RFC 6455 server side: frame codec properties, and a WebSocketConnection driven over an in-memory socket
// with masked, fragmented, interleaved-ping, oversized and unmasked client frames.
import { describe, expect, test } from 'bun:test';
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { encodeFrame, OPCODE, WebSocketFrameParser, WebSocketProtocolError } from '../../../src/protocol/websocket-frame.ts';
import { WebSocketConnection, webSocketAccept } from '../../../src/kube/websocket-server.ts';

/** A socket whose peer is the test: `feed` what the client sends, read back what the server wrote. */
class FakeSocket extends Duplex {
  written: Buffer[] = [];
  ended = false;
  /** A slow peer: writes are accepted but never acknowledged, so the buffer fills. */
  stalled = false;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.written.push(Buffer.from(chunk));
    if (!this.stalled) cb();
  }
  override _final(cb: () => void): void {
    this.ended = true;
    cb();
  }
  feed(b: Buffer): void {
    this.push(b);
  }
  /** Frames the server sent (unmasked). */
  frames(): { opcode: number; payload: Buffer; fin: boolean }[] {
    return new WebSocketFrameParser(1 << 30, false).push(Buffer.concat(this.written));
  }
}

const mask = () => randomBytes(4);
const tick = () => new Promise((r) => setImmediate(r));

describe('WebSocket frame codec', () => {
  test('masked client frames of any size and opcode decode to their payload, whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ opcode: fc.constantFrom(OPCODE.text, OPCODE.binary), payload: fc.uint8Array({ maxLength: 70_000 }), fin: fc.boolean() }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.integer({ min: 1, max: 5000 }),
        (frames, chunk) => {
          const wire = Buffer.concat(frames.map((f) => encodeFrame(f.opcode, f.payload, { fin: f.fin, mask: mask() })));
          const parser = new WebSocketFrameParser(1 << 20, true);
          const got = [];
          for (let i = 0; i < wire.length; i += chunk) got.push(...parser.push(wire.subarray(i, i + chunk)));
          expect(got.map((g) => [g.opcode, g.fin, Buffer.from(g.payload).toString('hex')])).toEqual(
            frames.map((f) => [f.opcode, f.fin, Buffer.from(f.payload).toString('hex')]),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  test('length encodings: 7-bit, 16-bit and 64-bit', () => {
    for (const n of [0, 125, 126, 65535, 65536]) {
      const f = encodeFrame(OPCODE.binary, Buffer.alloc(n, 7));
      expect(f.length).toBe(n + (n < 126 ? 2 : n < 65536 ? 4 : 10));
      const [d] = new WebSocketFrameParser(1 << 20, false).push(f);
      expect(d?.payload.length).toBe(n);
    }
  });

  test('an oversized length is refused before any payload is buffered', () => {
    const head = Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0]); // claims 4 GiB, masked
    expect(() => new WebSocketFrameParser(1 << 20, true).push(head)).toThrow(WebSocketProtocolError);
  });

  test('unmasked client frames and fragmented control frames are protocol errors', () => {
    expect(() => new WebSocketFrameParser(1024, true).push(encodeFrame(OPCODE.binary, Buffer.from('x')))).toThrow(/not masked/);
    expect(() => new WebSocketFrameParser(1024, true).push(encodeFrame(OPCODE.ping, Buffer.from('x'), { fin: false, mask: mask() }))).toThrow(
      /control frame/,
    );
  });

  test('Sec-WebSocket-Accept matches the RFC 6455 example', () => {
    expect(webSocketAccept('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});

describe('WebSocketConnection', () => {
  test('reassembles a fragmented message and answers a ping sent in the middle of it', async () => {
    const sock = new FakeSocket();
    const ws = new WebSocketConnection(sock, Buffer.alloc(0));
    const got: [string, boolean][] = [];
    ws.onMessage((d, binary) => got.push([d.toString(), binary]));
    sock.feed(encodeFrame(OPCODE.binary, Buffer.from('hel'), { fin: false, mask: mask() }));
    sock.feed(encodeFrame(OPCODE.ping, Buffer.from('p1'), { mask: mask() }));
    sock.feed(encodeFrame(OPCODE.continuation, Buffer.from('lo '), { fin: false, mask: mask() }));
    sock.feed(encodeFrame(OPCODE.continuation, Buffer.from('world'), { mask: mask() }));
    await tick();
    expect(got).toEqual([['hello world', true]]);
    expect(sock.frames().map((f) => [f.opcode, f.payload.toString()])).toEqual([[OPCODE.pong, 'p1']]);
  });

  test('head bytes from the upgrade are parsed before socket data', async () => {
    const sock = new FakeSocket();
    const ws = new WebSocketConnection(sock, encodeFrame(OPCODE.text, Buffer.from('early'), { mask: mask() }));
    const got: string[] = [];
    ws.onMessage((d) => got.push(d.toString()));
    await tick();
    expect(got).toEqual(['early']);
  });

  test('a message over the limit closes with 1009', async () => {
    const sock = new FakeSocket();
    const ws = new WebSocketConnection(sock, Buffer.alloc(0), { maxMessageBytes: 1000 });
    const closes: number[] = [];
    ws.onClose((code) => closes.push(code));
    sock.feed(encodeFrame(OPCODE.binary, Buffer.alloc(600), { fin: false, mask: mask() }));
    sock.feed(encodeFrame(OPCODE.continuation, Buffer.alloc(600), { mask: mask() }));
    await tick();
    expect(closes).toEqual([1009]);
    const close = sock.frames().at(-1);
    expect(close?.opcode).toBe(OPCODE.close);
    expect(close?.payload.readUInt16BE(0)).toBe(1009);
    expect(sock.ended).toBe(true);
  });

  test('an unmasked frame closes with 1002; a client close is echoed', async () => {
    const a = new FakeSocket();
    const wsA = new WebSocketConnection(a, Buffer.alloc(0));
    const codes: number[] = [];
    wsA.onClose((c) => codes.push(c));
    a.feed(encodeFrame(OPCODE.binary, Buffer.from('x')));
    await tick();
    expect(codes).toEqual([1002]);

    const b = new FakeSocket();
    const wsB = new WebSocketConnection(b, Buffer.alloc(0));
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(1000);
    b.feed(encodeFrame(OPCODE.close, payload, { mask: mask() }));
    await tick();
    expect(wsB.closed).toBe(true);
    expect(b.frames().map((f) => [f.opcode, f.payload.readUInt16BE(0)])).toEqual([[OPCODE.close, 1000]]);
  });

  test('send() reports backpressure from the socket', () => {
    const sock = new FakeSocket();
    sock.stalled = true;
    const ws = new WebSocketConnection(sock, Buffer.alloc(0));
    expect(ws.send(Buffer.alloc(10))).toBe(true);
    // The default highWaterMark is 16 KiB; with the peer not reading, a 64 KiB message exceeds it.
    expect(ws.send(Buffer.alloc(1 << 16))).toBe(false);
  });
});
