// Copies bytes between a TCP socket and a yamux stream, both ways, with backpressure and the half-close of
// protocol.md §5.3: a FIN from the stream half-closes the socket (shutdown write) and the socket's end sends FIN
// on the stream; the connection is over when both directions are. Used by the agent (stream → Service) and the
// hub (public client → stream). No sockets are created here.
import type { PipeSocket } from '../runtime/tcp.ts';
import type { YamuxStream } from './yamux-session.ts';

export interface PipeResult {
  /** Why the connection ended abnormally (reset, socket error, idle timeout); null after a clean close both ways. */
  error: string | null;
  bytesToSocket: number;
  bytesToStream: number;
}

export interface PipeOptions {
  /** Close both sides after this long without traffic either way (0: never). */
  idleMs: number;
  /** Bytes already received on the stream that belong to the socket (after a stream header). */
  initial?: Uint8Array;
}

export function pipeSocketStream(sock: PipeSocket, stream: YamuxStream, o: PipeOptions, done: (r: PipeResult) => void): { result(): PipeResult } {
  const r: PipeResult = { error: null, bytesToSocket: 0, bytesToStream: 0 };
  let sockClosed = false;
  let finished = false;
  const finish = () => {
    if (finished || !sockClosed || !stream.closed) return;
    finished = true;
    done(r);
  };
  const fail = (why: string) => {
    r.error ??= why;
    stream.reset(why);
    sock.destroy();
  };

  if (o.initial?.length) {
    r.bytesToSocket += o.initial.length;
    sock.write(o.initial);
  }
  stream.on.data = (d) => {
    r.bytesToSocket += d.length;
    // The socket's buffer is full: hold further stream data (and its window credit) until it drains.
    if (!sock.write(d)) stream.pause();
  };
  sock.on('drain', () => stream.resume());
  // Gateway half-closed: shut down our write side; the backend may still answer.
  stream.on.end = () => {
    if (!sock.destroyed) sock.end();
  };
  stream.on.close = (err) => {
    if (err) {
      r.error ??= err;
      sock.destroy();
    }
    finish();
  };
  sock.on('data', (d: Uint8Array) => {
    r.bytesToStream += d.length;
    if (!stream.write(d)) sock.pause();
  });
  stream.on.drain = () => sock.resume();
  sock.on('end', () => stream.end());
  sock.on('error', (e: Error) => fail(`socket error: ${e.message}`));
  sock.on('close', () => {
    sockClosed = true;
    // The socket went away without a clean end (destroyed): the stream cannot complete either.
    if (!stream.closed) stream.end();
    finish();
  });
  if (o.idleMs > 0) sock.setTimeout(o.idleMs, () => fail(`idle for ${Math.round(o.idleMs / 1000)} s`));
  stream.resume();
  return { result: () => r };
}
