// An application WebSocket behind a Service (protocol.md §3.8, W1): the upgrade `proxy_request` is answered 101 once the
// backend accepted; frames both ways carry `message_type`; the backend's close code and reason are reported.
import { flattenHeaders, type HeaderMap, headerValue } from '../protocol/http-headers.ts';
import type { ProxyRequest } from '../protocol/proxy-messages.ts';
import { encodeFrameData, OPCODE } from '../protocol/stream-messages.ts';
import { runtime } from '#runtime';
import type { BackendTarget } from './backend-target.ts';
import type { SessionConnection } from './envelope-transport.ts';
import { answerUpgrade, sendToWebSocket, type Stream, type StreamHost, tunnelBackpressure, webSocketReads } from './stream.ts';

export function openAppWebSocket(host: StreamHost, req: ProxyRequest, target: BackendTarget, conn: SessionConnection): void {
  const cfg = host.config;
  const id = req.requestId;
  const offered = (headerValue(req.headers, 'sec-websocket-protocol') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const stream: Stream = {
    id,
    kind: 'application',
    started: Date.now(),
    lastActive: Date.now(),
    conn,
    // The control plane sends frames only after the 101, which follows the backend's open.
    toBackend: (f) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      sendToWebSocket(ws, f, false);
      if (ws.bufferedAmount > cfg.maxBufferedBytes) host.backpressure(stream, conn);
    },
    shutdown: () => {
      // A paused socket would not read the backend's close answer.
      webSocketReads(ws).resume();
      ws.close(1000);
    },
  };
  host.register(stream);
  const ws = runtime.openWebSocket(target.url, {
    headers: flattenHeaders(target.headers),
    protocols: offered,
    tls: target.tls,
  });
  const throttle = tunnelBackpressure(conn, cfg.highWaterBytes, webSocketReads(ws));
  let opened = false;
  let lastPong = Date.now();
  const pinger = setInterval(() => {
    if (Date.now() - lastPong > cfg.pongTimeoutMs) ws.close(1001, 'ping timeout');
    else ws.ping();
  }, cfg.pingMs);
  ws.addEventListener('pong', () => {
    lastPong = Date.now();
  });
  ws.addEventListener('open', () => {
    opened = true;
    const h: HeaderMap = { Upgrade: ['websocket'], Connection: ['Upgrade'] };
    if (ws.protocol) h['Sec-Websocket-Protocol'] = [ws.protocol];
    answerUpgrade(conn, req, h);
    host.upgradeAnswered('application', 101);
  });
  ws.addEventListener('message', (ev: MessageEvent) => {
    const text = typeof ev.data === 'string';
    const payload = text ? Buffer.from(ev.data as string) : new Uint8Array(ev.data as ArrayBuffer);
    const opcode = text ? OPCODE.text : OPCODE.binary;
    host.metric('pipeops_ws_bytes_total', { kind: 'application', direction: 'to_control_plane' }, payload.length);
    stream.lastActive = Date.now();
    conn.send({ type: 'proxy_websocket_data', payload: { request_id: id, stream_id: id, data: encodeFrameData(opcode, payload), message_type: opcode }, requestId: id });
    throttle();
  });
  ws.addEventListener('error', (ev: Event) => {
    if (!opened) host.dialFailed(stream, conn, (ev as ErrorEvent).message || 'websocket error', req);
  });
  ws.addEventListener('close', (ev: CloseEvent) => {
    clearInterval(pinger);
    if (!opened) {
      if (host.has(id)) host.dialFailed(stream, conn, `backend closed during handshake (${ev.code})`, req);
      return;
    }
    // W1: report the backend's close, with its code and reason.
    host.end(stream, conn, { code: ev.code, reason: ev.reason, app: true });
  });
}
