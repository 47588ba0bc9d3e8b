// Frame batches (src/protocol/frame-batch.ts): the layout, the builder, and every malformed shape refused.
import { describe, expect, test } from 'bun:test';
import { encodeIdFrame, encodeResponseFrame } from '../../src/protocol/binary-frame.ts';
import { FrameBatchBuilder, isFrameBatch, MAX_BATCH_BYTES, splitFrameBatch } from '../../src/protocol/frame-batch.ts';
import { encodeDataFrame } from '../../src/protocol/yamux-frame.ts';

const bytes = (...b: number[]) => new Uint8Array(b);

describe('frame batch [00 00 ff]([u32 L][message])+', () => {
  test('layout: tag, then each message behind its big-endian length', () => {
    const b = new FrameBatchBuilder();
    b.add(bytes(1, 2, 3));
    b.add(bytes(9));
    expect([...b.take()!]).toEqual([0, 0, 0xff, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 1, 9]);
  });

  test('one message alone is sent as it is, without the tag; nothing waiting takes null', () => {
    const b = new FrameBatchBuilder();
    expect(b.take()).toBeNull();
    b.add(bytes(7, 8));
    expect(b.count).toBe(1);
    expect([...b.take()!]).toEqual([7, 8]);
    expect(b.count).toBe(0);
  });

  test('the builder copies: a writer reusing its buffer after add does not change what waits', () => {
    const b = new FrameBatchBuilder();
    const reused = bytes(1, 1, 1);
    b.add(reused);
    reused.fill(2);
    b.add(reused);
    const split = splitFrameBatch(b.take()!);
    expect(split.ok && split.value.map((m) => [...m])).toEqual([
      [1, 1, 1],
      [2, 2, 2],
    ]);
  });

  test('round trip: any list of messages splits back into the same messages', () => {
    for (let round = 0; round < 200; round++) {
      const b = new FrameBatchBuilder();
      const msgs: Uint8Array[] = [];
      const n = 2 + (round % 9);
      for (let i = 0; i < n; i++) {
        const m = crypto.getRandomValues(new Uint8Array(1 + ((round * 31 + i * 97) % 3000)));
        if (!b.fits(m.length)) break;
        msgs.push(m);
        b.add(m);
      }
      const out = b.take()!;
      if (msgs.length < 2) continue;
      const s = splitFrameBatch(out);
      expect(s.ok).toBe(true);
      if (s.ok) expect(s.value.map((m) => Buffer.from(m).toString('hex'))).toEqual(msgs.map((m) => Buffer.from(m).toString('hex')));
    }
  });

  test('fits: a batch stays within MAX_BATCH_BYTES', () => {
    const b = new FrameBatchBuilder();
    const m = new Uint8Array(16 << 10);
    let added = 0;
    while (b.fits(m.length)) {
      b.add(m);
      added++;
    }
    expect(added).toBe(3);
    expect(b.take()!.length).toBeLessThanOrEqual(MAX_BATCH_BYTES);
  });

  test('malformed batches are error values naming what is wrong', () => {
    const cases: [number[], RegExp][] = [
      [[0, 0, 0xff, 0, 0, 0], /truncated/],
      [[0, 0, 0xff, 0, 0, 0, 0], /length 0/],
      [[0, 0, 0xff, 0, 0, 0, 5, 1, 2], /past the end/],
      [[0, 0, 0xff, 0, 0, 0, 4, 0, 0, 0xff, 1], /inside a frame batch/],
      [[0, 0, 0xff, 0, 0, 0, 1, 7, 0, 0], /truncated/],
      [[1, 0, 0xff, 0, 0, 0, 1, 7], /not a frame batch/],
    ];
    for (const [b, why] of cases) {
      const s = splitFrameBatch(new Uint8Array(b));
      expect(s.ok, JSON.stringify(b)).toBe(false);
      if (!s.ok) expect(s.error).toMatch(why);
    }
  });

  test('no other binary message of the agent starts with the tag', () => {
    expect(isFrameBatch(encodeIdFrame('r-1', bytes(0, 0, 0xff)))).toBe(false);
    expect(isFrameBatch(encodeResponseFrame('', 200, null, bytes(0xff)))).toBe(false);
    // Tagged yamux: 00 00, then a yamux header whose first byte is the version (0).
    const tagged = encodeDataFrame(0xffffffff, 0xf, bytes(0xff), 2);
    expect(isFrameBatch(tagged)).toBe(false);
    const yamux = encodeDataFrame(0xffffffff, 0xf, bytes(0xff));
    // Untagged yamux: version, type, then the flags' high byte, always 0.
    expect(isFrameBatch(yamux)).toBe(false);
  });
});
