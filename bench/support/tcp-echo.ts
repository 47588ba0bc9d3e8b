// L4 benchmark backend: a TCP echo server in its own process (so the load generator does not share its CPU).
// Echoes every byte, keeps half-close, prints {"event":"echo_ready","port":N}.
import net from 'node:net';

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
  s.on('data', (d) => {
    if (!s.write(d)) s.pause();
  });
  s.on('drain', () => s.resume());
  s.on('end', () => s.end());
  s.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'echo_ready', port: (server.address() as net.AddressInfo).port })}\n`);
});
