// A loopback TCP front for one `api_url`: connections whose first bytes are a route registry call go to the fake
// registry, everything else (the session WebSocket) to the hub. Lets the real agent talk to both on one URL until
// the hub serves the registry itself. `cutHub()` drops the hub connections (the agent must reconnect).
import type { Socket } from 'bun';

type Up = { socket: Socket<unknown> | null; pending: Uint8Array[]; hub: boolean; closed: boolean };

export function splitProxy(o: { hubPort: number; registryPort: number }) {
  const conns = new Set<Socket<Up>>();
  const server = Bun.listen<Up>({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(s) {
        s.data = { socket: null, pending: [], hub: false, closed: false };
        conns.add(s);
      },
      data(s, chunk) {
        const d = s.data;
        if (d.socket) {
          d.socket.write(chunk);
          return;
        }
        d.pending.push(new Uint8Array(chunk));
        if (d.pending.length > 1) return;
        const head = Buffer.from(chunk.subarray(0, 64)).toString('latin1');
        d.hub = !head.startsWith('POST /api/v1/gateway/routes/');
        void Bun.connect({
          hostname: '127.0.0.1',
          port: d.hub ? o.hubPort : o.registryPort,
          socket: {
            open(u) {
              if (d.closed) return void u.end();
              d.socket = u;
              for (const p of d.pending) u.write(p);
              d.pending = [];
            },
            data(_u, c) {
              s.write(c);
            },
            close() {
              s.end();
            },
            error() {
              s.end();
            },
          },
        }).catch(() => s.end());
      },
      close(s) {
        s.data.closed = true;
        s.data.socket?.end();
        conns.delete(s);
      },
      error(s) {
        s.data.socket?.end();
      },
    },
  });
  return {
    port: server.port,
    cutHub(): number {
      let n = 0;
      for (const c of conns)
        if (c.data.hub) {
          c.end();
          c.data.socket?.end();
          n++;
        }
      return n;
    },
    stop() {
      for (const c of conns) c.end();
      server.stop(true);
    },
  };
}
