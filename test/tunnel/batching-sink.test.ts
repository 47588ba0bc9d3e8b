// The agent's frame-batch writer (src/tunnel/batching-sink.ts) in front of a recording socket.
import { describe, expect, test } from 'bun:test';
import { splitFrameBatch } from '../../src/protocol/frame-batch.ts';
import { BatchingSink } from '../../src/tunnel/batching-sink.ts';
import type { FrameSink } from '../../src/tunnel/transport.ts';

function recorder() {
  const sent: (string | number[])[] = [];
  const inner: FrameSink & { open: boolean } = {
    send: (d) => void sent.push(typeof d === 'string' ? d : [...new Uint8Array(d instanceof Uint8Array ? d : new Uint8Array(d))]),
    bufferedAmount: 100,
    open: true,
  };
  return { inner, sent };
}
const turn = () => new Promise<void>((r) => setImmediate(r));
const b = (...x: number[]) => new Uint8Array(x) as Uint8Array<ArrayBuffer>;
const entries = (m: string | number[]) => {
  const s = splitFrameBatch(new Uint8Array(m as number[]));
  return s.ok ? s.value.map((x) => [...x]) : s.error;
};

describe('BatchingSink', () => {
  test('until enabled every write goes through at once', () => {
    const r = recorder();
    const s = new BatchingSink(r.inner);
    s.send(b(1, 2));
    s.send('text');
    expect(r.sent).toEqual([[1, 2], 'text']);
  });

  test('enabled: the small binary messages of one turn leave as one batch at the end of the turn', async () => {
    const r = recorder();
    const s = new BatchingSink(r.inner);
    s.enable();
    s.send(b(1, 2));
    s.send(b(3));
    s.send(b(4, 5, 6).buffer);
    expect(r.sent).toEqual([]);
    expect(s.bufferedAmount).toBe(100 + 6);
    await turn();
    expect(r.sent).toHaveLength(1);
    expect(entries(r.sent[0]!)).toEqual([[1, 2], [3], [4, 5, 6]]);
    expect([s.batches, s.batchedMessages]).toEqual([1, 3]);
    expect(s.bufferedAmount).toBe(100);
  });

  test('a lone message of a turn goes as it is', async () => {
    const r = recorder();
    const s = new BatchingSink(r.inner);
    s.enable();
    s.send(b(9, 9));
    await turn();
    expect(r.sent).toEqual([[9, 9]]);
    expect(s.batches).toBe(0);
  });

  test('a text message or a large binary one sends what waits first: the wire keeps the order of the writes', async () => {
    const r = recorder();
    const s = new BatchingSink(r.inner);
    s.enable();
    s.send(b(1));
    s.send(b(2));
    s.send('{"type":"proxy_response_end"}');
    s.send(b(3));
    const big = new Uint8Array(64 << 10).fill(7) as Uint8Array<ArrayBuffer>;
    s.send(big);
    s.send(b(4));
    await turn();
    expect(r.sent).toHaveLength(5);
    expect(entries(r.sent[0]!)).toEqual([[1], [2]]);
    expect(r.sent[1]).toBe('{"type":"proxy_response_end"}');
    expect(r.sent[2]).toEqual([3]);
    expect((r.sent[3] as number[]).length).toBe(64 << 10);
    expect(r.sent[4]).toEqual([4]);
  });

  test('a writer may reuse its buffer as soon as send returns', async () => {
    const r = recorder();
    const s = new BatchingSink(r.inner);
    s.enable();
    const buf = b(1, 1);
    s.send(buf);
    buf.fill(2);
    s.send(buf);
    await turn();
    expect(entries(r.sent[0]!)).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });

  test('a full batch is sent and the next one started; flush sends at once; what waits when the socket closes is not written', async () => {
    const r = recorder();
    const s = new BatchingSink(r.inner);
    s.enable();
    const m = new Uint8Array(16 << 10) as Uint8Array<ArrayBuffer>;
    for (let i = 0; i < 4; i++) s.send(m);
    expect(r.sent).toHaveLength(1);
    expect(entries(r.sent[0]!)).toHaveLength(3);
    s.flush();
    expect(r.sent).toHaveLength(2);
    expect((r.sent[1] as number[]).length).toBe(16 << 10);
    // What waits when the socket closes is dropped with it.
    s.send(b(5));
    r.inner.open = false;
    await turn();
    expect(r.sent).toHaveLength(2);
  });
});
