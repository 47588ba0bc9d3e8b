// Yamux interop at the byte level (protocol.md §5.2): hand-built frames as a Go peer writes them (header and body
// as separate WebSocket messages, headers cut anywhere), flags, windows, half-close, reset, ping and GoAway.
import { describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { encodeHeader, Flag, FrameDecoder, type FrameHeader, FrameType, GoAwayCode, HEADER_BYTES } from '../../src/protocol/yamux-frame.ts';
import { MAX_FRAME_BODY, YamuxSession, type YamuxStream } from '../../src/protocol/yamux-session.ts';

const hdr = (type: number, flags: number, streamId: number, length: number) => encodeHeader({ type: type as FrameHeader['type'], flags, streamId, length });
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const text = (s: string) => new TextEncoder().encode(s);

function parseFrames(bytes: Uint8Array): { h: FrameHeader; body: Uint8Array }[] {
  const out: { h: FrameHeader; body: Uint8Array }[] = [];
  let cur: Uint8Array[] = [];
  const d = new FrameDecoder();
  const err = d.push(bytes, {
    header: (h) => {
      if (h.type !== FrameType.Data) out.push({ h, body: new Uint8Array(0) });
      cur = [];
    },
    data: (_h, p) => cur.push(p.slice()),
    frameEnd: (h) => out.push({ h, body: concat(...cur) }),
  });
  expect(err).toBeNull();
  return out;
}

/** An agent-side (client) session whose output is captured frame by frame. */
function clientUnderTest() {
  const sent: Uint8Array[] = [];
  const streams: YamuxStream[] = [];
  let closed: string | null = null;
  const s = new YamuxSession('client', { keepAliveMs: 0 }, { out: (f) => sent.push(f), stream: (st) => streams.push(st), closed: (r) => (closed = r) });
  return { s, sent, streams, frames: () => sent.flatMap((f) => parseFrames(f)), closedReason: () => closed };
}

describe('yamux frame decoder', () => {
  test('any chunking of a frame sequence yields the same frames and bodies', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.integer({ min: 1, max: 9 }), body: fc.uint8Array({ maxLength: 300 }) }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 }),
        (frames, cuts) => {
          const wire = concat(...frames.flatMap((f) => [hdr(FrameType.Data, 0, f.id, f.body.length), f.body]));
          const got: { id: number; body: number[] }[] = [];
          let cur: number[] = [];
          const d = new FrameDecoder();
          let o = 0;
          let i = 0;
          while (o < wire.length) {
            const n = cuts[i++ % cuts.length]!;
            const err = d.push(wire.subarray(o, o + n), {
              header: () => (cur = []),
              data: (_h, p) => cur.push(...p),
              frameEnd: (h) => got.push({ id: h.streamId, body: cur }),
            });
            expect(err).toBeNull();
            o += n;
          }
          expect(got).toEqual(frames.map((f) => ({ id: f.id, body: [...f.body] })));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a wrong version or an unknown type is a protocol error', () => {
    const noop = { header() {}, data() {}, frameEnd() {} };
    const bad = hdr(0, 0, 1, 0);
    bad[0] = 1;
    expect(new FrameDecoder().push(bad, noop)).toContain('version');
    const badType = hdr(0, 0, 1, 0);
    badType[1] = 9;
    expect(new FrameDecoder().push(badType, noop)).toContain('type');
  });
});

describe('yamux session (agent = client, peer opens streams as a Go server does)', () => {
  test('Go-style open, a data frame split across two messages, a header cut in two, then FIN', () => {
    const c = clientUnderTest();
    const got: Uint8Array[] = [];
    let ended = false;
    c.s.input(hdr(FrameType.WindowUpdate, Flag.SYN, 2, 0));
    expect(c.streams.length).toBe(1);
    const st = c.streams[0]!;
    st.on.data = (d) => got.push(d.slice());
    st.on.end = () => (ended = true);
    // The accept answers with ACK at once.
    expect(c.frames()[0]!.h).toEqual({ type: FrameType.WindowUpdate, flags: Flag.ACK, streamId: 2, length: 0 });
    // Header as one WebSocket message, body split over two more.
    const body = text('hello world!');
    c.s.input(hdr(FrameType.Data, 0, 2, body.length));
    c.s.input(body.subarray(0, 5));
    c.s.input(body.subarray(5));
    // Header cut after 6 bytes, the rest with the body.
    const h2 = hdr(FrameType.Data, 0, 2, 6);
    c.s.input(h2.subarray(0, 6));
    c.s.input(concat(h2.subarray(6), text('second')));
    expect(ended).toBe(false);
    c.s.input(hdr(FrameType.WindowUpdate, Flag.FIN, 2, 0));
    expect(new TextDecoder().decode(concat(...got))).toBe('hello world!second');
    expect(ended).toBe(true);
    // Half-closed: we can still write, and our FIN completes the stream.
    expect(st.closed).toBe(false);
    st.write(text('reply'));
    st.end();
    expect(st.closed).toBe(true);
    const fr = c.frames();
    expect(fr.at(-2)!.h).toMatchObject({ type: FrameType.Data, streamId: 2, length: 5 });
    expect(new TextDecoder().decode(fr.at(-2)!.body)).toBe('reply');
    expect(fr.at(-1)!.h).toEqual({ type: FrameType.WindowUpdate, flags: Flag.FIN, streamId: 2, length: 0 });
    expect(c.s.streamCount).toBe(0);
  });

  test('data and FIN in one Data frame: data first, then end', () => {
    const c = clientUnderTest();
    const order: string[] = [];
    c.s.input(hdr(FrameType.WindowUpdate, Flag.SYN, 2, 0));
    c.streams[0]!.on.data = (d) => order.push(`data:${new TextDecoder().decode(d)}`);
    c.streams[0]!.on.end = () => order.push('end');
    c.s.input(concat(hdr(FrameType.Data, Flag.FIN, 2, 3), text('abc')));
    expect(order).toEqual(['data:abc', 'end']);
  });

  test('a SYN Data frame carrying bytes opens the stream and keeps the bytes', () => {
    const got: string[] = [];
    const s = new YamuxSession('client', { keepAliveMs: 0 }, { out: () => {}, stream: (st) => (st.on.data = (d) => got.push(new TextDecoder().decode(d))) });
    s.input(concat(hdr(FrameType.Data, Flag.SYN, 4, 2), text('hi')));
    expect(got).toEqual(['hi']);
    expect(s.closed).toBe(false);
  });

  test('send window: writes beyond 256 KiB wait for a window update, then drain', () => {
    const c = clientUnderTest();
    c.s.input(hdr(FrameType.WindowUpdate, Flag.SYN, 2, 0));
    const st = c.streams[0]!;
    let drained = 0;
    st.on.drain = () => drained++;
    expect(st.write(new Uint8Array(200 * 1024))).toBe(true);
    expect(st.write(new Uint8Array(100 * 1024))).toBe(false);
    const sentData = () => c.frames().filter((f) => f.h.type === FrameType.Data).reduce((n, f) => n + f.h.length, 0);
    expect(sentData()).toBe(256 * 1024);
    c.s.input(hdr(FrameType.WindowUpdate, 0, 2, 64 * 1024));
    expect(sentData()).toBe(300 * 1024);
    expect(drained).toBe(1);
  });

  test('receive window: a paused reader withholds credit; more than the window is a protocol error', () => {
    const c = clientUnderTest();
    c.s.input(hdr(FrameType.WindowUpdate, Flag.SYN, 2, 0));
    const st = c.streams[0]!;
    let got = 0;
    st.on.data = (d) => (got += d.length);
    st.pause();
    c.s.input(concat(hdr(FrameType.Data, 0, 2, 200 * 1024), new Uint8Array(200 * 1024)));
    expect(got).toBe(0);
    const updates = () => c.frames().filter((f) => f.h.type === FrameType.WindowUpdate && f.h.streamId === 2 && f.h.length > 0);
    expect(updates().length).toBe(0);
    st.resume();
    expect(got).toBe(200 * 1024);
    expect(updates().map((f) => f.h.length)).toEqual([200 * 1024]);
    // The peer now has 256 KiB again; 256 KiB + 1 is too much.
    c.s.input(hdr(FrameType.Data, 0, 2, 256 * 1024 + 1));
    expect(c.closedReason()).toContain('window');
    expect(c.frames().at(-1)!.h).toEqual({ type: FrameType.GoAway, flags: 0, streamId: 0, length: GoAwayCode.protocolError });
  });

  test('RST from the peer closes the stream with an error; data for unknown streams is dropped', () => {
    const c = clientUnderTest();
    c.s.input(hdr(FrameType.WindowUpdate, Flag.SYN, 2, 0));
    let closed: string | null | undefined;
    c.streams[0]!.on.close = (e) => (closed = e);
    c.s.input(hdr(FrameType.WindowUpdate, Flag.RST, 2, 0));
    expect(closed).toContain('reset');
    c.s.input(concat(hdr(FrameType.Data, 0, 2, 3), text('xyz')));
    expect(c.s.closed).toBe(false);
  });

  test('reset() sends RST; duplicate SYN is a protocol error', () => {
    const c = clientUnderTest();
    c.s.input(hdr(FrameType.WindowUpdate, Flag.SYN, 2, 0));
    c.streams[0]!.reset();
    expect(c.frames().at(-1)!.h).toEqual({ type: FrameType.WindowUpdate, flags: Flag.RST, streamId: 2, length: 0 });
    c.s.input(hdr(FrameType.WindowUpdate, Flag.SYN, 4, 0));
    c.s.input(hdr(FrameType.WindowUpdate, Flag.SYN, 4, 0));
    expect(c.s.closed).toBe(true);
  });

  test('ping is answered with ACK and the same opaque value; GoAway with an error ends the session', () => {
    const c = clientUnderTest();
    c.s.input(hdr(FrameType.Ping, Flag.SYN, 0, 77));
    expect(c.frames().at(-1)!.h).toEqual({ type: FrameType.Ping, flags: Flag.ACK, streamId: 0, length: 77 });
    c.s.input(hdr(FrameType.GoAway, 0, 0, GoAwayCode.internalError));
    expect(c.closedReason()).toContain('GoAway');
  });

  test('normal GoAway forbids new streams on that side but keeps existing ones', () => {
    const server = new YamuxSession('server', { keepAliveMs: 0 }, { out: () => {} });
    const st = server.open();
    expect(st.id).toBe(2);
    server.input(hdr(FrameType.GoAway, 0, 0, GoAwayCode.normal));
    expect(() => server.open()).toThrow('GoAway');
    expect(st.closed).toBe(false);
  });

  test('two sessions back to back: server opens, bytes both ways, half-close each way', () => {
    let client!: YamuxSession;
    const server = new YamuxSession('server', { keepAliveMs: 0 }, { out: (f) => client.input(f) });
    const accepted: YamuxStream[] = [];
    const fromServer: number[] = [];
    const fromClient: number[] = [];
    let bEnded = false;
    // Handlers are set in the stream hook: delivery is synchronous.
    client = new YamuxSession('client', { keepAliveMs: 0 }, {
      out: (f) => server.input(f),
      stream: (s) => {
        accepted.push(s);
        s.on.data = (d) => fromServer.push(...d);
        s.on.end = () => (bEnded = true);
      },
    });
    const a = server.open();
    a.on.data = (d) => fromClient.push(...d);
    a.write(new Uint8Array([1, 2, 3]));
    const b = accepted[0]!;
    expect(b.id).toBe(2);
    a.write(new Uint8Array([4]));
    a.end();
    expect(bEnded).toBe(true);
    b.write(new Uint8Array([9, 9]));
    b.end();
    expect(fromServer).toEqual([1, 2, 3, 4]);
    expect(fromClient).toEqual([9, 9]);
    expect(a.closed && b.closed).toBe(true);
    expect(HEADER_BYTES).toBe(12);
  });

  test('outCopies: data frames reuse one buffer (tag bytes zero), bodies are cut at MAX_FRAME_BODY, and the bytes arrive intact', () => {
    const TAG = 2;
    let client!: YamuxSession;
    const buffers = new Set<ArrayBufferLike>();
    const bodies: number[] = [];
    let badTag = 0;
    const server = new YamuxSession(
      'server',
      { keepAliveMs: 0, maxStreamWindow: 1 << 20 },
      {
        outCopies: true,
        // The transport copies, as a WebSocket send does; the session may then overwrite its buffer.
        out: (f) => {
          if (f[0] !== 0 || f[1] !== 0) badTag++;
          const frame = f.subarray(TAG);
          if (frame[1] === FrameType.Data && frame.length > HEADER_BYTES) {
            buffers.add(f.buffer);
            bodies.push(frame.length - HEADER_BYTES);
          }
          client.input(frame.slice());
        },
      },
      TAG,
    );
    const got: Uint8Array[] = [];
    client = new YamuxSession('client', { keepAliveMs: 0, maxStreamWindow: 1 << 20 }, {
      out: (f) => server.input(f),
      stream: (st) => (st.on.data = (d) => got.push(d.slice())),
    });
    const payload = new Uint8Array(900 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) >>> 5;
    const a = server.open();
    // Writes larger than a frame, and than the initial 256 KiB window (queued, sent as credit arrives).
    for (let o = 0; o < payload.length; o += 300 * 1024) a.write(payload.subarray(o, o + 300 * 1024));
    expect(badTag).toBe(0);
    expect(Math.max(...bodies)).toBe(MAX_FRAME_BODY);
    expect(buffers.size).toBe(1);
    expect(concat(...got)).toEqual(payload);
  });
});
