// Server side of RFC 6455 on a raw upgraded socket, shared by the sandbox API server and the hub's Kubernetes
// gateway: handshake, message reassembly, ping/pong, close, and backpressure through the socket's write() result.
// kubectl pings every 5 s during exec and treats a missing pong as a dead connection, so control frames are
// answered even while a fragmented message is open.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { encodeFrame, OPCODE, WebSocketFrameParser, WebSocketProtocolError } from '../protocol/websocket-frame.ts';
import { writeSwitchingProtocols } from './upgrade-response.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Large enough for client-node's stdin chunks and tunnelled SPDY frames, small enough to bound memory. */
export const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

export function webSocketAccept(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** Offered subprotocols in the client's order (several headers are joined with ", " by node:http). */
export function offeredSubprotocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  if (!raw) return [];
  return raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/** Why a request is not a valid WebSocket handshake, or null when it is. */
export function handshakeProblem(req: IncomingMessage): string | null {
  if (req.method !== 'GET') return `websocket upgrade requires GET, got ${req.method}`;
  if (req.headers['sec-websocket-version'] !== '13') return 'unsupported Sec-WebSocket-Version (need 13)';
  const key = req.headers['sec-websocket-key'];
  if (!key || Buffer.from(key, 'base64').length !== 16) return 'missing or malformed Sec-WebSocket-Key';
  return null;
}

type MessageListener = (data: Buffer, binary: boolean) => void;
type CloseListener = (code: number, reason: string) => void;

export class WebSocketConnection {
  readonly #socket: Duplex;
  readonly #parser: WebSocketFrameParser;
  readonly #maxMessageBytes: number;
  #fragments: Buffer[] = [];
  #fragmentBytes = 0;
  #fragmentOpcode = 0;
  #closeSent = false;
  #closed = false;
  #messageListeners: MessageListener[] = [];
  #closeListeners: CloseListener[] = [];
  #pending: { data: Buffer; binary: boolean }[] = [];

  constructor(socket: Duplex, head: Buffer, opts: { maxMessageBytes?: number } = {}) {
    this.#socket = socket;
    this.#maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#parser = new WebSocketFrameParser(this.#maxMessageBytes, true);
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('end', () => this.#finish(1006, 'connection ended without a close frame'));
    socket.on('close', () => this.#finish(1006, 'connection closed'));
    socket.on('error', (err: Error) => this.#finish(1006, `socket error: ${err.message}`));
    if (head.length > 0) queueMicrotask(() => this.#receive(head));
  }

  get closed(): boolean {
    return this.#closed || this.#closeSent;
  }

  /** Messages arriving before a listener is set are kept, so the handshake and the listener need not race. */
  onMessage(cb: MessageListener): void {
    this.#messageListeners.push(cb);
    const pending = this.#pending;
    this.#pending = [];
    for (const m of pending) cb(m.data, m.binary);
  }

  onClose(cb: CloseListener): void {
    this.#closeListeners.push(cb);
  }

  /** Called once when the socket can take more after send() returned false. */
  onceDrain(cb: () => void): void {
    this.#socket.once('drain', cb);
  }

  /** Sends one unfragmented message. Returns false when the socket buffer is full: wait for onceDrain. */
  send(data: Uint8Array, binary = true): boolean {
    if (this.closed) return false;
    return this.#socket.write(encodeFrame(binary ? OPCODE.binary : OPCODE.text, data));
  }

  sendText(text: string): boolean {
    return this.send(Buffer.from(text, 'utf8'), false);
  }

  /** Starts the closing handshake; the socket is ended once our close frame is flushed. */
  close(code = 1000, reason = ''): void {
    if (this.#closeSent || this.#closed) return;
    this.#closeSent = true;
    const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
    payload.writeUInt16BE(code, 0);
    payload.write(reason, 2);
    this.#socket.end(encodeFrame(OPCODE.close, payload));
    // A client that never answers the close must not pin the socket forever.
    setTimeout(() => this.#socket.destroy(), 10_000).unref();
    this.#finish(code, reason);
  }

  #receive(chunk: Buffer): void {
    if (this.#closed) return;
    let frames: ReturnType<WebSocketFrameParser['push']>;
    try {
      frames = this.#parser.push(chunk);
    } catch (err) {
      const code = err instanceof WebSocketProtocolError ? err.closeCode : 1002;
      this.close(code, (err as Error).message.slice(0, 120));
      return;
    }
    for (const f of frames) {
      if (this.#closed) return;
      this.#handleFrame(f.opcode, f.fin, f.payload);
    }
  }

  #handleFrame(opcode: number, fin: boolean, payload: Buffer): void {
    switch (opcode) {
      case OPCODE.ping:
        if (!this.closed) this.#socket.write(encodeFrame(OPCODE.pong, payload));
        return;
      case OPCODE.pong:
        return;
      case OPCODE.close: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        // Echo the close (RFC 6455 §5.5.1) and finish; 1005 must not be sent on the wire.
        this.close(code === 1005 ? 1000 : code, '');
        this.#finish(code, payload.subarray(2).toString('utf8'));
        return;
      }
      case OPCODE.continuation:
        if (this.#fragmentOpcode === 0) {
          this.close(1002, 'continuation frame without a started message');
          return;
        }
        this.#appendFragment(payload);
        if (fin) this.#deliverFragments();
        return;
      default:
        if (this.#fragmentOpcode !== 0) {
          this.close(1002, 'new data frame while a fragmented message is open');
          return;
        }
        if (fin) {
          this.#deliver(payload, opcode === OPCODE.binary);
          return;
        }
        this.#fragmentOpcode = opcode;
        this.#appendFragment(payload);
    }
  }

  #appendFragment(payload: Buffer): void {
    this.#fragmentBytes += payload.length;
    if (this.#fragmentBytes > this.#maxMessageBytes) {
      this.close(1009, `message exceeds ${this.#maxMessageBytes} bytes`);
      return;
    }
    this.#fragments.push(payload);
  }

  #deliverFragments(): void {
    const data = Buffer.concat(this.#fragments);
    const binary = this.#fragmentOpcode === OPCODE.binary;
    this.#fragments = [];
    this.#fragmentBytes = 0;
    this.#fragmentOpcode = 0;
    this.#deliver(data, binary);
  }

  #deliver(data: Buffer, binary: boolean): void {
    if (this.#messageListeners.length === 0) {
      this.#pending.push({ data, binary });
      return;
    }
    for (const cb of this.#messageListeners) cb(data, binary);
  }

  #finish(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeSent = true;
    // A peer that vanished must not keep the socket half-open; after a clean close frame end() already ran.
    if (code === 1006) this.#socket.destroy();
    for (const cb of this.#closeListeners) cb(code, reason);
  }
}

/**
 * Completes the handshake on an upgraded socket and returns the connection. `protocol` is the chosen
 * subprotocol; an empty string means none is echoed (the client offered none).
 */
export function acceptWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, protocol: string): WebSocketConnection {
  const headers: Record<string, string> = {
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Accept': webSocketAccept(req.headers['sec-websocket-key'] ?? ''),
  };
  if (protocol !== '') headers['Sec-WebSocket-Protocol'] = protocol;
  writeSwitchingProtocols(socket, headers);
  return new WebSocketConnection(socket, head);
}
