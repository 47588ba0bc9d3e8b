import { describe, expect, test } from 'bun:test';
import { AgentOutbound } from '../../src/hub/agent-outbound.ts';

/** A socket double: `buffered` is its getBufferedAmount(); `sent` records writes in order. */
function fakeSocket() {
  const s = { buffered: 0, sent: [] as string[] };
  const ws = {
    send(d: string | Uint8Array) {
      s.sent.push(typeof d === 'string' ? d : new TextDecoder().decode(d));
    },
    getBufferedAmount: () => s.buffered,
  };
  return { s, ws };
}

describe('AgentOutbound', () => {
  test('with room on the socket a bulk message is written at once and counted', () => {
    const { s, ws } = fakeSocket();
    let written = 0;
    const o = new AgentOutbound(ws, (n) => (written += n), { lowWaterBytes: 100, maxQueuedBytes: 1000 });
    expect(o.sendBulk('a', 'hello')).toBe(true);
    expect(s.sent).toEqual(['hello']);
    expect(written).toBe(5);
  });

  test('above the low-water mark messages wait, then leave round-robin between streams on drain', () => {
    const { s, ws } = fakeSocket();
    s.buffered = 500;
    const o = new AgentOutbound(ws, () => {}, { lowWaterBytes: 100, maxQueuedBytes: 1000 });
    for (const m of ['up1', 'up2', 'up3']) o.sendBulk('upload', m);
    o.sendBulk('exec', 'x1');
    // A control message the session writes directly is not held back by the queued bulk data.
    ws.send('proxy_request');
    expect(s.sent).toEqual(['proxy_request']);
    s.buffered = 0;
    o.drain();
    expect(s.sent).toEqual(['proxy_request', 'up1', 'x1', 'up2', 'up3']);
  });

  test('a stream over its queue bound asks its source to pause and is called back once it has room', () => {
    const { s, ws } = fakeSocket();
    s.buffered = 500;
    const o = new AgentOutbound(ws, () => {}, { lowWaterBytes: 100, maxQueuedBytes: 8 });
    expect(o.sendBulk('a', '12345')).toBe(true);
    expect(o.sendBulk('a', '67890')).toBe(false);
    let resumed = 0;
    o.whenWritable('a', () => resumed++);
    expect(resumed).toBe(0);
    s.buffered = 0;
    o.drain();
    expect(resumed).toBe(1);
    expect(o.queuedBytes('a')).toBe(0);
    // Already writable: called back at once.
    o.whenWritable('a', () => resumed++);
    expect(resumed).toBe(2);
  });

  test("a stream's close message sent through its queue never overtakes its waiting data", () => {
    const { s, ws } = fakeSocket();
    s.buffered = 500;
    const o = new AgentOutbound(ws, () => {}, { lowWaterBytes: 100, maxQueuedBytes: 1000 });
    o.sendBulk('s1', 'data-1');
    o.sendBulk('s1', 'data-2');
    o.sendBulk('s1', 'close');
    s.buffered = 0;
    o.drain();
    expect(s.sent).toEqual(['data-1', 'data-2', 'close']);
  });

  test('after close nothing is written and the session reports the stream as not writable', () => {
    const { s, ws } = fakeSocket();
    s.buffered = 500;
    const o = new AgentOutbound(ws, () => {}, { lowWaterBytes: 100, maxQueuedBytes: 1000 });
    o.sendBulk('a', 'late');
    o.close();
    s.buffered = 0;
    o.drain();
    expect(s.sent).toEqual([]);
    expect(o.sendBulk('a', 'after')).toBe(false);
  });

  test('ordered messages the socket drops (over its backpressure limit) are kept, in order, and sent on drain', () => {
    // Bun's ServerWebSocket: send returns 0 and drops the message above its limit.
    const sent: string[] = [];
    let full = false;
    const ws = {
      send(d: string | Uint8Array) {
        if (full) return 0;
        sent.push(typeof d === 'string' ? d : new TextDecoder().decode(d));
        return typeof d === 'string' ? d.length : d.byteLength;
      },
      getBufferedAmount: () => 0,
    };
    let written = 0;
    const o = new AgentOutbound(ws, (n) => (written += n));
    const enc = (t: string) => new TextEncoder().encode(t) as Uint8Array<ArrayBuffer>;
    o.sendOrdered(enc('f1'));
    full = true;
    // The caller reuses its buffer after each call: a waiting message must be a copy.
    const reused = enc('f2');
    o.sendOrdered(reused);
    reused.set(enc('XX'));
    full = false;
    // A later message does not overtake the waiting one.
    o.sendOrdered(enc('f3'));
    expect(sent).toEqual(['f1', 'f2', 'f3']);
    full = true;
    o.sendOrdered(enc('f4'));
    o.sendOrdered(enc('f5'));
    // A control message (text) does not overtake the binary frames that wait before it.
    o.sendOrdered('ctl', true);
    expect(o.orderedBytes).toBe(7);
    full = false;
    o.drain();
    expect(sent).toEqual(['f1', 'f2', 'f3', 'f4', 'f5', 'ctl']);
    expect(written).toBe(13);
    expect(o.orderedBytes).toBe(0);
  });

  describe('on a socket that can cork (Bun\'s ServerWebSocket): texts are coalesced', () => {
    /** `writes` holds one entry per write: the messages of one cork together, or a message sent uncorked alone. */
    function corkingSocket() {
      const writes: string[][] = [];
      let corked: string[] | null = null;
      const ws = {
        send(d: string | Uint8Array) {
          const t = typeof d === 'string' ? d : `bin:${new TextDecoder().decode(d)}`;
          if (corked) corked.push(t);
          else writes.push([t]);
          return 1;
        },
        getBufferedAmount: () => 0,
        cork(cb: () => void) {
          corked = [];
          cb();
          if (corked.length) writes.push(corked);
          corked = null;
        },
      };
      return { ws, writes };
    }
    const turn = () => new Promise<void>((r) => setImmediate(r));
    const enc = (t: string) => new TextEncoder().encode(t) as Uint8Array<ArrayBuffer>;

    test('coalesced texts (proxy_requests) of one turn leave together in one corked write, in order, and are counted then', async () => {
      const { ws, writes } = corkingSocket();
      let written = 0;
      const o = new AgentOutbound(ws, (n) => (written += n));
      o.sendOrdered('req1', true);
      o.sendOrdered('req2', true);
      o.sendOrdered('req3', true);
      expect(writes).toEqual([]);
      await turn();
      expect(writes).toEqual([['req1', 'req2', 'req3']]);
      expect(written).toBe(12);
    });

    test('a text that is not coalesced (credit, cancel, control) goes at once, behind the waiting requests, in the same write', async () => {
      const { ws, writes } = corkingSocket();
      const o = new AgentOutbound(ws, () => {});
      o.sendOrdered('credit');
      expect(writes).toEqual([['credit']]);
      o.sendOrdered('req', true);
      o.sendOrdered('cancel of req');
      expect(writes).toEqual([['credit'], ['req', 'cancel of req']]);
      await turn();
      expect(writes).toEqual([['credit'], ['req', 'cancel of req']]);
    });

    test('a binary message is written at once, behind the waiting texts, in the same write (a request and its body frame stay adjacent)', () => {
      const { ws, writes } = corkingSocket();
      const o = new AgentOutbound(ws, () => {});
      o.sendOrdered('other', true);
      o.sendOrdered('req', true);
      const body = enc('body');
      o.sendOrdered(body);
      body.set(enc('XXXX')); // the caller reuses its buffer once the call returned
      expect(writes).toEqual([['other', 'req', 'bin:body']]);
      o.sendOrdered(enc('alone'));
      expect(writes).toEqual([['other', 'req', 'bin:body'], ['bin:alone']]);
    });

    test('bulk data does not overtake coalesced texts; flush() writes them at once (before a close)', async () => {
      const { ws, writes } = corkingSocket();
      const o = new AgentOutbound(ws, () => {}, { lowWaterBytes: 100, maxQueuedBytes: 1000 });
      o.sendOrdered('ctl', true);
      o.sendBulk('s', 'data1');
      expect(writes).toEqual([]);
      await turn();
      expect(writes.flat()).toEqual(['ctl', 'data1']);
      o.sendOrdered('bye', true);
      o.flush();
      expect(writes.flat()).toEqual(['ctl', 'data1', 'bye']);
      o.close();
      o.sendOrdered('after close');
      await turn();
      expect(writes.flat()).toEqual(['ctl', 'data1', 'bye']);
    });
  });
});
