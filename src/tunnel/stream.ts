// The contract between the stream table (stream-relay.ts) and one stream kind (kube-stream.ts, app-websocket.ts,
// raw-upgrade-stream.ts): what a stream offers the table, what the table offers a stream, and the few helpers the
// WebSocket kinds share.
import type { Logger } from '../log/logger.ts';
import type { HeaderMap } from '../protocol/http-headers.ts';
import { ProxyOut, type ProxyRequest } from '../protocol/proxy-messages.ts';
import { closeFrameArgs, type Frame, OPCODE } from '../protocol/stream-messages.ts';
import { drained } from '../timing/drain.ts';
import type { SessionConnection } from './envelope-transport.ts';
import type { StreamConfig } from '../threads/tunnel-config.ts';
import type { ClientWebSocket } from '../runtime/types.ts';

export type { StreamConfig };

export type StreamKind = 'exec' | 'attach' | 'port-forward' | 'kubernetes' | 'application';

/** One relayed stream, as the table sees it. */
export interface Stream {
  id: string;
  kind: StreamKind;
  started: number;
  /** Last frame in either direction (epoch ms): the idle sweep closes streams the control plane abandoned. */
  lastActive: number;
  /** The session the stream belongs to (answers about it go there). */
  conn: SessionConnection;
  /** A frame from the control plane for the backend. */
  toBackend(f: Frame): void;
  /** The control plane closed the stream (or the session ended). */
  shutdown(): void;
}

export interface EndOptions {
  echo?: boolean;
  code?: number;
  reason?: string;
  /** An application WebSocket: its close carries `request_id` too (W1). */
  app?: boolean;
}

/** What the table offers a stream kind: its bookkeeping and the terminal messages, sent once per stream. */
export interface StreamHost {
  readonly log: Logger;
  readonly config: StreamConfig;
  /** Count `name` (op inc). */
  metric(name: string, labels?: Record<string, string>, value?: number): void;
  register(s: Stream): void;
  /** Drop the stream from the table without a message. False if it was already gone. */
  forget(s: Stream): boolean;
  has(id: string): boolean;
  /** Shut the stream down and send its `proxy_websocket_close` (once). */
  end(s: Stream, conn: SessionConnection, o: EndOptions): void;
  /** End a stream with 1011 and the reason. False when none has this id. */
  fail(id: string, reason: string): boolean;
  /** The backend could not be reached: `proxy_error` (and a close for a ws_start stream). */
  dialFailed(s: Stream, conn: SessionConnection, message: string, viaRequest?: ProxyRequest): void;
  /** An upgrade that came as `proxy_request` got its answer: counted like any proxied request. */
  upgradeAnswered(kind: StreamKind, status: number): void;
  /** Tell the control plane to back off this stream. */
  backpressure(s: Stream, conn: SessionConnection): void;
}

/** What a stream may hold for a backend that has not opened yet: the hard bound toward a slow backend (8 × maxBufferedBytes). */
export function preOpenLimit(config: StreamConfig): number {
  return config.maxBufferedBytes * 8;
}

/** Write one control-plane frame to a backend WebSocket. */
export function sendToWebSocket(ws: ClientWebSocket, f: Frame, translate: boolean): void {
  switch (f.opcode) {
    case OPCODE.text:
      // Translation: console keystrokes arrive as text and are stdin (channel 0) for the API server.
      if (translate) {
        const b = new Uint8Array(f.payload.length + 1);
        b.set(f.payload, 1);
        ws.send(b);
      } else ws.send(Buffer.from(f.payload).toString());
      return;
    case OPCODE.binary:
      ws.send(f.payload as Uint8Array<ArrayBuffer>);
      return;
    case OPCODE.close: {
      const { code, reason } = closeFrameArgs(f.payload);
      ws.close(code, reason);
      return;
    }
    case OPCODE.ping:
      ws.ping(f.payload);
      return;
    case OPCODE.pong:
      ws.pong(f.payload);
      return;
  }
}

/** The 101 answer to an upgrade `proxy_request`, in the writer the request asked for (§3.8 step 4). */
export function answerUpgrade(conn: SessionConnection, req: ProxyRequest, headers: HeaderMap): void {
  if (req.responseStreaming) {
    conn.send({ type: 'proxy_response_header', payload: ProxyOut.header(101, headers), requestId: req.requestId });
    conn.send({ type: 'proxy_response_end', payload: ProxyOut.end(), requestId: req.requestId });
  } else conn.send({ type: 'proxy_response', payload: { status: 101, headers }, requestId: req.requestId });
}

/**
 * Backpressure toward the control plane, the same for every stream kind: call the returned function after each
 * frame sent on `conn`; above `highWater` it pauses the backend's reads once, and resumes them when the tunnel socket
 * drained to half of it (or closed).
 */
export function tunnelBackpressure(conn: SessionConnection, highWater: number, backend: { pause(): void; resume(): void }): () => void {
  let waiting = false;
  return () => {
    if (waiting || conn.bufferedAmount <= highWater) return;
    waiting = true;
    backend.pause();
    void drained(conn, highWater / 2).then(() => {
      waiting = false;
      backend.resume();
    });
  };
}

/** Pause and resume reading a backend WebSocket (Bun's client has pause()/resume(); the DOM typings do not know them). */
export function webSocketReads(ws: ClientWebSocket): { pause(): void; resume(): void } {
  const w = ws as unknown as { pause?(): void; resume?(): void };
  return {
    pause: () => w.pause?.(),
    resume: () => {
      if (ws.readyState === WebSocket.OPEN) w.resume?.();
    },
  };
}
