// The drain primitive: resolves on drain, close or abort; paced by events or by the drain rate, never a 2 ms loop.
import { describe, expect, test } from 'bun:test';
import { createHash } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { type Drainable, drained, MAX_CHECK_MS, webSocketDrainable } from '../../src/timing/drain.ts';

/** A writer whose buffer the test sets; counts how often it is looked at. */
function fakeWriter(bytes: number, withEvents = false) {
  const drainListeners = new Set<() => void>();
  const closeListeners = new Set<() => void>();
  const st = { bytes, open: true, reads: 0 };
  const w: Drainable = {
    get bufferedAmount() {
      st.reads++;
      return st.bytes;
    },
    get open() {
      return st.open;
    },
    onClose: (l) => (closeListeners.add(l), () => closeListeners.delete(l)),
    ...(withEvents ? { onDrain: (l: () => void) => (drainListeners.add(l), () => drainListeners.delete(l)) } : {}),
  };
  return {
    w,
    st,
    drain: () => drainListeners.forEach((l) => l()),
    close: () => ((st.open = false), closeListeners.forEach((l) => l())),
    listeners: () => drainListeners.size + closeListeners.size,
  };
}

describe('drained', () => {
  test('settles at once when already drained, closed or aborted', async () => {
    expect(await drained(fakeWriter(10).w, 10)).toBe('drained');
    const c = fakeWriter(100);
    c.st.open = false;
    expect(await drained(c.w, 10)).toBe('closed');
    expect(await drained(fakeWriter(100).w, 10, AbortSignal.abort())).toBe('aborted');
  });

  test('without a drain event: resolves once the buffer falls to the threshold; a stuck writer is checked with backoff, not every 2 ms', async () => {
    const f = fakeWriter(1000);
    let outcome = null as string | null;
    const p = drained(f.w, 100).then((o) => (outcome = o));
    // Stuck for ~300 ms: a 2 ms poll would look ~150 times; the backoff (1, 2, 4 … 50 ms) about a dozen.
    await new Promise((r) => setTimeout(r, 300));
    expect(outcome).toBeNull();
    expect(f.st.reads).toBeLessThan(20);
    f.st.bytes = 100;
    await p;
    expect(outcome).toBe('drained');
    expect(f.listeners()).toBe(0);
  });

  test('without a drain event, a close event ends the wait at once', async () => {
    const f = fakeWriter(1000);
    const p = drained(f.w, 100);
    f.close();
    expect(await p).toBe('closed');
    expect(f.listeners()).toBe(0);
  });

  test('abort ends the wait and releases the writer', async () => {
    const f = fakeWriter(1000);
    const ac = new AbortController();
    const p = drained(f.w, 100, ac.signal);
    ac.abort();
    expect(await p).toBe('aborted');
    expect(f.listeners()).toBe(0);
  });

  test('with a drain event: woken by the event; in between only a safety check every MAX_CHECK_MS', async () => {
    const f = fakeWriter(1000, true);
    const p = drained(f.w, 100);
    await new Promise((r) => setTimeout(r, 4 * MAX_CHECK_MS));
    // One read when the wait starts, then at most one per safety interval.
    expect(f.st.reads).toBeLessThanOrEqual(1 + 5);
    f.st.bytes = 0;
    f.drain();
    expect(await p).toBe('drained');
  });

  test('waiters on one writer share it: each resolves at its own threshold', async () => {
    const f = fakeWriter(1000);
    const got: string[] = [];
    const a = drained(f.w, 500).then((o) => got.push(`500:${o}`));
    const b = drained(f.w, 100).then((o) => got.push(`100:${o}`));
    f.st.bytes = 300;
    await a;
    expect(got).toEqual(['500:drained']);
    f.st.bytes = 50;
    await b;
    expect(got).toEqual(['500:drained', '100:drained']);
  });
});

/** A WebSocket server that completes the handshake and then stops reading until told to. */
async function stalledWebSocketServer() {
  let sock!: Socket;
  const ready = Promise.withResolvers<void>();
  const srv = createServer((s) => {
    sock = s;
    s.once('data', (d) => {
      const key = /sec-websocket-key:\s*(\S+)/i.exec(d.toString())![1]!;
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      s.pause();
      ready.resolve();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as { port: number }).port,
    ready: ready.promise,
    resume: () => (sock.on('data', () => {}), sock.resume()),
    destroy: () => sock.destroy(),
    close: () => srv.close(),
  };
}

describe('drained on Bun’s WebSocket client', () => {
  test('a peer that stops reading keeps the wait open; when it reads again the wait ends drained', async () => {
    const srv = await stalledWebSocketServer();
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/`);
    await new Promise((r) => ws.addEventListener('open', r, { once: true }));
    await srv.ready;
    try {
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < 16; i++) ws.send(chunk);
      expect(ws.bufferedAmount).toBeGreaterThan(4 << 20);
      let outcome = null as string | null;
      const p = drained(webSocketDrainable(ws), 1 << 20).then((o) => (outcome = o));
      await new Promise((r) => setTimeout(r, 100));
      expect(outcome).toBeNull();
      srv.resume();
      expect(await p).toBe('drained');
      expect(ws.bufferedAmount).toBeLessThanOrEqual(1 << 20);
    } finally {
      ws.close();
      srv.close();
    }
  });

  test('the socket closing ends the wait as closed', async () => {
    const srv = await stalledWebSocketServer();
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/`);
    await new Promise((r) => ws.addEventListener('open', r, { once: true }));
    await srv.ready;
    try {
      ws.send(new Uint8Array(8 << 20));
      const p = drained(webSocketDrainable(ws), 1 << 20);
      srv.destroy();
      expect(await p).toBe('closed');
    } finally {
      srv.close();
    }
  });
});
