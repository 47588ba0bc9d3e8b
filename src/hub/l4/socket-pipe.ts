// Copies bytes between two TCP connections both ways, with backpressure (a full writer pauses the other side's
// reads until it drains) and half-close (one side's FIN ends the other's write side; the other direction keeps
// flowing). Used by a hub replica to carry an L4 client connection to the replica that holds the agent session.
import type { PipeSocket } from '../../runtime/tcp.ts';

export interface SocketPipeResult {
  /** Why it ended abnormally (socket error, idle timeout, a side gone without FIN); null after a clean close. */
  error: string | null;
  /** Bytes from the client side to the peer side, and back. */
  clientToPeer: number;
  peerToClient: number;
}

export function pipeSockets(client: PipeSocket, peer: PipeSocket, o: { idleMs: number; initial?: Uint8Array }, done: (r: SocketPipeResult) => void): void {
  const r: SocketPipeResult = { error: null, clientToPeer: 0, peerToClient: 0 };
  const state = { client: { ended: false, closed: false }, peer: { ended: false, closed: false } };
  let finished = false;
  const finish = () => {
    if (finished || !state.client.closed || !state.peer.closed) return;
    finished = true;
    done(r);
  };
  const fail = (why: string) => {
    r.error ??= why;
    client.destroy();
    peer.destroy();
  };
  if (o.initial?.length) {
    r.peerToClient += o.initial.length;
    client.write(o.initial);
  }
  const wire = (from: PipeSocket, to: PipeSocket, side: 'client' | 'peer', count: (n: number) => void) => {
    from.on('data', (d: Uint8Array) => {
      count(d.length);
      if (!to.write(d)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => {
      state[side].ended = true;
      if (!to.destroyed) to.end();
    });
    from.on('error', (e: Error) => fail(`${side === 'client' ? 'client' : 'replica link'} socket error: ${e.message}`));
    from.on('close', () => {
      state[side].closed = true;
      // Gone without its FIN (reset, destroyed): the other side cannot complete either.
      if (!state[side].ended) {
        r.error ??= `${side === 'client' ? 'the client' : 'the replica link'} closed without FIN`;
        to.destroy();
      }
      finish();
    });
  };
  wire(client, peer, 'client', (n) => (r.clientToPeer += n));
  wire(peer, client, 'peer', (n) => (r.peerToClient += n));
  if (o.idleMs > 0) client.setTimeout(o.idleMs, () => fail(`idle for ${Math.round(o.idleMs / 1000)} s`));
  client.resume();
  peer.resume();
}
