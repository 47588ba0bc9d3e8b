// A kubectl-style stream to the API server (exec, attach, port-forward, other watches over WebSocket; protocol.md §4):
// started by `proxy_websocket_start` or by an upgrade `proxy_request` (W2: answered 101 only once the API server
// accepted). Channel translation (upstream default) unless `raw_frames` was negotiated.
import { flattenHeaders, type HeaderMap } from '../protocol/http-headers.ts';
import type { ProxyRequest } from '../protocol/proxy-messages.ts';
import { DEFAULT_STREAM_PROTOCOLS, encodeFrameData, type Frame, isChannelProtocol, OPCODE } from '../protocol/stream-messages.ts';
import { runtime } from '#runtime';
import type { ClientWebSocket } from '../runtime/types.ts';
import type { BackendTarget } from './backend-target.ts';
import type { SessionConnection } from './envelope-transport.ts';
import { PreOpenQueue } from './pre-open-queue.ts';
import { answerUpgrade, preOpenLimit, sendToWebSocket, type Stream, type StreamHost, type StreamKind, tunnelBackpressure, webSocketReads } from './stream.ts';

export function streamKind(path: string): StreamKind {
  if (/\/exec(\?|$)/.test(path)) return 'exec';
  if (/\/attach(\?|$)/.test(path)) return 'attach';
  if (/\/portforward(\?|$)/.test(path)) return 'port-forward';
  return 'kubernetes';
}

/** Subprotocols to offer the API server (§4.2): `protocol` entries, then header values; W3 default list. */
export function offeredProtocols(protocol: string, headers: HeaderMap, path: string): string[] {
  const out: string[] = [];
  const add = (s: string) => {
    for (const p of s.split(',').map((x) => x.trim()).filter(Boolean)) if (!out.includes(p)) out.push(p);
  };
  add(protocol);
  for (const [k, vs] of Object.entries(headers)) if (k.toLowerCase() === 'sec-websocket-protocol') for (const v of vs) add(v);
  if (!out.length && /\/(exec|attach|portforward)(\?|\/|$)/.test(path)) out.push(...DEFAULT_STREAM_PROTOCOLS);
  return out;
}

/** A message from the API server as a frame for the control plane. */
export function frameFromApiServer(data: string | ArrayBuffer, translate: boolean): Frame {
  if (typeof data === 'string') return { opcode: OPCODE.text, payload: Buffer.from(data) };
  const payload = new Uint8Array(data);
  // Translation (upstream default): stdout/stderr/status channels become text without the channel byte.
  if (translate && payload.length > 0 && payload[0]! <= 3) return { opcode: OPCODE.text, payload: payload.subarray(1) };
  return { opcode: OPCODE.binary, payload };
}

export interface KubeStreamStart {
  id: string;
  /** The sanitised API path (decides the stream kind). */
  path: string;
  target: BackendTarget;
  offered: string[];
  rawFrames: boolean;
  conn: SessionConnection;
  /** Set when the stream came as an upgrade `proxy_request`: it gets the 101 (or the error) as its answer. */
  viaRequest?: ProxyRequest;
}

export function openKubeStream(host: StreamHost, o: KubeStreamStart): void {
  const { id, conn, viaRequest } = o;
  const kind = streamKind(o.path);
  const queue = new PreOpenQueue<Frame>(preOpenLimit(host.config));
  let ws: ClientWebSocket | null = null;
  let translate = false;
  const stream: Stream = {
    id,
    kind,
    started: Date.now(),
    lastActive: Date.now(),
    conn,
    toBackend: (f) => {
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        if (!queue.push(f, f.payload.length)) overflow();
        return;
      }
      sendToWebSocket(ws, f, translate);
      if (ws.bufferedAmount > host.config.maxBufferedBytes) host.backpressure(stream, conn);
    },
    shutdown: () => {
      if (!ws) return;
      // A paused socket would not read the backend's close answer.
      webSocketReads(ws).resume();
      ws.close(1000);
    },
  };
  const overflow = () => {
    host.metric('pipeops_protocol_errors_total', { reason: 'stream_pre_open_overflow' });
    host.log.warn({ stream_id: id, bytes: queue.bytes }, 'stream sent too much before its backend opened; closed');
    host.end(stream, conn, { code: 1009, reason: queue.overflowMessage() });
  };
  host.register(stream);
  try {
    ws = runtime.openWebSocket(o.target.url, {
      headers: flattenHeaders(o.target.headers),
      protocols: o.offered,
      tls: o.target.tls,
    });
  } catch (e) {
    host.dialFailed(stream, conn, (e as Error).message, viaRequest);
    return;
  }
  const throttle = tunnelBackpressure(conn, host.config.highWaterBytes, webSocketReads(ws));
  let opened = false;
  ws.addEventListener('open', () => {
    opened = true;
    translate = !o.rawFrames && isChannelProtocol(ws!.protocol);
    if (viaRequest) {
      const h: HeaderMap = { Upgrade: ['websocket'], Connection: ['Upgrade'] };
      // Go's canonical spelling, as every upstream `headers` map (protocol.md §3.8: `Sec-Websocket-Accept`).
      if (ws!.protocol) h['Sec-Websocket-Protocol'] = [ws!.protocol];
      answerUpgrade(conn, viaRequest, h);
      host.upgradeAnswered(kind, 101);
    }
    try {
      for (const f of queue.take()) sendToWebSocket(ws!, f, translate);
    } catch (e) {
      // A listener's throw would escape every handler: end this stream with the reason instead.
      host.fail(id, `internal error relaying a queued frame: ${(e as Error).message}`);
    }
  });
  ws.addEventListener('message', (ev: MessageEvent) => {
    const { opcode, payload } = frameFromApiServer(ev.data as string | ArrayBuffer, translate);
    host.metric('pipeops_ws_bytes_total', { kind, direction: 'to_control_plane' }, payload.length);
    stream.lastActive = Date.now();
    conn.send({ type: 'proxy_websocket_data', payload: { stream_id: id, data: encodeFrameData(opcode, payload) }, requestId: id });
    throttle();
  });
  ws.addEventListener('error', (ev: Event) => {
    if (!opened) host.dialFailed(stream, conn, (ev as ErrorEvent).message || 'websocket error', viaRequest);
  });
  ws.addEventListener('close', (ev: CloseEvent) => {
    if (!opened) {
      if (host.has(id)) host.dialFailed(stream, conn, `closed during handshake (${ev.code})`, viaRequest);
      return;
    }
    // §4.4: a kubectl stream's close is `{stream_id}` only (code and reason are W1's, for application WebSockets).
    host.end(stream, conn, {});
  });
}
