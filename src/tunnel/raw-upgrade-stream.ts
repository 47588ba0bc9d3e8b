// A raw upgrade stream (negotiated `raw_upgrade`; any upgrade protocol incl. SPDY): the upgrade request is replayed to
// the backend over TCP/TLS, its answer relayed (W2: a refusal reaches the client as it is), then bytes are piped both
// ways. Backend writes are bounded (backpressure, then failure past 8×); backend reads pause while the tunnel socket
// is above its high-water mark and resume when it drained (src/timing/drain.ts).
import type { Socket } from 'node:net';
import { sanitizeResponseHeaders } from '../protocol/http-headers.ts';
import type { ProxyRequest } from '../protocol/proxy-messages.ts';
import { encodeFrameData, OPCODE } from '../protocol/stream-messages.ts';
import { requestHead } from '../protocol/upgrade-head.ts';
import type { ProxyResponsePayload } from '../protocol/wire-messages.ts';
import type { RawUpgradeTarget } from './backend-target.ts';
import type { SessionConnection } from './envelope-transport.ts';
import { PreOpenQueue } from './pre-open-queue.ts';
import { openUpgrade, targetFromUrl } from './raw-upgrade.ts';
import { preOpenLimit, type Stream, type StreamHost, type StreamKind, tunnelBackpressure } from './stream.ts';

export async function openRawUpgrade(host: StreamHost, req: ProxyRequest, kind: StreamKind, target: RawUpgradeTarget, conn: SessionConnection): Promise<void> {
  const cfg = host.config;
  const id = req.requestId;
  const abort = new AbortController();
  let socket: Socket | null = null;
  const pending = new PreOpenQueue<Uint8Array>(preOpenLimit(cfg));
  let backpressured = false;
  const stream: Stream = {
    id,
    kind,
    started: Date.now(),
    lastActive: Date.now(),
    conn,
    toBackend: (f) => {
      if (f.opcode === OPCODE.close) {
        socket?.end();
        return;
      }
      if (!socket) {
        if (!pending.push(f.payload, f.payload.length)) {
          host.metric('pipeops_protocol_errors_total', { reason: 'stream_pre_open_overflow' });
          host.log.warn({ stream_id: id, bytes: pending.bytes }, 'stream sent too much before its backend opened; closed');
          host.end(stream, conn, { code: 1009, reason: pending.overflowMessage() });
        }
        return;
      }
      const ok = socket.write(f.payload);
      if (!ok && socket.writableLength > cfg.maxBufferedBytes) {
        if (!backpressured) host.backpressure(stream, conn);
        backpressured = true;
        if (socket.writableLength > cfg.maxBufferedBytes * 8) socket.destroy(new Error('backend is not reading; stream buffer exceeded'));
      }
    },
    shutdown: () => {
      abort.abort();
      socket?.destroy();
    },
  };
  host.register(stream);
  try {
    const r = await openUpgrade(targetFromUrl(target.url, target.tls), requestHead(req.method, target.requestPath, target.host, target.headers), abort.signal, cfg.dialTimeoutMs);
    const h = sanitizeResponseHeaders(r.status, r.headers);
    if (r.status !== 101 || !r.socket) {
      // W2: the target's own answer (e.g. a 403 Status or "unsupported upgrade") reaches the client.
      const payload: ProxyResponsePayload = { status: r.status, headers: h };
      if (r.body.length) {
        payload.body = Buffer.from(r.body).toString('base64');
        payload.encoding = 'base64';
      }
      conn.send({ type: 'proxy_response', payload, requestId: id });
      host.upgradeAnswered(kind, r.status);
      host.forget(stream);
      return;
    }
    if (!host.has(id)) {
      // Ended while the upgrade was on its way (pre-open overflow, close from the control plane).
      r.socket.destroy();
      return;
    }
    socket = r.socket;
    socket.on('drain', () => {
      backpressured = false;
    });
    conn.send({ type: 'proxy_response', payload: { status: 101, headers: h }, requestId: id });
    host.upgradeAnswered(kind, 101);
    for (const p of pending.take()) socket.write(p);
    pipeToControlPlane(host, stream, socket, conn);
  } catch (e) {
    host.dialFailed(stream, conn, (e as Error).message, req);
  }
}

/** Backend bytes → `proxy_websocket_data`, pausing the backend while the tunnel socket is above its high-water mark. */
function pipeToControlPlane(host: StreamHost, stream: Stream, s: Socket, conn: SessionConnection): void {
  // The tunnel socket is full: stop reading this backend until it drains (TCP backpressure).
  const throttle = tunnelBackpressure(conn, host.config.highWaterBytes, s);
  s.on('data', (chunk: Buffer) => {
    host.metric('pipeops_ws_bytes_total', { kind: stream.kind, direction: 'to_control_plane' }, chunk.length);
    stream.lastActive = Date.now();
    conn.send({ type: 'proxy_websocket_data', payload: { stream_id: stream.id, data: encodeFrameData(OPCODE.binary, chunk) }, requestId: stream.id });
    throttle();
  });
  s.on('close', () => host.end(stream, conn, {}));
  s.on('error', (e) => host.log.debug({ stream_id: stream.id, err: e.message }, 'stream backend error'));
  s.resume();
}
