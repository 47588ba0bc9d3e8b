// L4 benchmark backend: a UDP echo in its own process (one answer per datagram, same bytes, to the sender).
// Prints {"event":"udp_echo_ready","port":N}.
import dgram from 'node:dgram';

const sock = dgram.createSocket('udp4');
sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
sock.bind(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ event: 'udp_echo_ready', port: sock.address().port })}\n`));
