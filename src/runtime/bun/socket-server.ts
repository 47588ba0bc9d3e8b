// Bun-only: Bun.serve with WebSocket connections that carry per-socket data, for the hub's agent endpoint.
// The hub, sandbox and demo run on Bun only (issue 16 lets them); the agent uses the runtime contract instead.
import type { Server, ServerWebSocket, WebSocketHandler } from 'bun';

export type { Server, ServerWebSocket };

export interface SocketServeOptions<D> {
  hostname: string;
  port: number;
  idleTimeout: number;
  tls?: { cert: string; key: string };
  fetch(req: Request, server: Server<D>): Response | Promise<Response> | undefined | Promise<Response | undefined>;
  websocket: WebSocketHandler<D>;
}

export function serveWithSockets<D>(o: SocketServeOptions<D>): Server<D> {
  return Bun.serve<D>(o as Parameters<typeof Bun.serve<D>>[0]);
}
