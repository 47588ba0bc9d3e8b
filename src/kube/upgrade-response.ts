// Raw HTTP/1.1 responses written on a socket taken over from node:http's 'upgrade' event, where no
// ServerResponse exists: the 101 that switches protocols, and the error replies that refuse an upgrade.
import type { Duplex } from 'node:stream';

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  426: 'Upgrade Required',
  500: 'Internal Server Error',
};

export function writeSwitchingProtocols(socket: Duplex, headers: Record<string, string>): void {
  const lines = ['HTTP/1.1 101 Switching Protocols'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
}

/**
 * Refuses an upgrade with a metav1.Status body, as the apiserver does, then closes the socket. client-go reads
 * the non-101 status as an upgrade failure, which is what makes kubectl fall back from WebSocket to SPDY.
 */
export function rejectUpgrade(socket: Duplex, code: number, message: string, reason = 'BadRequest'): void {
  const body = JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  });
  socket.end(
    `HTTP/1.1 ${code} ${REASONS[code] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
