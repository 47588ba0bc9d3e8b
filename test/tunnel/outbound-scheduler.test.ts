import { describe, expect, test } from 'bun:test';
import { OutboundScheduler } from '../../src/tunnel/outbound-scheduler.ts';
import type { SessionConnection } from '../../src/tunnel/session.ts';

/** A socket double: `buffered` is what the scheduler sees as bufferedAmount; `sent` records binary writes in order. */
function fakeConn() {
  const c = {
    buffered: 0,
    isOpen: true,
    sent: [] as string[],
    text: [] as string[],
  };
  const conn: SessionConnection = {
    send(m) {
      c.text.push(m.type);
      return c.isOpen;
    },
    sendBinary(data) {
      if (!c.isOpen) return false;
      c.sent.push(new TextDecoder().decode(data as Uint8Array));
      return true;
    },
    get bufferedAmount() {
      return c.buffered;
    },
    get open() {
      return c.isOpen;
    },
  };
  return { c, conn };
}
const frame = (s: string) => new TextEncoder().encode(s) as Uint8Array<ArrayBuffer>;

describe('OutboundScheduler', () => {
  test('with room on the socket a bulk frame is written at once, in order', async () => {
    const { c, conn } = fakeConn();
    const s = new OutboundScheduler(conn, { lowWaterBytes: 100 });
    await Promise.all([s.sendBulk('a', frame('a1')), s.sendBulk('a', frame('a2'))]);
    expect(c.sent).toEqual(['a1', 'a2']);
    expect(s.queued).toBe(0);
  });

  test('above the low-water mark frames wait, then leave round-robin between streams', async () => {
    const { c, conn } = fakeConn();
    c.buffered = 1000;
    const s = new OutboundScheduler(conn, { lowWaterBytes: 100 });
    const all = [s.sendBulk('big', frame('big1')), s.sendBulk('big', frame('big2')), s.sendBulk('big', frame('big3')), s.sendBulk('other', frame('other1'))];
    expect(c.sent).toEqual([]);
    expect(s.queued).toBe(4);
    // A control message is not held back by queued bulk frames (it does not go through the scheduler at all).
    conn.send({ type: 'proxy_response', payload: { status: 200, headers: {} }, requestId: 'r1' });
    expect(c.text).toEqual(['proxy_response']);
    c.buffered = 0;
    await Promise.all(all);
    expect(c.sent).toEqual(['big1', 'other1', 'big2', 'big3']);
  });

  test('a closed socket fails every waiting frame instead of leaving it pending', async () => {
    const { c, conn } = fakeConn();
    c.buffered = 1000;
    const s = new OutboundScheduler(conn, { lowWaterBytes: 100 });
    const p = s.sendBulk('a', frame('a1'));
    c.isOpen = false;
    await expect(p).rejects.toThrow('tunnel connection lost');
    expect(c.sent).toEqual([]);
    expect(s.queued).toBe(0);
  });

  test('an aborted request loses its waiting frame; the other streams still go out', async () => {
    const { c, conn } = fakeConn();
    c.buffered = 1000;
    const s = new OutboundScheduler(conn, { lowWaterBytes: 100 });
    const ac = new AbortController();
    const cancelled = s.sendBulk('a', frame('a1'), ac.signal);
    const other = s.sendBulk('b', frame('b1'));
    ac.abort(new Error('cancelled by the control plane'));
    // Refused at once, while the socket is still full: the writer does not wait for room it will not use.
    await expect(cancelled).rejects.toThrow('cancelled by the control plane');
    expect(s.queued).toBe(1);
    c.buffered = 0;
    await other;
    expect(c.sent).toEqual(['b1']);
  });

  test('an already aborted signal is refused without queueing', async () => {
    const { conn } = fakeConn();
    const s = new OutboundScheduler(conn, { lowWaterBytes: 100 });
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    await expect(s.sendBulk('a', frame('x'), ac.signal)).rejects.toThrow('gone');
    expect(s.queued).toBe(0);
  });
});
