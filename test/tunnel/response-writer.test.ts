import { describe, expect, test } from 'bun:test';
import { decodeIdFrame } from '../../src/protocol/binary-frame.ts';
import { CreditWindow } from '../../src/protocol/flow-control.ts';
import { BINARY_CHUNK_BYTES, spareFrameCount, writeBinaryChunks } from '../../src/tunnel/response-writer.ts';
import type { SessionConnection } from '../../src/tunnel/session.ts';

/** A socket double that always has room; records every binary frame. */
function fakeConn() {
  const frames: Uint8Array[] = [];
  const conn: SessionConnection = {
    send: () => true,
    sendBinary(data) {
      frames.push(new Uint8Array(data as Uint8Array));
      return true;
    },
    bufferedAmount: 0,
    open: true,
  };
  return { conn, frames };
}

/** A body of `parts` pulled one read at a time (highWaterMark 0: nothing is read before it is asked for); counts the reads. */
function body(parts: Uint8Array[], failAfter?: Error) {
  const s = { pulls: 0 };
  let i = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        s.pulls++;
        if (i < parts.length) c.enqueue(parts[i++]!);
        else if (failAfter) c.error(failAfter);
        else c.close();
      },
    },
    { highWaterMark: 0 },
  );
  return { reader: stream.getReader(), s };
}

const filled = (n: number, v: number) => new Uint8Array(n).fill(v);
const turn = () => new Promise((r) => setImmediate(r));
const until = async (cond: () => boolean) => {
  while (!cond()) await turn();
};
/** Let every pending read and write that can run, run. */
const settle = async () => {
  for (let i = 0; i < 50; i++) await turn();
};

describe('writeBinaryChunks', () => {
  test('relays every byte in order, in frames of at most BINARY_CHUNK_BYTES, already-read parts first', async () => {
    const { conn, frames } = fakeConn();
    const first = [filled(10, 1)];
    const rest = [filled(BINARY_CHUNK_BYTES + 5, 2), filled(3, 3), filled(BINARY_CHUNK_BYTES * 2, 4)];
    const { reader } = body(rest);
    const n = await writeBinaryChunks(conn, 'r1', first, reader, new AbortController().signal, new CreditWindow(64 << 20));
    const all = [...first, ...rest];
    const total = all.reduce((a, p) => a + p.length, 0);
    expect(n).toBe(total);
    const got: number[] = [];
    for (const f of frames) {
      const d = decodeIdFrame(f as Uint8Array<ArrayBuffer>);
      if (!d.ok) throw new Error(d.error);
      expect(d.value.requestId).toBe('r1');
      expect(d.value.body.length).toBeLessThanOrEqual(BINARY_CHUNK_BYTES);
      got.push(...d.value.body);
    }
    expect(got).toEqual(all.flatMap((p) => [...p]));
  });

  test('large frames are built in reused buffers: concurrent streams each arrive whole, the spares stay bounded', async () => {
    // The socket double copies what it is given, as a WebSocket's send does (FrameSink); a writer that reused a buffer
    // before the socket took it would show here as one stream's bytes in another's frame.
    const { conn, frames } = fakeConn();
    const streams = Array.from({ length: 6 }, (_, k) => ({ id: `s${k}`, parts: Array.from({ length: 5 }, (_, j) => filled(BINARY_CHUNK_BYTES - 7 * j, 16 * k + j)) }));
    await Promise.all(streams.map((st) => writeBinaryChunks(conn, st.id, [], body(st.parts).reader, new AbortController().signal, new CreditWindow(64 << 20))));
    const got = new Map<string, number[]>();
    for (const f of frames) {
      const d = decodeIdFrame(f as Uint8Array<ArrayBuffer>);
      if (!d.ok) throw new Error(d.error);
      const acc = got.get(d.value.requestId) ?? [];
      for (const b of d.value.body) acc.push(b);
      got.set(d.value.requestId, acc);
    }
    for (const st of streams) expect({ id: st.id, ok: Buffer.from(got.get(st.id)!).equals(Buffer.concat(st.parts)) }).toEqual({ id: st.id, ok: true });
    expect(spareFrameCount()).toBeGreaterThan(0);
    expect(spareFrameCount()).toBeLessThanOrEqual(4);
  });

  test('a failed read ends the call with its error, after what was read before it went out', async () => {
    const { conn, frames } = fakeConn();
    const { reader } = body([filled(100, 7)], new Error('backend reset'));
    await expect(writeBinaryChunks(conn, 'r1', [], reader, new AbortController().signal, new CreditWindow())).rejects.toThrow('backend reset');
    expect(frames.length).toBe(1);
  });

  test('an abort while waiting for credit rejects and stops reading', async () => {
    const { conn } = fakeConn();
    const { reader, s } = body(Array.from({ length: 1000 }, () => filled(1024, 1)));
    const window = new CreditWindow(1024);
    const abort = new AbortController();
    const done = writeBinaryChunks(conn, 'r1', [], reader, abort.signal, window);
    await until(() => s.pulls >= 2); // one frame went out on the credit, the next waits for more
    abort.abort(new Error('cancelled'));
    await expect(done).rejects.toThrow('cancelled');
    const pulls = s.pulls;
    await settle();
    expect(s.pulls).toBeLessThanOrEqual(pulls + 1);
  });
});
