// Runs a SPDY session over the two carriers kubectl uses: the raw socket after `Upgrade: SPDY/3.1`, and the
// binary messages of a `SPDY/3.1+portforward.k8s.io` WebSocket, where each message is an arbitrary slice of
// the SPDY byte stream (client-go tunneling_connection.go).
import type { Duplex } from 'node:stream';
import { type SpdyLog, SpdySession, type SpdyStream } from './spdy.ts';
import type { WebSocketConnection } from './websocket-server.ts';

export function spdyOverSocket(socket: Duplex, head: Buffer, onStream: (s: SpdyStream) => void, log: SpdyLog): SpdySession {
  const session = new SpdySession(
    {
      write: (b) => {
        if (!socket.destroyed) socket.write(b);
      },
      end: () => socket.end(),
    },
    onStream,
    log,
  );
  socket.on('data', (chunk: Buffer) => session.receive(chunk));
  socket.on('close', () => session.transportClosed());
  socket.on('error', (err: Error) => {
    log.debug({ err: err.message }, 'spdy: socket error');
    session.transportClosed();
  });
  if (head.length > 0) session.receive(head);
  return session;
}

export function spdyOverWebSocket(ws: WebSocketConnection, onStream: (s: SpdyStream) => void, log: SpdyLog): SpdySession {
  const session = new SpdySession({ write: (b) => ws.send(b, true), end: () => ws.close(1000) }, onStream, log);
  ws.onMessage((data, binary) => {
    if (!binary) {
      // client-go rejects non-binary messages in a tunnel; so do we, loudly.
      log.warn('spdy tunnel: text WebSocket message, closing');
      ws.close(1003, 'SPDY tunnel carries binary messages only');
      return;
    }
    session.receive(data);
  });
  ws.onClose(() => session.transportClosed());
  return session;
}
